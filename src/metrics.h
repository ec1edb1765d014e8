/*
 * The HTTP endpoint Prometheus scrapes: GET and HEAD /metrics on every
 * [metrics] listen address, served by GNU libmicrohttpd on the owner's
 * libev loop, with no thread of its own (its epoll descriptor is watched
 * by an ev_io, its timeout kept by an ev_timer).  Other paths are 404,
 * other methods 405; libmicrohttpd answers malformed and oversized
 * requests itself (400, 431) and closes them, keeps connections alive as
 * Prometheus wants, times silent ones out, and holds a bounded number.
 */
#ifndef PINGPONGD_METRICS_H
#define PINGPONGD_METRICS_H

#include <ev.h>
#include <stddef.h>

#include "config.h"
#include "metrics_text.h"
#include "net.h"

#define METRICS_MEMORY_LIMIT (32 * 1024) /* bytes per HTTP connection: its request */

struct MHD_Daemon;
struct metrics;

/*
 * An HTTP client's clock.  libmicrohttpd times out silence only, so a
 * client sending its request a byte at a time would hold its place for
 * ever: each one must have a whole request in within [metrics] timeout of
 * connecting, or of its last answer.
 */
struct metrics_client {
	struct metrics_client *prev, *next; /* on metrics.clients */
	int fd;                         /* its socket */
	double waiting_since;           /* since when a request is due; 0: none */
};

/* Write the exposition into out; -1 when it cannot be had. */
typedef int (*metrics_render_fn)(void *arg, struct metrics_text *out);

/* One listening address and the HTTP daemon on it. */
struct metrics_endpoint {
	struct metrics *owner;          /* for the callbacks */
	struct addr addr;               /* its listen line */
	char bound[ADDR_TEXT];          /* what it really bound (port 0 resolved) */
	int fd;                         /* the listening socket */
	struct net_file file;           /* its socket file, for a Unix one */
	struct MHD_Daemon *mhd;         /* serving it */
	ev_io io;                       /* libmicrohttpd's epoll descriptor */
	ev_timer timer;                 /* libmicrohttpd's next timeout */
};

struct metrics {
	struct ev_loop *loop;           /* the owner's */
	metrics_render_fn render;       /* what a scrape shows */
	void *render_arg;
	unsigned max_connections;       /* [metrics] max_connections in force */
	unsigned timeout_s;             /* [metrics] timeout in force, whole seconds */
	struct metrics_endpoint ep[CONFIG_LISTEN_MAX]; /* in configuration order */
	unsigned n;                     /* entries of ep in use */
	struct metrics_client *clients; /* every HTTP client connected */
	ev_timer deadline_timer;        /* cuts clients too slow with their request */
	uint64_t requests;              /* answered, for the log at exit */
};

void metrics_init(struct metrics *m, struct ev_loop *loop,
    metrics_render_fn render, void *arg);

/*
 * Serve exactly cfg's [metrics] listen addresses with its limits: open the
 * new ones first and, only when all of them could be opened, close those
 * no longer listed, so that a failure leaves everything as it was.
 * Returns 0, or -1 with the reason in err.
 */
int metrics_apply(struct metrics *m, const struct config *cfg, char *err,
    size_t errlen);

/* Close every endpoint, and remove the files of Unix ones. */
void metrics_close(struct metrics *m);

#endif
