/*
 * The first thing on a trusted balancer's connection: its PROXY header,
 * which names the client.  The connection is in the Header state until the
 * header is whole; its bytes are taken off the socket exactly, so that
 * what follows stays there for the echo.  proxy.c judges the bytes.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The close reason of a late header, with the timeout in it. */
#define SESSION_PROXY_TEXT(x) #x
#define SESSION_PROXY_SECONDS(x) SESSION_PROXY_TEXT(x)
#define SESSION_PROXY_LATE "no PROXY header within " \
	SESSION_PROXY_SECONDS(SERVER_PROXY_TIMEOUT_S) " s"

int
session_proxy_start(struct server *s, uint32_t token)
{
	s->proxy[token] = calloc(1, sizeof(*s->proxy[token]));
	if (s->proxy[token] == NULL) {
		log_error("%sout of memory for a PROXY header: closed connection"
		    " %llu", s->tag, session_id(s, token));
		session_close(s, token, SERVER_CLOSE_OUT_OF_MEMORY, NULL);
		return -1;
	}
	timeout_append(&s->proxy_list, token, server_now_ms(s));
	server_arm(s, &s->proxy_list, &s->proxy_timer, SERVER_PROXY_TIMEOUT_MS);
	return 0;
}

void
session_proxy_forget(struct server *s, uint32_t token)
{
	timeout_remove(&s->proxy_list, token);
	free(s->proxy[token]);
	s->proxy[token] = NULL;
}

void
session_proxy_reject(struct server *s, uint32_t token, const char *why)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[ADDR_TEXT] = "?";

	memset(&ss, 0, sizeof(ss));
	if (getpeername(server_slot(s, token)->io.fd, (struct sockaddr *)&ss,
	    &len) == 0)
		addr_text((struct sockaddr *)&ss, addr, sizeof(addr));
	session_burst(s, &s->burst_proxy, "PROXY protocol: closed ",
	    " connection(s) over their header, the last from %s: %s", addr,
	    why);
	session_drop(s, token, SERVER_REFUSE_PROXY_HEADER, why);
}

/*
 * The header named its client (or, LOCAL or UNKNOWN, the balancer speaks
 * for itself): count it for max_per_ip and start the echo.  -1 when that
 * closed the connection.
 */
static int
session_proxy_admit(struct server *s, uint32_t token,
    const struct proxy_header *hdr)
{
	struct slot *sl = server_slot(s, token);
	const struct sockaddr *client = (const struct sockaddr *)&hdr->source;
	struct sockaddr_storage own;
	uint32_t peer;
	int nomem;

	if (hdr->local) {
		socklen_t len = sizeof(own);

		if (getpeername(sl->io.fd, (struct sockaddr *)&own, &len) == -1) {
			session_fail(s, token, "getpeername");
			return -1;
		}
		client = (const struct sockaddr *)&own;
	}
	peer = server_peer_add(s, client, &nomem);
	if (peer == PEERS_NONE) {
		session_log_limit(s, nomem ? SERVER_REFUSE_OUT_OF_MEMORY :
		    SERVER_REFUSE_MAX_PER_IP, s->cfg.max_per_ip, client);
		session_drop(s, token, nomem ? SERVER_REFUSE_OUT_OF_MEMORY :
		    SERVER_REFUSE_MAX_PER_IP, NULL);
		return -1;
	}
	sl->peer = peer;
	session_proxy_forget(s, token);
	conn_header_done(&sl->conn);
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char addr[ADDR_TEXT];

		addr_text(client, addr, sizeof(addr));
		log_debug("%sconnection %llu: PROXY v%d header, client %s%s",
		    s->tag, session_id(s, token), hdr->version, addr, hdr->local ?
		    " (the balancer itself)" : "");
	}
	return 0;
}

/*
 * Bytes are peeked, and only those that belong to the header are read, so
 * that what follows stays in the socket for the echo.
 */
void
session_proxy_read(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);
	struct proxy_wait *pw = s->proxy[token];
	struct proxy_header hdr;
	enum proxy_status st;
	const char *why;
	ssize_t n, take;

	do
		n = recv(sl->io.fd, pw->buf + pw->have,
		    PROXY_HEADER_MAX - pw->have, MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		session_proxy_reject(s, token,
		    "connection ended before its PROXY header");
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			session_fail(s, token, "recv");
		return;
	}
	st = proxy_parse(pw->buf, pw->have + (size_t)n, &hdr, &why);
	if (st == PROXY_BAD) {
		session_proxy_reject(s, token, why);
		return;
	}
	take = st == PROXY_OK ? (ssize_t)(hdr.length - pw->have) : n;
	if (read(sl->io.fd, pw->buf + pw->have, (size_t)take) != take) {
		session_fail(s, token, "read");
		return;
	}
	pw->have = (uint16_t)(pw->have + take);
	if (st == PROXY_INCOMPLETE)
		return;
	if (session_proxy_admit(s, token, &hdr) == -1)
		return;
	session_touch(s, token);
	/* Bytes that came with the header are echoed now. */
	session_reading(s, token);
}

void
session_proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	uint32_t token;

	(void)w;
	(void)revents;
	while ((token = timeout_expired(&s->proxy_list, server_now_ms(s),
	    SERVER_PROXY_TIMEOUT_MS)) != TIMEOUT_NONE)
		session_proxy_reject(s, token, SESSION_PROXY_LATE);
	server_arm(s, &s->proxy_list, &s->proxy_timer, SERVER_PROXY_TIMEOUT_MS);
}
