#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Indexed by enum log_level. */
static const char *const log_level_names[] = {
	"error", "warning", "info", "debug",
};
#define LOG_NLEVELS (sizeof(log_level_names) / sizeof(log_level_names[0]))

/* Read by every worker, set by whichever applies a reload. */
static atomic_int log_threshold = LOG_LEVEL_INFO;
static bool log_to_journal;

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

void
log_init(enum log_level level)
{
	atomic_store(&log_threshold, (int)level);
	log_to_journal = stderr_is_journal();
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

/* Format the whole line first so that one write(2) carries it. */
static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const int syslog_priority[] = { 3, 4, 6, 7 };
	char line[1024];
	size_t len;
	int n;

	if (!log_enabled(level))
		return;
	if (log_to_journal) {
		n = snprintf(line, sizeof(line), "<%d>",
		    syslog_priority[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ld pingpongd[%ld] %s: ",
		    ts.tv_nsec / 1000000, (long)getpid(),
		    log_level_name(level));
	}
	len = (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* Nothing useful can be done when stderr itself fails. */
	if (write(STDERR_FILENO, line, len) == -1)
		return;
}

#define LOG_DEFINE(name, level)                                 \
	void name(const char *fmt, ...)                         \
	{                                                       \
		va_list ap;                                     \
		va_start(ap, fmt);                              \
		log_vwrite(level, fmt, ap);                     \
		va_end(ap);                                     \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warn, LOG_LEVEL_WARNING)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

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
