/*
 * Leveled logging to stderr, one line per event.  Under journald (stderr is
 * the stream named by JOURNAL_STREAM) each line starts with the syslog
 * priority "<N>"; otherwise with a timestamp and the level in words.
 */
#ifndef PINGPONGD_LOG_H
#define PINGPONGD_LOG_H

#include <stdbool.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Name of a level as the configuration writes it ("warning"), and back. */
const char *log_level_name(enum log_level level);
int log_level_parse(const char *name, enum log_level *out);

/* Decide the output format once, from the environment. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/*
 * A rate limit for one kind of repeated event: at most one line per
 * interval, and that line says how many events it stands for.
 */
struct log_ratelimit {
	double last;                    /* time of the last line written, s */
	unsigned long events;           /* events since that line */
};

/*
 * Count one event at time now (seconds); returns the number of events the
 * caller's line should report, or 0 when the line is to be suppressed.
 */
unsigned long log_ratelimit(struct log_ratelimit *rl, double now,
    double interval);

#endif
