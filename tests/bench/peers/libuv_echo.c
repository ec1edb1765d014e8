/*
 * A minimal echo server on libuv, the loop under Node.js and many others:
 * a peer of pingpongd in make bench-peers.
 *
 *   libuv_echo PORT        (0: any free port)
 *
 * Listens on 127.0.0.1, prints "port N" once it does, and echoes every
 * byte back as it arrives.  Reads of up to 64 KiB land in one shared
 * buffer and are written back at once with uv_try_write; what the kernel
 * does not take is copied aside and queued with uv_write, and reading
 * stops until that write completes, so a client that does not read its
 * echo stalls only itself and nothing is dropped.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "peer.h"

static char readbuf[PEER_READ_SIZE];    /* every read lands here */

struct echo_write {
	uv_write_t ew_req;              /* the queued write */
	char ew_data[];                 /* the echo the kernel did not take */
};

static void
closed_cb(uv_handle_t *h)
{
	free(h);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(readbuf, sizeof(readbuf));
}

static void read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);

static void
write_cb(uv_write_t *req, int status)
{
	uv_stream_t *s = req->handle;

	free(req);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, closed_cb);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)s))
		uv_read_start(s, alloc_cb, read_cb);
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct echo_write *ew;
	uv_buf_t rest;
	int w;

	if (n == 0)
		return;
	if (n < 0) {
		uv_close((uv_handle_t *)s, closed_cb);
		return;
	}
	rest = uv_buf_init(buf->base, (unsigned)n);
	w = uv_try_write(s, &rest, 1);
	if (w == n)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, closed_cb);
		return;
	}
	if (w < 0)
		w = 0;
	if ((ew = malloc(sizeof(*ew) + (size_t)(n - w))) == NULL)
		peer_die("malloc");
	memcpy(ew->ew_data, buf->base + w, (size_t)(n - w));
	rest = uv_buf_init(ew->ew_data, (unsigned)(n - w));
	uv_read_stop(s);
	if (uv_write(&ew->ew_req, s, &rest, 1, write_cb) < 0) {
		free(ew);
		uv_close((uv_handle_t *)s, closed_cb);
	}
}

static void
connection_cb(uv_stream_t *server, int status)
{
	uv_tcp_t *c;

	if (status < 0)
		return;
	if ((c = malloc(sizeof(*c))) == NULL)
		peer_die("malloc");
	uv_tcp_init(server->loop, c);
	if (uv_accept(server, (uv_stream_t *)c) < 0) {
		uv_close((uv_handle_t *)c, closed_cb);
		return;
	}
	uv_tcp_nodelay(c, 1);
	uv_read_start((uv_stream_t *)c, alloc_cb, read_cb);
}

int
main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t server;

	uv_tcp_init(loop, &server);
	/* The socket comes from peer_listen, as for the other C peers. */
	if (uv_tcp_open(&server, peer_listen(argc, argv)) < 0 ||
	    uv_listen((uv_stream_t *)&server, PEER_BACKLOG, connection_cb) < 0)
		peer_die("uv_listen");
	return uv_run(loop, UV_RUN_DEFAULT);
}
