/*
 * The owner of the process.  Its thread keeps the default loop for
 * signals, reloads, the service manager and the watchdog; every worker,
 * the only one included, has a thread and a loop of its own, reached with
 * server_post() and answering through one ev_async here.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evmem.h"
#include "log.h"
#include "net.h"
#include "server.h"
#include "service.h"

/* Where a reload stands. */
enum daemon_reload {
	DAEMON_RELOAD_IDLE,             /* none in flight */
	DAEMON_RELOAD_APPLYING,         /* the workers apply the new configuration */
	DAEMON_RELOAD_ROLLING_BACK,     /* some failed: the others go back */
};

struct daemon {
	struct ev_loop *loop;           /* the default loop, this thread's */
	struct server *servers;         /* one per worker */
	pthread_t *threads;             /* one per worker */
	unsigned *seen_beats;           /* heartbeats at the last watchdog check */
	unsigned count;                 /* workers */
	unsigned started;               /* servers set up */
	unsigned running;               /* threads started */
	bool reuseport;                 /* the workers' listeners form groups */
	const char *config_path;        /* file to re-read on SIGHUP, NULL = defaults */
	struct config cfg;              /* the configuration in force */
	int passed[SERVER_LISTENERS];   /* sockets passed by the service manager */
	unsigned npassed;               /* entries of passed */
	int probes[CONFIG_LISTEN_MAX];  /* sockets holding ports chosen for port 0 */
	unsigned nprobes;               /* entries of probes in use */
	bool stopping;                  /* SIGTERM or SIGINT seen */
	ev_signal sig_term, sig_int, sig_hup;
	ev_async wake;                  /* a worker answered or its loop ended */
	ev_timer status_timer;          /* STATUS= for the service manager */
	ev_timer watchdog_timer;        /* WATCHDOG=1 while every worker beats */
	enum daemon_reload reload;      /* the reload in flight */
	uint64_t reload_id;             /* its number, as the workers answer it */
	bool reload_again;              /* a SIGHUP came while it was in flight */
	bool *applied;                  /* by worker: took the new configuration */
	struct config next;             /* what the reload in flight applies */
};

static void
daemon_close_probes(struct daemon *d)
{
	for (unsigned i = 0; i < d->nprobes; i++)
		close(d->probes[i]);
	d->nprobes = 0;
}

/*
 * Port 0 means "any free port", but every worker of a group must listen
 * on the same one: choose it here, once, and write it into the addresses
 * the workers bind.  A listen line already open keeps its port.
 */
static int
daemon_reserve_ports(struct daemon *d, struct config *cfg,
    const struct config *old, char *err, size_t errlen)
{
	int fresh[CONFIG_LISTEN_MAX];
	unsigned nfresh = 0;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		struct addr *a = &cfg->listen[i];
		const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
		int fd;

		if (addr_port(sa) != 0)
			continue;
		for (unsigned j = 0; old != NULL && j < old->nlisten; j++)
			if (strcmp(old->listen[j].text, a->text) == 0)
				*a = old->listen[j];
		if (addr_port(sa) != 0)
			continue;
		fd = net_reserve_port(a, err, errlen);
		if (fd == -1) {
			while (nfresh > 0)
				close(fresh[--nfresh]);
			return -1;
		}
		fresh[nfresh++] = fd;
	}
	/* The previous reservations served their turn; these serve this one. */
	daemon_close_probes(d);
	memcpy(d->probes, fresh, sizeof(int) * nfresh);
	d->nprobes = nfresh;
	return 0;
}

/*
 * Sockets passed by socket activation (descriptors 3 onward) arrive in
 * blocking mode: check them and make them ours to watch.
 */
