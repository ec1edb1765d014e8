/*
 * A worker's io_uring (io = io_uring): connections move their bytes
 * through one ring per worker instead of read and write calls.
 *
 * libev keeps accept, the timers, the control channel and PROXY
 * headers, but the worker waits in the ring (ring_loop): libev's epoll
 * descriptor is polled through the ring, and libev takes a non-blocking
 * turn when that fires or its next timer is due.  The ring defers the
 * kernel's completion work to the worker's own io_uring_enter
 * (DEFER_TASKRUN), so nothing interrupts the thread mid-round and a
 * completion's receive never races the sender for the socket's lock; only
 * a wait inside io_uring_enter is woken promptly for that work, which is
 * why the ring, not epoll_wait, is where the worker sleeps.  One thread
 * submits (SINGLE_ISSUER): the ring is enabled in the worker's thread.
 * Each round is one enter: it sends the last round's echoes and waits for
 * and collects the next round's receives.
 *
 * Each Reading connection has one multishot receive armed, drawing from a
 * ring of provided buffers: an idle connection holds no buffer.  Bytes are
 * taken into the state machine (conn_owe) and the buffer goes back to the
 * ring at once, so a client that never reads holds nothing of the shared
 * ring; what it sent goes into its own connection buffer.  Once one of
 * its sends does not finish within its submission (the client's socket is
 * full) or it owes more than max_line, its receive is cancelled, leaving
 * the rest in the kernel's socket buffer and the client to TCP's flow
 * control.  A send is in flight at most once per connection, from its
 * buffer.
 *
 * A completion names its connection by token and by the connection's
 * number in the process: a slot reused before a late completion arrives
 * has another number, and the completion is dropped (its buffer returned).
 * A connection that closes with a send in flight leaves its buffer here
 * until the kernel is done with it.
 */
#include "server.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define RING_ENTRIES 4096u              /* submission queue entries */
/*
 * The provided receive buffers: 2 MiB per worker either way.  Where the
 * kernel can consume a buffer a piece at a time (Linux 6.12), a few large
 * ones let one receive take a long line whole; elsewhere every receive
 * takes a buffer of its own, however few bytes it brings, so they are
 * many and small.
 */
#define RING_BUFFER_BYTES (2u * 1024 * 1024)
#define RING_BUFFERS 1024u              /* the most: the ring's entries */
#define RING_SMALL_BUFFER 2048u         /* bytes of each, consumed whole */
#define RING_LARGE_BUFFER 65536u        /* bytes of each, consumed in pieces */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2             /* Linux 6.12; liburing 2.8 names it */
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1u << 4) /* the buffer has room for more */
#endif
#define RING_GROUP 0                    /* their buffer group */
#define RING_ROUNDS 8                   /* submit-and-collect rounds before the loop waits */
#define RING_QUIESCE_MS 2000            /* most a hand-over waits for the ring to settle */
#define RING_VALGRIND_SLICE 0.01        /* s: the longest wait under valgrind */
#define RING_KERNEL_MAJOR 6             /* the oldest kernel served: 6.1 */
#define RING_KERNEL_MINOR 1

/* user_data: token in the low bits, then the operation, then the id. */
#define RING_TOKEN_BITS 24
#define RING_OP_BITS 2
#define RING_ID_SHIFT (RING_TOKEN_BITS + RING_OP_BITS)
#define RING_WAKE_TOKEN 1               /* a RING_POLL of wakefd, not libev's */
#define RING_TOKEN_MASK ((UINT64_C(1) << RING_TOKEN_BITS) - 1)
#define RING_ID_MASK ((UINT64_C(1) << (64 - RING_ID_SHIFT)) - 1)

_Static_assert(RING_BUFFER_BYTES / RING_SMALL_BUFFER == RING_BUFFERS &&
    RING_BUFFER_BYTES % RING_LARGE_BUFFER == 0, "the ring's entries hold"
    " every buffer, cut either way");
