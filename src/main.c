/*
 * pingpongd: a TCP echo daemon for newline-terminated lines.
 *
 * This file reads the command line and the configuration, fits the
 * descriptor limit, and hands over to the owner of the process (daemon.c)
 * until it stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
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
	    "usage: pingpongd [-t] [-c FILE] [-l ADDR]... [-o SECTION.KEY=VALUE]...\n"
	    "                 [--ready-fd N] [-h] [-V]\n"
	    "\n"
	    "Echo every newline-terminated line a TCP client sends, byte for byte.\n"
	    "\n"
	    "  -c, --config FILE  read the configuration from FILE\n"
	    "                     (default: built-in settings, see %s/pingpongd/pingpongd.ini)\n"
	    "  -l, --listen ADDR  listen on ADDR (IPv4:PORT, [IPv6]:PORT, unix:/PATH or\n"
	    "                     unix:@NAME; port 0 = any free one) instead of the\n"
	    "                     file's listen lines; repeatable\n"
	    "  -o, --set SECTION.KEY=VALUE\n"
	    "                     one setting over the file (or the defaults), checked\n"
	    "                     as a line of it, e.g. -o connection.framing=bytes;\n"
	    "                     repeatable; SIGHUP applies -l and -o again\n"
	    "      --ready-fd N   once listening, write the bound addresses to\n"
	    "                     descriptor N, one per line, and close it\n"
	    "  -t, --test         check the configuration and the command line, print\n"
	    "                     the result and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "  -V, --version      print the version and exit\n"
	    "\n"
	    "Signals: TERM/INT drain and stop, HUP reload, USR1 log statistics,\n"
	    "USR2 upgrade in place (the program on disk takes every connection).\n"
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

/*
 * --ready-fd N: a descriptor the caller left open for us.  Returns it, or
 * -1 with the reason in err.
 */
static int
ready_fd_parse(const char *arg, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < 0 || n > INT_MAX) {
		snprintf(err, errlen, "--ready-fd %s: not a descriptor number",
		    arg);
		return -1;
	}
	if (fcntl((int)n, F_GETFD) == -1) {
		snprintf(err, errlen, "--ready-fd %s: %s", arg, strerror(errno));
		return -1;
	}
	if (n <= STDERR_FILENO) {
		snprintf(err, errlen, "--ready-fd %s: standard input, output or"
		    " error; give another descriptor", arg);
		return -1;
	}
	/* Nothing started later inherits it. */
	(void)fcntl((int)n, F_SETFD, FD_CLOEXEC);
	return (int)n;
}

/*
 * The program as SIGUSR2 executes it again: argv[0] made absolute against
 * the directory we started in, or found on PATH, and never resolved
 * through symbolic links, so that a binary replaced on disk or a link
 * switched to a new version is the one that runs.  NULL: not found.
 */
static char *
program_path(const char *argv0)
{
	const char *path = getenv("PATH");
	char cwd[PATH_MAX], *out;

	if (strchr(argv0, '/') != NULL) {
		if (argv0[0] == '/')
			return strdup(argv0);
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		/* "./x" is "x" here; anything else is left as it was written. */
		while (strncmp(argv0, "./", 2) == 0)
			argv0 += 2;
		if (asprintf(&out, "%s/%s", cwd, argv0) == -1)
			return NULL;
		return out;
	}
	/* As execvp(3) finds it; an empty PATH entry is the current directory. */
	for (const char *p = path != NULL ? path : "/usr/bin:/bin"; ;) {
		const char *end = strchrnul(p, ':');
		int n;

		if (end == p)
			n = getcwd(cwd, sizeof(cwd)) != NULL ?
			    asprintf(&out, "%s/%s", cwd, argv0) : -1;
		else
			n = asprintf(&out, "%.*s/%s", (int)(end - p), p, argv0);
		if (n != -1 && out[0] == '/' && access(out, X_OK) == 0)
			return out;
		if (n != -1)
			free(out);
		if (*end == '\0')
			return NULL;
		p = end + 1;
	}
}

/*
 * The arguments SIGUSR2 executes with: ours, less --ready-fd (by then its
 * number may be a client's socket).
 */
