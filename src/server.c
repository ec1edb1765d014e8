#include "server.h"

#include <errno.h>
#include <fcntl.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "service.h"

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents);
static void listener_cb(struct ev_loop *loop, ev_io *w, int revents);

static struct slot *
slot_of(struct server *s, uint32_t token)
{
	return slab_get(&s->slab, token);
}

/* "worker 2: " before a log line of one of several workers, else "". */
static const char *
worker_tag(struct server *s)
{
	static _Thread_local char tag[24];

	if (s->role.count == 1)
		return "";
	snprintf(tag, sizeof(tag), "worker %u: ", s->role.index + 1);
	return tag;
}

/* This worker's part of a daemon-wide count: an equal share, the rest first. */
static uint32_t
worker_share(const struct server *s, uint32_t total)
{
	uint32_t share = total / s->role.count;

	if (s->role.index < total % s->role.count)
		share++;
	return share > 0 ? share : 1;
}

/* A duration in whole seconds, rounded up, as the socket options take it. */
static unsigned
whole_seconds(uint32_t ms)
{
	return (ms + 999) / 1000;
}

/* tcp_keepalive in whole seconds, as TCP_KEEPIDLE takes it; 0: off. */
static unsigned
keepalive_seconds(const struct config *cfg)
{
	return whole_seconds(cfg->tcp_keepalive_ms);
}

static uint32_t
server_now_ms(struct server *s)
{
	return (uint32_t)((ev_now(s->loop) - s->epoch) * 1000.0);
}

/*
 * Timed lists: every open connection is on the idle list, least recently
 * active first, and each one holding a partial line is also on the line
 * list, oldest partial line first.  One timer per list waits for its head
 * only ("Be smart about timeouts" in ev(3)): progress moves a connection to
 * the tail in O(1) and never touches a timer.
 */
_Static_assert(sizeof(struct list_pos) <= sizeof(((ev_io *)0)->data),
    "the idle list's neighbours fit in a watcher's data pointer");

/* Where the idle list keeps a connection's neighbours: its watcher's data. */
static void *
pos_in_slot(const struct timed_list *l, uint32_t token)
{
	return &((struct slot *)slab_get(l->slab, token))->io.data;
}

static struct list_pos
pos_get(const struct timed_list *l, uint32_t token)
{
	struct list_pos p;

	if (l->pos != NULL)
		return l->pos[token];
	memcpy(&p, pos_in_slot(l, token), sizeof(p));
	return p;
}

static void
pos_set(struct timed_list *l, uint32_t token, struct list_pos p)
{
	if (l->pos != NULL)
		l->pos[token] = p;
	else
		memcpy(pos_in_slot(l, token), &p, sizeof(p));
}

static void
list_init(struct timed_list *l)
{
	l->head = l->tail = SLAB_NONE;
	l->since_ms = NULL;
	l->pos = NULL;
	l->slab = NULL;
}

static void
list_unlink(struct timed_list *l, uint32_t token)
{
	struct list_pos p = pos_get(l, token), q;

	if (p.prev != SLAB_NONE) {
		q = pos_get(l, p.prev);
		q.next = p.next;
		pos_set(l, p.prev, q);
	} else {
		l->head = p.next;
	}
	if (p.next != SLAB_NONE) {
		q = pos_get(l, p.next);
		q.prev = p.prev;
		pos_set(l, p.next, q);
	} else {
		l->tail = p.prev;
	}
}

static void
list_append(struct server *s, struct timed_list *l, uint32_t token)
{
	struct list_pos q;

	l->since_ms[token] = server_now_ms(s);
	pos_set(l, token, (struct list_pos){ .prev = l->tail, .next = SLAB_NONE });
	if (l->tail != SLAB_NONE) {
		q = pos_get(l, l->tail);
		q.next = token;
		pos_set(l, l->tail, q);
	} else {
		l->head = token;
	}
	l->tail = token;
}

static void
list_touch(struct server *s, struct timed_list *l, uint32_t token)
{
	if (l->tail != token) {
		list_unlink(l, token);
		list_append(s, l, token);
	} else {
		l->since_ms[token] = server_now_ms(s);
	}
}

/* ms the head of l has waited, or 0 for an empty list. */
static uint32_t
list_head_age(struct server *s, const struct timed_list *l)
{
	if (l->head == SLAB_NONE)
		return 0;
	return server_now_ms(s) - l->since_ms[l->head];
}

/* Start timer for the head's deadline unless it already waits. */
static void
list_arm(struct server *s, const struct timed_list *l, ev_timer *timer,
    uint32_t timeout)
{
	uint32_t age;

	if (timeout == 0 || l->head == SLAB_NONE || ev_is_active(timer))
		return;
	age = list_head_age(s, l);
	ev_timer_set(timer, age >= timeout ? 0.0 : (timeout - age) / 1000.0,
	    0.0);
	ev_timer_start(s->loop, timer);
}

static void
idle_touch(struct server *s, uint32_t token)
{
	list_touch(s, &s->idle_list, token);
}

static void
idle_arm(struct server *s)
{
	list_arm(s, &s->idle_list, &s->idle_timer, s->cfg.idle_timeout_ms);
}