_Static_assert(SERVER_LISTENERS + CONFIG_MAX_CONNECTIONS_MAX <
    (1u << RING_TOKEN_BITS), "every token fits in a completion's user_data");

enum ring_op {
	RING_POLL = 0,                  /* libev's epoll descriptor is readable */
	RING_RECV = 1,
	RING_SEND = 2,
	RING_CANCEL = 3,
};

/* A closed connection's buffer that a send in flight still reads. */
struct ring_orphan {
	uint64_t ud;                    /* the send's user_data */
	void *buf;
	uint32_t cap;                   /* for bufpool_put() */
};

struct server_ring {
	struct io_uring uring;
	struct io_uring_buf_ring *br;   /* the provided buffers' ring */
	char *bufs;                     /* RING_BUFFER_BYTES of them */
	unsigned nbufs, buf_size;       /* how they are cut */
	uint32_t *buf_used;             /* consumed in pieces: bytes of each
	                                   that completions have brought */
	unsigned inflight;              /* receives and sends whose last
	                                   completion has not come */
	bool quiescing;                 /* a hand-over: start nothing new */
	bool running;                   /* enabled, in the worker's thread */
	bool poll_armed;                /* libev's descriptor is polled */
	bool libev_due;                 /* ... and was found readable */
	bool libev_ran;                 /* libev's turn ran some callback */
	int epfd;                       /* libev's epoll descriptor */
	int wakefd;                     /* an eventfd other threads write to */
	bool wake_armed;                /* ... and it is polled */
	bool work_due;                  /* enter even with nothing to submit */
	struct ring_orphan *orphans;
	unsigned norphans, orphans_cap;
	uint64_t *sends;                /* user_data of the sends queued since
	                                   the last submission */
	unsigned nsends, sends_cap;
	uint64_t *judged;               /* those of the last submission */
	unsigned njudged, judged_cap;
};

int
ring_kernel_check(char *err, size_t errlen)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) == -1 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		snprintf(u.release, sizeof(u.release), "unknown");
	if (major > RING_KERNEL_MAJOR || (major == RING_KERNEL_MAJOR &&
	    minor >= RING_KERNEL_MINOR))
		return 0;
	snprintf(err, errlen, "[server] io: io_uring needs Linux %d.%d or"
	    " later; this kernel is %s (io = epoll runs on it)",
	    RING_KERNEL_MAJOR, RING_KERNEL_MINOR, u.release);
	return -1;
}

static int ring_libev_fd(struct ev_loop *loop);

static uint64_t
ring_ud(const struct server *s, uint32_t token, enum ring_op op)
{
	return ((s->ids[token] & RING_ID_MASK) << RING_ID_SHIFT) |
	    ((uint64_t)op << RING_TOKEN_BITS) | token;
}

/* A submission entry; the queue is submitted first when it is full. */
static struct io_uring_sqe *
ring_sqe(struct server_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

	if (sqe == NULL) {
		(void)io_uring_submit(&r->uring);
		sqe = io_uring_get_sqe(&r->uring);
	}
	return sqe;
}

/*
 * An entry for an operation of the connection's, or NULL when none could
 * be had even after a submission: the connection is then closed.
 */
static struct io_uring_sqe *
ring_conn_sqe(struct server *s, uint32_t token, const char *what)
{
	struct io_uring_sqe *sqe = ring_sqe(s->ring);

	if (sqe == NULL) {
		errno = EBUSY;
		session_fail(s, token, what);
	}
	return sqe;
}

static void
ring_cancel(struct server_ring *r, uint64_t ud)
{
	struct io_uring_sqe *sqe = ring_sqe(r);

	/* Without an entry the operation ends with its connection's socket. */
	if (sqe == NULL)
		return;
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)RING_CANCEL << RING_TOKEN_BITS);
}

