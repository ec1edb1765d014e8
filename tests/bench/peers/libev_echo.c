/*
 * A minimal echo server on libev, the library pingpongd itself runs on: a
 * peer of pingpongd in make bench-peers, to tell the cost of the daemon's
 * own work from the cost of its event loop.
 *
 *   libev_echo PORT        (0: any free port)
 *
 * Listens on 127.0.0.1, prints "port N" once it does, and echoes every
 * byte back as it arrives.  One ev_io per connection, watching for
 * reading; what the kernel does not take of an echo is copied aside and
 * the watcher is switched to writing until it is gone, so a client that
 * does not read its echo stalls only itself and nothing is dropped.
 */
#include <ev.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

struct client {
	ev_io c_io;                     /* the connection's one watcher */
	struct peer_kept c_kept;        /* echo the kernel has not taken yet */
};

static char readbuf[PEER_READ_SIZE];    /* every read lands here */

/* One event: read and echo, or write what was kept. */
static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = (struct client *)w;
	int writing = (revents & EV_WRITE) != 0;
	int r = writing ? peer_flush(w->fd, &c->c_kept) :
	    peer_echo(w->fd, readbuf, &c->c_kept);

	if (r == -1) {
		ev_io_stop(loop, w);
		close(w->fd);
		peer_forget(&c->c_kept);
		free(c);
	} else if (writing != r) {
		ev_io_stop(loop, w);
		ev_io_set(w, w->fd, r ? EV_WRITE : EV_READ);
		ev_io_start(loop, w);
	}
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	for (;;) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd == -1)
			return;
		peer_tune(fd);
		if ((c = calloc(1, sizeof(*c))) == NULL)
			peer_die("calloc");
		ev_io_init(&c->c_io, client_cb, fd, EV_READ);
		ev_io_start(loop, &c->c_io);
	}
}

int
main(int argc, char **argv)
{
	int lfd = peer_listen(argc, argv);
	struct ev_loop *loop;
	ev_io listener;

	if ((loop = ev_default_loop(EVBACKEND_EPOLL)) == NULL)
		peer_die("ev_default_loop");
	ev_io_init(&listener, accept_cb, lfd, EV_READ);
	ev_io_start(loop, &listener);
	ev_run(loop, 0);
	return 0;
}
