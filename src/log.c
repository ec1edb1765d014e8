#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_CHUNK 4096                  /* bytes the writer takes out at once */
#define LOG_WRITE_MAX 4096              /* bytes per write(): no more than
                                           POLLOUT promises room for (PIPE_BUF) */
#define LOG_POLL_MS 100                 /* ms between looks at an exit waiting */

/* Indexed by enum log_level. */
static const char *const log_level_names[] = {
	"error", "warning", "info", "debug",
};
#define LOG_NLEVELS (sizeof(log_level_names) / sizeof(log_level_names[0]))

/* Read by every worker, set by whichever applies a reload. */
static atomic_int log_threshold = LOG_LEVEL_INFO;
static bool log_to_journal;

/*
 * The lines waiting for stderr: a ring that callers fill under the lock
 * and the writer thread empties, writing outside the lock.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;            /* lines came, or stop */
	pthread_cond_t drained;         /* the ring is empty and written */
	char ring[LOG_BUFFER];
	size_t head;                    /* first byte waiting */
	size_t len;                     /* bytes waiting */
	bool writing;                   /* the writer holds bytes it took out */
	bool running;                   /* the writer thread exists */
	bool stop;                      /* the writer is to end */
	atomic_bool abandon;            /* at exit, the reader never came: stop writing */
	uint64_t untold;                /* lines dropped and not yet said so */
	pthread_t thread;
} log_q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER,
};
static atomic_uint_fast64_t log_dropped_total;

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= LOG_NLEVELS)
		return NULL;
	return log_level_names[level];
}