/* Give a receive buffer back to the kernel. */
static void
ring_recycle(struct server_ring *r, unsigned bid)
{
	io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->buf_size,
	    r->buf_size, (unsigned short)bid,
	    io_uring_buf_ring_mask(r->nbufs), 0);
	io_uring_buf_ring_advance(r->br, 1);
}

/*
 * Where a receive's bytes are, and whether its buffer is ours again.  A
 * buffer consumed in pieces goes on from where its last completion ended,
 * and stays the kernel's while it says there is room for more.
 */
static const char *
ring_received_bytes(struct server_ring *r, unsigned bid, int res,
    unsigned flags, bool *done)
{
	const char *at = r->bufs + (size_t)bid * r->buf_size;

	*done = true;
	if (r->buf_used == NULL)
		return at;
	at += r->buf_used[bid];
	if (flags & IORING_CQE_F_BUF_MORE) {
		r->buf_used[bid] += (uint32_t)res;
		*done = false;
	} else {
		r->buf_used[bid] = 0;
	}
	return at;
}

/* Whether the connection should have a receive armed now. */
static bool
ring_wants_recv(const struct slot *sl)
{
	return !sl->ring_stopped && sl->conn.end == CONN_END_NONE &&
	    (sl->conn.state == CONN_READING || sl->conn.state == CONN_WRITING);
}

static void
ring_arm_recv(struct server *s, uint32_t token)
{
	struct server_ring *r = s->ring;
	struct slot *sl = server_slot(s, token);
	struct io_uring_sqe *sqe;

	if (sl->ring_recv || r->quiescing || !r->running ||
	    !ring_wants_recv(sl))
		return;
	sqe = ring_conn_sqe(s, token, "io_uring receive");
	if (sqe == NULL)
		return;
	io_uring_prep_recv_multishot(sqe, sl->io.fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RING_GROUP;
	io_uring_sqe_set_data64(sqe, ring_ud(s, token, RING_RECV));
	sl->ring_recv = 1;
	r->inflight++;
}

void
ring_send(struct server *s, uint32_t token)
{
	struct server_ring *r = s->ring;
	struct slot *sl = server_slot(s, token);
	struct io_uring_sqe *sqe;
	const char *data;
	size_t len;

	if (sl->ring_send || r->quiescing || !r->running)
		return;
	conn_pending(&sl->conn, &data, &len);
	if (len == 0)
		return;
	sqe = ring_conn_sqe(s, token, "io_uring send");
	if (sqe == NULL)
		return;
	io_uring_prep_send(sqe, sl->io.fd, data, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ring_ud(s, token, RING_SEND));
	sl->ring_send = 1;
	r->inflight++;
	if (r->nsends == r->sends_cap) {
		unsigned cap = r->sends_cap ? r->sends_cap * 2 : 64;
		uint64_t *p = realloc(r->sends, cap * sizeof(*p));

		/* Unjudged, it is still stopped by max_line (ring_settled). */
		if (p == NULL)
			return;
		r->sends = p;
		r->sends_cap = cap;
	}
	r->sends[r->nsends++] = ring_ud(s, token, RING_SEND);
}

void
ring_start(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);

	sl->ring_recv = sl->ring_send = sl->ring_stopped = 0;
	if (sl->conn.state == CONN_WRITING)
		ring_send(s, token);
	ring_arm_recv(s, token);
}

void
ring_settled(struct server *s, uint32_t token)
{
	struct slot *sl = server_slot(s, token);
	size_t owed = conn_unsent(&sl->conn) + conn_held(&sl->conn);

	if (sl->conn.state == CONN_WRITING)
		ring_send(s, token);
	if (sl->conn.state == CONN_READING) {
		/* Back-pressure is over: read again. */
		sl->ring_stopped = 0;
		ring_arm_recv(s, token);
	} else if (sl->ring_recv && !sl->ring_stopped &&
	    (sl->conn.end != CONN_END_NONE ||
	    owed > conn_max_line(&sl->conn, &s->pool))) {
		/*
		 * Input ended, or the client sends faster than it reads:
		 * stop taking it in.
		 */
		sl->ring_stopped = 1;
		ring_cancel(s->ring, ring_ud(s, token, RING_RECV));
	}
}