/*
 * Keep a connection on the line list exactly while it holds a partial
 * line.  held_before is what it held before bytes arrived; when that line
 * was echoed (echoed is true) what it holds now is a new line, timed anew.
 */
static void
line_track(struct server *s, uint32_t token, uint32_t held_before, bool echoed)
{
	uint32_t held = (uint32_t)conn_held(&slot_of(s, token)->conn);

	if (held_before > 0 && (held == 0 || echoed))
		list_unlink(&s->line_list, token);
	if (held > 0 && (held_before == 0 || echoed)) {
		list_append(s, &s->line_list, token);
		list_arm(s, &s->line_list, &s->line_timer,
		    s->cfg.line_timeout_ms);
	}
}

/* No more input from this connection: what it holds becomes echo. */
static void
conn_end_input(struct server *s, uint32_t token)
{
	struct slot *sl = slot_of(s, token);
	uint32_t held = (uint32_t)conn_held(&sl->conn);

	conn_finish(&sl->conn, &s->pool);
	line_track(s, token, held, false);
}

static void
listener_start_all(struct server *s)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			ev_io_start(s->loop, &slot_of(s, t)->io);
}

static void
listener_stop_all(struct server *s)
{
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			ev_io_stop(s->loop, &slot_of(s, t)->io);
}

static void
resume_accept(struct server *s)
{
	if (!s->accept_paused || s->stopping)
		return;
	s->accept_paused = false;
	ev_timer_stop(s->loop, &s->accept_timer);
	listener_start_all(s);
}

/*
 * Free a connection's slot and descriptor.  The watcher is stopped before
 * close() and before the token can be handed out again, as libev requires.
 */
static void
conn_close(struct server *s, uint32_t token, const char *why)
{
	struct slot *sl = slot_of(s, token);

	log_debug("connection %u closed: %s", token, why);
	ev_io_stop(s->loop, &sl->io);
	close(sl->io.fd);
	if (sl->awaiting_header) {
		list_unlink(&s->proxy_list, token);
		free(s->proxy[token]);
		s->proxy[token] = NULL;
	} else if (conn_held(&sl->conn) > 0) {
		list_unlink(&s->line_list, token);
	}
	conn_abort(&sl->conn, &s->pool);
	list_unlink(&s->idle_list, token);
	if (sl->peer != PEERS_NONE)
		peers_remove(&s->peers, sl->peer);
	slab_give(&s->slab, token);
	/* A descriptor just came free: accept may work again. */
	resume_accept(s);
	if (s->stopping && s->slab.used == 0)
		ev_break(s->loop, EVBREAK_ALL);
}

/* Close after a failed system call, with its errno as the reason. */
static void
conn_fail(struct server *s, uint32_t token, const char *call)
{
	char why[128];

	snprintf(why, sizeof(why), "%s: %s", call, strerror(errno));
	conn_close(s, token, why);
}

/* At most one line a second for a kind of refusal, with the count. */
static void
log_refusal(struct server *s, struct log_ratelimit *rl, const char *what,
    uint32_t limit, const struct sockaddr *peer)
{
	char addr[NET_ADDR_TEXT];
	unsigned long n;

	n = log_ratelimit(rl, ev_now(s->loop), SERVER_LOG_INTERVAL);
	if (n == 0)
		return;
	net_addr_text(peer, addr, sizeof(addr));
	log_warn("%s (%u) reached: closed %lu new connection(s), the last from"
	    " %s", what, limit, n, addr);
}

/*
 * Close a connection over its PROXY header (missing, malformed, late, or
 * from an address not trusted to send one); counted, logged once a second.
 */
static void
proxy_reject(struct server *s, uint32_t token, const char *why)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[NET_ADDR_TEXT] = "?";
	unsigned long n;

	s->proxy_rejected++;
	n = log_ratelimit(&s->rl_proxy, ev_now(s->loop), SERVER_LOG_INTERVAL);
	if (n > 0) {
		if (getpeername(slot_of(s, token)->io.fd, (struct sockaddr *)&ss,
		    &len) == 0)
			net_addr_text((struct sockaddr *)&ss, addr, sizeof(addr));
		log_warn("PROXY protocol: %s: closed %lu connection(s), the last"
		    " from %s", why, n, addr);
	}
	conn_close(s, token, why);
}

/* Watch for what the state machine wants next; no change, no syscall. */
static void
conn_sync_interest(struct server *s, struct slot *sl)
{
	int want = conn_interest(&sl->conn) == CONN_WANT_WRITE ? EV_WRITE : EV_READ;

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
echo_write(int fd, const struct conn_echo *echo)
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

/* Write what is pending; the connection may end up Reading or Closed. */
static void
conn_flush(struct server *s, uint32_t token)
{
	struct slot *sl = slot_of(s, token);
	const char *data;
	size_t len;
	ssize_t n;

	conn_pending(&sl->conn, &data, &len);
	do
		n = write(sl->io.fd, data, len);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_fail(s, token, "write");
			return;
		}
		n = 0;
	}
	if (n > 0) {
		conn_wrote(&sl->conn, &s->pool, (size_t)n);
		s->bytes_echoed += (uint64_t)n;
		idle_touch(s, token);
	}
	if (sl->conn.state == CONN_CLOSED)
		conn_close(s, token, "echo complete after end of input");
	else
		conn_sync_interest(s, sl);
}

