/*
 * pingpongd's figures in the Prometheus text exposition format, version
 * 0.0.4: one HELP and one TYPE line per metric, counters ending in
 * _total, base units (bytes, seconds).  Figures kept per worker carry a
 * worker="N" label and no unlabelled total (sum() gives it); figures of
 * the whole process carry none.
 *
 * Pure: figures in, text out, so Check and promtool can judge it.
 */
#ifndef PINGPONGD_METRICS_TEXT_H
#define PINGPONGD_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procstat.h"
#include "server.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Everything one scrape shows. */
struct metrics_sample {
	const char *version;            /* pingpongd's, for build_info */
	double start_time;              /* when the daemon started, Unix seconds */
	unsigned workers;               /* entries of per_worker */
	const struct server_figures *per_worker; /* read from each worker */
	uint64_t reloads_ok;            /* reloads applied */
	uint64_t reloads_failed;        /* reloads refused or rolled back */
	uint64_t log_dropped;           /* log lines dropped */
	struct procstat process;        /* the process_* metrics */
};

/* A growing text. */
struct metrics_text {
	char *buf;                      /* NUL-terminated, or NULL when empty */
	size_t len;                     /* bytes before the NUL */
	size_t cap;                     /* bytes allocated */
	bool failed;                    /* memory ran out: the text is incomplete */
};

/* The exposition of m, appended to out; -1 when memory ran out. */
int metrics_text_render(const struct metrics_sample *m,
    struct metrics_text *out);

void metrics_text_free(struct metrics_text *t);

#endif