/* Keep b until the send ud completes: the kernel may still read it. */
static void
ring_orphan(struct server *s, uint64_t ud, struct conn_buf *b)
{
	struct server_ring *r = s->ring;

	if (r->norphans == r->orphans_cap) {
		unsigned cap = r->orphans_cap ? r->orphans_cap * 2 : 16;
		struct ring_orphan *o = realloc(r->orphans, cap * sizeof(*o));

		/* Better lost than freed under the kernel's feet. */
		if (o == NULL)
			return;
		r->orphans = o;
		r->orphans_cap = cap;
	}
	r->orphans[r->norphans++] = (struct ring_orphan){ ud, b, b->cap };
}

/* The send ud completed: give back every buffer it kept. */
static void
ring_free_orphans(struct server *s, uint64_t ud)
{
	struct server_ring *r = s->ring;

	for (unsigned i = 0; i < r->norphans;) {
		if (r->orphans[i].ud != ud) {
			i++;
			continue;
		}
		bufpool_put(&s->pool, r->orphans[i].buf, r->orphans[i].cap);
		r->orphans[i] = r->orphans[--r->norphans];
	}
}

void
ring_retire(struct server *s, uint32_t token, struct conn_buf *b)
{
	ring_orphan(s, ring_ud(s, token, RING_SEND), b);
}

void
ring_forget(struct server *s, uint32_t token)
{
	struct server_ring *r = s->ring;
	struct slot *sl = server_slot(s, token);

	if (sl->ring_recv)
		ring_cancel(r, ring_ud(s, token, RING_RECV));
	if (sl->ring_send) {
		uint64_t ud = ring_ud(s, token, RING_SEND);

		ring_cancel(r, ud);
		if (sl->conn.buf != NULL)
			ring_orphan(s, ud, sl->conn.buf);
		sl->conn.buf = NULL;
	}
	sl->ring_recv = sl->ring_send = 0;
	/* Late completions for the number it had are someone else's now. */
	s->ids[token] = 0;
}

/* The completion of a receive of a live connection. */
static void
ring_received(struct server *s, uint32_t token, int res, unsigned flags)
{
	struct server_ring *r = s->ring;
	struct slot *sl = server_slot(s, token);
	uint64_t id = s->ids[token];
	bool more = (flags & IORING_CQE_F_MORE) != 0;

	if (!more)
		sl->ring_recv = 0;
	if (res > 0) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		bool done;
		const char *bytes = ring_received_bytes(r, bid, res, flags,
		    &done);

		session_received(s, token, bytes, (size_t)res);
		if (done)
			ring_recycle(r, bid);
		/* It may have closed, and its slot been taken again. */
		if (s->ids[token] != id || more)
			return;
	} else if (res == 0) {
		session_end(s, token, CONN_END_CLIENT);
		return;
	} else if (res != -ECANCELED && res != -EINTR && res != -ENOBUFS) {
		errno = -res;
		session_fail(s, token, "read");
		return;
	}
	/* A receive ended without ending the connection: arm another. */
	ring_arm_recv(s, token);
}

static void
ring_sent(struct server *s, uint32_t token, int res)
{
	struct slot *sl = server_slot(s, token);

	sl->ring_send = 0;
	/*
	 * Cancelled, or interrupted where the kernel had handed the send to
	 * one of its worker threads, which a cancel (a hand-over's) signals:
	 * either way nothing was sent, and the bytes are still ours.  Send
	 * them again, unless a hand-over is taking them.
	 */
	if (res == -ECANCELED || res == -EINTR) {
		ring_send(s, token);
		return;
	}
	if (res < 0) {
		errno = -res;
		session_fail(s, token, "write");
		return;
	}
	session_sent(s, token, (size_t)res);
}