/*
 * Read and echo at once: one read per wakeup unless it filled the room
 * (more is likely waiting), up to SERVER_READ_BUDGET so that one busy
 * client cannot starve the others.  EV_WRITE is armed only when the
 * kernel refuses part of an echo.
 */
static void
conn_readable(struct server *s, uint32_t token)
{
	struct slot *sl = slot_of(s, token);
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
				idle_touch(s, token);
			conn_end_input(s, token);
			if (c->state == CONN_CLOSED)
				conn_close(s, token, "end of input");
			else
				conn_flush(s, token);
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(s, token, "read");
			return;
		}
		progress = true;
		if (sl->refuse_header) {
			sl->refuse_header = 0;
			if (proxy_has_signature((unsigned char *)s->scratch,
			    (size_t)n)) {
				proxy_reject(s, token,
				    "PROXY header from an untrusted address");
				return;
			}
		}
		conn_plan(c, &s->pool, s->scratch, (size_t)n, &echo);
		if (echo.held_len + echo.fresh_len > 0) {
			w = echo_write(sl->io.fd, &echo);
			if (w == -1) {
				conn_fail(s, token, "write");
				return;
			}
			s->bytes_echoed += (uint64_t)w;
		}
		if (conn_commit(c, &s->pool, s->scratch, (size_t)n, &echo,
		    (size_t)w) == -1) {
			log_error("connection %u: out of memory for %u bytes;"
			    " closing it", token, conn_max_line(c, &s->pool));
			conn_close(s, token, "out of memory");
			return;
		}
		line_track(s, token, held, echo.held_len + echo.fresh_len > 0);
		if ((size_t)n < room || (size_t)n >= budget)
			break;
		budget -= (size_t)n;
	}
	if (progress)
		idle_touch(s, token);
	conn_sync_interest(s, sl);
}

/*
 * Take the PROXY header off the front of a connection from a trusted
 * balancer, exactly: bytes are peeked, and only those that belong to the
 * header are read, so what follows stays in the socket for the echo.
 */
static void
proxy_readable(struct server *s, uint32_t token)
{
	struct slot *sl = slot_of(s, token);
	struct proxy_wait *pw = s->proxy[token];
	struct sockaddr_storage own;
	const struct sockaddr *client;
	struct proxy_header hdr;
	enum proxy_status st;
	const char *why;
	ssize_t n, take;
	uint32_t peer;
	int nomem;

	do
		n = recv(sl->io.fd, pw->buf + pw->have,
		    PROXY_HEADER_MAX - pw->have, MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		proxy_reject(s, token, "connection ended before its PROXY header");
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(s, token, "recv");
		return;
	}
	st = proxy_parse(pw->buf, pw->have + (size_t)n, &hdr, &why);
	if (st == PROXY_BAD) {
		proxy_reject(s, token, why);
		return;
	}
	take = st == PROXY_OK ? (ssize_t)(hdr.length - pw->have) : n;
	if (read(sl->io.fd, pw->buf + pw->have, (size_t)take) != take) {
		conn_fail(s, token, "read");
		return;
	}
	pw->have = (uint16_t)(pw->have + take);
	if (st == PROXY_INCOMPLETE)
		return;

	/* LOCAL and UNKNOWN: the balancer speaks for itself. */
	client = (const struct sockaddr *)&hdr.source;
	if (hdr.local) {
		socklen_t len = sizeof(own);

		if (getpeername(sl->io.fd, (struct sockaddr *)&own, &len) == -1) {
			conn_fail(s, token, "getpeername");
			return;
		}
		client = (const struct sockaddr *)&own;
	}
	peer = peers_add(&s->peers, client, s->cfg.max_per_ip, &nomem);
	if (peer == PEERS_NONE) {
		if (!nomem) {
			s->refused_per_ip++;
			log_refusal(s, &s->rl_per_ip, "max_per_ip",
			    s->cfg.max_per_ip, client);
		}
		conn_close(s, token, nomem ? "out of memory" : "max_per_ip");
		return;
	}
	sl->peer = peer;
	list_unlink(&s->proxy_list, token);
	free(pw);
	s->proxy[token] = NULL;
	sl->awaiting_header = 0;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char addr[NET_ADDR_TEXT];

		net_addr_text(client, addr, sizeof(addr));
		log_debug("connection %u: PROXY v%d header, client %s%s", token,
		    hdr.version, addr, hdr.local ? " (the balancer itself)" : "");
	}
	idle_touch(s, token);
	/* Bytes that came with the header are echoed now. */
	conn_readable(s, token);
}

static void
proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	while (s->proxy_list.head != SLAB_NONE &&
	    list_head_age(s, &s->proxy_list) >= SERVER_PROXY_TIMEOUT_MS)
		proxy_reject(s, s->proxy_list.head,
		    "no PROXY header within 5 s");
	list_arm(s, &s->proxy_list, &s->proxy_timer, SERVER_PROXY_TIMEOUT_MS);
}

static void
conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	struct slot *sl = (struct slot *)w;
	uint32_t token = slab_token(&s->slab, sl);

	if (sl->awaiting_header)
		proxy_readable(s, token);
	else if ((revents & EV_READ) && sl->conn.state == CONN_READING)
		conn_readable(s, token);
	else if ((revents & EV_WRITE) && sl->conn.state == CONN_WRITING)
		conn_flush(s, token);
}

