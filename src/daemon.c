/*
 * The owner of the process.  Its thread keeps the default loop for
 * signals, reloads, the service manager and the watchdog; every worker,
 * the only one included, has a thread and a loop of its own, reached with
 * server_post() and answering through one ev_async here.
 */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "daemon_listen.h"
#include "evmem.h"
#include "log.h"
#include "metrics.h"
#include "procstat.h"
#include "server.h"
#include "service.h"

#define DAEMON_STATUS_ADDRS 96          /* bytes of addresses in STATUS= */

/* The signals this thread takes; no worker ever does. */
static const int daemon_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD,
};
#define DAEMON_NSIGNALS (sizeof(daemon_signals) / sizeof(daemon_signals[0]))

static void
daemon_warn_defer_passed(const struct daemon *d, uint32_t ms)
{
	if (d->opt.passed > 0 && ms > 0)
		log_warn("defer_accept is not applied to sockets passed by the"
		    " service manager: set DeferAcceptSec= in the socket unit"
		    " instead");
}

/*
 * The addresses the first worker listens on, in configuration order (as
 * its listener tokens are), cut with "and N more" past len bytes.
 */
static void
daemon_addresses(struct daemon *d, char *buf, size_t len)
{
	char bound[SERVER_LISTENERS][ADDR_TEXT];
	size_t o = 0;
	unsigned shown = 0, all = 0, n;

	buf[0] = '\0';
	n = d->started > 0 ? server_bound(&d->servers[0], bound,
	    SERVER_LISTENERS) : 0;
	for (unsigned t = 0; t < n; t++) {
		size_t need;

		all++;
		need = strlen(bound[t]) + (shown > 0 ? 2 : 0);
		if (shown > 0 && o + need + 16 >= len)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    shown > 0 ? ", " : "", bound[t]);
		shown++;
	}
	if (all > shown && o < len)
		snprintf(buf + o, len - o, " and %u more", all - shown);
}

/* The STATUS= line: what the daemon is doing right now, for all workers. */
static void
daemon_status(struct daemon *d, const char *state, char *buf,
    size_t len)
{
	struct server_figures f = { 0 };
	char addrs[DAEMON_STATUS_ADDRS];
	uint64_t refused = 0;

	for (unsigned i = 0; i < d->started; i++)
		server_add_figures(&d->servers[i], &f);
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		refused += f.refused[i];
	daemon_addresses(d, addrs, sizeof(addrs));
	snprintf(buf, len, "%s: %u worker%s, %llu connection(s) open, %llu"
	    " served, %llu refused, %llu bytes echoed; listening on %s", state,
	    d->count, d->count == 1 ? "" : "s", (unsigned long long)f.open,
	    (unsigned long long)server_served(&f), (unsigned long long)refused,
	    (unsigned long long)f.bytes_echoed, addrs);
}

void
daemon_ready(struct daemon *d)
{
	char status[SERVER_STATUS_MAX];

	daemon_status(d, "serving", status, sizeof(status));
	service_ready(status);
}

static void
daemon_status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = ev_userdata(loop);
	char status[SERVER_STATUS_MAX];

	(void)t;
	(void)revents;
	daemon_status(d, d->stopping ? "draining" : "serving", status,
	    sizeof(status));
	service_status("%s", status);
}

/* SIGUSR1: one line of every figure, whatever log_level says. */
static void
daemon_statistics(const struct daemon *d)
{
	struct server_figures f = { 0 };
	char closed[SERVER_CLOSE_CAUSES * 32], refused[SERVER_REFUSE_CAUSES * 32];
	size_t o = 0;

	for (unsigned i = 0; i < d->started; i++)
		server_add_figures(&d->servers[i], &f);
	closed[0] = refused[0] = '\0';
	for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
		o += (size_t)snprintf(closed + o, sizeof(closed) - o, "%s%s %llu",
		    i > 0 ? ", " : "", server_close_names[i],
		    (unsigned long long)f.closed[i]);
	o = 0;
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		o += (size_t)snprintf(refused + o, sizeof(refused) - o,
		    "%s%s %llu", i > 0 ? ", " : "", server_refuse_names[i],
		    (unsigned long long)f.refused[i]);
	log_always("statistics: %llu connection(s) open, %llu served; refused:"
	    " %s; closed: %s; %llu bytes received, %llu bytes and %llu lines"
	    " echoed, %llu fragments; %llu bytes held in %llu buffer(s);"
	    " %llu accept pause(s), %llu log line(s) dropped; up %.0fs",
	    (unsigned long long)f.open, (unsigned long long)server_served(&f),
	    refused, closed, (unsigned long long)f.bytes_received,
	    (unsigned long long)f.bytes_echoed,
	    (unsigned long long)f.lines_echoed,
	    (unsigned long long)f.fragments, (unsigned long long)f.bytes_held,
	    (unsigned long long)f.buffers, (unsigned long long)f.accept_pauses,
	    (unsigned long long)log_dropped(),
	    ev_now(d->loop) - d->started_at);
}