static void
ring_complete(struct server *s, const struct io_uring_cqe *cqe)
{
	struct server_ring *r = s->ring;
	uint64_t ud = cqe->user_data;
	uint32_t token = (uint32_t)(ud & RING_TOKEN_MASK);
	enum ring_op op = (enum ring_op)((ud >> RING_TOKEN_BITS) &
	    ((1u << RING_OP_BITS) - 1));
	bool live;

	if (op == RING_CANCEL)
		return;
	if (op == RING_POLL) {
		if (token == RING_WAKE_TOKEN) {
			uint64_t n;

			r->wake_armed = false;
			(void)read(r->wakefd, &n, sizeof(n));
		} else {
			r->poll_armed = false;
		}
		r->libev_due = true;
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		r->inflight--;
	live = token >= SERVER_LISTENERS && token < s->slab.capacity &&
	    s->ids[token] != 0 &&
	    (s->ids[token] & RING_ID_MASK) == ud >> RING_ID_SHIFT;
	if (op == RING_RECV) {
		if (live) {
			ring_received(s, token, cqe->res, cqe->flags);
		} else if (cqe->flags & IORING_CQE_F_BUFFER) {
			unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			bool done = r->buf_used == NULL;

			/*
			 * Nobody takes these bytes, but a buffer consumed in
			 * pieces still counts them, and may still be the
			 * kernel's: given back then, it would be in the ring
			 * twice.
			 */
			if (cqe->res > 0)
				(void)ring_received_bytes(r, bid, cqe->res,
				    cqe->flags, &done);
			if (done)
				ring_recycle(r, bid);
		}
	} else {
		if (r->norphans > 0)
			ring_free_orphans(s, ud);
		if (live)
			ring_sent(s, token, cqe->res);
	}
}

static void ring_wait_idle(struct server *s, int ms);

/* Take every completion waiting. */
static unsigned
ring_reap(struct server *s)
{
	struct io_uring *u = &s->ring->uring;
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(u, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;

		/* Seen before it is acted on: acting may submit and reap. */
		io_uring_cqe_seen(u, cqe);
		ring_complete(s, &copy);
		n++;
	}
	return n;
}

/*
 * A send the kernel did not finish within its submission found the
 * client's socket full: the client is not reading its echo.  Its receive
 * stops, as a readiness loop stops reading a connection it cannot write
 * to, and the bytes stay in the kernel.
 */
static void
ring_judge_sends(struct server *s)
{
	struct server_ring *r = s->ring;

	for (unsigned i = 0; i < r->njudged; i++) {
		uint64_t ud = r->judged[i];
		uint32_t token = (uint32_t)(ud & RING_TOKEN_MASK);
		struct slot *sl = server_slot(s, token);

		if (ring_ud(s, token, RING_SEND) != ud || s->ids[token] == 0 ||
		    !sl->ring_send || !sl->ring_recv || sl->ring_stopped)
			continue;
		sl->ring_stopped = 1;
		ring_cancel(r, ring_ud(s, token, RING_RECV));
	}
	r->njudged = 0;
}

/* The sends queued so far are the ones the next submission carries. */
static void
ring_take_sends(struct server_ring *r)
{
	uint64_t *p = r->judged;
	unsigned cap = r->judged_cap;

	r->judged = r->sends;
	r->judged_cap = r->sends_cap;
	r->njudged = r->nsends;
	r->sends = p;
	r->sends_cap = cap;
	r->nsends = 0;
}

/* Submit what is queued, and take what that completed, a few rounds. */
static void
ring_push(struct server *s)
{
	struct io_uring *u = &s->ring->uring;

	for (int round = 0; round < RING_ROUNDS &&
	    (io_uring_sq_ready(u) > 0 || s->ring->work_due); round++) {
		int rc;

		s->ring->work_due = false;
		ring_take_sends(s->ring);
		rc = io_uring_submit_and_get_events(u);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_error("%sio_uring_enter: %s", s->tag, strerror(-rc));
			break;
		}
		ring_reap(s);
		ring_judge_sends(s);
	}
	/* Whatever is left goes now; its completions wake the loop. */
	if (io_uring_sq_ready(u) > 0)
		(void)io_uring_submit(u);
}

