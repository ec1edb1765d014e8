/*
 * One worker: an event loop serving its own listeners and connections.
 * Everything it needs lives in struct server, passed to every callback
 * as the loop's userdata; only the control channel (server_post) and the
 * counters are touched from another thread.
 *
 *   server.c         the loop: init/apply/run/destroy, drain, housekeeping,
 *                    the control channel to the process's owner (daemon.c)
 *   listener.c       listening sockets: open/adopt/close, accept, EMFILE pause
 *   session.c        a connection's I/O: read, echo, flush, close, timers
 *   session_proxy.c  reading a PROXY header off a balancer's connection
 *
 *   ring.c           with io = io_uring, the ring connections' bytes go
 *                    through instead of read and write calls
 *
 * The pure parts beneath: slab.c (tokens), conn.c (the state machine),
 * timeout.c (timed lists), bufpool.c, peers.c, proxy.c.
 */
#ifndef PINGPONGD_SERVER_H
#define PINGPONGD_SERVER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "bufpool.h"
#include "config.h"
#include "conn.h"
#include "counter.h"
#include "log.h"
#include "net.h"
#include "peers.h"
#include "proxy.h"
#include "slab.h"
#include "timeout.h"

#define SERVER_LISTENERS CONFIG_LISTEN_MAX      /* tokens [0, this) are listeners */
#define SERVER_ACCEPTS_PER_WAKEUP 64            /* accept4 calls per listener wakeup */
#define SERVER_READ_BUDGET (256u * 1024)        /* bytes read from one connection per wakeup */
#define SERVER_ACCEPT_RETRY 0.1                 /* s before retrying accept after EMFILE */
#define SERVER_LOG_INTERVAL 1.0                 /* s between rate-limited log lines */
#define SERVER_PROXY_TIMEOUT_S 5                /* s for a balancer's PROXY header */
#define SERVER_PROXY_TIMEOUT_MS (SERVER_PROXY_TIMEOUT_S * 1000)
#define SERVER_HOUSEKEEPING 5.0                 /* s between STATUS= lines and heap trims */
#define SERVER_TRIM_BYTES (1024u * 1024)        /* freed bytes that make a trim worth it */
#define SERVER_STATUS_MAX 320                   /* bytes of a STATUS= line */
#define SERVER_TAG_MAX 24                       /* bytes of "worker 12: " */

#define EX_SERVER_OK 0
#define EX_SERVER_OSERR 71                      /* cannot bind or listen */

/* A PROXY header being received: its bytes so far. */
struct proxy_wait {
	uint16_t have;                  /* bytes of buf filled */
	unsigned char buf[PROXY_HEADER_MAX];
};

/*
 * One slab slot: a listener's or a connection's watcher, and for a
 * connection its state machine.  libev never reads the watcher's data
 * pointer, so its 8 bytes hold the connection's neighbours on the idle
 * list.  An idle connection costs this slot, its 4-byte idle time and
 * libev's 16-byte record of its descriptor, and nothing else.
 */
struct slot {
	ev_io io;                       /* must stay first: callbacks cast it back;
	                                   io.data holds a struct timeout_link */
	struct conn conn;               /* the echo state machine */
	uint8_t refuse_header : 1;      /* an untrusted peer with proxy_protocol on:
	                                   a PROXY header in its first bytes closes */
	uint8_t ring_recv : 1;          /* io_uring: a receive is armed */
	uint8_t ring_send : 1;          /* io_uring: a send is in flight */
	uint8_t ring_stopped : 1;       /* io_uring: its receive was cancelled
	                                   (back-pressure, or input ended) */
	uint32_t peer;                  /* entry in the shared peers table, PEERS_NONE
	                                   before the PROXY header names the client */
};
_Static_assert(sizeof(struct slot) <= 64,
    "a slot fits in one cache line: ev_io 48, conn 10, refuse_header 1, peer 4");
_Static_assert(sizeof(struct timeout_link) <= sizeof(((ev_io *)0)->data),
    "the idle list's neighbours fit in a watcher's data pointer");

struct listener {
	int fd;                         /* listening socket, -1 when the token is unused */
	bool borrowed;                  /* passed by the service manager and shared
	                                   by every worker: not ours to close */
	struct addr addr;               /* the listen line it came from */
	char bound[ADDR_TEXT];          /* the address it really got (port 0 resolved) */
};