/* A scrape: every worker's figures as they stand, and the process's. */
static int
daemon_render_metrics(void *arg, struct metrics_text *out)
{
	struct daemon *d = arg;
	struct server_figures per[CONFIG_WORKERS_MAX];
	struct metrics_sample m = {
		.version = PACKAGE_VERSION,
		.start_time = d->started_wall,
		.workers = d->started,
		.per_worker = per,
		.reloads_ok = d->reloads_ok,
		.reloads_failed = d->reloads_failed,
		.log_dropped = log_dropped(),
	};

	memset(per, 0, sizeof(per));
	for (unsigned i = 0; i < d->started; i++)
		server_add_figures(&d->servers[i], &per[i]);
	(void)procstat_read(&m.process);
	return metrics_text_render(&m, out);
}

/*
 * The watchdog is fed only while every worker's loop proves it runs, so a
 * stuck worker, not only a stuck owner, gets the daemon restarted.
 */
static void
daemon_watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = ev_userdata(loop);
	bool all = true;

	(void)t;
	(void)revents;
	for (unsigned i = 0; i < d->count; i++) {
		unsigned beats = atomic_load_explicit(&d->servers[i].heartbeats,
		    memory_order_relaxed);

		if (beats == d->seen_beats[i]) {
			log_warn("%sno heartbeat since the last watchdog ping;"
			    " not pinging", d->servers[i].tag);
			all = false;
		}
		d->seen_beats[i] = beats;
	}
	if (all)
		service_watchdog_ping();
}

static void
daemon_post_reload(struct daemon *d, const struct config *cfg, bool all)
{
	d->reload_id++;
	for (unsigned i = 0; i < d->count; i++)
		if (all || d->applied[i])
			server_post(&d->servers[i], SERVER_CMD_RELOAD, cfg,
			    d->reload_id, NULL);
}

/*
 * What the workers need before they apply cfg: ports chosen for port 0
 * and the Unix sockets opened.  -1 with err when they cannot be had.
 */
static int
daemon_prepare(struct daemon *d, struct config *cfg, const struct config *old,
    char *err, size_t errlen)
{
	/* The metrics endpoint first: it is the daemon's own, whatever listens. */
	if (metrics_apply(&d->metrics, cfg, err, errlen) == -1)
		return -1;
	/* Passed sockets are served instead of the listen lines. */
	if (d->opt.passed > 0)
		return 0;
	/* At start after a hand-over, port 0 means the port it had. */
	if ((d->count > 1 && daemon_listen_reserve(&d->listen, cfg,
	    old != NULL ? old : d->handed_cfg, err, errlen) == -1) || daemon_listen_open(&d->listen, cfg, err,
	    errlen) == -1) {
		/* As it was: the metrics endpoints of the running configuration. */
		if (old != NULL)
			(void)metrics_apply(&d->metrics, old, err, 0);
		return -1;
	}
	return 0;
}

