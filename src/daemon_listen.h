/*
 * The listening sockets the owner of the process holds for its workers:
 * those passed by the service manager, Unix-domain ones (every worker
 * watches the one socket, since SO_REUSEPORT spreads only TCP), and the
 * port reservations that let a group of workers share port 0.
 */
#ifndef PINGPONGD_DAEMON_LISTEN_H
#define PINGPONGD_DAEMON_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "server.h"

struct daemon_listen {
	struct server_shared_set shared; /* the sockets every worker watches */
	int probes[CONFIG_LISTEN_MAX];  /* sockets holding ports chosen for port 0 */
	unsigned nprobes;               /* entries of probes in use */
};

void daemon_listen_init(struct daemon_listen *dl);

/*
 * Take the n sockets passed by socket activation (descriptors 3 onward):
 * check that each is a listening stream socket and make it non-blocking.
 * Returns 0, or -1 with the reason in err.
 */
int daemon_listen_adopt(struct daemon_listen *dl, int n, char *err,
    size_t errlen);

/*
 * Choose, once, the port of every port-0 TCP listen line of cfg, so that
 * a group of workers binds the same one; a line open in old keeps its
 * port.  Returns 0, or -1 with the reason in err.
 */
int daemon_listen_reserve(struct daemon_listen *dl, struct config *cfg,
    const struct config *old, char *err, size_t errlen);

/*
 * Open the Unix-domain listen lines of cfg that are not open yet.  Returns
 * 0, or -1 with the reason in err, having closed those it opened.
 */
int daemon_listen_open(struct daemon_listen *dl, const struct config *cfg,
    char *err, size_t errlen);

/*
 * Close, and remove the files of, the Unix sockets keep does not list
 * (keep NULL: all of them); a kept one takes keep's backlog.
 */
void daemon_listen_retire(struct daemon_listen *dl, const struct config *keep);

/* Close everything at exit; the files of Unix sockets go too. */
void daemon_listen_close(struct daemon_listen *dl);

#endif
