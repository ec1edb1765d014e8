/*
 * The service pingpong talks to: HOST[:PORT] from the command line,
 * resolved, and the one address that answered.  Errors go into the
 * caller's buffer as a sentence; the caller prints it.
 */
#ifndef PINGPONG_TARGET_H
#define PINGPONG_TARGET_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define PP_ADDR_TEXT 64                 /* "[v6 address]:port" plus NUL */

struct pp_target {
	char tg_host[256];              /* HOST as given, brackets removed */
	struct addrinfo *tg_list;       /* what HOST resolved to */
	struct sockaddr_storage tg_addr; /* the address in use */
	socklen_t tg_addrlen;           /* its length */
	char tg_text[PP_ADDR_TEXT];     /* it as "127.0.0.1:6567" */
	bool tg_named;                  /* HOST was a name, not an address */
};

/*
 * Parse HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (a bare IPv6 address is
 * taken whole) and resolve it.  Returns 0, or -1 with the reason in err.
 */
int pp_target_resolve(struct pp_target *t, const char *arg, char *err,
    size_t errlen);

/*
 * Connect to the resolved addresses in turn, giving each timeout_s
 * seconds, and keep the first that accepts as the address in use.
 * Returns the connected, non-blocking descriptor, or -1 with the last
 * address's failure in err.
 */
int pp_target_connect(struct pp_target *t, double timeout_s, char *err,
    size_t errlen);

/*
 * Start a non-blocking connection to the address in use.  Returns the
 * descriptor (connected or in progress), or -1 with errno set.
 */
int pp_target_start_connect(const struct pp_target *t);

/* After a connection in progress becomes writable: 0 or its errno. */
int pp_connect_result(int fd);

void pp_target_free(struct pp_target *t);

#endif