static void
conn_open(struct server *s, int fd, const struct sockaddr *peer,
    uint32_t listener)
{
	bool balancer = s->cfg.proxy_protocol && config_proxy_trusted(&s->cfg,
	    peer);
	uint32_t token, peer_index = PEERS_NONE;
	struct slot *sl;
	int nomem;

	/*
	 * Past a limit the connection is accepted and closed at once: left
	 * in the backlog, it would wait forever and crowd out others.  A
	 * balancer's connection is counted once its header names the client.
	 */
	if (!balancer) {
		peer_index = peers_add(&s->peers, peer, s->cfg.max_per_ip,
		    &nomem);
		if (peer_index == PEERS_NONE) {
			close(fd);
			if (nomem) {
				log_error("out of memory counting connections"
				    " per address: closed a new connection");
				return;
			}
			s->refused_per_ip++;
			log_refusal(s, &s->rl_per_ip, "max_per_ip",
			    s->cfg.max_per_ip, peer);
			return;
		}
	}
	token = slab_take(&s->slab);
	if (token == SLAB_NONE) {
		close(fd);
		if (peer_index != PEERS_NONE)
			peers_remove(&s->peers, peer_index);
		s->refused++;
		log_refusal(s, &s->rl_full, "max_connections", s->slab.limit,
		    peer);
		return;
	}
	/* Our own listeners pass their options on (net_tune_socket). */
	if (s->activated)
		net_tune_socket(fd, keepalive_seconds(&s->cfg));
	sl = slot_of(s, token);
	sl->peer = peer_index;
	conn_init(&sl->conn);
	ev_io_init(&sl->io, conn_cb, fd, EV_READ);
	ev_io_start(s->loop, &sl->io);
	list_append(s, &s->idle_list, token);
	idle_arm(s);
	s->accepted++;
	if (balancer) {
		s->proxy[token] = calloc(1, sizeof(*s->proxy[token]));
		if (s->proxy[token] == NULL) {
			log_error("out of memory for a PROXY header: closed"
			    " connection %u", token);
			conn_close(s, token, "out of memory");
			return;
		}
		sl->awaiting_header = 1;
		list_append(s, &s->proxy_list, token);
		list_arm(s, &s->proxy_list, &s->proxy_timer,
		    SERVER_PROXY_TIMEOUT_MS);
	} else {
		sl->refuse_header = (uint8_t)s->cfg.proxy_protocol;
	}
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char addr[NET_ADDR_TEXT];

		net_addr_text(peer, addr, sizeof(addr));
		log_debug("connection %u from %s on %s%s", token, addr,
		    s->listeners[listener].bound,
		    balancer ? ", a PROXY header is due" : "");
	}
}

/*
 * Out of descriptors, accept would report the same pending connection on
 * every loop iteration: stop the listeners instead of spinning, and try
 * again when a connection closes or after SERVER_ACCEPT_RETRY.
 */
static void
pause_accept(struct server *s, int err)
{
	unsigned long n;

	n = log_ratelimit(&s->rl_accept, ev_now(s->loop), SERVER_LOG_INTERVAL);
	if (n > 0)
		log_warn("accept: %s; pausing new connections (%lu time(s)),"
		    " %u open", strerror(err), n, s->slab.used);
	s->accept_paused = true;
	listener_stop_all(s);
	ev_timer_set(&s->accept_timer, SERVER_ACCEPT_RETRY, 0.0);
	ev_timer_start(s->loop, &s->accept_timer);
}

static void
listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t token = slab_token(&s->slab, w);

	(void)revents;
	for (int i = 0; i < SERVER_ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage peer;
		socklen_t peerlen = sizeof(peer);
		int fd;

		fd = accept4(w->fd, (struct sockaddr *)&peer, &peerlen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			conn_open(s, fd, (struct sockaddr *)&peer, token);
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
			pause_accept(s, errno);
			return;
		default:
			if (log_ratelimit(&s->rl_accept, ev_now(loop),
			    SERVER_LOG_INTERVAL) > 0)
				log_warn("accept on %s: %s",
				    s->listeners[token].bound, strerror(errno));
			return;
		}
	}
}

static void
accept_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	resume_accept(ev_userdata(loop));
}

static void
idle_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t timeout = s->cfg.idle_timeout_ms;

	(void)w;
	(void)revents;
	while (timeout > 0 && s->idle_list.head != SLAB_NONE &&
	    list_head_age(s, &s->idle_list) >= timeout)
		conn_close(s, s->idle_list.head, "idle timeout");
	idle_arm(s);
}

/*
 * A partial line held past line_timeout: echo it as it is and close, as
 * if the client had ended its side.  Unlike the idle timeout, a client
 * trickling a byte at a time does not reset this.
 */
