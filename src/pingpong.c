/*
 * pingpong: test an echo service as ping(8) tests a host, or load it.
 *
 * This file owns the process: the command line, the target, and handing
 * over to the ping mode (pingpong_ping.c) or the load generator
 * (pingpong_bench.c).  Every line sent is checked byte for byte when it
 * comes back (pingpong_line.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pingpong_bench.h"
#include "pingpong_common.h"
#include "pingpong_line.h"
#include "pingpong_ping.h"
#include "pingpong_target.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DEFAULT_SIZE 32                 /* bytes per line */
#define DEFAULT_INTERVAL 1.0            /* seconds between lines */
#define DEFAULT_TIMEOUT 5.0             /* seconds to wait for an echo */
#define DEFAULT_CONNS 50                /* --bench connections */
#define DEFAULT_CYCLE_CONNS 10          /* --cycle connections */
#define DEFAULT_SECONDS 10.0            /* --bench run time */
#define COUNT_MAX (1ull << 40)          /* lines a run can number */
#define INTERVAL_MIN 0.001
#define LONG_SECONDS 86400.0            /* longest timeout, interval or run */

/* Options given, to refuse those of the other mode. */
enum {
	OPT_PING = 1,                   /* -c, -i, -q */
	OPT_LOAD = 2,                   /* -C, -t, -T, --json */
	OPT_DEPTH = 4,                  /* -d */
};

static const char synopsis[] =
    "usage: pingpong [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [-q]"
    " HOST[:PORT]\n"
    "       pingpong --bench [-C CONNS] [-d DEPTH] [-s SIZE] [-t SECONDS]"
    " [-T THREADS]\n"
    "                [-W TIMEOUT] [--json] HOST[:PORT]\n"
    "       pingpong --cycle [-C CONNS] [-s SIZE] [-t SECONDS]"
    " [-T THREADS]\n"
    "                [-W TIMEOUT] [--json] HOST[:PORT]\n";

static void
usage(void)
{
	fputs(synopsis, stdout);
	printf("\n"
	    "Send lines to a TCP echo service and check that each comes back"
	    " byte for byte.\n"
	    "HOST is an IPv4 address, [IPv6 address] or name; PORT defaults"
	    " to %s.\n"
	    "\n"
	    "  -c, --count COUNT      stop after COUNT lines (default: until"
	    " Ctrl-C)\n"
	    "  -i, --interval SECS    between lines (default 1, at least"
	    " 0.001)\n"
	    "  -s, --size SIZE        bytes per line, newline included"
	    " (default %d)\n"
	    "  -W, --timeout SECS     wait for each echo and each connect"
	    " (default 5)\n"
	    "  -q, --quiet            print only the summary\n"
	    "      --bench            load: keep DEPTH lines in flight per"
	    " connection\n"
	    "      --cycle            load: connect, send one line, await its"
	    " echo, close\n"
	    "  -C, --conns CONNS      connections (default %d; %d with"
	    " --cycle)\n"
	    "  -d, --depth DEPTH      lines in flight per connection (default"
	    " 1)\n"
	    "  -t, --seconds SECS     length of the run (default 10)\n"
	    "  -T, --threads THREADS  event loops, one thread each (default 1)\n"
	    "      --json             report as one JSON object\n"
	    "  -h, --help             print this help and exit\n"
	    "  -V, --version          print the version and exit\n"
	    "\n"
	    "Exit status: 0 every line came back intact, 1 a line was lost or"
	    " corrupted,\n"
	    "2 usage or connection error.\n",
	    PP_DEFAULT_PORT, DEFAULT_SIZE, DEFAULT_CONNS, DEFAULT_CYCLE_CONNS);
}

static void
usage_error(void)
{
	fputs(synopsis, stderr);
	fputs("Try 'pingpong --help' for more.\n", stderr);
}

/* Say why an option's value is refused; false, for the parser to return. */
static bool
bad_value(const char *opt, const char *arg, const char *fmt, ...)
    PP_PRINTF(3, 4);

static bool
bad_value(const char *opt, const char *arg, const char *fmt, ...)
{
	char why[PP_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pingpong: %s '%s': %s\n", opt, arg, why);
	return false;
}

static bool
parse_count(const char *opt, const char *arg, uint64_t min, uint64_t max,
    uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (arg[0] < '0' || arg[0] > '9')
		return bad_value(opt, arg, "not a number");
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || *end != '\0')
		return bad_value(opt, arg, "not a whole number");
	if (v < min || v > max)
		return bad_value(opt, arg, "must be %" PRIu64 " to %" PRIu64,
		    min, max);
	*out = v;
	return true;
}

