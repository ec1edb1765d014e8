/*
 * Socket plumbing: listening sockets and address text.  Errors go into the
 * caller's buffer; only the server logs.
 */
#ifndef PINGPONGD_NET_H
#define PINGPONGD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"

/*
 * A non-blocking, close-on-exec listening socket bound to addr; with
 * reuseport, one of a group on the same address that the kernel spreads
 * new connections over (one per worker).  A Unix-domain path replaces a
 * stale socket file (nothing accepts on it) and refuses a live socket or a
 * file that is not a socket.  Returns the descriptor, or -1 with
 * "bind 127.0.0.1:6567: Address already in use" style text in err.
 */
int net_listen(const struct addr *addr, int backlog, bool reuseport,
    char *err, size_t errlen);

/*
 * Port 0 means "any free port", but a group of SO_REUSEPORT listeners
 * must share one: bind a socket (never listening, so never handed a
 * connection) that holds a free port for as long as it stays open, and
 * write that port into addr.  Returns the socket, or -1 with the reason.
 */
int net_reserve_port(struct addr *addr, char *err, size_t errlen);

/* The socket file a Unix listener made, so that only it is removed. */
struct net_file {
	dev_t nf_dev;                   /* the file's device */
	ino_t nf_ino;                   /* and inode, when it was made */
	bool nf_made;                   /* a path socket we created */
};

/* Remember the file of a path socket just bound; -1 for other addresses. */
int net_unix_identify(const struct addr *addr, struct net_file *file);

/* Remove the socket file, when it is still the one identified. */
void net_unix_remove(const struct addr *addr, const struct net_file *file);

/*
 * accept4() a non-blocking, close-on-exec connection; the peer's address
 * is NUL-padded, so that addr_text() reads an unnamed Unix peer right.
 */
int net_accept(int fd, struct sockaddr_storage *peer);

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
