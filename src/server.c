/*
 * One worker's loop: setting it up and tearing it down, applying a
 * configuration, the drain after a stop, housekeeping, and the control
 * channel through which the owner of the process (daemon.c) reaches it.
 */
#include "server.h"

#include <errno.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

uint32_t
server_now_ms(const struct server *s)
{
	return (uint32_t)((ev_now(s->loop) - s->epoch) * 1000.0);
}

void
server_arm(struct server *s, const struct timeout_list *l, ev_timer *timer,
    uint32_t timeout_ms)
{
	uint32_t due;

	if (ev_is_active(timer))
		return;
	due = timeout_due_ms(l, server_now_ms(s), timeout_ms);
	if (due == TIMEOUT_NONE)
		return;
	ev_timer_set(timer, due / 1000.0, 0.0);
	ev_timer_start(s->loop, timer);
}

static void server_publish_bound(struct server *s);
static void server_give_over(struct server *s);

/* This worker's part of a daemon-wide count: an equal share, the rest first. */
static uint32_t
server_share(const struct server *s, uint32_t total)
{
	uint32_t share = total / s->role.count;

	if (s->role.index < total % s->role.count)
		share++;
	return share > 0 ? share : 1;
}

int
server_reserve_scratch(struct server *s, size_t size)
{
	char *p;

	/* Never shrinks: open connections may still read up to their old max_line. */
	if (size <= s->scratch_size)
		return 0;
	p = realloc(s->scratch, size);
	if (p == NULL)
		return -1;
	s->scratch = p;
	s->scratch_size = size;
	return 0;
}

int
server_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen)
{
	if (server_reserve_scratch(s, cfg->max_line) == -1) {
		snprintf(err, errlen, "out of memory for a %u-byte read buffer",
		    cfg->max_line);
		return -1;
	}
	/*
	 * Passed sockets are the service manager's to change, not ours; and
	 * once draining, no listener may open again.
	 */
	if (!s->activated && !s->stopping &&
	    listener_apply(s, cfg, err, errlen) == -1)
		return -1;
	slab_set_limit(&s->slab, server_share(s, cfg->max_connections));
	if (cfg->max_line != s->pool.size)
		bufpool_resize(&s->pool, cfg->max_line);
	s->cfg = *cfg;
	server_publish_bound(s);
	/* The deadlines of the oldest connections may have moved either way. */
	ev_timer_stop(s->loop, &s->idle_timer);
	server_arm(s, &s->idle_list, &s->idle_timer, cfg->idle_timeout_ms);
	ev_timer_stop(s->loop, &s->line_timer);
	server_arm(s, &s->line_list, &s->line_timer, cfg->line_timeout_ms);
	return 0;
}

/*
 * Every few seconds: once many buffers went back to free(), hand the
 * memory back to the system, so that RSS falls again after a burst of
 * connections holding bytes.
 */
static void
server_housekeeping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
#ifdef HAVE_MALLOC_TRIM
	if (s->pool.freed - s->trimmed_at >= SERVER_TRIM_BYTES) {
		malloc_trim(0);
		s->trimmed_at = s->pool.freed;
	}
#else
	(void)s;
#endif
}

/* Echo what is held, give the kernel one chance to take it, and close. */
static void
server_drain_now(struct server *s)
{
	while (s->idle_list.head != TIMEOUT_NONE) {
		uint32_t token = s->idle_list.head;

		session_end(s, token, CONN_END_SHUTDOWN);
		/* Through a ring, the kernel's one chance is a submission. */
		if (s->ring != NULL && s->idle_list.head == token)
			ring_submit_now(s);
		if (s->idle_list.head == token)
			session_close(s, token, SERVER_CLOSE_SHUTDOWN,
			    "shutdown timeout with echo pending");
	}
	server_break(s);
}

static void
server_shutdown_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	if (s->slab.used > 0)
		log_warn("%sshutdown_timeout: closing %u connection(s) still"
		    " open", s->tag, s->slab.used);
	server_drain_now(s);
}

/*
 * Stop accepting at once; keep serving open connections until their
 * clients close or shutdown_timeout passes.  A second stop ends the drain
 * immediately.
 */
