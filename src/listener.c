/*
 * A worker's listening sockets, one per slab token below SERVER_LISTENERS:
 * opened from the listen lines or adopted from the service manager,
 * matched to the configuration on reload, and the accept path, which
 * pauses instead of spinning when descriptors run out.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

static void listener_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
listener_start_all(struct server *s)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			ev_io_start(s->loop, &server_slot(s, t)->io);
}

static void
listener_stop_all(struct server *s)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			ev_io_stop(s->loop, &server_slot(s, t)->io);
}

/*
 * Out of descriptors, accept would report the same pending connection on
 * every loop iteration: stop the listeners instead of spinning, and try
 * again when a connection closes or after SERVER_ACCEPT_RETRY.
 */
static void
listener_pause(struct server *s, int err)
{
	char what[96];

	snprintf(what, sizeof(what), "accept: %s; pausing new connections (",
	    strerror(err));
	session_burst(s, &s->burst_accept, what, " time(s)), %u open",
	    s->slab.used);
	counter_add(&s->stats.accept_pauses, 1);
	s->accept_paused = true;
	listener_stop_all(s);
	ev_timer_set(&s->accept_timer, SERVER_ACCEPT_RETRY, 0.0);
	ev_timer_start(s->loop, &s->accept_timer);
}

void
listener_resume(struct server *s)
{
	if (!s->accept_paused || s->stopping)
		return;
	s->accept_paused = false;
	ev_timer_stop(s->loop, &s->accept_timer);
	listener_start_all(s);
}

void
listener_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	listener_resume(ev_userdata(loop));
}

static void
listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t token = slab_token(&s->slab, w);

	(void)revents;
	for (int i = 0; i < SERVER_ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage peer;
		int fd;

		fd = net_accept(w->fd, &peer);
		if (fd != -1) {
			session_open(s, fd, (struct sockaddr *)&peer, token);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			listener_pause(s, errno);
			return;
		default:
			session_burst(s, &s->burst_accept, "accept failed ",
			    " time(s), the last on %s: %s",
			    s->listeners[token].bound, strerror(errno));
			return;
		}
	}
}

/*
 * Best effort, as the other socket options: without it connections are
 * only handed over sooner.
 */
static void
listener_defer(struct server *s, const struct listener *l, uint32_t ms)
{
	if (net_defer_accept(l->fd, server_whole_seconds(ms)) == -1)
		log_warn("%sdefer_accept on %s: %s; connections are accepted"
		    " at once", s->tag, l->bound, strerror(errno));
}

/* The owner's socket for a listen line, or -1. */
static int
listener_shared(const struct server *s, const char *text)
{
	const struct server_shared_set *set = s->role.shared;

	for (unsigned i = 0; set != NULL && i < set->n; i++)
		if (strcmp(set->list[i].addr.text, text) == 0)
			return set->list[i].fd;
	return -1;
}

/* Watch l's socket from token on; its options are set already. */
static void
listener_watch(struct server *s, uint32_t token, const char *how)
{
	struct listener *l = &s->listeners[token];
	struct slot *sl = server_slot(s, token);

	net_local_text(l->fd, l->bound, sizeof(l->bound));
	ev_io_init(&sl->io, listener_cb, l->fd, EV_READ);
	if (!s->accept_paused && !s->stopping)
		ev_io_start(s->loop, &sl->io);
	log_info("%slistening on %s (token %u%s)", s->tag, l->bound, token,
	    how);
}

/*
 * A TCP listen line gets a socket of this worker's own; a Unix one is the
 * owner's, opened before the workers were told of it.
 */
static int
listener_open(struct server *s, uint32_t token, const struct config *cfg,
    const struct addr *addr, char *err, size_t errlen)
{
	struct listener *l = &s->listeners[token];
	int fd;

	if (addr->ss.ss_family == AF_UNIX) {
		fd = listener_shared(s, addr->text);
		if (fd == -1) {
			snprintf(err, errlen, "%s: no socket was opened for it",
			    addr->text);
			return -1;
		}
		l->borrowed = true;
	} else {
		fd = net_listen(addr, cfg->backlog, s->role.reuseport, err,
		    errlen);
		if (fd == -1)
			return -1;
		net_tune_socket(fd, server_whole_seconds(cfg->tcp_keepalive_ms));
	}
	l->fd = fd;
	l->addr = *addr;
	if (!l->borrowed && cfg->defer_accept_ms > 0)
		listener_defer(s, l, cfg->defer_accept_ms);
	listener_watch(s, token, "");
	return 0;
}

