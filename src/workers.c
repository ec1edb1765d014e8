#include "workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "service.h"

#define WORKERS_PROBES_MAX CONFIG_LISTEN_MAX    /* port reservations kept */

struct workers;

/* What a worker thread starts with. */
struct worker_start {
	struct workers *w;              /* to say when its loop ended */
	struct server *s;               /* its server */
};

struct workers {
	struct ev_loop *loop;           /* the default loop, the main thread's */
	struct worker_start *starts;    /* one per worker */
	struct server *servers;         /* one per worker */
	pthread_t *threads;             /* one per worker */
	unsigned *seen_beats;           /* heartbeats at the last watchdog check */
	unsigned count;                 /* workers */
	unsigned started;               /* servers set up, threads running */
	const char *config_path;        /* file to re-read on SIGHUP */
	struct config cfg;              /* the configuration in force */
	int probes[WORKERS_PROBES_MAX]; /* sockets holding ports chosen for port 0 */
	unsigned nprobes;               /* entries of probes in use */
	bool stopping;                  /* SIGTERM seen */
	ev_signal sig_term, sig_int, sig_hup;
	ev_async done;                  /* a worker's loop ended */
	atomic_uint finished;           /* workers whose loop ended */
	ev_timer status_timer;          /* STATUS= for the service manager */
	ev_timer watchdog_timer;        /* WATCHDOG=1 while every worker beats */
};

static void
probes_close(struct workers *w)
{
	for (unsigned i = 0; i < w->nprobes; i++)
		close(w->probes[i]);
	w->nprobes = 0;
}

/*
 * Port 0 means "any free port", but every worker must listen on the same
 * one: choose it here with a bound (not listening, so never handed a
 * connection) SO_REUSEPORT socket that keeps it ours, and write it into
 * the address the workers bind.  A listen line already open keeps its port.
 */
static int
resolve_ports(struct workers *w, struct config *cfg, const struct config *old,
    char *err, size_t errlen)
{
	int fresh[WORKERS_PROBES_MAX], nfresh = 0, one = 1;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		struct config_listen *l = &cfg->listen[i];
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		uint16_t *port;
		int fd;

		port = l->addr.ss_family == AF_INET ?
		    &((struct sockaddr_in *)&l->addr)->sin_port :
		    &((struct sockaddr_in6 *)&l->addr)->sin6_port;
		if (*port != 0)
			continue;
		for (unsigned j = 0; old != NULL && j < old->nlisten; j++)
			if (strcmp(old->listen[j].text, l->text) == 0)
				memcpy(&l->addr, &old->listen[j].addr,
				    sizeof(l->addr));
		if (*port != 0)
			continue;
		fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == -1 || setsockopt(fd, SOL_SOCKET,
		    SO_REUSEPORT, &one, sizeof(one)) == -1 ||
		    (l->addr.ss_family == AF_INET6 && setsockopt(fd,
		    IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
		    bind(fd, (struct sockaddr *)&l->addr, l->addrlen) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
			snprintf(err, errlen, "bind %s: %s", l->text,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			while (nfresh > 0)
				close(fresh[--nfresh]);
			return -1;
		}
		*port = ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port;
		fresh[nfresh++] = fd;
	}
	/* The previous reservations served their reload; these serve this one. */
	probes_close(w);
	memcpy(w->probes, fresh, sizeof(int) * (size_t)nfresh);
	w->nprobes = (unsigned)nfresh;
	return 0;
}

static void
status_line(struct workers *w, const char *state, char *buf, size_t len)
{
	struct server_stats total = { 0 }, one;

	for (unsigned i = 0; i < w->started; i++) {
		server_published(&w->servers[i], &one);
		total.open += one.open;
		total.accepted += one.accepted;
		total.refused += one.refused;
		total.bytes_echoed += one.bytes_echoed;
	}
	server_stats_text(&total, state, w->count, buf, len);
}

static void
status_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct workers *w = ev_userdata(loop);
	char status[200];

	(void)t;
	(void)revents;
	status_line(w, w->stopping ? "draining" : "serving", status,
	    sizeof(status));
	service_status("%s", status);
}

