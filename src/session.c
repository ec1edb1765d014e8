/*
 * A connection's I/O: what the state machine in conn.c decides, done with
 * system calls on the connection's one ev_io.  Reads land in the worker's
 * scratch buffer; complete lines are written straight from it, and
 * EV_WRITE is armed only when the kernel refuses part of an echo, so a
 * steady connection never changes its watcher.
 */
#include "server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define SESSION_WHY_MAX 128             /* bytes of a close reason */

const char *const server_close_names[SERVER_CLOSE_CAUSES] = {
	[SERVER_CLOSE_CLIENT] = "client",
	[SERVER_CLOSE_IDLE_TIMEOUT] = "idle_timeout",
	[SERVER_CLOSE_LINE_TIMEOUT] = "line_timeout",
	[SERVER_CLOSE_ERROR] = "error",
	[SERVER_CLOSE_SHUTDOWN] = "shutdown",
	[SERVER_CLOSE_OUT_OF_MEMORY] = "out_of_memory",
};

const char *const server_refuse_names[SERVER_REFUSE_CAUSES] = {
	[SERVER_REFUSE_MAX_CONNECTIONS] = "max_connections",
	[SERVER_REFUSE_MAX_PER_IP] = "max_per_ip",
	[SERVER_REFUSE_PROXY_HEADER] = "proxy_header",
	[SERVER_REFUSE_OUT_OF_MEMORY] = "out_of_memory",
};

static void session_cb(struct ev_loop *loop, ev_io *w, int revents);

void
session_touch(struct server *s, uint32_t token)
{
	timeout_touch(&s->idle_list, token, server_now_ms(s));
}

/* What the log says of a close that ends the echo for a reason of conn's. */
static enum server_close
session_end_cause(enum conn_end end)
{
	switch (end) {
	case CONN_END_LINE_TIMEOUT:
		return SERVER_CLOSE_LINE_TIMEOUT;
	case CONN_END_SHUTDOWN:
		return SERVER_CLOSE_SHUTDOWN;
	case CONN_END_ABORT:
		return SERVER_CLOSE_ERROR;
	default:
		return SERVER_CLOSE_CLIENT;
	}
}

/* The words of a close in the log, when no detail says more. */
static const char *
session_cause_text(enum server_close cause)
{
	switch (cause) {
	case SERVER_CLOSE_CLIENT:
		return "end of input";
	case SERVER_CLOSE_IDLE_TIMEOUT:
		return "idle timeout";
	case SERVER_CLOSE_LINE_TIMEOUT:
		return "line timeout";
	case SERVER_CLOSE_SHUTDOWN:
		return "shutdown timeout";
	case SERVER_CLOSE_OUT_OF_MEMORY:
		return "out of memory";
	default:
		return server_close_names[cause];
	}
}

/* The gauges that move with every event: one store each, no more. */
static void
session_publish(struct server *s)
{
	counter_set(&s->stats.bytes_held, s->held);
	counter_set(&s->stats.buffers, s->pool.out);
}

/* What a connection holds and owes moved from `before` to what it is now. */
static void
session_account(struct server *s, const struct conn *c, uint64_t before)
{
	s->held += conn_held(c) + conn_unsent(c);
	s->held -= before;
}

/*
 * Keep a connection on the line list exactly while it holds a partial
 * line.  held_before is what it held before bytes arrived; when that line
 * was echoed (echoed is true) what it holds now is a new line, timed anew.
 */
static void
session_track_line(struct server *s, uint32_t token, uint32_t held_before,
    bool echoed)
{
	uint32_t held = (uint32_t)conn_held(&server_slot(s, token)->conn);

	if (held_before > 0 && (held == 0 || echoed))
		timeout_remove(&s->line_list, token);
	if (held > 0 && (held_before == 0 || echoed)) {
		timeout_append(&s->line_list, token, server_now_ms(s));
		server_arm(s, &s->line_list, &s->line_timer,
		    s->cfg.line_timeout_ms);
	}
}

/* No more input from this connection: what it holds becomes echo. */
static void
session_end_input(struct server *s, uint32_t token, enum conn_end why)
{
	struct conn *c = &server_slot(s, token)->conn;
	uint32_t held = (uint32_t)conn_held(c);

	conn_finish(c, &s->pool, why);
	session_track_line(s, token, held, false);
}

