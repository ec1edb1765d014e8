/*
 * pingpong as a load generator: many connections, each keeping a window of
 * lines in flight (or, with --cycle, connecting, sending one line and
 * closing over and over), every echoed byte checked, every line timed.
 */
#ifndef PINGPONG_BENCH_H
#define PINGPONG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pingpong_target.h"

#define PP_BENCH_CONNS_MAX 100000u      /* connections */
#define PP_BENCH_DEPTH_MAX 65536u       /* lines in flight per connection */
#define PP_BENCH_WINDOW_MAX (1u << 24)  /* connections x depth */
#define PP_BENCH_THREADS_MAX 256u

struct pp_bench_opts {
	uint32_t conns;                 /* connections */
	uint32_t depth;                 /* lines in flight per connection */
	uint32_t threads;               /* event loops, one thread each */
	size_t size;                    /* bytes per line, newline included */
	double seconds;                 /* run time once all are connected */
	double timeout;                 /* connect, and echo before a stall counts */
	bool cycle;                     /* connect, one line, close; repeat */
	bool json;                      /* report as one JSON object */
};

/*
 * Run the load against t for o->seconds or until SIGINT, then print the
 * report.  Returns the exit status: 0 clean, 1 corruption, 2 errors.
 */
int pp_bench_run(const struct pp_bench_opts *o, struct pp_target *t);

#endif
