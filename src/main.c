/*
 * pingpongd: a TCP echo daemon for newline-terminated lines.
 *
 * This file reads the command line and the configuration, fits the
 * descriptor limit, and hands over to the owner of the process (daemon.c)
 * until it stops.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "server.h"
#include "service.h"

#define EX_USAGE 64

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: pingpongd [-c FILE] [-t] [-h] [-V]\n"
	    "\n"
	    "Echo every newline-terminated line a TCP client sends, byte for byte.\n"
	    "\n"
	    "  -c, --config FILE  read the configuration from FILE\n"
	    "                     (default: built-in settings, see %s/pingpongd/pingpongd.ini)\n"
	    "  -t, --test         check the configuration, print the result and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "  -V, --version      print the version and exit\n"
	    "\n"
	    "Exit status: 0 stopped cleanly, 64 usage error, 66 configuration file\n"
	    "unreadable, 71 cannot listen, 78 configuration invalid.\n",
	    SYSCONFDIR);
}

/*
 * Each connection needs a descriptor: raise the soft limit toward the hard
 * one when max_connections asks for more, and say so when it cannot.
 */
static void
fit_descriptor_limit(uint32_t max_connections)
{
	/* Listeners, stdio, and the event loop's own descriptors. */
	rlim_t want = (rlim_t)max_connections + SERVER_LISTENERS + 16;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
		log_warn("max_connections %u needs about %llu descriptors but"
		    " the limit is %llu: past that, accept pauses (EMFILE)",
		    max_connections, (unsigned long long)want,
		    (unsigned long long)rl.rlim_cur);
}

/* workers = auto: one per CPU this process may run on, within the range. */
static unsigned
online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > CONFIG_WORKERS_MAX ? CONFIG_WORKERS_MAX : (unsigned)n;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	char err[CONFIG_ERROR_MAX];
	struct config cfg;
	bool test_only = false;
	unsigned workers;
	int opt, status, passed;

	while ((opt = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pingpongd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pingpongd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	config_defaults(&cfg);
	if (path != NULL) {
		status = config_load(path, &cfg, err, sizeof(err));
		if (status != CONFIG_OK) {
			fprintf(stderr, "pingpongd: %s\n", err);
			return status;
		}
	}
	if (test_only) {
		printf("pingpongd: configuration %s OK\n",
		    path != NULL ? path : "(built-in defaults)");
		return 0;
	}

	log_init(cfg.log_level);
	/* A client that resets mid-echo must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	fit_descriptor_limit(cfg.max_connections);

	passed = service_listen_fds(err, sizeof(err));
	if (passed == -1) {
		log_error("%s", err);
		return EX_SERVER_OSERR;
	}
	workers = cfg.workers != 0 ? cfg.workers : online_cpus();
	return daemon_run(&cfg, path, workers, passed);
}