void
session_detach(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);

	/* libev requires the watcher stopped before close() and reuse. */
	ev_io_stop(s->loop, &sl->io);
	if (s->proxy[token] != NULL)
		session_proxy_forget(s, token);
	else if (conn_held(&sl->conn) > 0)
		timeout_remove(&s->line_list, token);
	s->held -= conn_held(&sl->conn) + conn_unsent(&sl->conn);
	if (s->ring != NULL)
		ring_forget(s, token);
	conn_abort(&sl->conn, &s->pool);
	timeout_remove(&s->idle_list, token);
	if (sl->peer != PEERS_NONE)
		server_peer_remove(s, sl->peer);
	slab_give(&s->slab, token);
}

/* Free a connection's slot and descriptor, and say why in the debug log. */
static void
session_release(struct server *s, uint32_t token, const char *why)
{
	int fd = server_slot(s, token)->io.fd;

	log_debug("%sconnection %llu closed: %s", s->tag, session_id(s, token),
	    why);
	session_detach(s, token);
	close(fd);
	counter_set(&s->stats.open, s->slab.used);
	session_publish(s);
	/* A descriptor just came free: accept may work again. */
	listener_resume(s);
	if (s->stopping && s->slab.used == 0)
		server_break(s);
}

void
session_close(struct server *s, uint32_t token, enum server_close cause,
    const char *detail)
{
	/* Counted first: the count is whole when the slot is free. */
	counter_add(&s->stats.closed[cause], 1);
	session_release(s, token, detail != NULL ? detail :
	    session_cause_text(cause));
}

void
session_drop(struct server *s, uint32_t token, enum server_refuse cause,
    const char *detail)
{
	counter_add(&s->stats.refused[cause], 1);
	session_release(s, token, detail != NULL ? detail :
	    server_refuse_names[cause]);
}

void
session_fail(struct server *s, uint32_t token, const char *call)
{
	char why[SESSION_WHY_MAX];

	snprintf(why, sizeof(why), "%s: %s", call, strerror(errno));
	session_close(s, token, SERVER_CLOSE_ERROR, why);
}

void
session_burst(struct server *s, struct server_burst *b, const char *what,
    const char *tailfmt, ...)
{
	unsigned long n;
	va_list ap;

	/* The last event's words stand for the rest of the burst. */
	snprintf(b->what, sizeof(b->what), "%s", what);
	va_start(ap, tailfmt);
	vsnprintf(b->tail, sizeof(b->tail), tailfmt, ap);
	va_end(ap);
	n = log_ratelimit(&b->rl, ev_now(s->loop), SERVER_LOG_INTERVAL);
	if (n > 0)
		log_at(b->level, "%s%s%lu%s", s->tag, b->what, n, b->tail);
}

/* Tell what is left of one burst once interval has passed since its line. */
static void
session_burst_flush(struct server *s, struct server_burst *b, double interval)
{
	unsigned long n = log_ratelimit_due(&b->rl, ev_now(s->loop), interval);

	if (n > 0)
		log_at(b->level, "%s%s%lu%s", s->tag, b->what, n, b->tail);
}

void
session_bursts_flush(struct server *s, double interval)
{
	session_burst_flush(s, &s->burst_full, interval);
	session_burst_flush(s, &s->burst_per_ip, interval);
	session_burst_flush(s, &s->burst_line, interval);
	session_burst_flush(s, &s->burst_proxy, interval);
	session_burst_flush(s, &s->burst_accept, interval);
}

void
session_burst_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	session_bursts_flush(ev_userdata(loop), SERVER_LOG_INTERVAL);
}

void
session_log_limit(struct server *s, enum server_refuse cause, uint32_t limit,
    const struct sockaddr *peer)
{
	struct server_burst *b = cause == SERVER_REFUSE_MAX_CONNECTIONS ?
	    &s->burst_full : &s->burst_per_ip;
	char addr[ADDR_TEXT], what[64];

	if (cause == SERVER_REFUSE_OUT_OF_MEMORY) {
		log_error("%sout of memory counting connections per address:"
		    " closed a new connection", s->tag);
		return;
	}
	addr_text(peer, addr, sizeof(addr));
	snprintf(what, sizeof(what), "%s (%u) reached: closed ",
	    server_refuse_names[cause], limit);
	session_burst(s, b, what, " new connection(s), the last from %s", addr);
}

void
session_refuse(struct server *s, enum server_refuse cause, uint32_t limit,
    const struct sockaddr *peer)
{
	counter_add(&s->stats.refused[cause], 1);
	session_log_limit(s, cause, limit, peer);
}