void
ring_submit_now(struct server *s)
{
	s->ring->work_due = true;
	ring_push(s);
}

void
ring_run(struct server *s)
{
	struct server_ring *r = s->ring;
	int rc;

	if (r == NULL)
		return;
	/* Debian's liburing 2.3 declares io_uring_enable_rings() but lacks it. */
	rc = (int)syscall(__NR_io_uring_register, r->uring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (rc == -1) {
		log_error("%sio_uring: cannot enable the ring: %s", s->tag,
		    strerror(errno));
		return;
	}
	r->running = true;
	/* Each enter then skips looking the ring's descriptor up; optional. */
	(void)io_uring_register_ring_fd(&r->uring);
	/* A hand-over's connections were taken before this thread ran. */
	for (uint32_t t = s->idle_list.head; t != TIMEOUT_NONE;
	    t = timeout_next(&s->idle_list, t))
		if (server_slot(s, t)->conn.state != CONN_HEADER)
			ring_start(s, t);
}

/*
 * libev's epoll descriptor, which its API does not name: an embed watcher
 * learns it when started in another loop, and is stopped at once.
 */
static int
ring_libev_fd(struct ev_loop *loop)
{
	struct ev_loop *outer;
	ev_embed embed;
	int fd;

	if (ev_backend(loop) != EVBACKEND_EPOLL ||
	    !(ev_embeddable_backends() & EVBACKEND_EPOLL))
		return -1;
	outer = ev_loop_new(EVBACKEND_EPOLL);
	if (outer == NULL)
		return -1;
	ev_embed_init(&embed, NULL, loop);
	ev_embed_start(outer, &embed);
	fd = embed.io.fd;
	ev_embed_stop(outer, &embed);
	ev_loop_destroy(outer);
	return fd;
}

/* Poll fd through the ring once, unless *armed says it is. */
static void
ring_arm_poll(struct server_ring *r, int fd, uint32_t token, bool *armed)
{
	struct io_uring_sqe *sqe;

	if (*armed)
		return;
	sqe = ring_sqe(r);
	if (sqe == NULL)
		return;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe,
	    ((uint64_t)RING_POLL << RING_TOKEN_BITS) | token);
	*armed = true;
}

void
ring_wake(struct server *s)
{
	uint64_t one = 1;

	(void)write(s->ring->wakefd, &one, sizeof(one));
}

/* libev's callbacks, noting that some ran. */
static void
ring_invoke_pending(struct ev_loop *loop)
{
	struct server *s = ev_userdata(loop);

	if (ev_pending_count(loop) > 0)
		s->ring->libev_ran = true;
	ev_invoke_pending(loop);
}

/*
 * libev's turn: its events and due timers, without waiting.  A callback
 * that starts or stops a watcher changes libev's epoll set only when the
 * next turn begins, so turns follow while callbacks run (a few at most):
 * the set is whole before the ring polls it.
 */
static void
ring_run_libev(struct server *s)
{
	struct server_ring *r = s->ring;
	int turns = 0;

	r->libev_due = false;
	do {
		r->libev_ran = false;
		ev_run(s->loop, EVRUN_NOWAIT);
	} while (r->libev_ran && !s->broken && ++turns < RING_ROUNDS);
	/* Polled again at once: still readable, it completes at once. */
	ring_arm_poll(r, r->epfd, 0, &r->poll_armed);
	ring_arm_poll(r, r->wakefd, RING_WAKE_TOKEN, &r->wake_armed);
}