static void
line_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t timeout = s->cfg.line_timeout_ms;

	(void)w;
	(void)revents;
	while (timeout > 0 && s->line_list.head != SLAB_NONE &&
	    list_head_age(s, &s->line_list) >= timeout) {
		uint32_t token = s->line_list.head;
		struct slot *sl = slot_of(s, token);
		unsigned long n;

		s->line_timeouts++;
		n = log_ratelimit(&s->rl_line, ev_now(loop), SERVER_LOG_INTERVAL);
		if (n > 0)
			log_info("line_timeout: closed %lu connection(s) holding a"
			    " partial line for %ums, the last %zu bytes on"
			    " connection %u", n, timeout, conn_held(&sl->conn),
			    token);
		conn_end_input(s, token);
		if (sl->conn.state == CONN_CLOSED)
			conn_close(s, token, "line timeout");
		else
			conn_flush(s, token);
	}
	list_arm(s, &s->line_list, &s->line_timer, timeout);
}

/*
 * Best effort, as the other socket options: without it connections are
 * only handed over sooner.
 */
static void
listener_defer(struct server *s, const struct listener *l, uint32_t ms)
{
	if (net_defer_accept(l->fd, whole_seconds(ms)) == -1)
		log_warn("%sdefer_accept on %s: %s; connections are accepted"
		    " at once", worker_tag(s), l->bound, strerror(errno));
}

/* Once for the daemon, not once per worker. */
static void
warn_defer_passed(const struct server *s, uint32_t ms)
{
	if (ms > 0 && s->role.index == 0)
		log_warn("defer_accept is not applied to sockets passed by the"
		    " service manager: set DeferAcceptSec= in the socket unit"
		    " instead");
}

static int
listener_open(struct server *s, uint32_t token, const struct config *cfg,
    const struct config_listen *addr, char *err, size_t errlen)
{
	struct listener *l = &s->listeners[token];
	struct slot *sl = slot_of(s, token);
	int fd;

	fd = net_listen(addr, cfg->backlog, s->role.count > 1, err, errlen);
	if (fd == -1)
		return -1;
	net_tune_socket(fd, keepalive_seconds(cfg));
	l->fd = fd;
	l->addr = *addr;
	net_local_text(fd, l->bound, sizeof(l->bound));
	if (cfg->defer_accept_ms > 0)
		listener_defer(s, l, cfg->defer_accept_ms);
	ev_io_init(&sl->io, listener_cb, fd, EV_READ);
	if (!s->accept_paused && !s->stopping)
		ev_io_start(s->loop, &sl->io);
	log_info("%slistening on %s (token %u)", worker_tag(s), l->bound,
	    token);
	return 0;
}

static void
listener_close(struct server *s, uint32_t token)
{
	struct listener *l = &s->listeners[token];

	ev_io_stop(s->loop, &slot_of(s, token)->io);
	if (!l->borrowed)
		close(l->fd);
	l->fd = -1;
	l->borrowed = false;
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
config_has_listen(const struct config *cfg, const char *text)
{
	for (unsigned i = 0; i < cfg->nlisten; i++)
		if (strcmp(cfg->listen[i].text, text) == 0)
			return true;
	return false;
}

/*
 * Make the open listeners match cfg: open the new addresses first, and
 * only when all of them could be opened close the ones no longer listed,
 * so that a failed reload leaves the listeners as they were.
 */
static int
listeners_apply(struct server *s, const struct config *cfg, char *err,
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
				log_info("no longer listening on %s (token %u):"
				    " the reload is rolled back",
				    s->listeners[t].bound, t);
				listener_close(s, t);
			}
		return -1;
	}
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++) {
		struct listener *l = &s->listeners[t];

		if (l->fd == -1 || opened[t])
			continue;
		if (!config_has_listen(cfg, l->addr.text)) {
			log_info("no longer listening on %s (token %u)",
			    l->bound, t);
			listener_close(s, t);
		} else {
			/* Linux takes a new backlog on a listening socket. */
			if (cfg->backlog != s->cfg.backlog)
				(void)listen(l->fd, cfg->backlog);
			if (cfg->tcp_keepalive_ms != s->cfg.tcp_keepalive_ms)
				net_tune_socket(l->fd, keepalive_seconds(cfg));
			if (cfg->defer_accept_ms != s->cfg.defer_accept_ms)
				listener_defer(s, l, cfg->defer_accept_ms);
		}
	}
	return 0;
}

static int
scratch_reserve(struct server *s, size_t size)
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

/*
 * Serve the sockets passed by socket activation (descriptors 3 onward)
 * instead of the listen lines.  They arrive in blocking mode.
 */
static int
listeners_adopt(struct server *s, int n, char *err, size_t errlen)
{
	if (n > SERVER_LISTENERS) {
		snprintf(err, errlen, "%d sockets passed by the service manager;"
		    " at most %d are served", n, SERVER_LISTENERS);
		return -1;
	}
	for (uint32_t t = 0; t < (uint32_t)n; t++) {
		struct listener *l = &s->listeners[t];
		int fd = SERVICE_FDS_START + (int)t;
		int flags = fcntl(fd, F_GETFL);

		/* Every worker watches the same passed sockets. */
		l->borrowed = s->role.count > 1;

		if (!service_is_listening_socket(fd)) {
			snprintf(err, errlen, "descriptor %d passed by the service"
			    " manager is not a listening stream socket", fd);
			return -1;
		}
		if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "descriptor %d: %s", fd,
			    strerror(errno));
			return -1;
		}
		l->fd = fd;
		net_local_text(fd, l->bound, sizeof(l->bound));
		_Static_assert(sizeof(l->addr.text) == sizeof(l->bound),
		    "listen text and bound address text have one size");
		memcpy(l->addr.text, l->bound, sizeof(l->addr.text));
		ev_io_init(&slot_of(s, t)->io, listener_cb, fd, EV_READ);
		ev_io_start(s->loop, &slot_of(s, t)->io);
		log_info("%slistening on %s (token %u, passed by the service"
		    " manager)", worker_tag(s), l->bound, t);
	}
	log_info("socket activation: serving %d passed socket(s); the listen"
	    " lines are not used", n);
	return 0;
}

