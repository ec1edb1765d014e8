#include "pingpong_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "pingpong_common.h"

/* Split arg into host and port text; false when it is malformed. */
static bool
split_host_port(const char *arg, char *host, size_t hostlen,
    const char **port, char *err, size_t errlen)
{
	const char *orig = arg, *colon, *end;
	size_t len;

	*port = PP_DEFAULT_PORT;
	if (arg[0] == '[') {
		end = strchr(arg, ']');
		if (end == NULL) {
			snprintf(err, errlen, "'%s': no closing ']'", arg);
			return false;
		}
		if (end[1] == ':')
			*port = end + 2;
		else if (end[1] != '\0') {
			snprintf(err, errlen, "'%s': junk after ']'", arg);
			return false;
		}
		arg++;
		len = (size_t)(end - arg);
	} else {
		colon = strchr(arg, ':');
		/* Two colons or more: an IPv6 address without brackets. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			*port = colon + 1;
			len = (size_t)(colon - arg);
		} else {
			len = strlen(arg);
		}
	}
	if (len == 0 || len >= hostlen) {
		snprintf(err, errlen, "'%s': %s host", orig,
		    len == 0 ? "empty" : "too long a");
		return false;
	}
	memcpy(host, arg, len);
	host[len] = '\0';
	return true;
}

static bool
valid_port(const char *port)
{
	char *end;
	unsigned long v;

	if (port[0] < '0' || port[0] > '9')
		return false;
	errno = 0;
	v = strtoul(port, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

int
pp_target_resolve(struct pp_target *t, const char *arg, char *err,
    size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo numeric = hints;
	struct addrinfo *probe;
	const char *port;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!split_host_port(arg, t->tg_host, sizeof(t->tg_host), &port, err,
	    errlen))
		return -1;
	if (!valid_port(port)) {
		snprintf(err, errlen, "'%s': the port must be 1 to 65535", arg);
		return -1;
	}
	rc = getaddrinfo(t->tg_host, port, &hints, &t->tg_list);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", t->tg_host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		t->tg_list = NULL;
		return -1;
	}
	/* Say "name (address)" only when HOST was a name. */
	numeric.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(t->tg_host, port, &numeric, &probe) == 0)
		freeaddrinfo(probe);
	else
		t->tg_named = true;
	memcpy(&t->tg_addr, t->tg_list->ai_addr, t->tg_list->ai_addrlen);
	t->tg_addrlen = t->tg_list->ai_addrlen;
	addr_text(t->tg_list->ai_addr, t->tg_text, sizeof(t->tg_text));
	return 0;
}

static int
start_connect(const struct sockaddr *sa, socklen_t len)
{
	int one = 1;
	int fd, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	/* Lines are small and pipelined: Nagle would hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
pp_target_start_connect(const struct pp_target *t)
{
	return start_connect((const struct sockaddr *)&t->tg_addr,
	    t->tg_addrlen);
}

int
pp_connect_result(int fd)
{
	int error = 0;
	socklen_t len = sizeof(error);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		return errno;
	return error;
}

/* Wait up to timeout_s for fd's connection; 0 or the errno it failed with. */
static int
await_connect(int fd, double timeout_s)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	uint64_t deadline = pp_now_ns() + (uint64_t)(timeout_s * 1e9);

	for (;;) {
		uint64_t now = pp_now_ns();
		int rc, ms;

		if (now >= deadline)
			return ETIMEDOUT;
		ms = (int)((deadline - now + 999999) / 1000000);
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return pp_connect_result(fd);
		if (rc == -1 && errno != EINTR)
			return errno;
	}
}

int
pp_target_connect(struct pp_target *t, double timeout_s, char *err,
    size_t errlen)
{
	char text[PP_ADDR_TEXT];

	for (struct addrinfo *ai = t->tg_list; ai != NULL; ai = ai->ai_next) {
		int fd, error;

		addr_text(ai->ai_addr, text, sizeof(text));
		fd = start_connect(ai->ai_addr, ai->ai_addrlen);
		error = fd == -1 ? errno : await_connect(fd, timeout_s);
		if (error == 0) {
			memcpy(&t->tg_addr, ai->ai_addr, ai->ai_addrlen);
			t->tg_addrlen = ai->ai_addrlen;
			memcpy(t->tg_text, text, sizeof(text));
			return fd;
		}
		if (fd != -1)
			close(fd);
		snprintf(err, errlen, "connect %s: %s", text,
		    error == ETIMEDOUT ? "timed out" : strerror(error));
	}
	return -1;
}

void
pp_target_free(struct pp_target *t)
{
	if (t->tg_list != NULL)
		freeaddrinfo(t->tg_list);
	t->tg_list = NULL;
}