int
log_level_parse(const char *name, enum log_level *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < LOG_NLEVELS; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* journald sets JOURNAL_STREAM to "DEV:INODE" of the stream it reads. */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/*
 * All of buf to stderr without ever blocking in write(): wait for room
 * with poll(), then write no more than room was promised for.  stderr's
 * own flags are left alone: it is shared with whoever started us.  Gives
 * up when stderr fails, or when the exit no longer waits for the reader.
 */
static void
log_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
		ssize_t n;
		int ready;

		if (atomic_load(&log_q.abandon))
			return;
		ready = poll(&pfd, 1, LOG_POLL_MS);
		if (ready == -1 && errno != EINTR)
			return;
		if (ready <= 0)
			continue;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return;
		n = write(STDERR_FILENO, buf, len < LOG_WRITE_MAX ? len :
		    LOG_WRITE_MAX);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* Nothing useful can be done when stderr itself fails. */
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Format one line, its prefix included, into line; returns its length. */
static size_t
log_format(char *line, size_t size, enum log_level level, const char *fmt,
    va_list ap)
{
	static const int syslog_priority[] = { 3, 4, 6, 7 };
	size_t len;
	int n;

	if (log_to_journal) {
		n = snprintf(line, size, "<%d>", syslog_priority[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, size, "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, size - (size_t)n,
		    ".%03ld pingpongd[%ld] %s: ", ts.tv_nsec / 1000000,
		    (long)getpid(), log_level_name(level));
	}
	len = (size_t)n;
	n = vsnprintf(line + len, size - len, fmt, ap);
	if (n > 0)
		len += (size_t)n;
	if (len > size - 2)
		len = size - 2;
	line[len++] = '\n';
	return len;
}

static size_t
log_format_args(char *line, size_t size, enum log_level level,
    const char *fmt, ...) LOG_PRINTF(4, 5);

static size_t
log_format_args(char *line, size_t size, enum log_level level,
    const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = log_format(line, size, level, fmt, ap);
	va_end(ap);
	return len;
}

/* Copy len bytes out of the ring from its head; the caller holds the lock. */
static void
log_ring_take(char *out, size_t len)
{
	size_t first = LOG_BUFFER - log_q.head;

	if (first > len)
		first = len;
	memcpy(out, log_q.ring + log_q.head, first);
	memcpy(out + first, log_q.ring, len - first);
	log_q.head = (log_q.head + len) % LOG_BUFFER;
	log_q.len -= len;
}

static void
log_ring_put(const char *line, size_t len)
{
	size_t tail = (log_q.head + log_q.len) % LOG_BUFFER;
	size_t first = LOG_BUFFER - tail;

	if (first > len)
		first = len;
	memcpy(log_q.ring + tail, line, first);
	memcpy(log_q.ring, line + first, len - first);
	log_q.len += len;
}

/*
 * The writer: takes what waits, writes it with the lock released, and
 * once everything is out says how many lines were dropped meanwhile.
 */
static void *
log_writer(void *arg)
{
	char chunk[LOG_CHUNK], note[LOG_LINE_MAX];
	size_t len;

	(void)arg;
	pthread_mutex_lock(&log_q.lock);
	for (;;) {
		if (log_q.len == 0 && log_q.untold > 0) {
			uint64_t n = log_q.untold;

			log_q.untold = 0;
			len = log_format_args(note, sizeof(note),
			    LOG_LEVEL_WARNING, "log: %llu line(s) dropped while"
			    " the reader of stderr fell behind",
			    (unsigned long long)n);
			log_q.writing = true;
			pthread_mutex_unlock(&log_q.lock);
			log_write_all(note, len);
			pthread_mutex_lock(&log_q.lock);
			log_q.writing = false;
			continue;
		}
		if (log_q.len == 0 || atomic_load(&log_q.abandon)) {
			pthread_cond_broadcast(&log_q.drained);
			if (log_q.stop)
				break;
			pthread_cond_wait(&log_q.more, &log_q.lock);
			continue;
		}
		len = log_q.len < sizeof(chunk) ? log_q.len : sizeof(chunk);
		log_ring_take(chunk, len);
		log_q.writing = true;
		pthread_mutex_unlock(&log_q.lock);
		log_write_all(chunk, len);
		pthread_mutex_lock(&log_q.lock);
		log_q.writing = false;
	}
	pthread_mutex_unlock(&log_q.lock);
	return NULL;
}

/* Queue one formatted line, or drop and count it when the ring is full. */
static void
log_queue(const char *line, size_t len)
{
	pthread_mutex_lock(&log_q.lock);
	if (!log_q.running) {
		pthread_mutex_unlock(&log_q.lock);
		log_write_all(line, len);
		return;
	}
	if (LOG_BUFFER - log_q.len >= len) {
		log_ring_put(line, len);
		pthread_cond_signal(&log_q.more);
	} else {
		log_q.untold++;
		atomic_fetch_add_explicit(&log_dropped_total, 1,
		    memory_order_relaxed);
	}
	pthread_mutex_unlock(&log_q.lock);
}

void
log_init(enum log_level level)
{
	sigset_t all, old;

	atomic_store(&log_threshold, (int)level);
	log_to_journal = stderr_is_journal();
	if (log_q.running)
		return;
	/* The writer takes no signal: they belong to the owner's loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&log_q.lock);
	log_q.stop = false;
	atomic_store(&log_q.abandon, false);
	log_q.running = pthread_create(&log_q.thread, NULL, log_writer,
	    NULL) == 0;
	pthread_mutex_unlock(&log_q.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
log_shutdown(void)
{
	log_shutdown_within(LOG_DRAIN_MS);
}

void
log_shutdown_within(unsigned ms)
{
	struct timespec deadline;
	bool drained = true;

	pthread_mutex_lock(&log_q.lock);
	if (!log_q.running) {
		pthread_mutex_unlock(&log_q.lock);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while ((log_q.len > 0 || log_q.writing || log_q.untold > 0) &&
	    drained)
		drained = pthread_cond_timedwait(&log_q.drained, &log_q.lock,
		    &deadline) == 0;
	log_q.stop = true;
	/* A reader that never reads: what is left is not written. */
	if (!drained)
		atomic_store(&log_q.abandon, true);
	pthread_cond_signal(&log_q.more);
	pthread_mutex_unlock(&log_q.lock);
	pthread_join(log_q.thread, NULL);
	pthread_mutex_lock(&log_q.lock);
	log_q.running = false;
	log_q.len = 0;
	log_q.writing = false;
	pthread_mutex_unlock(&log_q.lock);
}

uint64_t
log_dropped(void)
{
	return atomic_load_explicit(&log_dropped_total, memory_order_relaxed);
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_threshold, (int)level);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_threshold,
	    memory_order_relaxed);
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];

	log_queue(line, log_format(line, sizeof(line), level, fmt, ap));
}

#define LOG_DEFINE(name, level)                                 \
	void name(const char *fmt, ...)                         \
	{                                                       \
		va_list ap;                                     \
		if (!log_enabled(level))                        \
			return;                                 \
		va_start(ap, fmt);                              \
		log_vwrite(level, fmt, ap);                     \
		va_end(ap);                                     \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warn, LOG_LEVEL_WARNING)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void
log_always(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

unsigned long
log_ratelimit(struct log_ratelimit *rl, double now, double interval)
{
	unsigned long events;

	rl->events++;
	if (rl->last != 0 && now - rl->last < interval)
		return 0;
	events = rl->events;
	rl->events = 0;
	rl->last = now;
	return events;
}

unsigned long
log_ratelimit_due(struct log_ratelimit *rl, double now, double interval)
{
	unsigned long events = rl->events;

	if (events == 0 || now - rl->last < interval)
		return 0;
	rl->events = 0;
	rl->last = now;
	return events;
}