void
ring_loop(struct server *s)
{
	struct server_ring *r = s->ring;

	if (!r->running) {
		log_error("%sio_uring: the ring is not enabled; the worker"
		    " stops", s->tag);
		return;
	}
	ev_set_invoke_pending_cb(s->loop, ring_invoke_pending);
	ring_run_libev(s);
	while (!s->broken) {
		double next = server_next_timer(s);
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		int rc;

		/*
		 * valgrind 3.19 keeps its one lock over a thread blocked in
		 * io_uring_enter: every other thread (the owner's signals, the
		 * metrics endpoint) would wait for this one's next completion.
		 * There, the wait is cut into short slices.
		 */
		if (RUNNING_ON_VALGRIND && (next < 0 || next > RING_VALGRIND_SLICE))
			next = RING_VALGRIND_SLICE;

		if (next == 0) {
			ring_run_libev(s);
			continue;
		}
		ts.tv_sec = (long long)next;
		ts.tv_nsec = (long long)((next - (double)ts.tv_sec) * 1e9);
		ring_take_sends(r);
		rc = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1,
		    next > 0 ? &ts : NULL, NULL);
		ev_now_update(s->loop);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
		    rc != -EBUSY) {
			log_error("%sio_uring_enter: %s", s->tag, strerror(-rc));
			ring_run_libev(s);
			continue;
		}
		ring_reap(s);
		ring_judge_sends(s);
		if (r->libev_due || rc == -ETIME)
			ring_run_libev(s);
	}
}

void
ring_finish(struct server *s)
{
	if (s->ring == NULL || !s->ring->running)
		return;
	ring_push(s);
	ring_wait_idle(s, RING_QUIESCE_MS);
}

/* Wait up to ms for every receive and send to end, taking completions. */
static void
ring_wait_idle(struct server *s, int ms)
{
	struct server_ring *r = s->ring;
	uint64_t end_ns = server_monotonic_ns() + (uint64_t)ms * 1000000u;

	while (r->inflight > 0) {
		struct __kernel_timespec ts = { 0, 10 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		int rc;

		rc = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts,
		    NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
		    rc != -EBUSY)
			break;
		ring_reap(s);
		if (server_monotonic_ns() >= end_ns)
			break;
	}
}

void
ring_quiesce(struct server *s)
{
	struct server_ring *r = s->ring;

	r->quiescing = true;
	for (uint32_t t = s->idle_list.head; t != TIMEOUT_NONE;
	    t = timeout_next(&s->idle_list, t)) {
		struct slot *sl = server_slot(s, t);

		if (sl->ring_recv)
			ring_cancel(r, ring_ud(s, t, RING_RECV));
		if (sl->ring_send)
			ring_cancel(r, ring_ud(s, t, RING_SEND));
	}
	ring_wait_idle(s, RING_QUIESCE_MS);
	if (r->inflight > 0)
		log_error("%shand-over: %u io_uring operation(s) still in"
		    " flight after %d ms", s->tag, r->inflight, RING_QUIESCE_MS);
}