/*
 * A listening socket the owner of the process holds and every worker
 * watches: one passed by the service manager, or a Unix-domain one (the
 * kernel spreads only TCP over a SO_REUSEPORT group).
 */
struct server_shared {
	struct addr addr;               /* its listen line; for a passed one, the
	                                   address it has */
	int fd;                         /* the listening socket */
	bool passed;                    /* the service manager's, not ours */
	struct net_file file;           /* the socket file we made, removed at the end */
};

struct server_shared_set {
	struct server_shared list[SERVER_LISTENERS]; /* in the order they came */
	unsigned n;                     /* entries of list in use */
};

/*
 * Open connections per source address, for max_per_ip: one table for the
 * whole process, so that the limit holds whichever worker a client's
 * connections reach.  Taken once per connection opened or closed, never
 * per line.
 */
struct server_peers {
	pthread_mutex_t lock;           /* guards table */
	struct peers table;
};

/* Where a server stands in the process, as its owner (daemon.c) set it up. */
struct server_role {
	unsigned index;                 /* 0-based worker number */
	unsigned count;                 /* workers in all */
	bool reuseport;                 /* TCP listeners are one of a SO_REUSEPORT group */
	bool activated;                 /* serve the passed sockets, not listen lines */
	const struct server_shared_set *shared; /* the owner's sockets; changed only
	                                   between a worker's commands */
	struct server_shared_set *handed; /* the last image's sockets of this
	                                   worker, taken at start (fd set to -1);
	                                   NULL: none */
	atomic_uint_fast64_t *serial;   /* numbers connections across the process */
	struct server_peers *peers;     /* max_per_ip's counts, shared */
	struct ev_loop *owner_loop;     /* the owner's loop, and the watcher there */
	ev_async *owner_wake;           /* woken when a command is done or the loop ends */
};

/* Commands the owner sends a worker (server_post). */
enum server_command {
	SERVER_CMD_RELOAD = 1,          /* apply the configuration sent along */
	SERVER_CMD_STOP = 2,            /* stop accepting, drain */
	SERVER_CMD_STOP_NOW = 4,        /* end the drain at once */
	SERVER_CMD_HANDOVER = 8,        /* hand every connection and listener over
	                                   into ctl's writers, and stop */
};

/* Why a connection that had a slot closed: the labels of its count. */
enum server_close {
	SERVER_CLOSE_CLIENT,            /* the client ended its side, echo complete */
	SERVER_CLOSE_IDLE_TIMEOUT,      /* no progress for idle_timeout */
	SERVER_CLOSE_LINE_TIMEOUT,      /* a partial line held for line_timeout */
	SERVER_CLOSE_ERROR,             /* a socket error, such as a reset */
	SERVER_CLOSE_SHUTDOWN,          /* the drain after SIGTERM ended it */
	SERVER_CLOSE_OUT_OF_MEMORY,     /* no buffer for its bytes */
	SERVER_CLOSE_CAUSES
};

/*
 * Why a connection taken from a listen queue was closed before any echo:
 * at once, or over its PROXY header.  Every connection accepted is refused,
 * closed or open.
 */
enum server_refuse {
	SERVER_REFUSE_MAX_CONNECTIONS,  /* every slot was taken */
	SERVER_REFUSE_MAX_PER_IP,       /* its client had max_per_ip open */
	SERVER_REFUSE_PROXY_HEADER,     /* its PROXY header was missing, bad, late
	                                   or from a peer not trusted to send one */
	SERVER_REFUSE_OUT_OF_MEMORY,    /* the address table could not grow */
	SERVER_REFUSE_CAUSES
};

/* "client", "idle_timeout" ...: the words logs and metrics use for them. */
extern const char *const server_close_names[SERVER_CLOSE_CAUSES];
extern const char *const server_refuse_names[SERVER_REFUSE_CAUSES];

/*
 * A worker's figures: written by the worker alone, read by the owner at
 * any time (counter.h).
 */