static void
daemon_reload(struct daemon *d)
{
	char err[CONFIG_ERROR_MAX];

	if (d->opt.config_path == NULL) {
		log_warn("SIGHUP: running on built-in defaults, no file to"
		    " re-read");
		return;
	}
	if (d->stopping) {
		log_info("SIGHUP: draining; the configuration is not re-read");
		return;
	}
	if (d->reload != DAEMON_RELOAD_IDLE) {
		d->reload_again = true;
		return;
	}
	service_reloading();
	if (config_read(d->opt.config_path, d->opt.settings, &d->next, err,
	    sizeof(err)) != CONFIG_OK ||
	    daemon_prepare(d, &d->next, &d->cfg, err, sizeof(err)) == -1) {
		log_error("reload failed, keeping the running configuration:"
		    " %s", err);
		d->reloads_failed++;
		daemon_ready(d);
		return;
	}
	if ((d->next.workers == 0 ? d->count : d->next.workers) != d->count)
		log_warn("workers: a change takes effect at restart; %u"
		    " worker%s go%s on", d->count, d->count == 1 ? "" : "s",
		    d->count == 1 ? "es" : "");
	if (d->next.io != d->cfg.io) {
		log_warn("io: a change takes effect at restart or at a"
		    " hand-over (SIGUSR2); %s goes on",
		    config_io_text(d->cfg.io));
		/* The configuration in force says what the workers do. */
		d->next.io = d->cfg.io;
	}
	d->reload = DAEMON_RELOAD_APPLYING;
	daemon_post_reload(d, &d->next, true);
}

/*
 * Every worker answered the reload in flight: keep the new configuration
 * when all took it, else take back those that did, so that the workers
 * never run two configurations.
 */
static void
daemon_reload_answered(struct daemon *d)
{
	char err[CONFIG_ERROR_MAX], first[SERVER_TAG_MAX + CONFIG_ERROR_MAX] = "";
	bool ok = true;

	for (unsigned i = 0; i < d->count; i++) {
		int status;

		/* Taking back, only those that took the new one were asked. */
		if (d->reload == DAEMON_RELOAD_ROLLING_BACK && !d->applied[i])
			continue;
		(void)server_reload_done(&d->servers[i], &status, err,
		    sizeof(err));
		if (d->reload == DAEMON_RELOAD_APPLYING)
			d->applied[i] = status == 0;
		if (status == 0)
			continue;
		if (ok)
			snprintf(first, sizeof(first), "%s%s", d->servers[i].tag,
			    err);
		ok = false;
	}
	if (d->reload == DAEMON_RELOAD_ROLLING_BACK) {
		if (!ok)
			log_error("reload: taking back the new configuration"
			    " failed too: %s", first);
	} else if (ok) {
		d->reloads_ok++;
		log_set_level(d->next.log_level);
		if (d->next.defer_accept_ms != d->cfg.defer_accept_ms)
			daemon_warn_defer_passed(d, d->next.defer_accept_ms);
		d->cfg = d->next;
		config_summary(&d->cfg, err, sizeof(err));
		log_info("reloaded %s: %s", d->opt.config_path, err);
	} else {
		log_error("reload failed, keeping the running configuration:"
		    " %s", first);
		d->reloads_failed++;
		(void)metrics_apply(&d->metrics, &d->cfg, err, sizeof(err));
		d->reload = DAEMON_RELOAD_ROLLING_BACK;
		for (unsigned i = 0; i < d->count; i++)
			if (d->applied[i]) {
				daemon_post_reload(d, &d->cfg, false);
				return;
			}
	}
	/* The workers no longer watch what the configuration in force drops. */
	if (d->opt.passed == 0)
		daemon_listen_retire(&d->listen, &d->cfg);
	d->reload = DAEMON_RELOAD_IDLE;
	/* The service is ready again either way: the old or the new config. */
	daemon_ready(d);
	if (d->reload_again) {
		d->reload_again = false;
		daemon_reload(d);
	}
}

/* A worker answered a reload, or its loop ended. */
static void
daemon_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct daemon *d = ev_userdata(loop);
	char err[CONFIG_ERROR_MAX];
	unsigned answered = 0, deaf = 0, finished = 0;

	(void)a;
	(void)revents;
	for (unsigned i = 0; i < d->count; i++) {
		int status;

		if (server_reload_done(&d->servers[i], &status, err,
		    sizeof(err)) == d->reload_id || (d->reload ==
		    DAEMON_RELOAD_ROLLING_BACK && !d->applied[i]))
			answered++;
		if (server_deaf(&d->servers[i]))
			deaf++;
		if (server_finished(&d->servers[i]))
			finished++;
	}
	if (d->reload != DAEMON_RELOAD_IDLE && answered == d->count)
		daemon_reload_answered(d);
	if (d->upgrade == DAEMON_UPGRADE_QUIESCING) {
		daemon_upgrade_answered(d);
		return;
	}
	/*
	 * Draining, every worker has closed its TCP listeners, which refuses
	 * new clients; the owner's Unix sockets would still queue them, never
	 * to be accepted.  Closed now, and their files removed, they refuse
	 * them too, and a new daemon may take the path.
	 */
	if (d->stopping && deaf == d->count)
		daemon_listen_retire(&d->listen, NULL);
	if (finished == d->count)
		ev_break(loop, EVBREAK_ALL);
}