/*
 * The watchdog is fed only while every worker's loop proves it runs, so a
 * stuck worker, not only a stuck main thread, gets the daemon restarted.
 */
static void
watchdog_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct workers *w = ev_userdata(loop);
	bool all = true;

	(void)t;
	(void)revents;
	for (unsigned i = 0; i < w->count; i++) {
		unsigned beats = atomic_load_explicit(&w->servers[i].heartbeats,
		    memory_order_relaxed);

		if (beats == w->seen_beats[i]) {
			log_warn("worker %u: no heartbeat since the last watchdog"
			    " ping; not pinging", i + 1);
			all = false;
		}
		w->seen_beats[i] = beats;
	}
	if (all)
		service_watchdog_ping();
}

static void
reload(struct workers *w)
{
	char err[CONFIG_ERROR_MAX], status[200];
	struct config cfg;

	if (w->config_path == NULL) {
		log_warn("SIGHUP: running on built-in defaults, no file to"
		    " re-read");
		return;
	}
	if (w->stopping)
		return;
	service_reloading();
	if (config_load(w->config_path, &cfg, err, sizeof(err)) != CONFIG_OK ||
	    resolve_ports(w, &cfg, &w->cfg, err, sizeof(err)) == -1) {
		log_error("reload failed, keeping the running configuration:"
		    " %s", err);
	} else {
		if ((cfg.workers == 0 ? w->count : cfg.workers) != w->count)
			log_warn("workers: a change takes effect at restart;"
			    " %u workers go on", w->count);
		log_set_level(cfg.log_level);
		for (unsigned i = 0; i < w->count; i++)
			server_post(&w->servers[i], SERVER_CMD_RELOAD, &cfg);
		w->cfg = cfg;
		config_summary(&cfg, err, sizeof(err));
		log_info("reloaded %s: %s, sent to %u workers", w->config_path,
		    err, w->count);
	}
	status_line(w, "serving", status, sizeof(status));
	service_ready(status);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct workers *w = ev_userdata(loop);
	const char *name = sig->signum == SIGINT ? "SIGINT" : "SIGTERM";
	char status[200];

	(void)revents;
	if (sig->signum == SIGHUP) {
		reload(w);
		return;
	}
	if (w->stopping) {
		log_info("%s again: the workers close their connections now",
		    name);
		for (unsigned i = 0; i < w->count; i++)
			server_post(&w->servers[i], SERVER_CMD_STOP_NOW, NULL);
		return;
	}
	w->stopping = true;
	status_line(w, "draining", status, sizeof(status));
	service_stopping(status);
	log_info("%s: the %u workers stop accepting and drain", name, w->count);
	for (unsigned i = 0; i < w->count; i++)
		server_post(&w->servers[i], SERVER_CMD_STOP, NULL);
}

/* A worker's loop ended; the last one ends the main loop. */
static void
done_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct workers *w = ev_userdata(loop);

	(void)a;
	(void)revents;
	if (atomic_load(&w->finished) == w->count)
		ev_break(loop, EVBREAK_ALL);
}

static void *
worker_main(void *arg)
{
	struct worker_start *start = arg;

	server_run(start->s);
	atomic_fetch_add(&start->w->finished, 1);
	ev_async_send(start->w->loop, &start->w->done);
	return NULL;
}

