/*
 * A worker's connections into a state record and out of one: what each
 * holds and owes, its timers' ages, its PROXY header so far and the
 * address max_per_ip counts it under.  The descriptors are kept open,
 * to be inherited across an exec (handover.h has the format).
 */
#include "server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "handover.h"

/*
 * The address the shared table counts a connection under, as a socket
 * address that gives the same key: IP keys as IPv6 (IPv4 mapped), the
 * zero key as a Unix peer.
 */
static socklen_t
session_peer_address(struct server *s, uint32_t index,
    struct sockaddr_storage *ss)
{
	static const uint8_t zero[ADDR_KEY];
	uint8_t key[ADDR_KEY];

	pthread_mutex_lock(&s->role.peers->lock);
	memcpy(key, s->role.peers->table.entries[index].pe_addr, ADDR_KEY);
	pthread_mutex_unlock(&s->role.peers->lock);
	memset(ss, 0, sizeof(*ss));
	if (memcmp(key, zero, ADDR_KEY) == 0) {
		ss->ss_family = AF_UNIX;
		return sizeof(sa_family_t);
	}
	((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
	memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, key, ADDR_KEY);
	return sizeof(struct sockaddr_in6);
}

/* An age as of lag_ms before now: the owner's moment of the hand-over. */
static uint32_t
session_age_then(uint32_t age, uint32_t lag_ms)
{
	return age > lag_ms ? age - lag_ms : 0;
}

unsigned
session_export_all(struct server *s, struct handover_writer *w,
    uint32_t lag_ms)
{
	uint32_t now = server_now_ms(s);
	unsigned n = 0;

	while (s->idle_list.head != TIMEOUT_NONE) {
		uint32_t token = s->idle_list.head;
		struct slot *sl = server_slot(s, token);
		struct conn *c = &sl->conn;
		struct sockaddr_storage peer;
		struct handover_conn rec = {
			.fd = sl->io.fd,
			.state = c->state,
			.end = c->end,
			.framing = c->framing,
			.size = c->buf != NULL ? c->buf->size : 0,
			.pending = (uint32_t)conn_unsent(c),
			.held = (uint32_t)conn_held(c),
			.idle_age_ms = session_age_then(timeout_age_ms(
			    &s->idle_list, token, now), lag_ms),
			.id = s->ids[token],
		};

		if (sl->refuse_header)
			rec.flags |= HANDOVER_REFUSE_HEADER;
		/* The line list and the PROXY list share their times. */
		if (rec.held > 0 || s->proxy[token] != NULL)
			rec.line_age_ms = session_age_then(timeout_age_ms(
			    &s->line_list, token, now), lag_ms);
		if (s->proxy[token] != NULL) {
			rec.header_have = s->proxy[token]->have;
			rec.header = s->proxy[token]->buf;
		}
		if (sl->peer != PEERS_NONE) {
			rec.flags |= HANDOVER_COUNTED;
			rec.peer_len = (uint16_t)session_peer_address(s, sl->peer,
			    &peer);
			rec.peer = (const unsigned char *)&peer;
		}
		if (c->buf != NULL)
			rec.data = (const unsigned char *)c->buf->data +
			    c->buf->off;
		handover_put_conn(w, &rec);
		/* Kept across the exec; FD_CLOEXEC is a socket's only flag. */
		(void)fcntl(sl->io.fd, F_SETFD, 0);
		/* Its descriptor is the record's now: not closed. */
		session_detach(s, token);
		n++;
	}
	counter_set(&s->stats.open, 0);
	counter_set(&s->stats.bytes_held, 0);
	counter_set(&s->stats.buffers, s->pool.out);
	return n;
}

/* One handed connection into a free slot; -1 when it cannot be had. */
static int
session_import(struct server *s, const struct handover_conn *c,
    uint32_t *tokenp)
{
	struct slot *sl;
	struct conn_buf *b = NULL;
	uint32_t token;
	int nomem = 0;

	token = slab_take(&s->slab);
	if (token == SLAB_NONE)
		return -1;
	sl = server_slot(s, token);
	sl->peer = PEERS_NONE;
	if (c->flags & HANDOVER_COUNTED) {
		struct sockaddr_storage peer;

		memset(&peer, 0, sizeof(peer));
		memcpy(&peer, c->peer, c->peer_len);
		/* Counted whatever the new max_per_ip: it is open already. */
		pthread_mutex_lock(&s->role.peers->lock);
		sl->peer = peers_add(&s->role.peers->table,
		    (const struct sockaddr *)&peer, 0, &nomem);
		pthread_mutex_unlock(&s->role.peers->lock);
	}
	if (c->pending + c->held > 0) {
		b = conn_buf_carried(&s->pool, c->size,
		    (const char *)c->data, c->pending, c->held);
		if (b == NULL) {
			if (sl->peer != PEERS_NONE)
				server_peer_remove(s, sl->peer);
			slab_give(&s->slab, token);
			return -1;
		}
	}
	if (c->state == CONN_HEADER) {
		s->proxy[token] = calloc(1, sizeof(*s->proxy[token]));
		if (s->proxy[token] == NULL) {
			if (b != NULL)
				bufpool_put(&s->pool, b, b->cap);
			if (sl->peer != PEERS_NONE)
				server_peer_remove(s, sl->peer);
			slab_give(&s->slab, token);
			return -1;
		}
		s->proxy[token]->have = c->header_have;
		memcpy(s->proxy[token]->buf, c->header, c->header_have);
	}
	conn_init(&sl->conn, c->state == CONN_HEADER ? CONN_HEADER :
	    CONN_READING, (enum conn_framing)c->framing);
	sl->conn.buf = b;
	sl->conn.state = c->state;
	sl->conn.end = c->end;
	sl->refuse_header = (c->flags & HANDOVER_REFUSE_HEADER) != 0;
	s->ids[token] = c->id != 0 ? c->id : atomic_fetch_add_explicit(
	    s->role.serial, 1, memory_order_relaxed) + 1;
	s->held += (uint64_t)c->pending + c->held;
	/* Close-on-exec again since daemon_upgrade_take(). */
	session_watch(s, token, c->fd);
	*tokenp = token;
	return 0;
}

/* (token, since) pairs, to build a timed list in the order of its times. */
struct session_since {
	uint32_t token;
	uint32_t since;
};

static int
session_since_cmp(const void *a, const void *b)
{
	const struct session_since *x = a, *y = b;

	/* Oldest first: the largest age, the smallest since (signed: wraps). */
	return (int32_t)(x->since - y->since) < 0 ? -1 :
	    (int32_t)(x->since - y->since) > 0;
}

unsigned
session_import_all(struct server *s, const struct handover_conn *conns,
    unsigned n)
{
	struct session_since *idle = calloc(n + 1, sizeof(*idle));
	struct session_since *line = calloc(n + 1, sizeof(*line));
	uint32_t now, limit = s->slab.limit, biggest = 0;
	unsigned taken = 0, nline = 0;

	/*
	 * The ages count up to now; the loop's time is as old as the loop,
	 * which the start may have made a while ago (half a second under
	 * ThreadSanitizer): the timers would end that much early.
	 */
	ev_now_update(s->loop);
	now = server_now_ms(s);
	for (unsigned i = 0; i < n; i++)
		if (conns[i].size > biggest)
			biggest = conns[i].size;
	if (idle == NULL || line == NULL ||
	    server_reserve_scratch(s, biggest) == -1) {
		free(idle);
		free(line);
		for (unsigned i = 0; i < n; i++)
			close(conns[i].fd);
		return 0;
	}
	/*
	 * They are open already: taken whatever max_connections now says,
	 * which then holds for new ones, as after a reload.
	 */
	slab_set_limit(&s->slab, UINT32_MAX);
	for (unsigned i = 0; i < n; i++) {
		const struct handover_conn *c = &conns[i];
		uint32_t token;

		if (session_import(s, c, &token) == -1) {
			log_error("%shand-over: no room for connection %llu:"
			    " closing it", s->tag, (unsigned long long)c->id);
			close(c->fd);
			continue;
		}
		idle[taken].token = token;
		idle[taken].since = now - c->idle_age_ms;
		taken++;
		if (c->held > 0 || c->state == CONN_HEADER) {
			line[nline].token = token;
			line[nline].since = now - c->line_age_ms;
			nline++;
		}
	}
	slab_set_limit(&s->slab, limit);
	/* A timed list is ordered by time: append the oldest first. */
	qsort(idle, taken, sizeof(*idle), session_since_cmp);
	qsort(line, nline, sizeof(*line), session_since_cmp);
	for (unsigned i = 0; i < taken; i++)
		timeout_append(&s->idle_list, idle[i].token, idle[i].since);
	for (unsigned i = 0; i < nline; i++) {
		uint32_t token = line[i].token;

		timeout_append(s->proxy[token] != NULL ? &s->proxy_list :
		    &s->line_list, token, line[i].since);
	}
	server_arm(s, &s->idle_list, &s->idle_timer, s->cfg.idle_timeout_ms);
	server_arm(s, &s->line_list, &s->line_timer, s->cfg.line_timeout_ms);
	server_arm(s, &s->proxy_list, &s->proxy_timer, SERVER_PROXY_TIMEOUT_MS);
	counter_set(&s->stats.open, s->slab.used);
	counter_set(&s->stats.bytes_held, s->held);
	counter_set(&s->stats.buffers, s->pool.out);
	free(idle);
	free(line);
	return taken;
}