static int
daemon_adopt(struct daemon *d, int n, char *err, size_t errlen)
{
	if (n > SERVER_LISTENERS) {
		snprintf(err, errlen, "%d sockets passed by the service manager;"
		    " at most %d are served", n, SERVER_LISTENERS);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int fd = SERVICE_FDS_START + i;
		int flags = fcntl(fd, F_GETFL);

		if (!service_is_listening_socket(fd)) {
			snprintf(err, errlen, "descriptor %d passed by the service"
			    " manager is not a listening stream socket", fd);
			return -1;
		}
		if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "descriptor %d: %s", fd,
			    strerror(errno));
			return -1;
		}
		d->passed[d->npassed++] = fd;
	}
	return 0;
}

static void
daemon_warn_defer_passed(const struct daemon *d, uint32_t ms)
{
	if (d->npassed > 0 && ms > 0)
		log_warn("defer_accept is not applied to sockets passed by the"
		    " service manager: set DeferAcceptSec= in the socket unit"
		    " instead");
}

/* The STATUS= line: what the daemon is doing right now, for all workers. */
static void
daemon_status(const struct daemon *d, const char *state, char *buf,
    size_t len)
{
	uint64_t open = 0, served = 0, refused = 0, echoed = 0;

	for (unsigned i = 0; i < d->started; i++) {
		const struct server_stats *st = &d->servers[i].stats;

		open += counter_get(&st->open);
		served += counter_get(&st->accepted);
		refused += counter_get(&st->refused_full) +
		    counter_get(&st->refused_per_ip);
		echoed += counter_get(&st->bytes_echoed);
	}
	snprintf(buf, len, "%s: %u worker%s, %llu connection(s) open, %llu"
	    " served, %llu refused, %llu bytes echoed", state, d->count,
	    d->count == 1 ? "" : "s", (unsigned long long)open,
	    (unsigned long long)served, (unsigned long long)refused,
	    (unsigned long long)echoed);
}

static void
daemon_ready(const struct daemon *d)
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

static void
daemon_reload(struct daemon *d)
{
	char err[CONFIG_ERROR_MAX];

	if (d->config_path == NULL) {
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
	if (config_load(d->config_path, &d->next, err, sizeof(err)) !=
	    CONFIG_OK || (d->reuseport && daemon_reserve_ports(d, &d->next,
	    &d->cfg, err, sizeof(err)) == -1)) {
		log_error("reload failed, keeping the running configuration:"
		    " %s", err);
		daemon_ready(d);
		return;
	}
	if ((d->next.workers == 0 ? d->count : d->next.workers) != d->count)
		log_warn("workers: a change takes effect at restart; %u"
		    " worker%s go%s on", d->count, d->count == 1 ? "" : "s",
		    d->count == 1 ? "es" : "");
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
		log_set_level(d->next.log_level);
		if (d->next.defer_accept_ms != d->cfg.defer_accept_ms)
			daemon_warn_defer_passed(d, d->next.defer_accept_ms);
		d->cfg = d->next;
		config_summary(&d->cfg, err, sizeof(err));
		log_info("reloaded %s: %s", d->config_path, err);
	} else {
		log_error("reload failed, keeping the running configuration:"
		    " %s", first);
		d->reload = DAEMON_RELOAD_ROLLING_BACK;
		for (unsigned i = 0; i < d->count; i++)
			if (d->applied[i]) {
				daemon_post_reload(d, &d->cfg, false);
				return;
			}
	}
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
	unsigned answered = 0, finished = 0;

	(void)a;
	(void)revents;
	for (unsigned i = 0; i < d->count; i++) {
		int status;

		if (server_reload_done(&d->servers[i], &status, err,
		    sizeof(err)) == d->reload_id || (d->reload ==
		    DAEMON_RELOAD_ROLLING_BACK && !d->applied[i]))
			answered++;
		if (server_finished(&d->servers[i]))
			finished++;
	}
	if (d->reload != DAEMON_RELOAD_IDLE && answered == d->count)
		daemon_reload_answered(d);
	if (finished == d->count)
		ev_break(loop, EVBREAK_ALL);
}

