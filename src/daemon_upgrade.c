/*
 * The hand-over on SIGUSR2: pingpongd executes its program again, in
 * place, and the new image takes every listener and every open connection
 * with it, so that an upgrade is invisible to the clients.
 *
 *   1. The new program runs with -t on the same command line: when it
 *      fails, nothing has been touched and service goes on.
 *   2. Each worker, between two events, writes its connections and its
 *      own listeners into a record and stops; their descriptors stay open.
 *   3. The owner writes one state record (handover.h) into a sealed memfd,
 *      lets every descriptor live across the exec, and executes.
 *   4. The new image (daemon_upgrade_take) reads the record, deals the
 *      connections out to its workers, and serves.  When the record cannot
 *      be read, it keeps the listeners (PINGPONGD_HANDOVER_LISTENERS names
 *      them) and closes every other descriptor it inherited.
 *
 * Should the exec itself fail, the owner takes the record back in place,
 * as a new image would.
 */
#include "daemon_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "service.h"

#define UPGRADE_ENV_FD "PINGPONGD_HANDOVER"
#define UPGRADE_ENV_LISTENERS "PINGPONGD_HANDOVER_LISTENERS"
/* For tests only: write this record version, or spoil the record. */
#define UPGRADE_ENV_TEST_VERSION "PINGPONGD_TEST_HANDOVER_VERSION"
#define UPGRADE_ENV_TEST_CORRUPT "PINGPONGD_TEST_HANDOVER_CORRUPT"
#define UPGRADE_LOG_DRAIN_MS 200        /* ms given the log before the exec */
#define UPGRADE_WHY_MAX 256             /* bytes of a reason */

extern char **environ;

/* The signals held from the exec until the new image can take them. */
static const int upgrade_held[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };

static const char *const upgrade_kind_names[] = {
	[HANDOVER_TCP] = "tcp",
	[HANDOVER_UNIX] = "unix",
	[HANDOVER_PASSED] = "passed",
	[HANDOVER_SHARED_TCP] = "shared",
};

static void
upgrade_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags != -1)
		(void)fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC :
		    flags & ~FD_CLOEXEC);
}

/* ------------------------------------------------------------------ */
/* The old image: check, quiesce, write, execute */

static void upgrade_checked(struct ev_loop *loop, ev_child *w, int revents);

void
daemon_upgrade_begin(struct daemon *d)
{
	posix_spawn_file_actions_t actions;
	char **args;
	unsigned argc = 0;
	pid_t pid;
	int err;

	if (d->stopping) {
		log_warn("SIGUSR2: draining, no hand-over now");
		return;
	}
	if (d->upgrade != DAEMON_UPGRADE_IDLE) {
		log_warn("SIGUSR2 again: a hand-over is under way; this one is"
		    " ignored");
		return;
	}
	/* The workers answer one command at a time. */
	if (d->reload != DAEMON_RELOAD_IDLE) {
		log_warn("SIGUSR2: a reload is under way; send it again once"
		    " it is done");
		return;
	}
	if (d->opt.exe == NULL || d->opt.argv == NULL) {
		log_error("SIGUSR2: the program's path is not known; serving on"
		    " as before");
		return;
	}
	while (d->opt.argv[argc] != NULL)
		argc++;
	/* The program as it will be executed, with -t first. */
	args = calloc(argc + 2, sizeof(*args));
	if (args == NULL) {
		log_error("SIGUSR2: out of memory; serving on as before");
		return;
	}
	args[0] = d->opt.argv[0];
	args[1] = (char *)"-t";
	for (unsigned i = 1; i < argc; i++)
		args[i + 1] = d->opt.argv[i];
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	err = posix_spawn(&pid, d->opt.exe, &actions, NULL, args, environ);
	posix_spawn_file_actions_destroy(&actions);
	free(args);
	if (err != 0) {
		log_error("SIGUSR2: cannot run %s: %s; serving on as before",
		    d->opt.exe, strerror(err));
		return;
	}
	log_info("SIGUSR2: checking %s -t before the hand-over", d->opt.exe);
	ev_child_init(&d->check_child, upgrade_checked, pid, 0);
	ev_child_start(d->loop, &d->check_child);
	d->upgrade = DAEMON_UPGRADE_CHECKING;
}