int
ring_init(struct server *s, char *err, size_t errlen)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		    IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
	};
	struct io_uring_buf_reg reg = { 0 };
	struct server_ring *r = calloc(1, sizeof(*r));
	size_t br_bytes = RING_BUFFERS * sizeof(struct io_uring_buf);
	int rc;

	if (r == NULL) {
		snprintf(err, errlen, "io_uring: out of memory");
		return -1;
	}
	r->wakefd = -1;
	rc = io_uring_queue_init_params(RING_ENTRIES, &r->uring, &p);
	if (rc < 0) {
		snprintf(err, errlen, "io_uring: cannot set up a ring: %s%s",
		    strerror(-rc), rc == -EPERM ? " (io_uring is disabled:"
		    " sysctl kernel.io_uring_disabled, or a seccomp filter such"
		    " as systemd's SystemCallFilter=; io = epoll runs)" : "");
		free(r);
		return -1;
	}
	/* Mapped, not malloc'ed: the kernel fills these pages, page-aligned. */
	r->br = mmap(NULL, br_bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Faulted in now: a fixed cost of the worker, not of its load. */
	r->bufs = mmap(NULL, RING_BUFFER_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	r->buf_used = calloc(RING_BUFFER_BYTES / RING_LARGE_BUFFER,
	    sizeof(*r->buf_used));
	if (r->br == MAP_FAILED || r->bufs == MAP_FAILED ||
	    r->buf_used == NULL) {
		snprintf(err, errlen, "io_uring: out of memory for %u KiB of"
		    " receive buffers", RING_BUFFER_BYTES / 1024);
		goto fail;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.bgid = RING_GROUP;
	r->buf_size = RING_LARGE_BUFFER;
	r->nbufs = RING_BUFFER_BYTES / r->buf_size;
	reg.ring_entries = r->nbufs;
	/* liburing 2.3 calls the flags "pad". */
	reg.pad = IOU_PBUF_RING_INC;
	rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
	if (rc == -EINVAL) {
		/* Before Linux 6.12: every receive takes a buffer whole. */
		free(r->buf_used);
		r->buf_used = NULL;
		r->buf_size = RING_SMALL_BUFFER;
		r->nbufs = RING_BUFFER_BYTES / r->buf_size;
		reg.ring_entries = r->nbufs;
		reg.pad = 0;
		rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
	}
	if (rc < 0) {
		snprintf(err, errlen, "io_uring: cannot register receive"
		    " buffers: %s", strerror(-rc));
		goto fail;
	}
	io_uring_buf_ring_init(r->br);
	for (unsigned i = 0; i < r->nbufs; i++)
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * r->buf_size,
		    r->buf_size, (unsigned short)i,
		    io_uring_buf_ring_mask(r->nbufs), (int)i);
	io_uring_buf_ring_advance(r->br, r->nbufs);
	log_debug("%sio_uring: %u receive buffers of %u KiB, %s", s->tag,
	    r->nbufs, r->buf_size / 1024, r->buf_used != NULL ?
	    "consumed in pieces" : "each receive taking one whole");
	r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wakefd == -1) {
		snprintf(err, errlen, "io_uring: eventfd: %s", strerror(errno));
		goto fail;
	}
	r->epfd = ring_libev_fd(s->loop);
	if (r->epfd == -1) {
		snprintf(err, errlen, "io_uring: cannot poll the event loop's"
		    " descriptor (libev's backend is not epoll)");
		goto fail;
	}
	s->ring = r;
	return 0;
fail:
	if (r->wakefd != -1)
		close(r->wakefd);
	if (r->br != MAP_FAILED && r->br != NULL)
		munmap(r->br, br_bytes);
	if (r->bufs != MAP_FAILED && r->bufs != NULL)
		munmap(r->bufs, RING_BUFFER_BYTES);
	free(r->buf_used);
	io_uring_queue_exit(&r->uring);
	free(r);
	return -1;
}

void
ring_destroy(struct server *s)
{
	struct server_ring *r = s->ring;

	if (r == NULL)
		return;
	/*
	 * Not the worker's thread: nothing can be submitted from here.
	 * Closing the ring cancels what is left; the requests end without
	 * touching memory once their task is gone.
	 */
	io_uring_queue_exit(&r->uring);
	close(r->wakefd);
	/* The ring is gone, and with it every reader of these. */
	for (unsigned i = 0; i < r->norphans; i++)
		bufpool_put(&s->pool, r->orphans[i].buf, r->orphans[i].cap);
	free(r->orphans);
	free(r->sends);
	free(r->judged);
	munmap(r->br, RING_BUFFERS * sizeof(struct io_uring_buf));
	munmap(r->bufs, RING_BUFFER_BYTES);
	free(r->buf_used);
	free(r);
	s->ring = NULL;
}
