/*
 * The service manager's protocols, through libsystemd: readiness and status
 * notifications, the watchdog, and sockets passed by socket activation.
 * Built without libsystemd (./configure --without-systemd) every call is a
 * no-op and no socket is ever passed.
 */
#ifndef PINGPONGD_SERVICE_H
#define PINGPONGD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define SERVICE_FDS_START 3             /* SD_LISTEN_FDS_START */

/* True when a service manager listens for notifications (NOTIFY_SOCKET). */
int service_notify_wanted(void);

/* READY=1, with a STATUS= line. */
void service_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC=, as systemd expects before a reload. */
void service_reloading(void);

/* STOPPING=1, with a STATUS= line. */
void service_stopping(const char *status);

/* A STATUS= line for `systemctl status`. */
void service_status(const char *fmt, ...) LOG_PRINTF(1, 2);

/* WATCHDOG=1. */
void service_watchdog_ping(void);

/* The watchdog period asked of this process in microseconds, or 0. */
uint64_t service_watchdog_usec(void);

/*
 * The number of listening sockets passed by socket activation (they are
 * descriptors SERVICE_FDS_START onward), 0 when none, or -1 with the
 * reason in err.  The environment variables are removed so that nothing
 * started later inherits them.
 */
int service_listen_fds(char *err, size_t errlen);

/* True when fd is a listening stream socket. */
int service_is_listening_socket(int fd);

/* The same, built with libsystemd or without: a listening stream socket. */
int service_is_listening_socket_any(int fd);

#endif