int
server_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen)
{
	if (scratch_reserve(s, cfg->max_line) == -1) {
		snprintf(err, errlen, "out of memory for a %u-byte read buffer",
		    cfg->max_line);
		return -1;
	}
	/*
	 * Passed sockets are the service manager's to change, not ours; and
	 * once draining, no listener may open again.
	 */
	if (!s->activated && !s->stopping &&
	    listeners_apply(s, cfg, err, errlen) == -1)
		return -1;
	if (s->activated && cfg->defer_accept_ms != s->cfg.defer_accept_ms)
		warn_defer_passed(s, cfg->defer_accept_ms);
	log_set_level(cfg->log_level);
	slab_set_limit(&s->slab, worker_share(s, cfg->max_connections));
	if (cfg->max_line != s->pool.size)
		bufpool_resize(&s->pool, cfg->max_line);
	s->cfg = *cfg;
	/* The deadlines of the oldest connections may have moved either way. */
	ev_timer_stop(s->loop, &s->idle_timer);
	idle_arm(s);
	ev_timer_stop(s->loop, &s->line_timer);
	list_arm(s, &s->line_list, &s->line_timer, cfg->line_timeout_ms);
	return 0;
}

void
server_stats_text(const struct server_stats *st, const char *state,
    unsigned workers, char *buf, size_t len)
{
	char count[24] = "";

	if (workers > 1)
		snprintf(count, sizeof(count), "%u workers, ", workers);
	snprintf(buf, len, "%s: %s%u connection(s) open, %llu served, %llu"
	    " refused, %llu bytes echoed", state, count, st->open,
	    (unsigned long long)st->accepted, (unsigned long long)st->refused,
	    (unsigned long long)st->bytes_echoed);
}

/* This server's figures as they stand. */
static void
server_stats(const struct server *s, struct server_stats *st)
{
	st->open = s->slab.used;
	st->accepted = s->accepted;
	st->refused = s->refused + s->refused_per_ip;
	st->bytes_echoed = s->bytes_echoed;
}

/* One line for `systemctl status`: what the daemon is doing right now. */
static void
status_text(const struct server *s, const char *state, char *buf, size_t len)
{
	struct server_stats st;

	server_stats(s, &st);
	server_stats_text(&st, state, 1, buf, len);
}

/*
 * Every few seconds: keep the service manager's STATUS= current, and once
 * many buffers went back to free(), hand the memory back to the system, so
 * that RSS falls again after a burst of connections holding bytes.
 */
static void
housekeeping_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	if (s->role.count > 1) {
		pthread_mutex_lock(&s->ctl_lock);
		server_stats(s, &s->published);
		pthread_mutex_unlock(&s->ctl_lock);
	} else if (service_notify_wanted()) {
		char status[200];

		status_text(s, s->stopping ? "draining" : "serving", status,
		    sizeof(status));
		service_status("%s", status);
	}
#ifdef HAVE_MALLOC_TRIM
	if (s->pool.freed - s->trimmed_at >= SERVER_TRIM_BYTES) {
		malloc_trim(0);
		s->trimmed_at = s->pool.freed;
	}
#endif
}

/* Pinged from the loop itself, so that a stuck loop stops the pings. */
static void
watchdog_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	service_watchdog_ping();
}

static void
reload(struct server *s)
{
	char err[CONFIG_ERROR_MAX];
	struct config cfg;

	if (s->config_path == NULL) {
		log_warn("SIGHUP: running on built-in defaults, no file to"
		    " re-read");
		return;
	}
	service_reloading();
	if (config_load(s->config_path, &cfg, err, sizeof(err)) != CONFIG_OK ||
	    server_apply(s, &cfg, err, sizeof(err)) == -1) {
		log_error("reload failed, keeping the running configuration:"
		    " %s", err);
	} else {
		config_summary(&cfg, err, sizeof(err));
		log_info("reloaded %s: %s", s->config_path, err);
	}
	/* The service is ready again either way: the old or the new config. */
	status_text(s, "serving", err, sizeof(err));
	service_ready(err);
}

/* Echo what is held, give the kernel one chance to take it, and close. */
static void
drain_now(struct server *s)
{
	while (s->idle_list.head != SLAB_NONE) {
		uint32_t token = s->idle_list.head;
		struct slot *sl = slot_of(s, token);

		conn_end_input(s, token);
		if (sl->conn.state == CONN_WRITING)
			conn_flush(s, token);
		if (s->idle_list.head == token)
			conn_close(s, token, conn_unsent(&sl->conn) > 0 ?
			    "shutdown timeout with echo pending" :
			    "shutdown timeout");
	}
	ev_break(s->loop, EVBREAK_ALL);
}