void
listener_close(struct server *s, uint32_t token)
{
	struct listener *l = &s->listeners[token];

	ev_io_stop(s->loop, &server_slot(s, token)->io);
	if (!l->borrowed)
		close(l->fd);
	l->fd = -1;
	l->borrowed = false;
}

void
listener_close_all(struct server *s)
{
	ev_timer_stop(s->loop, &s->accept_timer);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			listener_close(s, t);
}

static uint32_t
listener_find(const struct server *s, const char *text)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1 &&
		    strcmp(s->listeners[t].addr.text, text) == 0)
			return t;
	return SLAB_NONE;
}

static uint32_t
listener_free_token(const struct server *s)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd == -1)
			return t;
	return SLAB_NONE;
}

static bool
listener_listed(const struct config *cfg, const char *text)
{
	for (unsigned i = 0; i < cfg->nlisten; i++)
		if (strcmp(cfg->listen[i].text, text) == 0)
			return true;
	return false;
}

/* A kept listener takes the options cfg changed. */
static void
listener_retune(struct server *s, const struct listener *l,
    const struct config *cfg)
{
	/* Linux takes a new backlog on a listening socket. */
	if (cfg->backlog != s->cfg.backlog)
		(void)listen(l->fd, cfg->backlog);
	if (cfg->tcp_keepalive_ms != s->cfg.tcp_keepalive_ms)
		net_tune_socket(l->fd,
		    server_whole_seconds(cfg->tcp_keepalive_ms));
	if (cfg->defer_accept_ms != s->cfg.defer_accept_ms)
		listener_defer(s, l, cfg->defer_accept_ms);
}

int
listener_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen)
{
	bool opened[SERVER_LISTENERS] = { false };

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		uint32_t t;

		if (listener_find(s, cfg->listen[i].text) != SLAB_NONE)
			continue;
		t = listener_free_token(s);
		if (t == SLAB_NONE) {
			snprintf(err, errlen, "more than %d listeners at once",
			    SERVER_LISTENERS);
		} else if (listener_open(s, t, cfg, &cfg->listen[i], err,
		    errlen) == 0) {
			opened[t] = true;
			continue;
		}
		for (t = 0; t < SERVER_LISTENERS; t++)
			if (opened[t]) {
				log_info("%sno longer listening on %s (token %u):"
				    " the reload is rolled back", s->tag,
				    s->listeners[t].bound, t);
				listener_close(s, t);
			}
		return -1;
	}
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++) {
		struct listener *l = &s->listeners[t];

		if (l->fd == -1 || opened[t])
			continue;
		if (!listener_listed(cfg, l->addr.text)) {
			log_info("%sno longer listening on %s (token %u)", s->tag,
			    l->bound, t);
			listener_close(s, t);
		} else if (!l->borrowed) {
			/* The owner tunes the sockets it holds. */
			listener_retune(s, l, cfg);
		}
	}
	return 0;
}

int
listener_adopt(struct server *s, char *err, size_t errlen)
{
	const struct server_shared_set *set = s->role.shared;
	uint32_t token = 0;

	for (unsigned i = 0; i < set->n; i++) {
		struct listener *l;

		if (!set->list[i].passed)
			continue;
		if (token == SERVER_LISTENERS) {
			snprintf(err, errlen, "more than %d sockets passed by the"
			    " service manager", SERVER_LISTENERS);
			return -1;
		}
		l = &s->listeners[token];
		/* The owner of the process keeps them; every worker watches them. */
		l->borrowed = true;
		l->fd = set->list[i].fd;
		l->addr = set->list[i].addr;
		listener_watch(s, token, ", passed by the service manager");
		token++;
	}
	return 0;
}
