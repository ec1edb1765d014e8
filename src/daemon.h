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

/*
 * Serve with `workers` workers until SIGTERM/SIGINT and the drain that
 * follows.  config_path is the file to re-read on SIGHUP (NULL: built-in
 * defaults); passed is the number of sockets passed by socket activation.
 * Returns the exit status: 0, or 71 when the daemon could not start.
 */
int daemon_run(const struct config *cfg, const char *config_path,
    unsigned workers, int passed);

#endif