static void
server_stop(struct server *s, const char *signame)
{
	if (s->stopping) {
		log_info("%s%s again: closing %u connection(s) now", s->tag,
		    signame, s->slab.used);
		ev_timer_stop(s->loop, &s->shutdown_timer);
		server_drain_now(s);
		return;
	}
	s->stopping = true;
	listener_close_all(s);
	server_publish_bound(s);
	/* The owner closes what no worker watches now: the Unix sockets. */
	pthread_mutex_lock(&s->ctl.lock);
	s->ctl.deaf = true;
	pthread_mutex_unlock(&s->ctl.lock);
	ev_async_send(s->role.owner_loop, s->role.owner_wake);
	log_info("%s%s: stopped accepting; draining %u connection(s) for up to"
	    " %.3gs", s->tag, signame, s->slab.used,
	    s->cfg.shutdown_timeout_ms / 1000.0);
	if (s->slab.used == 0) {
		server_break(s);
		return;
	}
	ev_timer_set(&s->shutdown_timer, s->cfg.shutdown_timeout_ms / 1000.0,
	    0.0);
	ev_timer_start(s->loop, &s->shutdown_timer);
}

/*
 * Between two events, so that no write is half done: every connection and
 * listener into the owner's writers, their descriptors left open for the
 * next image; then the loop ends.
 */
static void
server_give_over(struct server *s)
{
	struct handover_writer *listeners, *conns;
	uint64_t asked_ns, now_ns;
	unsigned nl, nc;

	pthread_mutex_lock(&s->ctl.lock);
	listeners = s->ctl.handover_listeners;
	conns = s->ctl.handover_conns;
	asked_ns = s->ctl.handover_asked_ns;
	pthread_mutex_unlock(&s->ctl.lock);
	nl = listener_export_all(s, listeners);
	/* What each connection holds and owes is exact once nothing is in flight. */
	if (s->ring != NULL)
		ring_quiesce(s);
	/*
	 * The next image adds the pause since the owner asked to every
	 * timer's age: the ages go as of that moment, not of this one, which
	 * a slow wake-up or the ring's quiescing may have put later.
	 */
	ev_now_update(s->loop);
	now_ns = server_monotonic_ns();
	nc = session_export_all(s, conns, now_ns > asked_ns ?
	    (uint32_t)((now_ns - asked_ns) / 1000000u) : 0);
	ev_timer_stop(s->loop, &s->idle_timer);
	ev_timer_stop(s->loop, &s->line_timer);
	ev_timer_stop(s->loop, &s->proxy_timer);
	ev_timer_stop(s->loop, &s->shutdown_timer);
	log_info("%shand-over: %u connection(s) and %u listener(s) written",
	    s->tag, nc, nl);
	pthread_mutex_lock(&s->ctl.lock);
	s->ctl.handed = true;
	pthread_mutex_unlock(&s->ctl.lock);
	server_break(s);
}

void
server_handover(struct server *s, struct handover_writer *listeners,
    struct handover_writer *conns, uint64_t asked_ns)
{
	pthread_mutex_lock(&s->ctl.lock);
	s->ctl.handover_listeners = listeners;
	s->ctl.handover_conns = conns;
	s->ctl.handover_asked_ns = asked_ns;
	s->ctl.pending |= SERVER_CMD_HANDOVER;
	pthread_mutex_unlock(&s->ctl.lock);
	ev_async_send(s->loop, &s->ctl.wake);
	if (s->ring != NULL)
		ring_wake(s);
}

bool
server_handed(struct server *s)
{
	bool handed;

	pthread_mutex_lock(&s->ctl.lock);
	handed = s->ctl.handed;
	pthread_mutex_unlock(&s->ctl.lock);
	return handed;
}

/* Commands from the owner, taken under the lock, done outside it. */
static void
server_ctl_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *s = ev_userdata(loop);
	struct server_ctl *ctl = &s->ctl;
	char err[CONFIG_ERROR_MAX] = "";
	const char *signame;
	struct config cfg;
	unsigned commands;
	uint64_t id = 0;
	int status = 0;

	(void)w;
	(void)revents;
	pthread_mutex_lock(&ctl->lock);
	commands = ctl->pending;
	ctl->pending = 0;
	if (commands & SERVER_CMD_RELOAD) {
		cfg = ctl->cfg;
		id = ctl->reload_id;
	}
	signame = ctl->signame;
	pthread_mutex_unlock(&ctl->lock);

	if (commands & SERVER_CMD_RELOAD) {
		/* Draining, nothing new is opened: the reload has nothing to do. */
		if (!s->stopping)
			status = server_apply(s, &cfg, err, sizeof(err));
		pthread_mutex_lock(&ctl->lock);
		ctl->done_id = id;
		ctl->done_ok = status == 0;
		snprintf(ctl->done_err, sizeof(ctl->done_err), "%s", err);
		pthread_mutex_unlock(&ctl->lock);
		ev_async_send(s->role.owner_loop, s->role.owner_wake);
	}
	if (commands & SERVER_CMD_HANDOVER) {
		server_give_over(s);
		return;
	}
	if (commands & SERVER_CMD_STOP)
		server_stop(s, signame);
	if ((commands & SERVER_CMD_STOP_NOW) && s->stopping)
		server_stop(s, signame);
}

