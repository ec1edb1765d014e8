/*
 * The end of a load run, as text for people or as one JSON object for
 * scripts.  Pure formatting: the numbers come measured.
 */
#ifndef PINGPONG_REPORT_H
#define PINGPONG_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pingpong_hist.h"

struct pp_report {
	bool r_cycle;                   /* connect-line-close cycles, not lines */
	const char *r_target;           /* "127.0.0.1:6567" */
	uint32_t r_conns;               /* connections */
	uint32_t r_depth;               /* lines in flight per connection */
	uint32_t r_threads;             /* threads the connections ran on */
	size_t r_size;                  /* bytes per line, newline included */
	double r_seconds;               /* measured run time */
	uint64_t r_lines;               /* lines (or cycles) echoed intact */
	uint64_t r_corrupted;           /* lines echoed wrong */
	uint64_t r_errors;              /* connections that failed */
	uint64_t r_port_waits;          /* --cycle: connects put off for a port */
	const struct pp_hist *r_hist;   /* line (or cycle) latencies */
	const char *r_first_error;      /* the first failure, "" when none */
	bool r_interrupted;             /* stopped early by SIGINT */
};

void pp_report_text(FILE *out, const struct pp_report *r);
void pp_report_json(FILE *out, const struct pp_report *r);

#endif
