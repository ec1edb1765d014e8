/*
 * The smallest honest echo server on Linux: one thread, one epoll set,
 * nonblocking sockets, level-triggered.  A peer of pingpongd in
 * make bench-peers, the floor any event loop is measured against.
 *
 *   epoll_echo PORT        (0: any free port)
 *
 * Listens on 127.0.0.1, prints "port N" once it does, and echoes every
 * byte back as it arrives.  Level-triggered because it is the simplest
 * loop that cannot lose a wake-up: a connection with unread bytes is
 * reported again by the next epoll_wait, so one read per wake-up is
 * enough.  Reads land in one shared buffer; what the kernel does not take
 * of an echo is copied aside and the connection waits for EPOLLOUT
 * instead of EPOLLIN, so a client that does not read its echo stalls only
 * itself and nothing is dropped.  An idle connection costs a table entry
 * and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

#define EVENTS 256                      /* events taken per epoll_wait */

static struct peer_kept *kept;          /* indexed by descriptor */
static size_t nkept;                    /* entries in kept */

static void
watch(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, op, fd, &ev) == -1)
		peer_die("epoll_ctl");
}

/* One event: read and echo, or write what was kept. */
static void
serve(int ep, int fd, char *buf)
{
	struct peer_kept *k = &kept[fd];
	int writing = k->k_buf != NULL;
	int r = writing ? peer_flush(fd, k) : peer_echo(fd, buf, k);

	if (r == -1) {
		peer_forget(k);
		/* close() also takes the descriptor out of the epoll set. */
		close(fd);
	} else if (writing != r)
		watch(ep, EPOLL_CTL_MOD, fd, r ? EPOLLOUT : EPOLLIN);
}

static void
accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1)
			return;
		if ((size_t)fd >= nkept) {
			close(fd);
			continue;
		}
		peer_tune(fd);
		watch(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
	}
}

int
main(int argc, char **argv)
{
	static struct epoll_event events[EVENTS];
	int lfd = peer_listen(argc, argv);
	struct rlimit rl;
	char *buf;
	int ep;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		peer_die("getrlimit");
	nkept = rl.rlim_cur;
	/* calloc maps zero pages: entries never touched cost no memory. */
	if ((kept = calloc(nkept, sizeof(*kept))) == NULL ||
	    (buf = malloc(PEER_READ_SIZE)) == NULL)
		peer_die("malloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		peer_die("epoll_create1");
	watch(ep, EPOLL_CTL_ADD, lfd, EPOLLIN);
	for (;;) {
		int n = epoll_wait(ep, events, EVENTS, -1);

		if (n == -1 && errno != EINTR)
			peer_die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == lfd)
				accept_all(ep, lfd);
			else
				serve(ep, fd, buf);
		}
	}
}
