/*
 * A worker's listening sockets, one per slab token below SERVER_LISTENERS:
 * opened from the listen lines or adopted from the service manager,
 * matched to the configuration on reload, and the accept path, which
 * pauses instead of spinning when descriptors run out.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handover.h"
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
 * The last image's socket of this worker for a TCP listen line, taken
 * back (its entry forgotten), or -1.
 */
static int
listener_take_handed(struct server *s, const char *text)
{
	struct server_shared_set *set = s->role.handed;

	for (unsigned i = 0; set != NULL && i < set->n; i++)
		if (set->list[i].fd != -1 &&
		    strcmp(set->list[i].addr.text, text) == 0) {
			int fd = set->list[i].fd;

			set->list[i].fd = -1;
			return fd;
		}
	return -1;
}

/*
 * Watch every socket of the owner's for a listen line from token on, and
 * free tokens after it; opened[] marks each.  Returns how many, or -1
 * with err when the tokens run out.
 */
static int
listener_borrow(struct server *s, uint32_t token, const struct addr *addr,
    bool *opened, char *err, size_t errlen)
{
	const struct server_shared_set *set = s->role.shared;
	int n = 0;

	for (unsigned i = 0; set != NULL && i < set->n; i++) {
		struct listener *l;

		if (set->list[i].passed ||
		    strcmp(set->list[i].addr.text, addr->text) != 0)
			continue;
		if (n > 0)
			token = listener_free_token(s);
		if (token == SLAB_NONE) {
			snprintf(err, errlen, "more than %d listeners at once",
			    SERVER_LISTENERS);
			return -1;
		}
		l = &s->listeners[token];
		l->fd = set->list[i].fd;
		l->addr = *addr;
		l->borrowed = true;
		opened[token] = true;
		/* A Unix socket is always the owner's: only TCP says so. */
		listener_watch(s, token, addr->ss.ss_family == AF_UNIX ? "" :
		    ", the owner's");
		n++;
	}
	return n;
}

/*
 * A TCP listen line gets a socket of this worker's own: the one it had in
 * the last image, or a new one.  A Unix one, or a TCP one whose sockets
 * the last image's workers handed over to be shared, is the owner's,
 * opened before the workers were told of it.
 */
static int
listener_open(struct server *s, uint32_t token, const struct config *cfg,
    const struct addr *addr, bool *opened, char *err, size_t errlen)
{
	struct listener *l = &s->listeners[token];
	const char *how = "";
	int fd, n;

	n = listener_borrow(s, token, addr, opened, err, errlen);
	if (n != 0)
		return n < 0 ? -1 : 0;
	if (addr->ss.ss_family == AF_UNIX) {
		snprintf(err, errlen, "%s: no socket was opened for it",
		    addr->text);
		return -1;
	}
	fd = listener_take_handed(s, addr->text);
	if (fd != -1) {
		how = ", handed over";
		(void)listen(fd, cfg->backlog);
	} else {
		fd = net_listen(addr, cfg->backlog, s->role.reuseport, err,
		    errlen);
		if (fd == -1)
			return -1;
	}
	net_tune_socket(fd, server_whole_seconds(cfg->tcp_keepalive_ms));
	l->fd = fd;
	l->addr = *addr;
	l->borrowed = false;
	/* A handed socket may have the last image's delay: set ours. */
	if (cfg->defer_accept_ms > 0 || *how != '\0')
		listener_defer(s, l, cfg->defer_accept_ms);
	opened[token] = true;
	listener_watch(s, token, how);
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

unsigned
listener_export_all(struct server *s, struct handover_writer *w)
{
	unsigned n = 0;

	ev_timer_stop(s->loop, &s->accept_timer);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++) {
		struct listener *l = &s->listeners[t];
		struct handover_listener_rec rec = { .fd = l->fd,
		    .kind = HANDOVER_TCP, .worker = (uint8_t)s->role.index };
		int flags;

		if (l->fd == -1)
			continue;
		ev_io_stop(s->loop, &server_slot(s, t)->io);
		/* The owner's sockets are the owner's to hand over. */
		if (!l->borrowed) {
			snprintf(rec.text, sizeof(rec.text), "%s", l->addr.text);
			handover_put_listener(w, &rec);
			flags = fcntl(l->fd, F_GETFD);
			if (flags != -1)
				(void)fcntl(l->fd, F_SETFD, flags & ~FD_CLOEXEC);
			n++;
		}
		l->fd = -1;
		l->borrowed = false;
	}
	return n;
}

void
listener_close_all(struct server *s)
{
	ev_timer_stop(s->loop, &s->accept_timer);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			listener_close(s, t);
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
		} else if (listener_open(s, t, cfg, &cfg->listen[i], opened,
		    err, errlen) == 0) {
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
