/*
 * A faulty echo service, for the tests of the pingpong client: it listens
 * on a free port of 127.0.0.1, prints "port N" once it listens, and serves
 * up to MAX_CLIENTS connections at once for at most MAX_SECONDS.
 *
 *   badecho flip OFFSET
 *       Echo everything, except that the byte at OFFSET (0-based) of each
 *       connection's stream comes back as another printable byte.
 *   badecho extra
 *       Echo everything, and after the first newline add a line that was
 *       never sent.
 *   badecho mute
 *       Accept and read, never write.
 *   badecho hangup
 *       Close each connection as soon as it sends something.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_SECONDS 60                  /* then it exits, whatever happens */

enum mode { FLIP, EXTRA, MUTE, HANGUP };

struct client {
	int fd;                         /* -1 for a free slot */
	unsigned long long offset;      /* bytes of its stream read so far */
	int extra_sent;                 /* EXTRA: the unsent line went out */
};

static void
die(const char *what)
{
	fprintf(stderr, "badecho: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			/* The client went away: its read will say so. */
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static int
listen_any(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		die("socket");
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("bind");
	if (listen(fd, 64) == -1)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("getsockname");
	printf("port %u\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

/* Answer what one client sent, as the mode says; false to drop it. */
static int
answer(enum mode mode, unsigned long long flip_at, struct client *c,
    char *buf, size_t n)
{
	static const char unsent[] = "this line was never sent\n";
	unsigned long long start = c->offset;
	char *nl;

	c->offset += n;
	switch (mode) {
	case FLIP:
		if (flip_at >= start && flip_at < c->offset) {
			char *p = buf + (flip_at - start);

			*p = *p == 'x' ? 'y' : 'x';
		}
		write_all(c->fd, buf, n);
		return 1;
	case EXTRA:
		nl = c->extra_sent ? NULL : memchr(buf, '\n', n);
		if (nl == NULL) {
			write_all(c->fd, buf, n);
			return 1;
		}
		write_all(c->fd, buf, (size_t)(nl - buf) + 1);
		write_all(c->fd, unsent, sizeof(unsent) - 1);
		write_all(c->fd, nl + 1, n - (size_t)(nl - buf) - 1);
		c->extra_sent = 1;
		return 1;
	case MUTE:
		return 1;
	case HANGUP:
		return 0;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[MAX_CLIENTS + 1];
	struct client clients[MAX_CLIENTS];
	unsigned long long flip_at = 0;
	enum mode mode;
	char buf[65536];
	int lfd;

	if (argc == 3 && strcmp(argv[1], "flip") == 0) {
		mode = FLIP;
		flip_at = strtoull(argv[2], NULL, 10);
	} else if (argc == 2 && strcmp(argv[1], "extra") == 0) {
		mode = EXTRA;
	} else if (argc == 2 && strcmp(argv[1], "mute") == 0) {
		mode = MUTE;
	} else if (argc == 2 && strcmp(argv[1], "hangup") == 0) {
		mode = HANGUP;
	} else {
		fprintf(stderr, "usage: badecho flip OFFSET\n"
		    "       badecho extra | mute | hangup\n");
		return 64;
	}
	alarm(MAX_SECONDS);
	lfd = listen_any();
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[i + 1] = (struct pollfd){ .fd = clients[i].fd,
			    .events = POLLIN };
		if (poll(pfd, MAX_CLIENTS + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);

			for (int i = 0; fd != -1 && i < MAX_CLIENTS; i++)
				if (clients[i].fd == -1) {
					clients[i] = (struct client){ .fd = fd };
					fd = -1;
				}
			if (fd != -1)
				close(fd);
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			ssize_t r;

			if (c->fd == -1 || pfd[i + 1].revents == 0)
				continue;
			r = read(c->fd, buf, sizeof(buf));
			if (r > 0 && answer(mode, flip_at, c, buf, (size_t)r))
				continue;
			if (r == -1 && errno == EINTR)
				continue;
			close(c->fd);
			c->fd = -1;
		}
	}
}