/* Watch for what the state machine wants next; no change, no syscall. */
static void
session_sync(struct server *s, struct slot *sl)
{
	int want = conn_interest(&sl->conn) == CONN_WANT_WRITE ? EV_WRITE :
	    EV_READ;

	if ((sl->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(s->loop, &sl->io);
	ev_io_modify(&sl->io, want);
	ev_io_start(s->loop, &sl->io);
}

/*
 * Bytes the kernel took, 0 when it took none now, -1 on a socket error.
 * Held bytes go out with the fresh ones in one writev; the usual echo has
 * none and takes plain write(), which the kernel serves with less work
 * (no iovec to copy in and check).
 */
static ssize_t
session_write_echo(int fd, const struct conn_echo *echo)
{
	struct iovec iov[2];
	ssize_t n;

	do {
		if (echo->held_len == 0) {
			n = write(fd, echo->fresh, echo->fresh_len);
		} else {
			iov[0].iov_base = (void *)echo->held;
			iov[0].iov_len = echo->held_len;
			iov[1].iov_base = (void *)echo->fresh;
			iov[1].iov_len = echo->fresh_len;
			n = writev(fd, iov, 2);
		}
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n;
}

/* Write the echo the kernel has not taken yet; -1 when that closed it. */
static int
session_write_pending(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);
	const char *data;
	size_t len;
	ssize_t n;

	conn_pending(&sl->conn, &data, &len);
	do
		n = write(sl->io.fd, data, len);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			session_fail(s, token, "write");
			return -1;
		}
		return 0;
	}
	if (n > 0) {
		conn_wrote(&sl->conn, &s->pool, (size_t)n);
		s->held -= (uint64_t)n;
		counter_add(&s->stats.bytes_echoed, (uint64_t)n);
		session_touch(s, token);
	}
	return 0;
}

/* A Closed connection goes, counted under why its input ended. */
static void
session_closed(struct server *s, uint32_t token, bool owed)
{
	enum server_close cause = session_end_cause(
	    server_slot(s, token)->conn.end);
	char why[SESSION_WHY_MAX];

	if (owed) {
		/* Echo was still owed when the input ended. */
		snprintf(why, sizeof(why), "echo complete after %s",
		    session_cause_text(cause));
		session_close(s, token, cause, why);
	} else {
		session_close(s, token, cause, NULL);
	}
}

/*
 * After an event: a connection with echo pending that was not tried yet
 * (flush) writes it; then a Closed one goes, and the rest wait for what
 * the state machine wants.  Through a ring, the echo is sent and the
 * receive follows the state instead.
 */
static void
session_settle(struct server *s, uint32_t token, bool flush)
{
	struct slot *sl = server_slot(s, token);
	bool owed = sl->conn.state == CONN_WRITING;

	if (s->ring == NULL && flush && owed &&
	    session_write_pending(s, token) == -1)
		return;
	if (sl->conn.state == CONN_CLOSED) {
		session_closed(s, token, owed);
		return;
	}
	if (s->ring != NULL)
		ring_settled(s, token);
	else
		session_sync(s, sl);
	session_publish(s);
}

/*
 * Read and echo at once: one read per wakeup unless it filled the room
 * (more is likely waiting), up to SERVER_READ_BUDGET so that one busy
 * client cannot starve the others.
 */