int
workers_run(const struct config *cfg, const char *config_path,
    unsigned count, int passed)
{
	struct workers *w = calloc(1, sizeof(*w));
	char err[CONFIG_ERROR_MAX], status[200];
	sigset_t block, old;
	uint64_t watchdog;
	int result = 0;

	if (w == NULL || (w->servers = calloc(count, sizeof(*w->servers))) ==
	    NULL || (w->threads = calloc(count, sizeof(*w->threads))) == NULL ||
	    (w->seen_beats = calloc(count, sizeof(*w->seen_beats))) == NULL ||
	    (w->starts = calloc(count, sizeof(*w->starts))) == NULL) {
		log_error("out of memory for %u workers", count);
		result = EX_SERVER_OSERR;
		goto out;
	}
	w->count = count;
	w->config_path = config_path;
	w->cfg = *cfg;
	w->loop = ev_default_loop(EVFLAG_AUTO);
	if (w->loop == NULL) {
		log_error("cannot start the event loop");
		result = EX_SERVER_OSERR;
		goto out;
	}
	ev_set_userdata(w->loop, w);
	if (passed == 0 && resolve_ports(w, &w->cfg, NULL, err,
	    sizeof(err)) == -1) {
		log_error("%s", err);
		result = EX_SERVER_OSERR;
		goto out;
	}
	for (; w->started < count; w->started++) {
		struct server_role role = { w->started, count, passed };

		if (server_init(&w->servers[w->started], &w->cfg, config_path,
		    &role, err, sizeof(err)) != 0) {
			log_error("worker %u: %s", w->started + 1, err);
			result = EX_SERVER_OSERR;
			goto out;
		}
	}

	/*
	 * Workers never see SIGTERM, SIGINT or SIGHUP: they inherit this mask,
	 * and the main thread's default loop takes them.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	ev_async_init(&w->done, done_cb);
	ev_async_start(w->loop, &w->done);
	watchdog = service_watchdog_usec();
	for (unsigned i = 0; i < count; i++) {
		server_heartbeat(&w->servers[i], watchdog / 4e6);
		w->starts[i].w = w;
		w->starts[i].s = &w->servers[i];
		if (pthread_create(&w->threads[i], NULL, worker_main,
		    &w->starts[i]) != 0) {
			log_error("worker %u: cannot start its thread", i + 1);
			/* The ones running stop; the rest never started. */
			for (unsigned j = 0; j < i; j++)
				server_post(&w->servers[j], SERVER_CMD_STOP |
				    SERVER_CMD_STOP_NOW, NULL);
			for (unsigned j = 0; j < i; j++)
				pthread_join(w->threads[j], NULL);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			result = EX_SERVER_OSERR;
			goto out;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	ev_signal_init(&w->sig_term, signal_cb, SIGTERM);
	ev_signal_init(&w->sig_int, signal_cb, SIGINT);
	ev_signal_init(&w->sig_hup, signal_cb, SIGHUP);
	ev_signal_start(w->loop, &w->sig_term);
	ev_signal_start(w->loop, &w->sig_int);
	ev_signal_start(w->loop, &w->sig_hup);
	ev_timer_init(&w->status_timer, status_timer_cb, SERVER_HOUSEKEEPING,
	    SERVER_HOUSEKEEPING);
	if (service_notify_wanted())
		ev_timer_start(w->loop, &w->status_timer);
	ev_timer_init(&w->watchdog_timer, watchdog_timer_cb, watchdog / 2e6,
	    watchdog / 2e6);
	if (watchdog > 0) {
		ev_timer_start(w->loop, &w->watchdog_timer);
		log_info("watchdog: pinging every %.3gs while all %u workers"
		    " beat", watchdog / 2e6, count);
	}
	/* Every listener is up: the line the operator and the tests wait for. */
	config_summary(&w->cfg, err, sizeof(err));
	log_info("pingpongd %s running%s%s with %u workers: %s",
	    PACKAGE_VERSION, config_path ? " with " : " on built-in defaults",
	    config_path ? config_path : "", count, err);
	status_line(w, "serving", status, sizeof(status));
	service_ready(status);
	ev_run(w->loop, 0);

	for (unsigned i = 0; i < count; i++)
		pthread_join(w->threads[i], NULL);
	log_info("stopped: all %u workers", count);
	ev_signal_stop(w->loop, &w->sig_term);
	ev_signal_stop(w->loop, &w->sig_int);
	ev_signal_stop(w->loop, &w->sig_hup);
	ev_timer_stop(w->loop, &w->status_timer);
	ev_timer_stop(w->loop, &w->watchdog_timer);
	ev_async_stop(w->loop, &w->done);
out:
	if (w != NULL) {
		for (unsigned i = 0; w->servers != NULL && i < w->started; i++)
			server_destroy(&w->servers[i]);
		probes_close(w);
		if (w->loop != NULL)
			ev_loop_destroy(w->loop);
		free(w->servers);
		free(w->threads);
		free(w->seen_beats);
		free(w->starts);
		free(w);
	}
	return result;
}