static bool
parse_u32(const char *opt, const char *arg, uint32_t min, uint32_t max,
    uint32_t *out)
{
	uint64_t v;

	if (!parse_count(opt, arg, min, max, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Bytes, with an optional k or M (1024-based). */
static bool
parse_size(const char *opt, const char *arg, size_t *out)
{
	char *end;
	unsigned long long v;

	if (arg[0] < '0' || arg[0] > '9')
		return bad_value(opt, arg, "not a size");
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno == 0 && (*end == 'k' || *end == 'K') && end[1] == '\0')
		v = v > PP_LINE_MAX ? v : v * 1024;
	else if (errno == 0 && *end == 'M' && end[1] == '\0')
		v = v > PP_LINE_MAX ? v : v * 1024 * 1024;
	else if (errno != 0 || *end != '\0')
		return bad_value(opt, arg, "not a size");
	if (v < 1 || v > PP_LINE_MAX)
		return bad_value(opt, arg, "must be 1 to %u bytes",
		    PP_LINE_MAX);
	*out = (size_t)v;
	return true;
}

static bool
parse_seconds(const char *opt, const char *arg, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !isfinite(v))
		return bad_value(opt, arg, "not a number of seconds");
	if (v < min || v > LONG_SECONDS)
		return bad_value(opt, arg, "must be %g to %g seconds", min,
		    LONG_SECONDS);
	*out = v;
	return true;
}

/* Refuse what the chosen mode does not use, and sizes that do not fit. */
static bool
check_mode(unsigned given, bool load, bool cycle,
    const struct pp_bench_opts *b)
{
	if (load && (given & OPT_PING)) {
		fprintf(stderr, "pingpong: -c, -i and -q are for ping mode,"
		    " not --bench or --cycle\n");
		return false;
	}
	if (!load && (given & (OPT_LOAD | OPT_DEPTH))) {
		fprintf(stderr, "pingpong: -C, -d, -t, -T and --json need"
		    " --bench or --cycle\n");
		return false;
	}
	if (cycle && (given & OPT_DEPTH)) {
		fprintf(stderr, "pingpong: --cycle sends one line per"
		    " connection: -d does not apply\n");
		return false;
	}
	if (load && b->threads > b->conns) {
		fprintf(stderr, "pingpong: %" PRIu32 " threads for %" PRIu32
		    " connections: at most one thread per connection\n",
		    b->threads, b->conns);
		return false;
	}
	if (load && (uint64_t)b->conns * b->depth > PP_BENCH_WINDOW_MAX) {
		fprintf(stderr, "pingpong: %" PRIu32 " connections x depth %"
		    PRIu32 ": at most %u lines in flight\n", b->conns, b->depth,
		    PP_BENCH_WINDOW_MAX);
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	enum { LONG_BENCH = 256, LONG_CYCLE, LONG_JSON };
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'W' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "bench", no_argument, NULL, LONG_BENCH },
		{ "cycle", no_argument, NULL, LONG_CYCLE },
		{ "conns", required_argument, NULL, 'C' },
		{ "depth", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, LONG_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct pp_ping_opts ping = {
		.interval = DEFAULT_INTERVAL,
		.size = DEFAULT_SIZE,
		.timeout = DEFAULT_TIMEOUT,
	};
	struct pp_bench_opts bench = {
		.depth = 1,
		.threads = 1,
		.seconds = DEFAULT_SECONDS,
	};
	bool load = false, conns_given = false, ok = true;
	char err[PP_ERROR_MAX];
	struct pp_target target;
	unsigned given = 0;
	int opt, status;

	while (ok && (opt = getopt_long(argc, argv, "c:i:s:W:qC:d:t:T:hV",
	    longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			given |= OPT_PING;
			ok = parse_count("-c", optarg, 1, COUNT_MAX, &ping.count);
			break;
		case 'i':
			given |= OPT_PING;
			ok = parse_seconds("-i", optarg, INTERVAL_MIN,
			    &ping.interval);
			break;
		case 's':
			ok = parse_size("-s", optarg, &ping.size);
			break;
		case 'W':
			ok = parse_seconds("-W", optarg, INTERVAL_MIN,
			    &ping.timeout);
			break;
		case 'q':
			given |= OPT_PING;
			ping.quiet = true;
			break;
		case LONG_BENCH:
			load = true;
			break;
		case LONG_CYCLE:
			load = bench.cycle = true;
			break;
		case 'C':
			given |= OPT_LOAD;
			conns_given = true;
			ok = parse_u32("-C", optarg, 1, PP_BENCH_CONNS_MAX,
			    &bench.conns);
			break;
		case 'd':
			given |= OPT_DEPTH;
			ok = parse_u32("-d", optarg, 1, PP_BENCH_DEPTH_MAX,
			    &bench.depth);
			break;
		case 't':
			given |= OPT_LOAD;
			ok = parse_seconds("-t", optarg, INTERVAL_MIN,
			    &bench.seconds);
			break;
		case 'T':
			given |= OPT_LOAD;
			ok = parse_u32("-T", optarg, 1, PP_BENCH_THREADS_MAX,
			    &bench.threads);
			break;
		case LONG_JSON:
			given |= OPT_LOAD;
			bench.json = true;
			break;
		case 'h':
			usage();
			return PP_EXIT_OK;
		case 'V':
			printf("pingpong %s\n", PACKAGE_VERSION);
			return PP_EXIT_OK;
		default:
			ok = false;
			break;
		}
	}
	if (!conns_given)
		bench.conns = bench.cycle ? DEFAULT_CYCLE_CONNS : DEFAULT_CONNS;
	bench.size = ping.size;
	bench.timeout = ping.timeout;
	if (ok && optind != argc - 1) {
		fprintf(stderr, "pingpong: %s\n", optind >= argc ?
		    "HOST[:PORT] is missing" : "one HOST[:PORT] only");
		ok = false;
	}
	if (ok)
		ok = check_mode(given, load, bench.cycle, &bench);
	if (!ok) {
		usage_error();
		return PP_EXIT_ERROR;
	}
	if (pp_target_resolve(&target, argv[optind], err, sizeof(err)) == -1) {
		fprintf(stderr, "pingpong: %s\n", err);
		return PP_EXIT_ERROR;
	}

	/* A service that resets mid-line must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	if (load) {
		status = pp_bench_run(&bench, &target);
	} else {
		/* Each echo line is worth seeing as it comes, even in a pipe. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		status = pp_ping_run(&ping, &target);
	}
	pp_target_free(&target);
	return status;
}
