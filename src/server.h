/*
 * The server: listeners, accept, the connections' libev watchers, idle and
 * shutdown timers, signals and reload.  It owns the event loop; everything
 * it needs lives in struct server, passed to every callback.
 */
#ifndef PINGPONGD_SERVER_H
#define PINGPONGD_SERVER_H

#include <ev.h>
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

/* A place in one of the lists of connections ordered by a time. */
struct timed_link {
	uint32_t since_ms;              /* ms since server start */
	uint32_t prev;                  /* older neighbour, SLAB_NONE at the head */
	uint32_t next;                  /* newer neighbour, SLAB_NONE at the tail */
};

/*
 * The head and tail of such a list: every append carries the latest time.
 * Its links are an array indexed by token, beside the slots, so that a
 * connection that is never on the list never touches its page.
 */
struct timed_list {
	uint32_t head;                  /* oldest */
	uint32_t tail;                  /* newest */
	struct timed_link *links;       /* indexed by token */
};

/* A PROXY header being received: its bytes so far. */
struct proxy_wait {
	uint16_t have;                  /* bytes of buf filled */
	unsigned char buf[PROXY_HEADER_MAX];
};

/*
 * One slab slot: a listener's or a connection's watcher, and for a
 * connection its state machine.  64 bytes on LP64: ev_io 48, conn 10, two
 * flags, the peer index 4.  An idle connection costs this, its 12-byte
 * idle link and libev's record of its descriptor, and nothing else.
 */
struct slot {
	ev_io io;                       /* must stay first: callbacks cast it back */
	struct conn conn;               /* the echo state machine */
	uint8_t refuse_header;          /* untrusted with proxy_protocol on: a
	                                   PROXY header in the first bytes closes */
	uint8_t awaiting_header;        /* server.proxy[token] holds a header's start */
	uint32_t peer;                  /* entry in server.peers, PEERS_NONE before
	                                   the PROXY header names the client */
};

struct listener {
	int fd;                         /* listening socket, -1 when the token is unused */
	struct config_listen addr;      /* the listen line it came from */
	char bound[NET_ADDR_TEXT];      /* the address it really got (port 0 resolved) */
};

struct server {
	struct ev_loop *loop;           /* the default loop: signals need it */
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
};

/*
 * Set up the loop, the slots and the listeners: the sockets passed by
 * socket activation when there are any, else every listen line of cfg.
 * Returns 0, or EX_SERVER_OSERR with the reason in err (nothing is left
 * open).
 */
int server_init(struct server *s, const struct config *cfg,
    const char *config_path, char *err, size_t errlen);

/*
 * Tell the service manager we are ready, then serve until SIGTERM/SIGINT
 * and the drain that follows; returns 0.
 */
int server_run(struct server *s);

/* Close whatever is left and free everything server_init() took. */
void server_destroy(struct server *s);

/* Apply a new configuration (what SIGHUP does after loading the file). */
int server_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen);

#endif