struct server_stats {
	counter_t open;                 /* gauge: connections open */
	counter_t accepted;             /* taken from a listen queue, refused ones included */
	counter_t refused[SERVER_REFUSE_CAUSES]; /* closed before any echo */
	counter_t closed[SERVER_CLOSE_CAUSES]; /* closed after being served */
	counter_t bytes_received;       /* bytes read from clients, headers excluded */
	counter_t bytes_echoed;         /* bytes the kernel took from us */
	counter_t lines_echoed;         /* newlines in the echo */
	counter_t fragments;            /* echoes cut at max_line */
	counter_t bytes_held;           /* gauge: bytes held and echo not yet taken */
	counter_t buffers;              /* gauge: connection buffers in use */
	counter_t accept_pauses;        /* times accept paused on descriptor exhaustion */
};

/* The same figures read at one moment, as plain numbers to add up. */
struct server_figures {
	uint64_t open, accepted, bytes_received, bytes_echoed, lines_echoed;
	uint64_t fragments, bytes_held, buffers, accept_pauses;
	uint64_t refused[SERVER_REFUSE_CAUSES];
	uint64_t closed[SERVER_CLOSE_CAUSES];
};

/*
 * One kind of warning that can come in bursts: logged at once, then at
 * most once per SERVER_LOG_INTERVAL with the count since, and whatever
 * is left told when the interval ends, so that the counts add up.
 */
struct server_burst {
	struct log_ratelimit rl;
	enum log_level level;           /* of its lines */
	char what[96];                  /* before the count: "max_connections (2) reached: closed" */
	char tail[160];                 /* after it: " new connection(s), the last from ..." */
};

/* The owner's line into a worker's loop, and the worker's answers. */
struct server_ctl {
	ev_async wake;                  /* woken by server_post */
	pthread_mutex_t lock;           /* guards the fields below */
	unsigned pending;               /* enum server_command bits not yet taken */
	struct config cfg;              /* the configuration a RELOAD applies */
	uint64_t reload_id;             /* the owner's number for that reload */
	const char *signame;            /* the signal a STOP stands for */
	uint64_t done_id;               /* the last reload applied or refused */
	bool done_ok;                   /* whether it was applied */
	char done_err[CONFIG_ERROR_MAX]; /* why not */
	bool deaf;                      /* stopped accepting: watches no listener */
	struct handover_writer *handover_listeners; /* set by the owner with a
	                                   HANDOVER: where its listeners go */
	struct handover_writer *handover_conns; /* and its connections */
	uint64_t handover_asked_ns;     /* CLOCK_MONOTONIC when the owner asked */
	bool handed;                    /* it handed them over and stopped */
	char bound[SERVER_LISTENERS][ADDR_TEXT]; /* the addresses it listens on,
	                                   in token order, as last published */
	unsigned nbound;                /* entries of bound in use */
	bool finished;                  /* the loop has ended */
};

struct server {
	struct ev_loop *loop;           /* this worker's own */
	struct server_role role;        /* which worker this is */
	char tag[SERVER_TAG_MAX];       /* "worker 2: " before its log lines, or ""
	                                   when it is the only one */
	struct config cfg;              /* the configuration in force */
	struct slab slab;               /* listener and connection slots */
	struct bufpool pool;            /* buffers of cfg.max_line bytes */
	char *scratch;                  /* every read lands here first */
	size_t scratch_size;            /* bytes of scratch, >= every conn's max_line */
	struct listener listeners[SERVER_LISTENERS]; /* indexed by token */
	ev_timer idle_timer;            /* due when the oldest connection idles out */
	ev_timer line_timer;            /* due when the oldest partial line times out */
	ev_timer proxy_timer;           /* due when the oldest PROXY header is late */
	ev_timer accept_timer;          /* resumes accept paused by EMFILE */
	ev_timer shutdown_timer;        /* ends the drain after shutdown_timeout */
	ev_timer housekeeping_timer;    /* heap trim */
	ev_timer heartbeat_timer;       /* proves to the owner the loop runs */
	atomic_uint heartbeats;         /* bumped by heartbeat_timer */
	uint64_t trimmed_at;            /* pool.freed at the last heap trim */
	ev_tstamp epoch;                /* loop time at start; the lists count ms from it */
	struct timeout_list idle_list;  /* every connection, least recently active first */
	struct timeout_list line_list;  /* connections holding a partial line, oldest first */
	struct timeout_list proxy_list; /* connections awaiting a PROXY header, oldest
	                                   first; shares line_list's arrays: such a
	                                   connection holds no line yet */
	struct timeout_link *line_links; /* line_list's and proxy_list's neighbours */
	struct proxy_wait **proxy;      /* indexed by token: header bytes so far */
	bool accept_paused;             /* listeners stopped until descriptors free up */
	bool stopping;                  /* draining, not accepting */
	bool activated;                 /* listeners were passed by socket activation */
	struct server_burst burst_full; /* refusals at max_connections */
	struct server_burst burst_per_ip; /* refusals at max_per_ip */
	struct server_burst burst_line; /* partial lines timed out */
	struct server_burst burst_proxy; /* connections closed over a PROXY header */
	struct server_burst burst_accept; /* accept failures and pauses */
	ev_timer burst_timer;           /* tells the rest of every burst */
	uint64_t *ids;                  /* by token: the connection's number in the process */
	uint64_t held;                  /* bytes held and pending, all connections */
	struct server_stats stats;      /* read by the owner for STATUS= and the exit */
	struct server_figures carried;  /* figures from before a hand-over, set
	                                   before the loop runs */
	struct server_ctl ctl;          /* the owner's commands */
	struct server_ring *ring;       /* io = io_uring: the ring connections
	                                   use; NULL with io = epoll */
	bool broken;                    /* the loop is to end (server_break) */
};