/* Each worker writes what it serves and stops. */
static void
upgrade_quiesce(struct daemon *d)
{
	const char *v = getenv(UPGRADE_ENV_TEST_VERSION);
	uint32_t version = v != NULL ? (uint32_t)atoi(v) : HANDOVER_VERSION;

	d->handed_listeners = calloc(d->count, sizeof(*d->handed_listeners));
	d->handed_conns = calloc(d->count, sizeof(*d->handed_conns));
	if (d->handed_listeners == NULL || d->handed_conns == NULL) {
		log_error("hand-over: out of memory; serving on as before");
		free(d->handed_listeners);
		free(d->handed_conns);
		d->handed_listeners = d->handed_conns = NULL;
		d->upgrade = DAEMON_UPGRADE_IDLE;
		return;
	}
	service_reloading();
	d->quiesced_ns = server_monotonic_ns();
	for (unsigned i = 0; i < d->count; i++) {
		handover_fragment_init(&d->handed_listeners[i], version);
		handover_fragment_init(&d->handed_conns[i], version);
		server_handover(&d->servers[i], &d->handed_listeners[i],
		    &d->handed_conns[i], d->quiesced_ns);
	}
	d->upgrade = DAEMON_UPGRADE_QUIESCING;
}

static void
upgrade_checked(struct ev_loop *loop, ev_child *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	int status = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		upgrade_quiesce(d);
		return;
	}
	if (WIFEXITED(status))
		log_error("hand-over: %s -t exited with status %d; serving on"
		    " as before", d->opt.exe, WEXITSTATUS(status));
	else
		log_error("hand-over: %s -t was killed by signal %d; serving on"
		    " as before", d->opt.exe, WTERMSIG(status));
	d->upgrade = DAEMON_UPGRADE_IDLE;
	if (d->stop_after)
		daemon_stop(d, "SIGTERM");
}

/* The listener a shared socket is, as the record says it. */
static enum handover_listener
upgrade_kind(const struct server_shared *sh)
{
	if (sh->passed)
		return HANDOVER_PASSED;
	if (sh->addr.ss.ss_family == AF_UNIX)
		return HANDOVER_UNIX;
	return HANDOVER_SHARED_TCP;
}

/*
 * The whole record: the daemon's part, every worker's figures, the
 * listeners (the workers' own, then the owner's), the connections.
 * Returns its length, 0 when memory ran out.
 */
static size_t
upgrade_write(struct daemon *d, struct handover_writer *w)
{
	const char *v = getenv(UPGRADE_ENV_TEST_VERSION);
	struct handover_daemon part = {
		.serial = atomic_load(&d->serial),
		.reloads_ok = d->reloads_ok,
		.reloads_failed = d->reloads_failed,
		.started_wall = d->started_wall,
		.quiesced_ns = d->quiesced_ns,
	};

	handover_writer_init(w, v != NULL ? (uint32_t)atoi(v) :
	    HANDOVER_VERSION);
	handover_put_daemon(w, &part);
	for (unsigned i = 0; i < d->count; i++) {
		struct server_figures f = { 0 };

		server_add_figures(&d->servers[i], &f);
		handover_put_figures(w, &f);
	}
	for (unsigned i = 0; i < d->count; i++)
		handover_put_fragment(w, &d->handed_listeners[i]);
	for (unsigned i = 0; i < d->listen.shared.n; i++) {
		const struct server_shared *sh = &d->listen.shared.list[i];
		struct handover_listener_rec rec = { .fd = sh->fd,
		    .kind = (uint8_t)upgrade_kind(sh) };

		snprintf(rec.text, sizeof(rec.text), "%s", sh->addr.text);
		handover_put_listener(w, &rec);
	}
	for (unsigned i = 0; i < d->count; i++)
		handover_put_fragment(w, &d->handed_conns[i]);
	return handover_finish(w, d->stop_after ? HANDOVER_STOPPING : 0);
}