void
server_post(struct server *s, unsigned commands, const struct config *cfg,
    uint64_t reload_id, const char *signame)
{
	pthread_mutex_lock(&s->ctl.lock);
	s->ctl.pending |= commands;
	if (commands & SERVER_CMD_RELOAD) {
		s->ctl.cfg = *cfg;
		s->ctl.reload_id = reload_id;
	}
	if (signame != NULL)
		s->ctl.signame = signame;
	pthread_mutex_unlock(&s->ctl.lock);
	ev_async_send(s->loop, &s->ctl.wake);
	if (s->ring != NULL)
		ring_wake(s);
}

uint64_t
server_reload_done(struct server *s, int *status, char *err, size_t errlen)
{
	uint64_t id;

	pthread_mutex_lock(&s->ctl.lock);
	id = s->ctl.done_id;
	*status = s->ctl.done_ok ? 0 : -1;
	snprintf(err, errlen, "%s", s->ctl.done_err);
	pthread_mutex_unlock(&s->ctl.lock);
	return id;
}

bool
server_deaf(struct server *s)
{
	bool deaf;

	pthread_mutex_lock(&s->ctl.lock);
	deaf = s->ctl.deaf || s->ctl.finished;
	pthread_mutex_unlock(&s->ctl.lock);
	return deaf;
}

/* Tell the owner what the worker listens on now. */
static void
server_publish_bound(struct server *s)
{
	unsigned n = 0;

	pthread_mutex_lock(&s->ctl.lock);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			memcpy(s->ctl.bound[n++], s->listeners[t].bound,
			    ADDR_TEXT);
	s->ctl.nbound = n;
	pthread_mutex_unlock(&s->ctl.lock);
}

unsigned
server_bound(struct server *s, char (*out)[ADDR_TEXT], unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&s->ctl.lock);
	n = s->ctl.nbound < max ? s->ctl.nbound : max;
	memcpy(out, s->ctl.bound, sizeof(out[0]) * n);
	pthread_mutex_unlock(&s->ctl.lock);
	return n;
}

bool
server_finished(struct server *s)
{
	bool finished;

	pthread_mutex_lock(&s->ctl.lock);
	finished = s->ctl.finished;
	pthread_mutex_unlock(&s->ctl.lock);
	return finished;
}

static void
server_heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	atomic_fetch_add_explicit(&s->heartbeats, 1, memory_order_relaxed);
}

void
server_heartbeat(struct server *s, double interval)
{
	if (interval <= 0)
		return;
	ev_timer_set(&s->heartbeat_timer, interval, interval);
	ev_timer_start(s->loop, &s->heartbeat_timer);
}

/* A seed the clients cannot guess, for the address table's hash. */
static uint64_t
server_peers_seed(void)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)(ev_time() * 1e6);
	return seed;
}

/*
 * The timed lists' arrays are as long as the slab and, like it, touched
 * only where used.  The idle list keeps its neighbours in the slots; a
 * connection awaiting its header holds no line, so the PROXY list borrows
 * the line list's arrays.
 */
static int
server_init_lists(struct server *s)
{
	uint32_t *idle_since, *line_since;

	idle_since = calloc(s->slab.capacity, sizeof(uint32_t));
	line_since = calloc(s->slab.capacity, sizeof(uint32_t));
	s->line_links = calloc(s->slab.capacity, sizeof(struct timeout_link));
	s->proxy = calloc(s->slab.capacity, sizeof(*s->proxy));
	s->ids = calloc(s->slab.capacity, sizeof(*s->ids));
	timeout_init(&s->idle_list, idle_since, s->slab.slots +
	    offsetof(struct slot, io.data), s->slab.slot_size);
	timeout_init(&s->line_list, line_since, s->line_links,
	    sizeof(struct timeout_link));
	timeout_init(&s->proxy_list, line_since, s->line_links,
	    sizeof(struct timeout_link));
	if (idle_since == NULL || line_since == NULL || s->line_links == NULL ||
	    s->proxy == NULL || s->ids == NULL)
		return -1;
	return 0;
}