/* CLOCK_MONOTONIC in ns: the clock hand-overs and waits are measured by. */
static inline uint64_t
server_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* End the worker's loop after this event, whichever waits for events. */
static inline void
server_break(struct server *s)
{
	s->broken = true;
	ev_break(s->loop, EVBREAK_ALL);
}

static inline struct slot *
server_slot(const struct server *s, uint32_t token)
{
	return slab_get(&s->slab, token);
}

/* The shared table of open connections per address (server.c). */
int server_peers_init(struct server_peers *p);
void server_peers_destroy(struct server_peers *p);

/* Count a connection from sa unless max_per_ip are open from it (peers_add). */
uint32_t server_peer_add(struct server *s, const struct sockaddr *sa,
    int *nomem);
void server_peer_remove(struct server *s, uint32_t index);

/* A duration in whole seconds, rounded up, as socket options take it. */
static inline unsigned
server_whole_seconds(uint32_t ms)
{
	return (ms + 999) / 1000;
}

/* server.c */

/*
 * Set up the loop, the slots and the listeners: the sockets passed along
 * in role when there are any, else every listen line of cfg.  Returns 0,
 * or EX_SERVER_OSERR with the reason in err (nothing is left open).
 */
int server_init(struct server *s, const struct config *cfg,
    const struct server_role *role, char *err, size_t errlen);

/* Serve until the drain after a STOP ends (in the worker's thread). */
void server_run(struct server *s);

/* Close whatever is left and free everything server_init() took. */
void server_destroy(struct server *s);

/* Apply a new configuration to the running loop; -1 with err on failure. */
int server_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen);

/*
 * From the owner, safe from any thread: commands, with the configuration
 * and its number for a RELOAD and the signal's name for a STOP.
 */
void server_post(struct server *s, unsigned commands, const struct config *cfg,
    uint64_t reload_id, const char *signame);

/*
 * The last reload the worker finished: its number, and 0 or -1 with the
 * reason in err.  Safe from any thread.
 */
uint64_t server_reload_done(struct server *s, int *status, char *err,
    size_t errlen);

/*
 * True once the worker has stopped accepting and watches no listening
 * socket any more; safe from any thread.
 */
bool server_deaf(struct server *s);

/*
 * The addresses the worker listens on, in token order (the order of the
 * configuration's listen lines); returns how many, at most max.  Safe
 * from any thread.
 */
unsigned server_bound(struct server *s, char (*out)[ADDR_TEXT],
    unsigned max);

/*
 * Ask the worker to hand everything over into the two writers (the owner
 * keeps them), and stop.  server_handed() says when it has.
 */
void server_handover(struct server *s, struct handover_writer *listeners,
    struct handover_writer *conns, uint64_t asked_ns);
bool server_handed(struct server *s);