/*
 * "FD KIND TEXT" lines for every listener of the record just written, so
 * that the next image keeps them even if it cannot read the record.
 */
static char *
upgrade_listener_lines(unsigned char *rec, size_t len)
{
	struct handover_reader r;
	struct handover_daemon part;
	struct server_figures f;
	struct handover_listener_rec l;
	size_t cap = 256, used = 0;
	char *out = malloc(cap);
	uint32_t version = 0, known = HANDOVER_VERSION;
	int opened;

	/*
	 * The record is this image's own: one whose header names a later
	 * version (PINGPONGD_TEST_HANDOVER_VERSION) has this version's
	 * layout, and only the next image is to refuse it.
	 */
	if (len >= HANDOVER_HEADER) {
		memcpy(&version, rec + 8, 4);
		if (version > HANDOVER_VERSION)
			memcpy(rec + 8, &known, 4);
	}
	opened = out != NULL ? handover_open(&r, rec, len, NULL, 0) : -1;
	if (version > HANDOVER_VERSION)
		memcpy(rec + 8, &version, 4);
	if (opened == -1 || handover_next_daemon(&r, &part, NULL, 0) == -1) {
		free(out);
		return NULL;
	}
	out[0] = '\0';
	for (uint32_t i = 0; i < r.nworkers; i++)
		(void)handover_next_figures(&r, &f, NULL, 0);
	for (uint32_t i = 0; i < r.nlisteners; i++) {
		char line[HANDOVER_TEXT_MAX + 32];
		size_t n;

		if (handover_next_listener(&r, &l, NULL, 0) == -1)
			break;
		n = (size_t)snprintf(line, sizeof(line), "%d %s %s\n", l.fd,
		    upgrade_kind_names[l.kind], l.text);
		if (used + n + 1 > cap) {
			char *p = realloc(out, cap * 2 + n);

			if (p == NULL)
				break;
			out = p;
			cap = cap * 2 + n;
		}
		memcpy(out + used, line, n + 1);
		used += n;
	}
	return out;
}

