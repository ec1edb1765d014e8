/*
 * The listening socket, the echo and the error exit of the C echo servers
 * of make bench-peers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

void
peer_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
	    strerror(errno));
	exit(2);
}

int
peer_listen(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;
	char *end;
	long port;
	int fd;

	port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || *argv[1] == '\0' || *end != '\0' || port < 0 ||
	    port > 65535) {
		fprintf(stderr, "usage: %s PORT\n", program_invocation_short_name);
		exit(2);
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		peer_die("socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		peer_die("bind");
	if (listen(fd, PEER_BACKLOG) == -1)
		peer_die("listen");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		peer_die("getsockname");
	printf("port %u\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

void
peer_tune(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Write as much of p[0..n) as the kernel takes now; -1 on an error. */
static ssize_t
write_some(int fd, const char *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		done += (size_t)w;
	}
	return (ssize_t)done;
}

int
peer_echo(int fd, char *buf, struct peer_kept *k)
{
	ssize_t n = read(fd, buf, PEER_READ_SIZE), w;

	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0 || (w = write_some(fd, buf, (size_t)n)) == -1)
		return -1;
	if (w == n)
		return 0;
	k->k_len = (size_t)(n - w);
	if ((k->k_buf = malloc(k->k_len)) == NULL)
		peer_die("malloc");
	memcpy(k->k_buf, buf + w, k->k_len);
	k->k_off = 0;
	return 1;
}

int
peer_flush(int fd, struct peer_kept *k)
{
	ssize_t w = write_some(fd, k->k_buf + k->k_off, k->k_len - k->k_off);

	if (w == -1)
		return -1;
	k->k_off += (size_t)w;
	if (k->k_off < k->k_len)
		return 1;
	peer_forget(k);
	return 0;
}

void
peer_forget(struct peer_kept *k)
{
	free(k->k_buf);
	k->k_buf = NULL;
	k->k_off = k->k_len = 0;
}
