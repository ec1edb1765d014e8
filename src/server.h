/*
 * The server: listeners, accept, the connections' libev watchers, idle and
 * shutdown timers, signals and reload.  It owns the event loop; everything
 * it needs lives in struct server, passed to every callback.
 */
#ifndef PINGPONGD_SERVER_H
#define PINGPONGD_SERVER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "net.h"
#include "peers.h"
#include "proxy.h"
#include "slab.h"

#define SERVER_LISTENERS CONFIG_LISTEN_MAX      /* tokens [0, this) are listeners */
#define SERVER_ACCEPTS_PER_WAKEUP 64            /* accept4 calls per listener wakeup */
#define SERVER_READ_BUDGET (256u * 1024)        /* bytes read from one connection per wakeup */
#define SERVER_ACCEPT_RETRY 0.1                 /* s before retrying accept after EMFILE */
#define SERVER_LOG_INTERVAL 1.0                 /* s between rate-limited log lines */
#define SERVER_PROXY_TIMEOUT_MS 5000            /* ms for a balancer's PROXY header */
#define SERVER_HOUSEKEEPING 5.0                 /* s between STATUS= lines and heap trims */
#define SERVER_TRIM_BYTES (1024u * 1024)        /* freed bytes that make a trim worth it */

#define EX_SERVER_OK 0
#define EX_SERVER_OSERR 71                      /* cannot bind or listen */

/* A connection's neighbours in one of the lists ordered by a time. */
struct list_pos {
	uint32_t prev;                  /* older neighbour, SLAB_NONE at the head */
	uint32_t next;                  /* newer neighbour, SLAB_NONE at the tail */
};

/*
 * Such a list, ordered by the time each connection was appended: every
 * append carries the latest time.  Its times and neighbours are arrays
 * indexed by token, beside the slots, so that a connection that is never
 * on the list never touches their pages; the idle list, which holds every
 * connection, keeps the neighbours in the slot itself (pos is NULL).
 */
struct timed_list {
	uint32_t head;                  /* oldest */
	uint32_t tail;                  /* newest */
	uint32_t *since_ms;             /* ms since server start, by token */
	struct list_pos *pos;           /* neighbours by token, NULL: in the slot */
	struct slab *slab;              /* the slots, when pos is NULL */
};

/* A PROXY header being received: its bytes so far. */
struct proxy_wait {
	uint16_t have;                  /* bytes of buf filled */
	unsigned char buf[PROXY_HEADER_MAX];
};

/*
 * One slab slot: a listener's or a connection's watcher, and for a
 * connection its state machine.  64 bytes on LP64: ev_io 48, conn 10, two
 * flags, the peer index 4.  libev never reads the watcher's data pointer,
 * so its 8 bytes hold the connection's neighbours on the idle list.  An
 * idle connection costs this slot, its 4-byte idle time and libev's
 * 16-byte record of its descriptor, and nothing else.
 */
struct slot {
	ev_io io;                       /* must stay first: callbacks cast it back;
	                                   io.data holds a struct list_pos */
	struct conn conn;               /* the echo state machine */
	uint8_t refuse_header;          /* untrusted with proxy_protocol on: a
	                                   PROXY header in the first bytes closes */
	uint8_t awaiting_header;        /* server.proxy[token] holds a header's start */
	uint32_t peer;                  /* entry in server.peers, PEERS_NONE before
	                                   the PROXY header names the client */
};

struct listener {
	int fd;                         /* listening socket, -1 when the token is unused */
	bool borrowed;                  /* passed by the service manager and shared
	                                   by every worker: not ours to close */
	struct config_listen addr;      /* the listen line it came from */
	char bound[NET_ADDR_TEXT];      /* the address it really got (port 0 resolved) */
};

/* Where a server stands among the workers of the daemon. */
struct server_role {
	unsigned index;                 /* 0-based worker number */
	unsigned count;                 /* workers in all; 1: this server is the daemon */
	int passed;                     /* sockets passed by socket activation, from fd 3 */
};

/* Commands the main thread sends a worker (server_post). */
enum server_command {
	SERVER_CMD_RELOAD = 1,          /* apply the configuration sent along */
	SERVER_CMD_STOP = 2,            /* stop accepting, drain */
	SERVER_CMD_STOP_NOW = 4,        /* end the drain at once */
};

/* A worker's figures as it last published them, for STATUS=. */
struct server_stats {
	uint32_t open;                  /* connections open */
	uint64_t accepted;              /* connections served */
	uint64_t refused;               /* refused at either limit */
	uint64_t bytes_echoed;          /* bytes the kernel took from us */
};

