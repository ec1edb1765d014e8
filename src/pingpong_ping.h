/*
 * pingpong as ping(8) for an echo service: one line per interval on one
 * connection, each echo checked and timed, a summary at the end.
 */
#ifndef PINGPONG_PING_H
#define PINGPONG_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pingpong_target.h"

struct pp_ping_opts {
	uint64_t count;                 /* lines to send; 0 = until Ctrl-C */
	double interval;                /* between lines, seconds */
	size_t size;                    /* bytes per line, newline included */
	double timeout;                 /* wait for each echo, seconds */
	bool quiet;                     /* print only the summary */
};

/*
 * Connect to t and run until count lines are sent and answered or timed
 * out, or SIGINT.  Prints as it goes and the summary at the end.  Returns
 * the exit status: 0 every line came back intact, 1 otherwise, 2 error.
 */
int pp_ping_run(const struct pp_ping_opts *o, struct pp_target *t);

#endif