static void
daemon_signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct daemon *d = ev_userdata(loop);
	const char *name = sig->signum == SIGINT ? "SIGINT" : "SIGTERM";

	(void)revents;
	if (sig->signum == SIGHUP) {
		/* The new image reads the configuration anyway. */
		if (d->upgrade != DAEMON_UPGRADE_IDLE)
			log_info("SIGHUP: a hand-over is under way; the new"
			    " image reads the configuration");
		else
			daemon_reload(d);
		return;
	}
	if (sig->signum == SIGUSR1) {
		daemon_statistics(d);
		return;
	}
	if (sig->signum == SIGUSR2) {
		daemon_upgrade_begin(d);
		return;
	}
	/* The hand-over finishes first; the next image then drains. */
	if (d->upgrade != DAEMON_UPGRADE_IDLE) {
		log_info("%s: a hand-over is under way; the connections drain"
		    " once it is done", name);
		d->stop_after = true;
		return;
	}
	daemon_stop(d, name);
}

void
daemon_stop(struct daemon *d, const char *name)
{
	char status[SERVER_STATUS_MAX];

	if (d->stopping) {
		for (unsigned i = 0; i < d->count; i++)
			server_post(&d->servers[i], SERVER_CMD_STOP_NOW, NULL, 0,
			    name);
		return;
	}
	d->stopping = true;
	daemon_status(d, "draining", status, sizeof(status));
	service_stopping(status);
	for (unsigned i = 0; i < d->count; i++)
		server_post(&d->servers[i], SERVER_CMD_STOP, NULL, 0, name);
}

static void *
daemon_worker_main(void *arg)
{
	server_run(arg);
	return NULL;
}

/* Set up every worker's server; the first that fails says why. */
static int
daemon_start_servers(struct daemon *d)
{
	char err[CONFIG_ERROR_MAX];

	for (; d->started < d->count; d->started++) {
		struct server_role role = {
			.index = d->started,
			.count = d->count,
			.reuseport = d->count > 1,
			.activated = d->opt.passed > 0,
			.shared = &d->listen.shared,
			.handed = d->handed_own != NULL ?
			    &d->handed_own[d->started] : NULL,
			.serial = &d->serial,
			.peers = &d->peers,
			.owner_loop = d->loop,
			.owner_wake = &d->wake,
		};
		struct server *s = &d->servers[d->started];

		if (server_init(s, &d->cfg, &role, err, sizeof(err)) != 0) {
			log_error("%s%s", s->tag, err);
			return -1;
		}
	}
	return 0;
}

/*
 * The worker threads never take this thread's signals: they inherit a
 * mask that blocks them, and this thread's default loop takes them.
 */