/* True once the worker's loop has ended; safe from any thread. */
bool server_finished(struct server *s);

/* Add a worker's figures to sum; safe from any thread. */
void server_add_figures(const struct server *s, struct server_figures *sum);

/* Connections served: taken from a listen queue and not refused at once. */
uint64_t server_served(const struct server_figures *f);

/* Bump heartbeats every interval seconds (0: not at all), to feed the watchdog. */
void server_heartbeat(struct server *s, double interval);

/* ms since the loop started, the clock of the timed lists. */
uint32_t server_now_ms(const struct server *s);

/*
 * Seconds until the first of the worker's timers is due, or -1 when none
 * runs: with io = io_uring the ring, not libev, waits, and wakes libev for
 * them.  Every ev_timer of a worker is in the list it reads.
 */
double server_next_timer(struct server *s);

/* A read buffer of at least size bytes (it never shrinks); -1: no memory. */
int server_reserve_scratch(struct server *s, size_t size);

/* Start timer for when the list's oldest member reaches timeout_ms, unless it runs. */
void server_arm(struct server *s, const struct timeout_list *l, ev_timer *timer,
    uint32_t timeout_ms);

/* listener.c */

/*
 * Make the open listeners match cfg's listen lines: open the new ones
 * first, and only when all of them could be opened close those no longer
 * listed, so that a failure leaves the listeners as they were.  Options of
 * listeners kept (backlog, keepalive, defer_accept) follow cfg.
 */
int listener_apply(struct server *s, const struct config *cfg, char *err,
    size_t errlen);

/* Serve the sockets passed by the service manager instead of listen lines. */
int listener_adopt(struct server *s, char *err, size_t errlen);

/*
 * Write the worker's own listening sockets into w and forget them, left
 * open for the next image; returns how many.
 */
unsigned listener_export_all(struct server *s, struct handover_writer *w);

/* Close one listener, or all of them. */
void listener_close(struct server *s, uint32_t token);
void listener_close_all(struct server *s);

/* A descriptor came free: accept again if it was paused. */
void listener_resume(struct server *s);

/* The accept-retry timer's callback. */
void listener_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* session.c */

/* A connection accepted on listener token `listener`: serve it or refuse it. */
void session_open(struct server *s, int fd, const struct sockaddr *peer,
    uint32_t listener);

/*
 * Free a connection's slot and descriptor, counted under cause; detail
 * (may be NULL) says more in the debug log.
 */
void session_close(struct server *s, uint32_t token, enum server_close cause,
    const char *detail);

/* Close a connection that got a slot but no echo, counted as refused. */
void session_drop(struct server *s, uint32_t token, enum server_refuse cause,
    const char *detail);

/*
 * Take a connection out of every list, table and buffer and free its
 * slot, leaving its descriptor open: closing it is the caller's choice.
 */
void session_detach(struct server *s, uint32_t token);

/* Close after a failed system call, with its errno as the reason. */
void session_fail(struct server *s, uint32_t token, const char *call);

/* Read and echo what is waiting on a Reading connection. */
void session_read(struct server *s, uint32_t token);

/* A connection made progress: it is the most recently active. */
void session_touch(struct server *s, uint32_t token);

/* Log a connection closed at a limit, once a second with the count. */
void session_log_limit(struct server *s, enum server_refuse cause,
    uint32_t limit, const struct sockaddr *peer);

/* Refuse a connection at a limit: counted, logged once a second. */
void session_refuse(struct server *s, enum server_refuse cause, uint32_t limit,
    const struct sockaddr *peer);

/*
 * One event of a burst: its line is "WHAT N TAIL", written now or counted
 * for the next (server_burst).
 */
void session_burst(struct server *s, struct server_burst *b, const char *what,
    const char *tailfmt, ...) LOG_PRINTF(4, 5);

/* Tell the rest of every burst whose last line is interval old (0: all). */
void session_bursts_flush(struct server *s, double interval);

/* The burst timer's callback: tell the rest of every burst. */
void session_burst_cb(struct ev_loop *loop, ev_timer *w, int revents);

/*
 * The daemon ends the connection's input (shutdown, line_timeout): echo
 * what it holds, give the kernel one chance to take it, and close it if
 * that was all.
 */