static void
shutdown_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	if (s->slab.used > 0)
		log_warn("shutdown_timeout: closing %u connection(s) still open",
		    s->slab.used);
	drain_now(s);
}

/*
 * Stop accepting at once; keep serving open connections until their
 * clients close or shutdown_timeout passes.  A second signal ends the
 * drain immediately.
 */
static void
begin_shutdown(struct server *s, const char *signame)
{
	if (s->stopping) {
		log_info("%s%s again: closing %u connection(s) now",
		    worker_tag(s), signame, s->slab.used);
		ev_timer_stop(s->loop, &s->shutdown_timer);
		drain_now(s);
		return;
	}
	char status[200];

	s->stopping = true;
	if (s->role.count == 1) {
		status_text(s, "draining", status, sizeof(status));
		service_stopping(status);
	}
	ev_timer_stop(s->loop, &s->accept_timer);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			listener_close(s, t);
	log_info("%s%s: stopped accepting; draining %u connection(s) for up to"
	    " %.3gs", worker_tag(s), signame, s->slab.used,
	    s->cfg.shutdown_timeout_ms / 1000.0);
	if (s->slab.used == 0) {
		ev_break(s->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&s->shutdown_timer, s->cfg.shutdown_timeout_ms / 1000.0,
	    0.0);
	ev_timer_start(s->loop, &s->shutdown_timer);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)revents;
	if (w->signum == SIGHUP)
		reload(s);
	else
		begin_shutdown(s, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Commands from the main thread, taken under the lock, done outside it. */
static void
ctl_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *s = ev_userdata(loop);
	char err[CONFIG_ERROR_MAX];
	struct config cfg;
	unsigned commands;

	(void)w;
	(void)revents;
	pthread_mutex_lock(&s->ctl_lock);
	commands = s->ctl_pending;
	s->ctl_pending = 0;
	if (commands & SERVER_CMD_RELOAD)
		cfg = s->ctl_cfg;
	pthread_mutex_unlock(&s->ctl_lock);
	if ((commands & SERVER_CMD_RELOAD) && !s->stopping &&
	    server_apply(s, &cfg, err, sizeof(err)) == -1)
		log_error("%sreload failed, keeping the running configuration:"
		    " %s", worker_tag(s), err);
	if (commands & SERVER_CMD_STOP)
		begin_shutdown(s, "SIGTERM");
	if ((commands & SERVER_CMD_STOP_NOW) && s->stopping)
		begin_shutdown(s, "SIGTERM");
}

void
server_post(struct server *s, unsigned commands, const struct config *cfg)
{
	pthread_mutex_lock(&s->ctl_lock);
	s->ctl_pending |= commands;
	if (cfg != NULL)
		s->ctl_cfg = *cfg;
	pthread_mutex_unlock(&s->ctl_lock);
	ev_async_send(s->loop, &s->ctl);
}

void
server_published(struct server *s, struct server_stats *out)
{
	pthread_mutex_lock(&s->ctl_lock);
	*out = s->published;
	pthread_mutex_unlock(&s->ctl_lock);
}

static void
heartbeat_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
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
peers_seed(void)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)(ev_time() * 1e6);
	return seed;
}

