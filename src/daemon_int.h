/*
 * The owner of the process's state, shared by daemon.c (signals, reload,
 * the service manager) and daemon_upgrade.c (the hand-over on SIGUSR2).
 */
#ifndef PINGPONGD_DAEMON_INT_H
#define PINGPONGD_DAEMON_INT_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "daemon_listen.h"
#include "handover.h"
#include "metrics.h"
#include "server.h"

/* Where a hand-over stands. */
enum daemon_upgrade {
	DAEMON_UPGRADE_IDLE,            /* none under way */
	DAEMON_UPGRADE_CHECKING,        /* the new program runs with -t */
	DAEMON_UPGRADE_QUIESCING,       /* the workers write their state */
	DAEMON_UPGRADE_FAILED,          /* the exec failed: start again in place */
};

/* Where a reload stands. */
enum daemon_reload {
	DAEMON_RELOAD_IDLE,             /* none in flight */
	DAEMON_RELOAD_APPLYING,         /* the workers apply the new configuration */
	DAEMON_RELOAD_ROLLING_BACK,     /* some failed: the others go back */
};

struct daemon {
	struct ev_loop *loop;           /* the default loop, this thread's */
	struct daemon_options opt;      /* as main() gave them */
	struct server *servers;         /* one per worker */
	pthread_t *threads;             /* one per worker */
	unsigned *seen_beats;           /* heartbeats at the last watchdog check */
	unsigned count;                 /* workers */
	unsigned started;               /* servers set up */
	unsigned running;               /* threads started */
	struct config cfg;              /* the configuration in force */
	struct daemon_listen listen;    /* the sockets held for every worker */
	struct metrics metrics;         /* the HTTP endpoint for Prometheus */
	double started_wall;            /* when the daemon started, Unix seconds */
	uint64_t reloads_ok;            /* reloads applied */
	uint64_t reloads_failed;        /* reloads refused or rolled back */
	atomic_uint_fast64_t serial;    /* the last connection number handed out */
	struct server_peers peers;      /* max_per_ip's counts, for every worker */
	bool peers_ready;               /* peers is set up */
	ev_tstamp started_at;           /* when the daemon started, for uptime */
	bool stopping;                  /* SIGTERM or SIGINT seen */
	ev_signal sig_term, sig_int, sig_hup, sig_usr1, sig_usr2;
	ev_async wake;                  /* a worker answered or its loop ended */
	ev_timer status_timer;          /* STATUS= for the service manager */
	ev_timer watchdog_timer;        /* WATCHDOG=1 while every worker beats */
	enum daemon_reload reload;      /* the reload in flight */
	uint64_t reload_id;             /* its number, as the workers answer it */
	bool reload_again;              /* a SIGHUP came while it was in flight */
	bool *applied;                  /* by worker: took the new configuration */
	struct config next;             /* what the reload in flight applies */

	/* The hand-over on SIGUSR2 (daemon_upgrade.c). */
	enum daemon_upgrade upgrade;    /* where it stands */
	bool stop_after;                /* SIGTERM came meanwhile: drain after */
	ev_child check_child;           /* the new program's -t run */
	uint64_t quiesced_ns;           /* CLOCK_MONOTONIC when the workers paused */
	struct handover_writer *handed_listeners; /* by worker: what it handed */
	struct handover_writer *handed_conns;
	struct server_figures *carried; /* by worker: figures from the last image */
	struct server_shared_set *handed_own; /* by worker: the last image's
	                                   sockets of that worker, to take back */
	struct config *handed_cfg;      /* the addresses handed TCP sockets have,
	                                   for the listen lines with port 0 */
	bool listeners_handed;          /* the listeners came from the last image */
	struct handover_conn *taken;    /* connections of the last image, to import */
	unsigned ntaken;                /* entries of taken */
	void *record;                   /* the mapped state record they point into */
	size_t record_len;              /* its length */
	double took_pause_ms;           /* how long service paused across it */
};


/* daemon.c */

/* The STATUS= line and READY=1, and the stop that SIGTERM starts. */
void daemon_ready(struct daemon *d);
void daemon_stop(struct daemon *d, const char *signame);

/* daemon_upgrade.c */

/* SIGUSR2: check the program, then hand everything over to it. */
void daemon_upgrade_begin(struct daemon *d);

/* A worker answered: once all have handed over, the exec. */
void daemon_upgrade_answered(struct daemon *d);

/*
 * At start, before the loop and the workers exist: take what the last
 * image handed over (opt.handover_fd), or, when its record cannot be
 * read, keep its listeners and close its connections.
 */
void daemon_upgrade_take(struct daemon *d);

/* Once the workers exist: each takes its share of the connections. */
void daemon_upgrade_import(struct daemon *d);

/* Free what daemon_upgrade_take() kept. */
void daemon_upgrade_free(struct daemon *d);

#endif
