/*
 * The owner of the process: it runs the workers (N >= 1, one thread and
 * one loop each, all alike), takes the signals, reloads the configuration,
 * feeds the watchdog while every worker's loop beats, and says READY,
 * RELOADING, STOPPING and STATUS to the service manager.  The workers are
 * reached only through server_post() and read only through their counters.
 */
#ifndef PINGPONGD_DAEMON_H
#define PINGPONGD_DAEMON_H

#include "config.h"

/* What the daemon starts with, from main(). */
struct daemon_options {
	const struct config *cfg;       /* the configuration, read and checked */
	const char *config_path;        /* re-read on SIGHUP; NULL: built-in defaults */
	const struct config_settings *settings; /* the command line's -l and -o,
	                                   applied over the file again on SIGHUP */
	unsigned workers;               /* threads serving connections, >= 1 */
	int passed;                     /* sockets passed by socket activation */
	int ready_fd;                   /* written the bound addresses, one per
	                                   line, and closed once every listener
	                                   listens; -1: none */
	const char *exe;                /* the program, as started, made absolute:
	                                   executed again on SIGUSR2 */
	char *const *argv;              /* its arguments, --ready-fd left out */
	int handover_fd;                /* the state record of the image before
	                                   this one (a memfd); -1: none */
	char *handover_listeners;       /* that image's listeners, "FD KIND TEXT"
	                                   lines, should the record be unreadable */
};

/* daemon_run() once more: a hand-over's exec failed (opt says with what). */
#define DAEMON_AGAIN (-2)

/*
 * Serve until SIGTERM/SIGINT and the drain that follows, or until SIGUSR2
 * executes the program again (which does not return).  Returns the exit
 * status: 0, or 71 when the daemon could not start (ready_fd is then
 * closed with nothing written), or DAEMON_AGAIN.
 */
int daemon_run(struct daemon_options *opt);

#endif
