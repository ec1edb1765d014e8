/*
 * Several workers: one thread and one libev loop each, each with its own
 * share of the slots and its own SO_REUSEPORT listener on every address, so
 * that the kernel spreads new connections over them.  The main thread keeps
 * the default loop for signals, reloads, the service manager and the
 * watchdog, and reaches the workers through ev_async.
 */
#ifndef PINGPONGD_WORKERS_H
#define PINGPONGD_WORKERS_H

#include "config.h"

/*
 * Serve with `count` (> 1) workers until SIGTERM/SIGINT and the drain that
 * follows.  passed is the number of sockets passed by socket activation.
 * Returns the exit status: 0, or 71 when a worker could not start.
 */
int workers_run(const struct config *cfg, const char *config_path,
    unsigned count, int passed);

#endif