struct server {
	struct ev_loop *loop;           /* the default loop alone, else the worker's own */
	struct server_role role;        /* which worker this is */
	struct config cfg;              /* the configuration in force */
	const char *config_path;        /* file to re-read on SIGHUP, NULL = defaults */
	struct slab slab;               /* listener and connection slots */
	struct bufpool pool;            /* buffers of cfg.max_line bytes */
	char *scratch;                  /* every read lands here first */
	size_t scratch_size;            /* bytes of scratch, >= every conn's max_line */
	struct listener listeners[SERVER_LISTENERS]; /* indexed by token */
	ev_signal sig_term, sig_int, sig_hup;
	ev_timer idle_timer;            /* due when the oldest connection idles out */
	ev_timer accept_timer;          /* resumes accept paused by EMFILE */
	ev_timer shutdown_timer;        /* ends the drain after shutdown_timeout */
	ev_timer housekeeping_timer;    /* STATUS= for the service manager, heap trim */
	uint64_t trimmed_at;            /* pool.freed at the last heap trim */
	ev_timer watchdog_timer;        /* WATCHDOG=1 at half the manager's period */
	ev_timer line_timer;            /* due when the oldest partial line times out */
	ev_timer proxy_timer;           /* due when the oldest PROXY header is late */
	ev_tstamp epoch;                /* loop time at start; since_ms counts from it */
	struct timed_list idle_list;    /* every connection, least recently active first */
	struct timed_list line_list;    /* connections holding a partial line, oldest first */
	struct timed_list proxy_list;   /* connections awaiting a PROXY header, oldest first;
	                                   shares line_list's links: such a connection
	                                   holds no line yet */
	struct proxy_wait **proxy;      /* indexed by token: header bytes so far */
	struct peers peers;             /* open connections per source address */
	bool accept_paused;             /* listeners stopped until descriptors free up */
	bool stopping;                  /* SIGTERM seen: draining, not accepting */
	bool activated;                 /* listeners were passed by socket activation */
	struct log_ratelimit rl_full;   /* refusals at max_connections */
	struct log_ratelimit rl_per_ip; /* refusals at max_per_ip */
	struct log_ratelimit rl_line;   /* partial lines timed out */
	struct log_ratelimit rl_proxy;  /* connections closed over a PROXY header */
	struct log_ratelimit rl_accept; /* accept failures */
	uint64_t accepted;              /* connections accepted and served */
	uint64_t refused;               /* connections closed at max_connections */
	uint64_t refused_per_ip;        /* connections closed at max_per_ip */
	uint64_t line_timeouts;         /* connections closed by line_timeout */
	uint64_t proxy_rejected;        /* connections closed over a PROXY header */
	uint64_t bytes_echoed;          /* bytes the kernel took from us */

	/* A worker's line to the main thread; unused when role.count is 1. */
	ev_async ctl;                   /* woken by server_post */
	ev_timer heartbeat_timer;       /* proves to the main thread the loop runs */
	atomic_uint heartbeats;         /* bumped by heartbeat_timer */
	pthread_mutex_t ctl_lock;       /* guards the three fields below */
	unsigned ctl_pending;           /* enum server_command bits not yet done */
	struct config ctl_cfg;          /* the configuration a RELOAD applies */
	struct server_stats published;  /* figures for the main thread's STATUS= */
};

/*
 * Set up the loop, the slots and the listeners: the sockets passed by
 * socket activation when there are any, else every listen line of cfg.
 * Returns 0, or EX_SERVER_OSERR with the reason in err (nothing is left
 * open).
 */
int server_init(struct server *s, const struct config *cfg,
    const char *config_path, const struct server_role *role, char *err,
    size_t errlen);

/*
 * Tell the service manager we are ready, then serve until SIGTERM/SIGINT
 * and the drain that follows; returns 0.
 */
int server_run(struct server *s);

/* Close whatever is left and free everything server_init() took. */
void server_destroy(struct server *s);

/*
 * From the main thread to a worker, safe from any thread: a command, and
 * for SERVER_CMD_RELOAD the configuration to apply.  Pings the worker's
 * heartbeat timer at the given interval (0: none) to feed the watchdog.
 */
void server_post(struct server *s, unsigned commands, const struct config *cfg);
void server_heartbeat(struct server *s, double interval);

/*
 * The STATUS= line for `systemctl status`: "serving: [2 workers, ]3
 * connection(s) open, ...".  workers is 1 for a daemon without workers.
 */
void server_stats_text(const struct server_stats *st, const char *state,
    unsigned workers, char *buf, size_t len);

/* The figures a worker published last. */
void server_published(struct server *s, struct server_stats *out);

/* Apply a new configuration (what SIGHUP does after loading the file). */
int server_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen);

#endif
