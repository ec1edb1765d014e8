#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
net_listen(const struct addr *addr, int backlog, bool reuseport,
    char *err, size_t errlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)&addr->ss;
	int one = 1;
	int fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket for %s: %s", addr->text,
		    strerror(errno));
		return -1;
	}
	/* A restart must not wait for the old connections' TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	/* [::]:PORT means IPv6 only, so that 0.0.0.0:PORT can be listed too. */
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, sa, addr->len) == -1) {
		snprintf(err, errlen, "bind %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(err, errlen, "listen %s: %s", addr->text,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
fail:
	snprintf(err, errlen, "setsockopt for %s: %s", addr->text,
	    strerror(errno));
	close(fd);
	return -1;
}

int
net_reserve_port(struct addr *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd, one = 1;
	bool v6 = addr->ss.ss_family == AF_INET6;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT,
	    &one, sizeof(one)) == -1 || (v6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&addr->ss, addr->len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(err, errlen, "bind %s: %s", addr->text,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (v6)
		((struct sockaddr_in6 *)&addr->ss)->sin6_port =
		    ((struct sockaddr_in6 *)&ss)->sin6_port;
	else
		((struct sockaddr_in *)&addr->ss)->sin_port =
		    ((struct sockaddr_in *)&ss)->sin_port;
	return fd;
}

void
net_local_text(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(buf, len, "?");
		return;
	}
	addr_text((struct sockaddr *)&ss, buf, len);
}

void
net_tune_socket(int fd, unsigned keepalive_s)
{
	int one = 1, on = keepalive_s > 0, idle = (int)keepalive_s;

	/*
	 * Best effort: an echo is still correct without either.  Keepalive
	 * is also turned off explicitly: a reload may turn it off on a
	 * listener that had it.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	if (on)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
		    sizeof(idle));
}

int
net_defer_accept(int fd, unsigned seconds)
{
	int value = (int)seconds;

	return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value,
	    sizeof(value));
}