static int
daemon_start_threads(struct daemon *d, uint64_t watchdog_usec)
{
	sigset_t block, old;
	int result = 0;

	sigemptyset(&block);
	for (size_t i = 0; i < DAEMON_NSIGNALS; i++)
		sigaddset(&block, daemon_signals[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (; d->running < d->count; d->running++) {
		struct server *s = &d->servers[d->running];

		server_heartbeat(s, watchdog_usec / 4e6);
		if (pthread_create(&d->threads[d->running], NULL,
		    daemon_worker_main, s) != 0) {
			log_error("%scannot start its thread", s->tag);
			result = -1;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return result;
}

static void
daemon_start_signals(struct daemon *d, uint64_t watchdog_usec)
{
	sigset_t unblock;

	ev_signal_init(&d->sig_term, daemon_signal_cb, SIGTERM);
	ev_signal_init(&d->sig_int, daemon_signal_cb, SIGINT);
	ev_signal_init(&d->sig_hup, daemon_signal_cb, SIGHUP);
	ev_signal_init(&d->sig_usr1, daemon_signal_cb, SIGUSR1);
	ev_signal_init(&d->sig_usr2, daemon_signal_cb, SIGUSR2);
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
	ev_signal_start(d->loop, &d->sig_usr1);
	ev_signal_start(d->loop, &d->sig_usr2);
	/*
	 * The image before this one blocked them across its exec; those that
	 * came meanwhile are pending and are taken now.
	 */
	sigemptyset(&unblock);
	for (size_t i = 0; i < DAEMON_NSIGNALS; i++)
		sigaddset(&unblock, daemon_signals[i]);
	pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
	ev_timer_init(&d->status_timer, daemon_status_cb, SERVER_HOUSEKEEPING,
	    SERVER_HOUSEKEEPING);
	if (service_notify_wanted())
		ev_timer_start(d->loop, &d->status_timer);
	ev_timer_init(&d->watchdog_timer, daemon_watchdog_cb,
	    watchdog_usec / 2e6, watchdog_usec / 2e6);
	if (watchdog_usec > 0) {
		ev_timer_start(d->loop, &d->watchdog_timer);
		log_info("watchdog: pinging every %.3gs while every worker's"
		    " loop beats", watchdog_usec / 2e6);
	}
}

/*
 * --ready-fd: every listener listens, so say where, one address a line
 * in configuration order, and close the descriptor: a reader waiting for
 * end of file knows it may connect.
 */
static void
daemon_tell_ready(struct daemon *d)
{
	char bound[SERVER_LISTENERS][ADDR_TEXT], line[ADDR_TEXT + 1];
	int fd = d->opt.ready_fd;
	unsigned nbound;

	if (fd == -1)
		return;
	nbound = server_bound(&d->servers[0], bound, SERVER_LISTENERS);
	for (unsigned t = 0; t < nbound; t++) {
		size_t len, off = 0;

		len = (size_t)snprintf(line, sizeof(line), "%s\n", bound[t]);
		while (off < len) {
			ssize_t n = write(fd, line + off, len - off);

			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				log_warn("--ready-fd %d: %s", fd,
				    strerror(errno));
				goto done;
			}
			off += (size_t)n;
		}
	}
done:
	close(fd);
	d->opt.ready_fd = -1;
}

/* Stop the workers that run, wait for them, and free everything. */
static void
daemon_destroy(struct daemon *d)
{
	for (unsigned i = 0; i < d->running; i++)
		server_post(&d->servers[i], SERVER_CMD_STOP | SERVER_CMD_STOP_NOW,
		    NULL, 0, "exit");
	for (unsigned i = 0; i < d->running; i++)
		pthread_join(d->threads[i], NULL);
	for (unsigned i = 0; i < d->started; i++)
		server_destroy(&d->servers[i]);
	daemon_listen_close(&d->listen);
	metrics_close(&d->metrics);
	if (d->peers_ready)
		server_peers_destroy(&d->peers);
	/* Not ready, and never will be: the reader sees end of file. */
	if (d->opt.ready_fd != -1)
		close(d->opt.ready_fd);
	if (d->loop != NULL) {
		ev_signal_stop(d->loop, &d->sig_term);
		ev_signal_stop(d->loop, &d->sig_int);
		ev_signal_stop(d->loop, &d->sig_hup);
		ev_signal_stop(d->loop, &d->sig_usr1);
		ev_signal_stop(d->loop, &d->sig_usr2);
		ev_child_stop(d->loop, &d->check_child);
		ev_timer_stop(d->loop, &d->status_timer);
		ev_timer_stop(d->loop, &d->watchdog_timer);
		ev_async_stop(d->loop, &d->wake);
		ev_loop_destroy(d->loop);
	}
	daemon_upgrade_free(d);
	free(d->servers);
	free(d->threads);
	free(d->seen_beats);
	free(d->applied);
	free(d);
}

/* Everything the workers need, then the workers: -1 when the daemon cannot start. */
static int
daemon_start(struct daemon *d)
{
	char err[CONFIG_ERROR_MAX];
	uint64_t watchdog;

	if (server_peers_init(&d->peers) == -1) {
		log_error("out of memory for the address table");
		return -1;
	}
	d->peers_ready = true;
	/* First of all: whatever is not the last image's state gets closed. */
	if (d->opt.handover_fd != -1)
		daemon_upgrade_take(d);
	ev_set_allocator(evmem_realloc);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (d->loop == NULL) {
		log_error("cannot start the event loop");
		return -1;
	}
	ev_set_userdata(d->loop, d);
	d->started_at = ev_now(d->loop);
	/* Across a hand-over, the first image's start stands. */
	if (d->started_wall == 0)
		d->started_wall = ev_time();
	metrics_init(&d->metrics, d->loop, daemon_render_metrics, d);
	ev_async_init(&d->wake, daemon_wake_cb);
	ev_async_start(d->loop, &d->wake);
	if ((d->opt.passed > 0 && !d->listeners_handed &&
	    daemon_listen_adopt(&d->listen, d->opt.passed, err,
	    sizeof(err)) == -1) || daemon_prepare(d, &d->cfg, NULL, err,
	    sizeof(err)) == -1) {
		log_error("%s", err);
		return -1;
	}
	if (daemon_start_servers(d) == -1)
		return -1;
	daemon_upgrade_import(d);
	if (d->opt.passed > 0)
		log_info("socket activation: serving %d passed socket(s); the"
		    " listen lines are not used", d->opt.passed);
	daemon_warn_defer_passed(d, d->cfg.defer_accept_ms);
	watchdog = service_watchdog_usec();
	if (daemon_start_threads(d, watchdog) == -1)
		return -1;
	daemon_start_signals(d, watchdog);
	return 0;
}

int
daemon_run(struct daemon_options *opt)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char summary[CONFIG_ERROR_MAX];
	unsigned n = opt->workers;
	int result = EX_SERVER_OSERR;

	if (d == NULL || (d->servers = calloc(n, sizeof(*d->servers))) ==
	    NULL || (d->threads = calloc(n, sizeof(*d->threads))) == NULL ||
	    (d->seen_beats = calloc(n, sizeof(*d->seen_beats))) == NULL ||
	    (d->applied = calloc(n, sizeof(*d->applied))) == NULL) {
		log_error("out of memory for %u workers", n);
		if (opt->ready_fd != -1)
			close(opt->ready_fd);
		if (d != NULL) {
			d->opt.ready_fd = -1;
			daemon_destroy(d);
		}
		return EX_SERVER_OSERR;
	}
	d->opt = *opt;
	d->count = n;
	d->cfg = *opt->cfg;
	daemon_listen_init(&d->listen);
	if (daemon_start(d) == 0) {
		/* Every listener is up: the line the operator waits for. */
		config_summary(&d->cfg, summary, sizeof(summary));
		log_info("pingpongd %s running%s%s with %u worker%s: %s",
		    PACKAGE_VERSION, opt->config_path ? " with " :
		    " on built-in defaults", opt->config_path ?
		    opt->config_path : "", n, n == 1 ? "" : "s", summary);
		daemon_tell_ready(d);
		daemon_ready(d);
		if (d->took_pause_ms > 0)
			log_info("hand-over: serving %u connection(s) taken over;"
			    " service paused for %.1f ms", d->ntaken,
			    d->took_pause_ms);
		if (d->stop_after)
			daemon_stop(d, "SIGTERM");
		ev_run(d->loop, 0);
		result = EX_SERVER_OK;
		/* The exec failed: start again in place, on the record. */
		if (d->upgrade == DAEMON_UPGRADE_FAILED) {
			opt->handover_fd = d->opt.handover_fd;
			/* The lines the image before this one left are spent. */
			if (opt->handover_listeners != d->opt.handover_listeners)
				free(opt->handover_listeners);
			opt->handover_listeners = d->opt.handover_listeners;
			/* The record holds the passed sockets now. */
			opt->passed = 0;
			/*
			 * --ready-fd was written and closed at this start: its
			 * number may be a client's socket by now.
			 */
			opt->ready_fd = d->opt.ready_fd;
			result = DAEMON_AGAIN;
		}
	}
	daemon_destroy(d);
	return result;
}
