/*
 * Socket plumbing: listening sockets and address text.  Errors go into the
 * caller's buffer; only the server logs.
 */
#ifndef PINGPONGD_NET_H
#define PINGPONGD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define NET_ADDR_TEXT CONFIG_ADDR_TEXT /* "[v6 address]:port" plus NUL */

/*
 * A non-blocking, close-on-exec listening socket bound to addr; with
 * reuseport, one of a group on the same address that the kernel spreads
 * new connections over (one per worker).  Returns
 * the descriptor, or -1 with "bind 127.0.0.1:6567: Address already in use"
 * style text in err.
 */
int net_listen(const struct config_listen *addr, int backlog, bool reuseport,
    char *err, size_t errlen);

/* "127.0.0.1:6567" or "[::1]:6567" for a socket address. */
void net_addr_text(const struct sockaddr *sa, char *buf, size_t len);

/* The address a socket is bound to, as text; "?" when it cannot be had. */
void net_local_text(int fd, char *buf, size_t len);

/*
 * Connection options: no Nagle delay for echoed lines, and keepalive
 * probes after keepalive_s idle seconds (0 = none).  Set on a listening
 * socket, they are inherited by every connection it accepts (Linux copies
 * them into the accepted socket), which spares three system calls per
 * connection.
 */
void net_tune_socket(int fd, unsigned keepalive_s);

/*
 * Have the listening socket fd hand over a connection only once its first
 * bytes arrive, or after about seconds of silence (0 = at once, as
 * usual).  An echo client always speaks first, so this spares one wakeup
 * and one pass of the loop per connection, and a silent connection holds
 * no slot or descriptor meanwhile.  -1 with errno set on failure.
 */
int net_defer_accept(int fd, unsigned seconds);

#endif
