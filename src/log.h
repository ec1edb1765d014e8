/*
 * Leveled logging to stderr, one line per event.  Under journald (stderr is
 * the stream named by JOURNAL_STREAM) each line starts with the syslog
 * priority "<N>"; otherwise with a timestamp and the level in words.
 *
 * Logging never blocks the caller: a line goes into a bounded buffer
 * (LOG_BUFFER bytes per process) that a thread of its own writes out.
 * When the reader of stderr falls behind and the buffer is full, lines are
 * dropped and counted, and once it has caught up one line says how many.
 */
#ifndef PINGPONGD_LOG_H
#define PINGPONGD_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define LOG_BUFFER (64 * 1024)          /* bytes of lines waiting for stderr */
#define LOG_LINE_MAX 1024               /* bytes of one line, newline included */
#define LOG_DRAIN_MS 1000               /* ms given at exit to write what waits */

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Name of a level as the configuration writes it ("warning"), and back. */
const char *log_level_name(enum log_level level);
int log_level_parse(const char *name, enum log_level *out);

/*
 * Decide the output format once, from the environment, and start the
 * writer.  Before it, and after log_shutdown(), lines are written at once.
 */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/*
 * Give the writer up to LOG_DRAIN_MS to write what waits, then stop it,
 * even when the reader never reads.
 */
void log_shutdown(void);

/* The same within ms: before an exec, which must not wait long. */
void log_shutdown_within(unsigned ms);

/* Lines dropped so far because the reader of stderr fell behind. */
uint64_t log_dropped(void);

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/* A line at level, when log_level lets it through. */
void log_at(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);

/* An info line written whatever log_level says (asked for: SIGUSR1). */
void log_always(const char *fmt, ...) LOG_PRINTF(1, 2);

/*
 * A rate limit for one kind of repeated event: at most one line per
 * interval, and every event is told by exactly one line.
 */
struct log_ratelimit {
	double last;                    /* time of the last line written, s */
	unsigned long events;           /* events since that line, not yet told */
};

/*
 * Count one event at time now (seconds); returns the number of events the
 * caller's line should report now, or 0 when the event waits for
 * log_ratelimit_due().
 */
unsigned long log_ratelimit(struct log_ratelimit *rl, double now,
    double interval);

/*
 * The events still untold once the interval since the last line has
 * passed (the caller logs them, and the count starts again), else 0.
 */
unsigned long log_ratelimit_due(struct log_ratelimit *rl, double now,
    double interval);

#endif
