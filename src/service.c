#include "service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define SERVICE_NOTIFY_MAX 512          /* bytes of one notification */

int
service_notify_wanted(void)
{
#ifdef HAVE_SYSTEMD
	return getenv("NOTIFY_SOCKET") != NULL;
#else
	return 0;
#endif
}

#ifdef HAVE_SYSTEMD
/* A lost notification is logged, never fatal: the daemon still serves. */
static void
notify(const char *text)
{
	int r = sd_notify(0, text);

	if (r < 0)
		log_warn("sd_notify: %s", strerror(-r));
}
#endif

void
service_ready(const char *status)
{
#ifdef HAVE_SYSTEMD
	char text[SERVICE_NOTIFY_MAX];

	snprintf(text, sizeof(text), "READY=1\nSTATUS=%s", status);
	notify(text);
#else
	(void)status;
#endif
}

void
service_reloading(void)
{
#ifdef HAVE_SYSTEMD
	struct timespec ts;
	char text[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ull +
	    (unsigned long long)ts.tv_nsec / 1000ull);
	notify(text);
#endif
}

void
service_stopping(const char *status)
{
#ifdef HAVE_SYSTEMD
	char text[SERVICE_NOTIFY_MAX];

	snprintf(text, sizeof(text), "STOPPING=1\nSTATUS=%s", status);
	notify(text);
#else
	(void)status;
#endif
}

void
service_status(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char text[SERVICE_NOTIFY_MAX];
	va_list ap;
	int n;

	n = snprintf(text, sizeof(text), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	notify(text);
#else
	(void)fmt;
#endif
}

void
service_watchdog_ping(void)
{
#ifdef HAVE_SYSTEMD
	notify("WATCHDOG=1");
#endif
}

uint64_t
service_watchdog_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}

int
service_listen_fds(char *err, size_t errlen)
{
#ifdef HAVE_SYSTEMD
	int n = sd_listen_fds(1);

	if (n < 0) {
		snprintf(err, errlen, "LISTEN_FDS: %s", strerror(-n));
		return -1;
	}
	return n;
#else
	(void)err;
	(void)errlen;
	return 0;
#endif
}

int
service_is_listening_socket_any(int fd)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	/* Asked of the kernel: the answer must not depend on libsystemd. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1)
		return 0;
	return listening != 0;
}

int
service_is_listening_socket(int fd)
{
#ifdef HAVE_SYSTEMD
	return sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0;
#else
	/* Without libsystemd no socket is ever passed to be checked. */
	(void)fd;
	return 0;
#endif
}