void
session_read(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);
	struct conn *c = &sl->conn;
	size_t budget = SERVER_READ_BUDGET;
	bool progress = false;

	while (c->state == CONN_READING) {
		size_t room = conn_read_room(c, &s->pool);
		uint32_t held = (uint32_t)conn_held(c);
		struct conn_echo echo;
		ssize_t n, w = 0;

		if (room > s->scratch_size)
			room = s->scratch_size;
		n = read(sl->io.fd, s->scratch, room);
		if (n == 0) {
			if (progress)
				session_touch(s, token);
			session_end_input(s, token, CONN_END_CLIENT);
			session_settle(s, token, true);
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			session_fail(s, token, "read");
			return;
		}
		progress = true;
		counter_add(&s->stats.bytes_received, (uint64_t)n);
		if (sl->refuse_header) {
			sl->refuse_header = 0;
			if (proxy_has_signature((unsigned char *)s->scratch,
			    (size_t)n)) {
				session_proxy_reject(s, token,
				    "PROXY header from an untrusted address");
				return;
			}
		}
		conn_plan(c, &s->pool, s->scratch, (size_t)n, &echo);
		if (echo.held_len + echo.fresh_len > 0) {
			w = session_write_echo(sl->io.fd, &echo);
			if (w == -1) {
				session_fail(s, token, "write");
				return;
			}
			counter_add(&s->stats.bytes_echoed, (uint64_t)w);
			counter_add(&s->stats.lines_echoed, echo.lines);
			if (echo.fragments > 0)
				counter_add(&s->stats.fragments, echo.fragments);
		}
		if (conn_commit(c, &s->pool, s->scratch, (size_t)n, &echo,
		    (size_t)w) == -1) {
			log_error("%sconnection %llu: out of memory for %u bytes;"
			    " closing it", s->tag, session_id(s, token),
			    conn_max_line(c, &s->pool));
			session_close(s, token, SERVER_CLOSE_OUT_OF_MEMORY, NULL);
			return;
		}
		/* Held before, and what is held and owed now. */
		session_account(s, c, held);
		session_track_line(s, token, held,
		    echo.held_len + echo.fresh_len > 0);
		if ((size_t)n < room || (size_t)n >= budget)
			break;
		budget -= (size_t)n;
	}
	if (progress)
		session_touch(s, token);
	session_settle(s, token, false);
}

void
session_end(struct server *s, uint32_t token, enum conn_end why)
{
	session_end_input(s, token, why);
	session_settle(s, token, true);
}

void
session_received(struct server *s, uint32_t token, const char *data,
    size_t n)
{
	struct slot *sl = server_slot(s, token);
	struct conn *c = &sl->conn;
	uint32_t held = (uint32_t)conn_held(c);
	uint64_t before = held + conn_unsent(c);
	struct conn_buf *replaced;
	struct conn_echo echo;

	/* Input the daemon ended (line_timeout, shutdown) takes no more. */
	if (c->end != CONN_END_NONE ||
	    (c->state != CONN_READING && c->state != CONN_WRITING))
		return;
	counter_add(&s->stats.bytes_received, (uint64_t)n);
	if (sl->refuse_header) {
		sl->refuse_header = 0;
		if (proxy_has_signature((const unsigned char *)data, n)) {
			session_proxy_reject(s, token,
			    "PROXY header from an untrusted address");
			return;
		}
	}
	if (conn_owe(c, &s->pool, data, n, sl->ring_send, &replaced,
	    &echo) == -1) {
		log_error("%sconnection %llu: out of memory for %zu bytes;"
		    " closing it", s->tag, session_id(s, token),
		    (size_t)before + n);
		session_close(s, token, SERVER_CLOSE_OUT_OF_MEMORY, NULL);
		return;
	}
	if (replaced != NULL)
		ring_retire(s, token, replaced);
	counter_add(&s->stats.lines_echoed, echo.lines);
	if (echo.fragments > 0)
		counter_add(&s->stats.fragments, echo.fragments);
	session_account(s, c, before);
	session_track_line(s, token, held, echo.lines + echo.fragments > 0 ||
	    c->framing == CONN_FRAMING_BYTES);
	session_touch(s, token);
	session_settle(s, token, true);
}

void
session_sent(struct server *s, uint32_t token, size_t n)
{
	struct slot *sl = server_slot(s, token);

	if (n > 0) {
		conn_wrote(&sl->conn, &s->pool, n);
		s->held -= (uint64_t)n;
		counter_add(&s->stats.bytes_echoed, (uint64_t)n);
		session_touch(s, token);
	}
	if (sl->conn.state == CONN_CLOSED)
		session_closed(s, token, true);
	else
		session_settle(s, token, false);
}

void
session_reading(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);

	if (s->ring == NULL) {
		session_read(s, token);
		return;
	}
	/* The bytes after the header wait in the socket for the receive. */
	ev_io_stop(s->loop, &sl->io);
	ring_start(s, token);
}

/* The one callback of every connection's watcher: what its state calls for. */
static void
session_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t token = slab_token(&s->slab, w);

	switch (((struct slot *)w)->conn.state) {
	case CONN_HEADER:
		session_proxy_read(s, token);
		break;
	case CONN_READING:
		if (revents & EV_READ)
			session_read(s, token);
		break;
	case CONN_WRITING:
		if (revents & EV_WRITE)
			session_settle(s, token, true);
		break;
	case CONN_CLOSED:
		break;
	}
}