int
server_init(struct server *s, const struct config *cfg,
    const char *config_path, const struct server_role *role, char *err,
    size_t errlen)
{
	uint64_t watchdog;

	memset(s, 0, sizeof(*s));
	s->config_path = config_path;
	s->cfg = *cfg;
	s->role = *role;
	list_init(&s->idle_list);
	list_init(&s->line_list);
	list_init(&s->proxy_list);
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		s->listeners[t].fd = -1;

	/*
	 * Signals need the default loop: it belongs to the daemon, or to the
	 * main thread when there are workers.
	 */
	s->loop = role->count == 1 ? ev_default_loop(EVFLAG_AUTO) :
	    ev_loop_new(EVFLAG_AUTO);
	if (s->loop == NULL) {
		snprintf(err, errlen, "cannot start the event loop");
		return EX_SERVER_OSERR;
	}
	ev_set_userdata(s->loop, s);
	s->epoch = ev_now(s->loop);
	/* Room for the largest max_line a reload may set, untouched until used. */
	if (slab_init(&s->slab, sizeof(struct slot), SERVER_LISTENERS,
	    SERVER_LISTENERS + CONFIG_MAX_CONNECTIONS_MAX,
	    worker_share(s, cfg->max_connections)) == -1) {
		snprintf(err, errlen, "out of memory for the connection table");
		ev_loop_destroy(s->loop);
		s->loop = NULL;
		return EX_SERVER_OSERR;
	}
	/* From here on server_destroy() undoes what is set up. */
	pthread_mutex_init(&s->ctl_lock, NULL);
	bufpool_init(&s->pool, cfg->max_line, sizeof(struct conn_buf));
	/*
	 * The side arrays are as long as the slab and, like it, touched only
	 * where used.  Awaiting its header, a connection holds no line: the
	 * PROXY list borrows the line list's arrays.
	 */
	s->idle_list.since_ms = calloc(s->slab.capacity, sizeof(uint32_t));
	s->idle_list.slab = &s->slab;
	s->line_list.since_ms = calloc(s->slab.capacity, sizeof(uint32_t));
	s->line_list.pos = calloc(s->slab.capacity, sizeof(struct list_pos));
	s->proxy_list.since_ms = s->line_list.since_ms;
	s->proxy_list.pos = s->line_list.pos;
	s->proxy = calloc(s->slab.capacity, sizeof(*s->proxy));
	if (s->idle_list.since_ms == NULL || s->line_list.since_ms == NULL ||
	    s->line_list.pos == NULL || s->proxy == NULL) {
		snprintf(err, errlen, "out of memory for the connection table");
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	if (peers_init(&s->peers, peers_seed()) == -1) {
		snprintf(err, errlen, "out of memory for the address table");
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	ev_timer_init(&s->idle_timer, idle_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->line_timer, line_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->proxy_timer, proxy_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->accept_timer, accept_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->shutdown_timer, shutdown_timer_cb, 0.0, 0.0);
	if (scratch_reserve(s, cfg->max_line) == -1) {
		snprintf(err, errlen, "out of memory for a %u-byte read buffer",
		    cfg->max_line);
		server_destroy(s);
		return EX_SERVER_OSERR;
	}
	if (role->passed > 0) {
		s->activated = true;
		if (listeners_adopt(s, role->passed, err, errlen) == -1) {
			server_destroy(s);
			return EX_SERVER_OSERR;
		}
		warn_defer_passed(s, cfg->defer_accept_ms);
	} else if (listeners_apply(s, cfg, err, errlen) == -1) {
		server_destroy(s);
		return EX_SERVER_OSERR;
	}

	ev_timer_init(&s->housekeeping_timer, housekeeping_timer_cb,
	    SERVER_HOUSEKEEPING, SERVER_HOUSEKEEPING);
	ev_timer_start(s->loop, &s->housekeeping_timer);
	ev_async_init(&s->ctl, ctl_cb);
	ev_timer_init(&s->heartbeat_timer, heartbeat_timer_cb, 0.0, 0.0);
	if (role->count > 1) {
		/* The main thread owns signals, the watchdog and STATUS=. */
		ev_async_start(s->loop, &s->ctl);
		return EX_SERVER_OK;
	}
	watchdog = service_watchdog_usec();
	ev_timer_init(&s->watchdog_timer, watchdog_timer_cb,
	    watchdog / 2e6, watchdog / 2e6);
	if (watchdog > 0) {
		ev_timer_start(s->loop, &s->watchdog_timer);
		log_info("watchdog: pinging every %.3gs", watchdog / 2e6);
	}

	ev_signal_init(&s->sig_term, signal_cb, SIGTERM);
	ev_signal_init(&s->sig_int, signal_cb, SIGINT);
	ev_signal_init(&s->sig_hup, signal_cb, SIGHUP);
	ev_signal_start(s->loop, &s->sig_term);
	ev_signal_start(s->loop, &s->sig_int);
	ev_signal_start(s->loop, &s->sig_hup);
	return EX_SERVER_OK;
}

int
server_run(struct server *s)
{
	char status[200];

	if (s->role.count == 1) {
		status_text(s, "serving", status, sizeof(status));
		service_ready(status);
	}
	ev_run(s->loop, 0);
	log_info("%sstopped: %llu connection(s) served, %llu refused at"
	    " max_connections, %llu at max_per_ip, %llu closed by line_timeout,"
	    " %llu over a PROXY header, %llu bytes echoed", worker_tag(s),
	    (unsigned long long)s->accepted,
	    (unsigned long long)s->refused,
	    (unsigned long long)s->refused_per_ip,
	    (unsigned long long)s->line_timeouts,
	    (unsigned long long)s->proxy_rejected,
	    (unsigned long long)s->bytes_echoed);
	return EX_SERVER_OK;
}

void
server_destroy(struct server *s)
{
	if (s->loop == NULL)
		return;
	while (s->idle_list.head != SLAB_NONE)
		conn_close(s, s->idle_list.head, "server exit");
	for (uint32_t t = 0; t < SERVER_LISTENERS; t++)
		if (s->listeners[t].fd != -1)
			listener_close(s, t);
	ev_signal_stop(s->loop, &s->sig_term);
	ev_signal_stop(s->loop, &s->sig_int);
	ev_signal_stop(s->loop, &s->sig_hup);
	ev_timer_stop(s->loop, &s->idle_timer);
	ev_timer_stop(s->loop, &s->line_timer);
	ev_timer_stop(s->loop, &s->proxy_timer);
	ev_timer_stop(s->loop, &s->accept_timer);
	ev_timer_stop(s->loop, &s->shutdown_timer);
	ev_timer_stop(s->loop, &s->housekeeping_timer);
	ev_timer_stop(s->loop, &s->watchdog_timer);
	ev_timer_stop(s->loop, &s->heartbeat_timer);
	ev_async_stop(s->loop, &s->ctl);
	bufpool_destroy(&s->pool);
	free(s->idle_list.since_ms);
	free(s->line_list.since_ms);
	free(s->line_list.pos);
	free(s->proxy);
	peers_destroy(&s->peers);
	slab_destroy(&s->slab);
	free(s->scratch);
	ev_loop_destroy(s->loop);
	s->loop = NULL;
	pthread_mutex_destroy(&s->ctl_lock);
}