static void
daemon_signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct daemon *d = ev_userdata(loop);
	const char *name = sig->signum == SIGINT ? "SIGINT" : "SIGTERM";
	char status[SERVER_STATUS_MAX];

	(void)revents;
	if (sig->signum == SIGHUP) {
		daemon_reload(d);
		return;
	}
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
			.reuseport = d->reuseport,
			.passed = d->passed,
			.npassed = d->npassed,
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
 * The worker threads never take SIGTERM, SIGINT or SIGHUP: they inherit a
 * mask that blocks them, and this thread's default loop takes them.
 */
static int
daemon_start_threads(struct daemon *d, uint64_t watchdog_usec)
{
	sigset_t block, old;
	int result = 0;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
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
	ev_signal_init(&d->sig_term, daemon_signal_cb, SIGTERM);
	ev_signal_init(&d->sig_int, daemon_signal_cb, SIGINT);
	ev_signal_init(&d->sig_hup, daemon_signal_cb, SIGHUP);
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
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
	daemon_close_probes(d);
	for (unsigned i = 0; i < d->npassed; i++)
		close(d->passed[i]);
	if (d->loop != NULL) {
		ev_signal_stop(d->loop, &d->sig_term);
		ev_signal_stop(d->loop, &d->sig_int);
		ev_signal_stop(d->loop, &d->sig_hup);
		ev_timer_stop(d->loop, &d->status_timer);
		ev_timer_stop(d->loop, &d->watchdog_timer);
		ev_async_stop(d->loop, &d->wake);
		ev_loop_destroy(d->loop);
	}
	free(d->servers);
	free(d->threads);
	free(d->seen_beats);
	free(d->applied);
	free(d);
}

int
daemon_run(const struct config *cfg, const char *config_path,
    unsigned workers, int passed)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char err[CONFIG_ERROR_MAX];
	uint64_t watchdog;
	int result = EX_SERVER_OSERR;

	if (d == NULL || (d->servers = calloc(workers, sizeof(*d->servers))) ==
	    NULL || (d->threads = calloc(workers, sizeof(*d->threads))) ==
	    NULL || (d->seen_beats = calloc(workers, sizeof(*d->seen_beats))) ==
	    NULL || (d->applied = calloc(workers, sizeof(*d->applied))) ==
	    NULL) {
		log_error("out of memory for %u workers", workers);
		if (d != NULL)
			daemon_destroy(d);
		return EX_SERVER_OSERR;
	}
	d->count = workers;
	d->config_path = config_path;
	d->cfg = *cfg;
	/* The kernel spreads connections over a group; one worker needs none. */
	d->reuseport = workers > 1;
	ev_set_allocator(evmem_realloc);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (d->loop == NULL) {
		log_error("cannot start the event loop");
		goto out;
	}
	ev_set_userdata(d->loop, d);
	ev_async_init(&d->wake, daemon_wake_cb);
	ev_async_start(d->loop, &d->wake);
	if (passed > 0 && daemon_adopt(d, passed, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto out;
	}
	if (passed == 0 && d->reuseport && daemon_reserve_ports(d, &d->cfg,
	    NULL, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto out;
	}
	if (daemon_start_servers(d) == -1)
		goto out;
	if (passed > 0)
		log_info("socket activation: serving %d passed socket(s); the"
		    " listen lines are not used", passed);
	daemon_warn_defer_passed(d, cfg->defer_accept_ms);
	watchdog = service_watchdog_usec();
	if (daemon_start_threads(d, watchdog) == -1)
		goto out;
	daemon_start_signals(d, watchdog);

	/* Every listener is up: the line the operator and the tests wait for. */
	config_summary(&d->cfg, err, sizeof(err));
	log_info("pingpongd %s running%s%s with %u worker%s: %s",
	    PACKAGE_VERSION, config_path ? " with " : " on built-in defaults",
	    config_path ? config_path : "", workers, workers == 1 ? "" : "s",
	    err);
	daemon_ready(d);
	ev_run(d->loop, 0);
	result = EX_SERVER_OK;
out:
	daemon_destroy(d);
	return result;
}