int
server_peers_init(struct server_peers *p)
{
	pthread_mutex_init(&p->lock, NULL);
	return peers_init(&p->table, server_peers_seed());
}

void
server_peers_destroy(struct server_peers *p)
{
	peers_destroy(&p->table);
	pthread_mutex_destroy(&p->lock);
}

uint32_t
server_peer_add(struct server *s, const struct sockaddr *sa, int *nomem)
{
	struct server_peers *p = s->role.peers;
	uint32_t index;

	pthread_mutex_lock(&p->lock);
	index = peers_add(&p->table, sa, s->cfg.max_per_ip, nomem);
	pthread_mutex_unlock(&p->lock);
	return index;
}

void
server_peer_remove(struct server *s, uint32_t index)
{
	struct server_peers *p = s->role.peers;

	pthread_mutex_lock(&p->lock);
	peers_remove(&p->table, index);
	pthread_mutex_unlock(&p->lock);
}

int
server_init(struct server *s, const struct config *cfg,
    const struct server_role *role, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->role = *role;
	if (role->count > 1)
		snprintf(s->tag, sizeof(s->tag), "worker %u: ", role->index + 1);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		s->listeners[t].fd = -1;
	timeout_init(&s->idle_list, NULL, NULL, 0);
	timeout_init(&s->line_list, NULL, NULL, 0);
	timeout_init(&s->proxy_list, NULL, NULL, 0);

	/* epoll, whose descriptor a ring can poll (io = io_uring). */
	s->loop = ev_loop_new(EVBACKEND_EPOLL);
	if (s->loop == NULL) {
		snprintf(err, errlen, "cannot start the event loop");
		return EX_SERVER_OSERR;
	}
	ev_set_userdata(s->loop, s);
	s->epoch = ev_now(s->loop);
	pthread_mutex_init(&s->ctl.lock, NULL);
	bufpool_init(&s->pool, cfg->max_line, sizeof(struct conn_buf));
	ev_timer_init(&s->idle_timer, session_idle_cb, 0.0, 0.0);
	ev_timer_init(&s->line_timer, session_line_cb, 0.0, 0.0);
	ev_timer_init(&s->proxy_timer, session_proxy_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->accept_timer, listener_retry_cb, 0.0, 0.0);
	ev_timer_init(&s->shutdown_timer, server_shutdown_cb, 0.0, 0.0);
	ev_timer_init(&s->housekeeping_timer, server_housekeeping_cb,
	    SERVER_HOUSEKEEPING, SERVER_HOUSEKEEPING);
	ev_timer_init(&s->heartbeat_timer, server_heartbeat_cb, 0.0, 0.0);
	ev_timer_init(&s->burst_timer, session_burst_cb, SERVER_LOG_INTERVAL,
	    SERVER_LOG_INTERVAL);
	s->burst_full.level = LOG_LEVEL_WARNING;
	s->burst_per_ip.level = LOG_LEVEL_WARNING;
	s->burst_proxy.level = LOG_LEVEL_WARNING;
	s->burst_accept.level = LOG_LEVEL_WARNING;
	s->burst_line.level = LOG_LEVEL_INFO;
	ev_async_init(&s->ctl.wake, server_ctl_cb);
	/* From here on server_destroy() undoes what is set up. */

	/* Room for the largest max_connections a reload may set, untouched until used. */
	if (slab_init(&s->slab, sizeof(struct slot), SERVER_LISTENERS,
	    SERVER_LISTENERS + CONFIG_MAX_CONNECTIONS_MAX,
	    server_share(s, cfg->max_connections)) == -1 ||
	    server_init_lists(s) == -1) {
		snprintf(err, errlen, "out of memory for the connection table");
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	if (server_reserve_scratch(s, cfg->max_line) == -1) {
		snprintf(err, errlen, "out of memory for a %u-byte read buffer",
		    cfg->max_line);
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	if (cfg->io == CONFIG_IO_URING && ring_init(s, err, errlen) == -1) {
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	s->activated = role->activated;
	if ((s->activated ? listener_adopt(s, err, errlen) :
	    listener_apply(s, cfg, err, errlen)) == -1) {
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	ev_timer_start(s->loop, &s->housekeeping_timer);
	ev_timer_start(s->loop, &s->burst_timer);
	ev_async_start(s->loop, &s->ctl.wake);
	server_publish_bound(s);
	return EX_SERVER_OK;
}

double
server_next_timer(struct server *s)
{
	ev_timer *timers[] = {
		&s->idle_timer, &s->line_timer, &s->proxy_timer,
		&s->accept_timer, &s->shutdown_timer, &s->housekeeping_timer,
		&s->heartbeat_timer, &s->burst_timer,
	};
	double next = -1;

	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		double left;

		if (!ev_is_active(timers[i]))
			continue;
		left = ev_timer_remaining(s->loop, timers[i]);
		if (next < 0 || left < next)
			next = left < 0 ? 0 : left;
	}
	return next;
}

void
server_add_figures(const struct server *s, struct server_figures *sum)
{
	const struct server_stats *st = &s->stats;
	const struct server_figures *c = &s->carried;

	sum->open += counter_get(&st->open);
	sum->accepted += c->accepted + counter_get(&st->accepted);
	sum->bytes_received += c->bytes_received +
	    counter_get(&st->bytes_received);
	sum->bytes_echoed += c->bytes_echoed + counter_get(&st->bytes_echoed);
	sum->lines_echoed += c->lines_echoed + counter_get(&st->lines_echoed);
	sum->fragments += c->fragments + counter_get(&st->fragments);
	sum->bytes_held += counter_get(&st->bytes_held);
	sum->buffers += counter_get(&st->buffers);
	sum->accept_pauses += c->accept_pauses +
	    counter_get(&st->accept_pauses);
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		sum->refused[i] += c->refused[i] + counter_get(&st->refused[i]);
	for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
		sum->closed[i] += c->closed[i] + counter_get(&st->closed[i]);
}

uint64_t
server_served(const struct server_figures *f)
{
	uint64_t refused = 0;

	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		refused += f->refused[i];
	return f->accepted - refused;
}

void
server_run(struct server *s)
{
	struct server_figures f = { 0 };

	ring_run(s);
	if (s->ring != NULL)
		ring_loop(s);
	else
		ev_run(s->loop, 0);
	ring_finish(s);
	/* Every event of every burst is told before the summary. */
	session_bursts_flush(s, 0.0);
	server_add_figures(s, &f);
	/* Handed over, the worker's story goes on in the next image. */
	if (!server_handed(s))
		log_info("%sstopped: %llu connection(s) served, %llu refused at"
		    " max_connections, %llu at max_per_ip, %llu closed by"
		    " line_timeout, %llu over a PROXY header, %llu bytes echoed",
		    s->tag, (unsigned long long)server_served(&f),
		    (unsigned long long)f.refused[SERVER_REFUSE_MAX_CONNECTIONS],
		    (unsigned long long)f.refused[SERVER_REFUSE_MAX_PER_IP],
		    (unsigned long long)f.closed[SERVER_CLOSE_LINE_TIMEOUT],
		    (unsigned long long)f.refused[SERVER_REFUSE_PROXY_HEADER],
		    (unsigned long long)f.bytes_echoed);
	pthread_mutex_lock(&s->ctl.lock);
	s->ctl.finished = true;
	pthread_mutex_unlock(&s->ctl.lock);
	ev_async_send(s->role.owner_loop, s->role.owner_wake);
}

void
server_destroy(struct server *s)
{
	if (s->loop == NULL)
		return;
	while (s->idle_list.head != TIMEOUT_NONE)
		session_close(s, s->idle_list.head, SERVER_CLOSE_SHUTDOWN,
		    "server exit");
	listener_close_all(s);
	ring_destroy(s);
	ev_timer_stop(s->loop, &s->idle_timer);
	ev_timer_stop(s->loop, &s->line_timer);
	ev_timer_stop(s->loop, &s->proxy_timer);
	ev_timer_stop(s->loop, &s->shutdown_timer);
	ev_timer_stop(s->loop, &s->housekeeping_timer);
	ev_timer_stop(s->loop, &s->heartbeat_timer);
	ev_timer_stop(s->loop, &s->burst_timer);
	ev_async_stop(s->loop, &s->ctl.wake);
	bufpool_destroy(&s->pool);
	free(s->idle_list.since_ms);
	free(s->line_list.since_ms);
	free(s->line_links);
	free(s->proxy);
	free(s->ids);
	slab_destroy(&s->slab);
	free(s->scratch);
	ev_loop_destroy(s->loop);
	s->loop = NULL;
	pthread_mutex_destroy(&s->ctl.lock);
}