/* The record into a sealed memfd that the next image inherits; -1 on failure. */
static int
upgrade_memfd(const unsigned char *rec, size_t len)
{
	size_t off = 0;
	int fd = memfd_create("pingpongd-state", MFD_ALLOW_SEALING);

	if (fd == -1)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, rec + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	/* Nobody may change it now: what the next image reads is what was written. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Every worker has handed over: write the record and execute. */
static void
upgrade_exec(struct daemon *d)
{
	struct handover_writer w;
	char number[16], *lines;
	sigset_t block, old;
	size_t len;
	int memfd, saved;

	for (unsigned i = 0; i < d->running; i++)
		pthread_join(d->threads[i], NULL);
	d->running = 0;
	len = upgrade_write(d, &w);
	lines = len > 0 ? upgrade_listener_lines(w.buf, len) : NULL;
	if (len > 0 && getenv(UPGRADE_ENV_TEST_CORRUPT) != NULL)
		w.buf[len - 1] ^= 0x5a;
	memfd = len > 0 ? upgrade_memfd(w.buf, len) : -1;
	handover_writer_free(&w);
	if (memfd == -1 || lines == NULL) {
		/* Nothing for a new image to read: the connections are lost. */
		log_error("hand-over: the state record cannot be written: %s;"
		    " its connections are closed", strerror(errno));
		d->opt.handover_fd = -2;
		d->opt.handover_listeners = lines;
		d->listen.shared.n = 0;
		d->upgrade = DAEMON_UPGRADE_FAILED;
		ev_break(d->loop, EVBREAK_ALL);
		return;
	}
	/* The owner's sockets live on in the next image, not closed here. */
	for (unsigned i = 0; i < d->listen.shared.n; i++)
		upgrade_cloexec(d->listen.shared.list[i].fd, false);
	metrics_close(&d->metrics);
	snprintf(number, sizeof(number), "%d", memfd);
	setenv(UPGRADE_ENV_FD, number, 1);
	setenv(UPGRADE_ENV_LISTENERS, lines, 1);
	log_info("SIGUSR2: executing %s with the state of %u worker(s)",
	    d->opt.exe, d->count);
	log_shutdown_within(UPGRADE_LOG_DRAIN_MS);
	/*
	 * A SIGTERM between the exec and the new image's handlers would kill
	 * the process: blocked, it waits, pending, until they are in place.
	 */
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(upgrade_held) / sizeof(upgrade_held[0]);
	    i++)
		sigaddset(&block, upgrade_held[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	execv(d->opt.exe, d->opt.argv);

	saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_init(d->cfg.log_level);
	log_error("hand-over: exec %s: %s; taking the connections back in"
	    " place", d->opt.exe, strerror(saved));
	unsetenv(UPGRADE_ENV_FD);
	unsetenv(UPGRADE_ENV_LISTENERS);
	for (unsigned i = 0; i < d->listen.shared.n; i++)
		upgrade_cloexec(d->listen.shared.list[i].fd, true);
	d->opt.handover_fd = memfd;
	d->opt.handover_listeners = lines;
	/* The record holds them now: not closed when this daemon ends. */
	d->listen.shared.n = 0;
	d->upgrade = DAEMON_UPGRADE_FAILED;
	ev_break(d->loop, EVBREAK_ALL);
}

void
daemon_upgrade_answered(struct daemon *d)
{
	for (unsigned i = 0; i < d->count; i++)
		if (!server_finished(&d->servers[i]))
			return;
	upgrade_exec(d);
}

/* ------------------------------------------------------------------ */
/* The new image: take the record, or what can be kept without it */

/* fd is one of n numbers in keep. */
static bool
upgrade_kept(int fd, const int *keep, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

/*
 * Close every inherited socket above stderr that is not kept: the
 * connections whose state is lost.  What is not a socket (a pipe or a
 * file the daemon's own parent left it) was never the daemon's to close.
 */
static unsigned
upgrade_close_others(const int *keep, unsigned n)
{
	DIR *dir = opendir("/proc/self/fd");
	int dfd = dir != NULL ? dirfd(dir) : -1;
	int *doomed = NULL;
	unsigned ndoomed = 0, cap = 0;
	struct dirent *e;

	if (dir == NULL)
		return 0;
	while ((e = readdir(dir)) != NULL) {
		int fd = atoi(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' || fd <= STDERR_FILENO || fd == dfd ||
		    upgrade_kept(fd, keep, n) || fstat(fd, &st) == -1 ||
		    !S_ISSOCK(st.st_mode))
			continue;
		if (ndoomed == cap) {
			int *p = realloc(doomed, sizeof(int) * (cap * 2 + 16));

			if (p == NULL)
				break;
			doomed = p;
			cap = cap * 2 + 16;
		}
		doomed[ndoomed++] = fd;
	}
	closedir(dir);
	for (unsigned i = 0; i < ndoomed; i++)
		close(doomed[i]);
	free(doomed);
	return ndoomed;
}

/* Its address, under the listen line it was opened for, for port 0's sake. */
static void
upgrade_note_port(struct daemon *d, int fd, const char *text)
{
	struct config *c = d->handed_cfg;
	struct addr *a;
	socklen_t len = sizeof(a->ss);

	if (c == NULL || c->nlisten == CONFIG_LISTEN_MAX)
		return;
	for (unsigned i = 0; i < c->nlisten; i++)
		if (strcmp(c->listen[i].text, text) == 0)
			return;
	a = &c->listen[c->nlisten];
	memset(a, 0, sizeof(*a));
	if (getsockname(fd, (struct sockaddr *)&a->ss, &len) == -1)
		return;
	snprintf(a->text, sizeof(a->text), "%s", text);
	c->nlisten++;
}

/*
 * Keep one handed listening socket: back to the worker that had it when
 * there are as many workers as before (worker >= 0), else in the owner's
 * set for every worker to watch.  False when it is not a listening socket.
 */
static bool
upgrade_keep_listener(struct daemon *d, int fd, enum handover_listener kind,
    const char *text, int worker)
{
	struct server_shared_set *set = &d->listen.shared;
	struct server_shared *sh;
	char why[UPGRADE_WHY_MAX];

	if (!service_is_listening_socket_any(fd))
		return false;
	if (worker >= 0 && d->handed_own != NULL)
		set = &d->handed_own[worker];
	if (set->n == SERVER_LISTENERS)
		return false;
	sh = &set->list[set->n];
	memset(sh, 0, sizeof(*sh));
	if (kind == HANDOVER_PASSED || addr_parse(text, &sh->addr, why,
	    sizeof(why)) == -1)
		snprintf(sh->addr.text, sizeof(sh->addr.text), "%s", text);
	sh->fd = fd;
	sh->passed = kind == HANDOVER_PASSED;
	if (kind == HANDOVER_UNIX)
		(void)net_unix_identify(&sh->addr, &sh->file);
	else if (kind != HANDOVER_PASSED)
		upgrade_note_port(d, fd, sh->addr.text);
	upgrade_cloexec(fd, true);
	set->n++;
	if (sh->passed)
		d->opt.passed++;
	d->listeners_handed = true;
	return true;
}

/* The record cannot be read: its listeners from the environment, nothing else. */
static void
upgrade_fallback(struct daemon *d)
{
	int keep[SERVER_LISTENERS];
	unsigned nkeep = 0, closed;
	char *lines = d->opt.handover_listeners, *line, *save = NULL;

	for (line = lines != NULL ? strtok_r(lines, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char kind[16], text[HANDOVER_TEXT_MAX + 1];
		int fd, k;

		if (sscanf(line, "%d %15s %255[^\n]", &fd, kind, text) != 3)
			continue;
		for (k = 0; k <= HANDOVER_SHARED_TCP; k++)
			if (strcmp(kind, upgrade_kind_names[k]) == 0)
				break;
		if (k > HANDOVER_SHARED_TCP || nkeep == SERVER_LISTENERS ||
		    !upgrade_keep_listener(d, fd, (enum handover_listener)k,
		    text, -1))
			continue;
		keep[nkeep++] = fd;
	}
	closed = upgrade_close_others(keep, nkeep);
	log_error("hand-over: kept %u listener(s); closed %u other"
	    " descriptor(s), the connections handed over among them", nkeep,
	    closed);
}

/*
 * The descriptors a record names, one byte per number, so that a record
 * naming the same one twice is caught in constant time per descriptor.
 */
struct upgrade_named {
	unsigned char *has;
	size_t size;
};

static bool
upgrade_named_has(const struct upgrade_named *n, int fd)
{
	return fd >= 0 && (size_t)fd < n->size && n->has[fd];
}

/* Name fd; -1 when memory runs out. */
static int
upgrade_named_add(struct upgrade_named *n, int fd)
{
	if ((size_t)fd >= n->size) {
		size_t size = ((size_t)fd + 1) * 2;
		unsigned char *p = realloc(n->has, size);

		if (p == NULL)
			return -1;
		memset(p + n->size, 0, size - n->size);
		n->has = p;
		n->size = size;
	}
	n->has[fd] = 1;
	return 0;
}

void
daemon_upgrade_take(struct daemon *d)
{
	struct handover_reader r;
	struct handover_daemon part;
	struct stat st;
	char why[UPGRADE_WHY_MAX] = "no record";
	int fd = d->opt.handover_fd, worker;
	struct upgrade_named named = { NULL, 0 };
	unsigned nlisteners = 0;
	void *map = MAP_FAILED;

	d->opt.handover_fd = -1;
	d->carried = calloc(d->count, sizeof(*d->carried));
	d->handed_own = calloc(d->count, sizeof(*d->handed_own));
	d->handed_cfg = calloc(1, sizeof(*d->handed_cfg));
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
		    0);
	else if (fd >= 0)
		snprintf(why, sizeof(why), "an empty or unreadable memfd");
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED || d->carried == NULL || d->handed_own == NULL ||
	    d->handed_cfg == NULL ||
	    handover_open(&r, map, (size_t)st.st_size, why, sizeof(why)) == -1 ||
	    handover_next_daemon(&r, &part, why, sizeof(why)) == -1)
		goto unreadable;
	d->record = map;
	d->record_len = (size_t)st.st_size;
	for (uint32_t k = 0; k < r.nworkers; k++) {
		struct server_figures f;

		if (handover_next_figures(&r, &f, why, sizeof(why)) == -1)
			goto unreadable;
		/* The figures of old worker k go on in new worker k mod N. */
		{
			struct server_figures *c = &d->carried[k % d->count];

			c->accepted += f.accepted;
			c->bytes_received += f.bytes_received;
			c->bytes_echoed += f.bytes_echoed;
			c->lines_echoed += f.lines_echoed;
			c->fragments += f.fragments;
			c->accept_pauses += f.accept_pauses;
			for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
				c->refused[i] += f.refused[i];
			for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
				c->closed[i] += f.closed[i];
		}
	}
	d->taken = calloc((size_t)r.nconnections + 1, sizeof(*d->taken));
	if (d->taken == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto unreadable;
	}
	for (uint32_t i = 0; i < r.nlisteners; i++) {
		struct handover_listener_rec l;

		if (handover_next_listener(&r, &l, why, sizeof(why)) == -1)
			goto unreadable;
		/* As many workers as before: each takes its own back. */
		worker = l.worker != HANDOVER_OWNER && r.nworkers == d->count &&
		    l.worker < d->count ? l.worker : -1;
		if (upgrade_named_has(&named, l.fd) ||
		    !upgrade_keep_listener(d, l.fd, l.kind, l.text, worker)) {
			log_warn("hand-over: descriptor %d is no listening"
			    " socket of %s; left out", l.fd, l.text);
			continue;
		}
		if (upgrade_named_add(&named, l.fd) == -1) {
			snprintf(why, sizeof(why), "out of memory");
			goto unreadable;
		}
		nlisteners++;
	}
	for (uint32_t i = 0; i < r.nconnections; i++) {
		struct handover_conn *c = &d->taken[d->ntaken];

		if (handover_next_conn(&r, c, why, sizeof(why)) == -1)
			goto unreadable;
		/*
		 * Open, and close-on-exec again as the daemon's own sockets
		 * are: one system call for both, ten thousand times over.
		 */
		if (upgrade_named_has(&named, c->fd) ||
		    fcntl(c->fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("hand-over: connection %llu's descriptor %d is"
			    " not there; left out", (unsigned long long)c->id,
			    c->fd);
			continue;
		}
		if (upgrade_named_add(&named, c->fd) == -1) {
			snprintf(why, sizeof(why), "out of memory");
			goto unreadable;
		}
		d->ntaken++;
	}
	free(named.has);
	atomic_store(&d->serial, part.serial);
	d->reloads_ok = part.reloads_ok;
	d->reloads_failed = part.reloads_failed;
	d->started_wall = part.started_wall;
	d->quiesced_ns = part.quiesced_ns;
	if (r.flags & HANDOVER_STOPPING)
		d->stop_after = true;
	log_info("hand-over: a version %u record: %u listener(s), %u"
	    " connection(s)", r.version, nlisteners, d->ntaken);
	return;

unreadable:
	log_error("hand-over: the state record cannot be read: %s", why);
	/* Whatever was taken from it is not to be trusted. */
	for (unsigned i = 0; i < d->listen.shared.n; i++)
		upgrade_cloexec(d->listen.shared.list[i].fd, false);
	d->listen.shared.n = 0;
	d->listeners_handed = false;
	for (unsigned w = 0; d->handed_own != NULL && w < d->count; w++) {
		for (unsigned i = 0; i < d->handed_own[w].n; i++)
			upgrade_cloexec(d->handed_own[w].list[i].fd, false);
		d->handed_own[w].n = 0;
	}
	free(d->handed_own);
	d->handed_own = NULL;
	if (d->handed_cfg != NULL)
		d->handed_cfg->nlisten = 0;
	d->opt.passed = 0;
	d->ntaken = 0;
	free(named.has);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	d->record = NULL;
	memset(d->carried, 0, d->carried != NULL ?
	    sizeof(*d->carried) * d->count : 0);
	upgrade_fallback(d);
}

/* Sockets of the last image no worker took back: their lines are gone. */
static void
upgrade_close_untaken(struct daemon *d)
{
	for (unsigned w = 0; d->handed_own != NULL && w < d->count; w++)
		for (unsigned i = 0; i < d->handed_own[w].n; i++) {
			struct server_shared *sh = &d->handed_own[w].list[i];

			if (sh->fd == -1)
				continue;
			log_info("hand-over: no longer listening on %s: not in the"
			    " configuration", sh->addr.text);
			close(sh->fd);
			sh->fd = -1;
		}
	/* The owner's, kept for every worker: those of lines no longer listed. */
	if (d->listeners_handed && d->opt.passed == 0)
		daemon_listen_retire(&d->listen, &d->cfg);
}

void
daemon_upgrade_import(struct daemon *d)
{
	struct handover_conn *mine;
	unsigned total = 0;
	uint32_t paused_ms;

	upgrade_close_untaken(d);
	if (d->carried != NULL)
		for (unsigned i = 0; i < d->started; i++)
			d->servers[i].carried = d->carried[i];
	if (d->ntaken == 0) {
		daemon_upgrade_free(d);
		return;
	}
	mine = calloc(d->ntaken, sizeof(*mine));
	if (mine == NULL) {
		log_error("hand-over: out of memory: closing %u connection(s)",
		    d->ntaken);
		for (unsigned i = 0; i < d->ntaken; i++)
			close(d->taken[i].fd);
		daemon_upgrade_free(d);
		return;
	}
	/* The pause counts toward every timer, as if no exec had happened. */
	paused_ms = (uint32_t)((server_monotonic_ns() - d->quiesced_ns) / 1000000u);
	for (unsigned i = 0; i < d->ntaken; i++) {
		d->taken[i].idle_age_ms += paused_ms;
		d->taken[i].line_age_ms += paused_ms;
	}
	/* Dealt out in turn, whatever the worker count was before. */
	for (unsigned w = 0; w < d->started; w++) {
		unsigned n = 0;

		for (unsigned i = w; i < d->ntaken; i += d->started)
			mine[n++] = d->taken[i];
		total += session_import_all(&d->servers[w], mine, n);
	}
	free(mine);
	d->took_pause_ms = (double)(server_monotonic_ns() - d->quiesced_ns) / 1e6;
	d->ntaken = total;
	daemon_upgrade_free(d);
}

void
daemon_upgrade_free(struct daemon *d)
{
	if (d->record != NULL)
		munmap(d->record, d->record_len);
	d->record = NULL;
	free(d->taken);
	d->taken = NULL;
	free(d->carried);
	d->carried = NULL;
	free(d->handed_own);
	d->handed_own = NULL;
	free(d->handed_cfg);
	d->handed_cfg = NULL;
	if (d->handed_listeners != NULL)
		for (unsigned i = 0; i < d->count; i++) {
			handover_writer_free(&d->handed_listeners[i]);
			handover_writer_free(&d->handed_conns[i]);
		}
	free(d->handed_listeners);
	free(d->handed_conns);
	d->handed_listeners = d->handed_conns = NULL;
}