void
session_watch(struct server *s, uint32_t token, int fd)
{
	struct slot *sl = server_slot(s, token);

	ev_io_init(&sl->io, session_cb, fd,
	    conn_interest(&sl->conn) == CONN_WANT_WRITE ? EV_WRITE : EV_READ);
	/* A PROXY header is read on readiness, whatever the I/O. */
	if (s->ring != NULL && sl->conn.state != CONN_HEADER)
		ring_start(s, token);
	else
		ev_io_start(s->loop, &sl->io);
}

void
session_open(struct server *s, int fd, const struct sockaddr *peer,
    uint32_t listener)
{
	bool balancer = s->cfg.proxy_protocol && config_proxy_trusted(&s->cfg,
	    peer);
	uint32_t token, peer_index = PEERS_NONE;
	struct slot *sl;
	int nomem;

	counter_add(&s->stats.accepted, 1);
	/*
	 * Past a limit the connection is accepted and closed at once: left
	 * in the backlog, it would wait forever and crowd out others.  A
	 * balancer's connection is counted once its header names the client.
	 */
	if (!balancer) {
		peer_index = server_peer_add(s, peer, &nomem);
		if (peer_index == PEERS_NONE) {
			close(fd);
			session_refuse(s, nomem ? SERVER_REFUSE_OUT_OF_MEMORY :
			    SERVER_REFUSE_MAX_PER_IP, s->cfg.max_per_ip, peer);
			return;
		}
	}
	token = slab_take(&s->slab);
	if (token == SLAB_NONE) {
		close(fd);
		if (peer_index != PEERS_NONE)
			server_peer_remove(s, peer_index);
		session_refuse(s, SERVER_REFUSE_MAX_CONNECTIONS, s->slab.limit,
		    peer);
		return;
	}
	/* Our own listeners pass their options on (net_tune_socket). */
	if (s->activated)
		net_tune_socket(fd, server_whole_seconds(s->cfg.tcp_keepalive_ms));
	s->ids[token] = atomic_fetch_add_explicit(s->role.serial, 1,
	    memory_order_relaxed) + 1;
	sl = server_slot(s, token);
	sl->peer = peer_index;
	conn_init(&sl->conn, balancer ? CONN_HEADER : CONN_READING,
	    (enum conn_framing)s->cfg.framing);
	sl->refuse_header = !balancer && s->cfg.proxy_protocol;
	ev_io_init(&sl->io, session_cb, fd, EV_READ);
	if (s->ring == NULL || balancer)
		ev_io_start(s->loop, &sl->io);
	timeout_append(&s->idle_list, token, server_now_ms(s));
	server_arm(s, &s->idle_list, &s->idle_timer, s->cfg.idle_timeout_ms);
	counter_set(&s->stats.open, s->slab.used);
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char addr[ADDR_TEXT];

		addr_text(peer, addr, sizeof(addr));
		log_debug("%sconnection %llu from %s on %s (slot %u)%s", s->tag,
		    session_id(s, token), addr, s->listeners[listener].bound,
		    token, balancer ? ", a PROXY header is due" : "");
	}
	if (balancer)
		(void)session_proxy_start(s, token);
	else if (s->ring != NULL)
		ring_start(s, token);
}

void
session_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t token;

	(void)w;
	(void)revents;
	while ((token = timeout_expired(&s->idle_list, server_now_ms(s),
	    s->cfg.idle_timeout_ms)) != TIMEOUT_NONE)
		session_close(s, token, SERVER_CLOSE_IDLE_TIMEOUT, NULL);
	server_arm(s, &s->idle_list, &s->idle_timer, s->cfg.idle_timeout_ms);
}

/*
 * A partial line held past line_timeout: echo it as it is and close, as
 * if the client had ended its side.  Unlike the idle timeout, a client
 * trickling a byte at a time does not reset this.
 */
void
session_line_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t timeout = s->cfg.line_timeout_ms, token;

	(void)w;
	(void)revents;
	while ((token = timeout_expired(&s->line_list, server_now_ms(s),
	    timeout)) != TIMEOUT_NONE) {
		session_burst(s, &s->burst_line, "line_timeout: closed ",
		    " connection(s) holding a partial line for %ums, the last"
		    " %zu bytes on connection %llu", timeout,
		    conn_held(&server_slot(s, token)->conn),
		    session_id(s, token));
		session_end(s, token, CONN_END_LINE_TIMEOUT);
	}
	server_arm(s, &s->line_list, &s->line_timer, timeout);
}