static char **
program_args(int argc, char **argv)
{
	char **out = calloc((size_t)argc + 1, sizeof(*out));
	int n = 0;

	if (out == NULL)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--") == 0) {
			while (i < argc)
				out[n++] = argv[i++];
			break;
		}
		if (i > 0 && strcmp(argv[i], "--ready-fd") == 0) {
			i++;
			continue;
		}
		if (i > 0 && strncmp(argv[i], "--ready-fd=", 11) == 0)
			continue;
		out[n++] = argv[i];
	}
	return out;
}

/* The state the image before this one left, named in the environment. */
static void
handover_from_environment(struct daemon_options *opts)
{
	const char *fd = getenv("PINGPONGD_HANDOVER");
	const char *listeners = getenv("PINGPONGD_HANDOVER_LISTENERS");

	if (fd == NULL)
		return;
	opts->handover_fd = atoi(fd) > STDERR_FILENO ? atoi(fd) : -2;
	opts->handover_listeners = listeners != NULL ? strdup(listeners) : NULL;
	/* Not for anything this image starts. */
	unsetenv("PINGPONGD_HANDOVER");
	unsetenv("PINGPONGD_HANDOVER_LISTENERS");
}

/* The option as the user spelled it, for messages. */
static const char *
option_name(int opt, int longindex, const struct option *longopts)
{
	static char name[32];

	if (longindex >= 0)
		snprintf(name, sizeof(name), "--%s", longopts[longindex].name);
	else
		snprintf(name, sizeof(name), "-%c", opt);
	return name;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "set", required_argument, NULL, 'o' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct config_settings settings;
	struct daemon_options opts = { .ready_fd = -1, .handover_fd = -1 };
	const char *path = NULL;
	char err[CONFIG_ERROR_MAX];
	struct config cfg, next;
	char *exe, **args;
	bool test_only = false;
	int opt, longindex, status;

	for (;;) {
		longindex = -1;
		opt = getopt_long(argc, argv, "c:l:o:thV", longopts, &longindex);
		if (opt == -1)
			break;
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'l':
		case 'o':
			if (config_setting_add(&settings, option_name(opt,
			    longindex, longopts), optarg, err, sizeof(err)) == -1) {
				fprintf(stderr, "pingpongd: %s\n", err);
				return EX_USAGE;
			}
			break;
		case 'R':
			opts.ready_fd = ready_fd_parse(optarg, err, sizeof(err));
			if (opts.ready_fd == -1) {
				fprintf(stderr, "pingpongd: %s\n", err);
				return EX_USAGE;
			}
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

	status = config_read(path, &settings, &cfg, err, sizeof(err));
	if (status != CONFIG_OK) {
		fprintf(stderr, "pingpongd: %s\n", err);
		return status;
	}
	if (cfg.io == CONFIG_IO_URING &&
	    ring_kernel_check(err, sizeof(err)) == -1) {
		fprintf(stderr, "pingpongd: %s\n", err);
		return CONFIG_INVALID;
	}
	if (test_only) {
		printf("pingpongd: configuration %s%s OK\n",
		    path != NULL ? path : "(built-in defaults)",
		    settings.cs_count > 0 ? " with the command line's settings" :
		    "");
		return 0;
	}

	log_init(cfg.log_level);
	/* A client that resets mid-echo must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	fit_descriptor_limit(cfg.max_connections);

	opts.cfg = &cfg;
	opts.config_path = path;
	opts.settings = &settings;
	exe = program_path(argv[0]);
	opts.exe = exe;
	args = program_args(argc, argv);
	opts.argv = args;
	handover_from_environment(&opts);
	if (opts.exe == NULL)
		log_warn("%s: not found as a path or on PATH: SIGUSR2 cannot"
		    " execute it again", argv[0]);
	opts.passed = service_listen_fds(err, sizeof(err));
	if (opts.passed == -1) {
		log_error("%s", err);
		status = EX_SERVER_OSERR;
	} else {
		for (;;) {
			opts.workers = cfg.workers != 0 ? cfg.workers :
			    online_cpus();
			status = daemon_run(&opts);
			if (status != DAEMON_AGAIN)
				break;
			/*
			 * The exec failed: serve on, from the record, on the
			 * configuration as it now reads, as the new image would.
			 */
			if (config_read(path, &settings, &next, err,
			    sizeof(err)) == CONFIG_OK)
				cfg = next;
			else
				log_error("%s; serving on the configuration read"
				    " at start", err);
		}
	}
	free(opts.handover_listeners);
	free(exe);
	free(args);
	log_shutdown();
	return status;
}