void session_end(struct server *s, uint32_t token, enum conn_end why);

/* The connection's number in the process, for the log. */
static inline unsigned long long
session_id(const struct server *s, uint32_t token)
{
	return (unsigned long long)s->ids[token];
}

/* The idle and line timers' callbacks. */
void session_idle_cb(struct ev_loop *loop, ev_timer *w, int revents);
void session_line_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Watch a connection's descriptor for what its state wants (a hand-over's). */
void session_watch(struct server *s, uint32_t token, int fd);

/*
 * Bytes a connection's receive brought (io_uring): into the state machine,
 * and their echo on its way.
 */
void session_received(struct server *s, uint32_t token, const char *data,
    size_t n);

/* The kernel took n bytes of a connection's echo (io_uring's send). */
void session_sent(struct server *s, uint32_t token, size_t n);

/* A balancer's PROXY header is whole: the echo starts. */
void session_reading(struct server *s, uint32_t token);

/* ring.c */

struct server_ring;

/*
 * 0 when this kernel runs io = io_uring (Linux 6.1 or later); else -1
 * with the reason in err.
 */
int ring_kernel_check(char *err, size_t errlen);

/* Set up the worker's ring; -1 with the reason in err. */
int ring_init(struct server *s, char *err, size_t errlen);

/* End what is in flight and free the ring (the connections are closed). */
void ring_destroy(struct server *s);

/*
 * In the worker's thread, before its loop: enable the ring and arm the
 * connections taken before; after the loop, end what is in flight.
 */
void ring_run(struct server *s);
void ring_finish(struct server *s);

/*
 * The worker's loop with io = io_uring: wait in the ring for completions,
 * libev's descriptors (polled through the ring) and the next timer, and
 * run libev once whenever one of the last two calls for it.
 */
void ring_loop(struct server *s);

/* A connection now moves its bytes through the ring. */
void ring_start(struct server *s, uint32_t token);

/*
 * After an event: send what is owed, read again once back-pressure is
 * over, stop reading while the client does not read its echo.
 */
void ring_settled(struct server *s, uint32_t token);

/* Echo is pending: send it unless a send is in flight. */
void ring_send(struct server *s, uint32_t token);

/*
 * A connection is going: cancel its receive and send; a send's buffer is
 * kept until the kernel is done with it.
 */
void ring_forget(struct server *s, uint32_t token);

/*
 * A buffer the connection's send in flight still reads, replaced by a
 * bigger one: given back once the send completes.
 */
void ring_retire(struct server *s, uint32_t token, struct conn_buf *b);

/*
 * From another thread, after ev_async_send(): wake a worker waiting in its
 * ring, where libev's own wake-up does not reach (libev writes it only
 * while libev itself waits).
 */
void ring_wake(struct server *s);

/* Submit what is queued and take what completed, now. */
void ring_submit_now(struct server *s);

/*
 * Before a hand-over: cancel every receive and send and wait until the
 * kernel has ended them all, so that what each connection holds and owes
 * is exact.
 */
void ring_quiesce(struct server *s);

/* session_handover.c */

struct handover_writer;
struct handover_conn;

/*
 * Write every connection into w as a hand-over record and forget it, its
 * descriptor left open for the next image; returns how many.  Timer ages
 * are taken as of lag_ms ago: the owner's moment of the hand-over, from
 * which the next image counts the pause.
 */
unsigned session_export_all(struct server *s, struct handover_writer *w,
    uint32_t lag_ms);

/*
 * Take n handed connections, their timers as old as they were; one that
 * finds no room is closed.  Returns how many were taken.
 */
unsigned session_import_all(struct server *s, const struct handover_conn *conns,
    unsigned n);

/* session_proxy.c */

/* The connection is a balancer's: wait for its PROXY header. */
int session_proxy_start(struct server *s, uint32_t token);

/* Read what is there of the header; once whole, the echo starts. */
void session_proxy_read(struct server *s, uint32_t token);

/* Close a connection over its PROXY header: counted, logged once a second. */
void session_proxy_reject(struct server *s, uint32_t token, const char *why);

/* Free what a closing connection held of a header still awaited. */
void session_proxy_forget(struct server *s, uint32_t token);

/* The header timer's callback. */
void session_proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

#endif
