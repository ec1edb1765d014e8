#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The file of a path socket, NULL for an abstract one. */
static const char *
net_unix_path(const struct addr *addr)
{
	const struct sockaddr_un *sun = (const void *)&addr->ss;

	return sun->sun_path[0] != '\0' ? sun->sun_path : NULL;
}

/* A non-blocking stream socket of addr's family, or -1 with err set. */
static int
net_socket(const struct addr *addr, char *err, size_t errlen)
{
	int fd = socket(addr->ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		snprintf(err, errlen, "socket for %s: %s", addr->text,
		    strerror(errno));
	return fd;
}

/*
 * Make way for a Unix socket at path: a socket file left by a daemon that
 * is gone (nothing accepts on it) is removed; a live socket, or a file
 * that is not a socket, is an error and is left as it is.
 */
static int
net_unix_make_way(const struct addr *addr, const char *path, char *err,
    size_t errlen)
{
	struct stat st;
	int fd, live, saved;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "bind %s: %s", addr->text,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "bind %s: the path exists and is not a"
		    " socket; left as it is", addr->text);
		return -1;
	}
	fd = net_socket(addr, err, errlen);
	if (fd == -1)
		return -1;
	live = connect(fd, (const struct sockaddr *)&addr->ss, addr->len) ==
	    0 || errno == EAGAIN;
	saved = errno;
	close(fd);
	if (live) {
		snprintf(err, errlen, "bind %s: a live socket: something"
		    " accepts connections there; left as it is", addr->text);
		return -1;
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, errlen, "bind %s: %s", addr->text,
		    strerror(saved));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "bind %s: removing the stale socket: %s",
		    addr->text, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Bind fd to addr and listen; on failure close it, and remove the file
 * `path` if the bind made one.  Returns fd or -1.
 */
static int
net_bind_listen(int fd, const struct addr *addr, int backlog,
    const char *path, char *err, size_t errlen)
{
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1) {
		snprintf(err, errlen, "bind %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(err, errlen, "listen %s: %s", addr->text,
		    strerror(errno));
		close(fd);
		if (path != NULL)
			(void)unlink(path);
		return -1;
	}
	return fd;
}

/* A listening Unix-domain socket, created with the process umask. */
static int
net_listen_unix(const struct addr *addr, int backlog, char *err,
    size_t errlen)
{
	const char *path = net_unix_path(addr);
	int fd;

	if (path != NULL && net_unix_make_way(addr, path, err, errlen) == -1)
		return -1;
	fd = net_socket(addr, err, errlen);
	if (fd == -1)
		return -1;
	return net_bind_listen(fd, addr, backlog, path, err, errlen);
}

int
net_unix_identify(const struct addr *addr, struct net_file *file)
{
	const char *path = net_unix_path(addr);
	struct stat st;

	memset(file, 0, sizeof(*file));
	if (addr->ss.ss_family != AF_UNIX || path == NULL ||
	    stat(path, &st) == -1)
		return -1;
	file->nf_dev = st.st_dev;
	file->nf_ino = st.st_ino;
	file->nf_made = true;
	return 0;
}

void
net_unix_remove(const struct addr *addr, const struct net_file *file)
{
	const char *path = net_unix_path(addr);
	struct stat st;

	/* Only the file this socket made: another may have taken the path. */
	if (!file->nf_made || path == NULL || stat(path, &st) == -1 ||
	    st.st_dev != file->nf_dev || st.st_ino != file->nf_ino)
		return;
	(void)unlink(path);
}

int
net_listen(const struct addr *addr, int backlog, bool reuseport,
    char *err, size_t errlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)&addr->ss;
	int one = 1;
	int fd;

	if (sa->sa_family == AF_UNIX)
		return net_listen_unix(addr, backlog, err, errlen);
	fd = net_socket(addr, err, errlen);
	if (fd == -1)
		return -1;
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
	return net_bind_listen(fd, addr, backlog, NULL, err, errlen);
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

	/* A Unix name ends where the kernel says: the rest must be NULs. */
	memset(&ss, 0, sizeof(ss));
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
net_accept(int fd, struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*peer);
	int conn;

	conn = accept4(fd, (struct sockaddr *)peer, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	/* An unnamed Unix peer gets only its family: no stale name after it. */
	if (conn != -1 && peer->ss_family == AF_UNIX &&
	    len < sizeof(struct sockaddr_un))
		memset((char *)peer + len, 0, sizeof(struct sockaddr_un) - len);
	return conn;
}

int
net_defer_accept(int fd, unsigned seconds)
{
	int value = (int)seconds;

	return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value,
	    sizeof(value));
}
