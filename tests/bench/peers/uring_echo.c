/*
 * A minimal io_uring echo server: one thread, one ring.  A peer of
 * pingpongd in make bench-peers, the completion-based counterpart of
 * epoll_echo.
 *
 *   uring_echo PORT        (0: any free port)
 *
 * Listens on 127.0.0.1, prints "port N" once it does, and echoes every
 * byte back, in order, as it arrives.  One multishot accept stays armed on
 * the listening socket and one multishot receive on each connection, so
 * reading costs no submission once a connection is up: the kernel picks each
 * receive's buffer from a ring of 1024 buffers of 16 KiB that this program
 * hands back as soon as it is done with them.  Received bytes are sent
 * straight from their ring buffer, which stays out of the ring until the
 * send has taken all of it; a connection keeps at most one send in flight,
 * so bytes that arrive meanwhile are copied to its own heap buffer, in
 * order, and their ring buffer goes back at once: a client that does not
 * read its echo then holds one ring buffer, never all of them, and once it
 * has 1 MiB queued its receive is cancelled until the queue has gone out,
 * so that TCP holds it back as it does under epoll_echo.  The sends
 * and re-arms a batch of completions asks for go into the kernel with the
 * wait for the next ones, one io_uring_submit_and_wait per turn of the
 * loop.  A connection is closed once no request of it is in flight, so no
 * late completion can be taken for a newer connection on the same
 * descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

#define SQ_ENTRIES 4096                 /* submissions per io_uring_enter */
/*
 * Every connection of the 10,000-connection row may complete a receive and
 * a send in one turn: room for them all keeps the kernel off its slower
 * overflow list.
 */
#define CQ_ENTRIES 32768
#define NBUFS 1024                      /* ring buffers, a power of two */
#define BUF_SIZE (16 * 1024)            /* bytes of one ring buffer */
#define BGID 0                          /* the one buffer group */
/*
 * Bytes a connection may have queued behind its send before it is read no
 * more: a client that sends without reading its echo is held back by TCP,
 * as epoll_echo holds it, and not by this process running out of memory.
 */
#define QUEUE_MAX (1024 * 1024)

/* What a completion is for: the high half of its user_data. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CANCEL, OP_CLOSE };

struct conn {
	unsigned char c_recv;           /* its multishot receive is armed */
	unsigned char c_sending;        /* a send of it is in flight */
	unsigned char c_eof;            /* its input ended */
	unsigned char c_failed;         /* it failed: owes nothing more */
	unsigned char c_paused;         /* not read: its queue is full */
	int c_bid;                      /* ring buffer the send reads, or -1 */
	char *c_out;                    /* the bytes of that send */
	size_t c_off;                   /* of them, bytes the kernel took */
	size_t c_len;                   /* bytes in c_out */
	char *c_q;                      /* bytes received while sending */
	size_t c_qlen, c_qcap;
	char *c_spare;                  /* the other heap buffer, for reuse */
	size_t c_sparecap;
	size_t c_outcap;                /* c_out's size when it is a heap one */
};

static struct io_uring ring;
static struct io_uring_buf_ring *bufring;
static char *bufs;                      /* NBUFS x BUF_SIZE bytes */
static int returned;                    /* buffers added, not yet published */
static struct conn *conns;              /* indexed by descriptor */
static size_t nconns;
static int lfd;

static uint64_t
tag(enum op op, int fd)
{
	return (uint64_t)op << 32 | (uint32_t)fd;
}

/*
 * The kernel must see the buffers handed back before any receive that is
 * submitted after them, or it reports -ENOBUFS for nothing.
 */
static void
publish_buffers(void)
{
	if (returned > 0) {
		io_uring_buf_ring_advance(bufring, returned);
		returned = 0;
	}
}

static void
return_buffer(int bid)
{
	io_uring_buf_ring_add(bufring, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
	    (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), returned++);
}

/* A free SQE; a full queue is submitted first rather than dropped. */
static struct io_uring_sqe *
sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (sqe == NULL) {
		publish_buffers();
		if (io_uring_submit(&ring) < 0 ||
		    (sqe = io_uring_get_sqe(&ring)) == NULL) {
			errno = EBUSY;
			peer_die("io_uring_get_sqe");
		}
	}
	return sqe;
}

static void
arm_accept(void)
{
	struct io_uring_sqe *sqe = sqe_get();

	/* Blocking sockets: io_uring waits for readiness itself. */
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, tag(OP_ACCEPT, lfd));
}

static void
arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, tag(OP_RECV, fd));
	conns[fd].c_recv = 1;
}

/* Send what c_out still holds. */
static void
send_rest(int fd)
{
	struct conn *c = &conns[fd];
	struct io_uring_sqe *sqe = sqe_get();

	/* A client gone away must cost an -EPIPE, not the process. */
	io_uring_prep_send(sqe, fd, c->c_out + c->c_off, c->c_len - c->c_off,
	    MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, tag(OP_SEND, fd));
	c->c_sending = 1;
}

/* Close FD once nothing of it is in flight and nothing more is owed. */
static void
maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	struct io_uring_sqe *sqe;

	if (c->c_recv || c->c_sending || !(c->c_eof || c->c_failed))
		return;
	free(c->c_q);
	free(c->c_spare);
	memset(c, 0, sizeof(*c));
	/*
	 * In the batch, not a close(2) of its own; the descriptor cannot be
	 * accepted again before the kernel has run it.
	 */
	sqe = sqe_get();
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, tag(OP_CLOSE, fd));
}

/* Owe nothing more; the receive, if armed, is cancelled so FD can close. */
static void
fail(int fd)
{
	struct conn *c = &conns[fd];

	if (!c->c_failed) {
		c->c_failed = 1;
		c->c_qlen = 0;
		if (c->c_recv) {
			struct io_uring_sqe *sqe = sqe_get();

			io_uring_prep_cancel64(sqe, tag(OP_RECV, fd), 0);
			io_uring_sqe_set_data64(sqe, tag(OP_CANCEL, fd));
		}
	}
	maybe_close(fd);
}

/* Stop reading FD until its queue has gone out. */
static void
pause_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();

	conns[fd].c_paused = 1;
	io_uring_prep_cancel64(sqe, tag(OP_RECV, fd), 0);
	io_uring_sqe_set_data64(sqe, tag(OP_CANCEL, fd));
}

/* Append P[0..N) to the bytes that wait for the send in flight. */
static void
queue(struct conn *c, const char *p, size_t n)
{
	if (c->c_qlen + n > c->c_qcap) {
		size_t cap = c->c_qcap ? c->c_qcap : BUF_SIZE;
		char *q;

		while (cap < c->c_qlen + n)
			cap *= 2;
		if ((q = realloc(c->c_q, cap)) == NULL)
			peer_die("realloc");
		c->c_q = q;
		c->c_qcap = cap;
	}
	memcpy(c->c_q + c->c_qlen, p, n);
	c->c_qlen += n;
}

static void
on_accept(const struct io_uring_cqe *cqe)
{
	int fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept();
	if (fd < 0)
		return;
	if ((size_t)fd >= nconns) {
		close(fd);
		return;
	}
	peer_tune(fd);
	conns[fd].c_bid = -1;
	arm_recv(fd);
}

static void
on_recv(int fd, const struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	int bid = -1;

	if (cqe->flags & IORING_CQE_F_BUFFER)
		bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	if (!more)
		c->c_recv = 0;
	if (cqe->res > 0 && bid >= 0 && !c->c_failed) {
		char *p = bufs + (size_t)bid * BUF_SIZE;

		if (c->c_sending) {
			queue(c, p, (size_t)cqe->res);
			if (c->c_qlen >= QUEUE_MAX && c->c_recv &&
			    !c->c_paused)
				pause_recv(fd);
		} else {
			c->c_out = p;
			c->c_bid = bid;
			c->c_off = 0;
			c->c_len = (size_t)cqe->res;
			send_rest(fd);
			bid = -1;       /* the send returns it */
		}
	}
	if (bid >= 0)
		return_buffer(bid);
	/* Only fail() and pause_recv() cancel, and fail() marks it first. */
	if (cqe->res < 0 && cqe->res != -ENOBUFS &&
	    (cqe->res != -ECANCELED || c->c_failed)) {
		fail(fd);
		return;
	}
	if (cqe->res == 0)
		c->c_eof = 1;
	else if (!c->c_recv && !c->c_failed && !c->c_paused)
		/* A multishot ends at times (no buffer free, say): re-arm it. */
		arm_recv(fd);
	maybe_close(fd);
}

static void
on_send(int fd, const struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	char *heap;
	size_t cap;

	c->c_sending = 0;
	if (cqe->res <= 0 || c->c_failed) {
		/* A send that took nothing would be retried for ever. */
		if (c->c_bid >= 0)
			return_buffer(c->c_bid);
		else
			free(c->c_out);
		c->c_bid = -1;
		c->c_out = NULL;
		fail(fd);
		return;
	}
	c->c_off += (size_t)cqe->res;
	if (c->c_off < c->c_len) {
		send_rest(fd);
		return;
	}
	if (c->c_bid >= 0) {
		return_buffer(c->c_bid);
		c->c_bid = -1;
		heap = NULL;
		cap = 0;
	} else {
		heap = c->c_out;
		cap = c->c_outcap;
	}
	c->c_out = NULL;
	if (c->c_qlen > 0) {
		/* The queue goes out whole; the buffer just sent takes its place. */
		if (heap == NULL) {
			heap = c->c_spare;
			cap = c->c_sparecap;
			c->c_spare = NULL;
			c->c_sparecap = 0;
		}
		c->c_out = c->c_q;
		c->c_outcap = c->c_qcap;
		c->c_off = 0;
		c->c_len = c->c_qlen;
		c->c_q = heap;
		c->c_qcap = cap;
		c->c_qlen = 0;
		if (c->c_paused) {
			c->c_paused = 0;
			/* Still armed while its cancel is on the way: re-armed then. */
			if (!c->c_recv && !c->c_eof)
				arm_recv(fd);
		}
		send_rest(fd);
		return;
	}
	if (heap != NULL) {
		free(c->c_spare);
		c->c_spare = heap;
		c->c_sparecap = cap;
	}
	maybe_close(fd);
}

static void
on_cqe(const struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	int fd = (int)(uint32_t)data;

	switch (data >> 32) {
	case OP_ACCEPT:
		on_accept(cqe);
		break;
	case OP_RECV:
		on_recv(fd, cqe);
		break;
	case OP_SEND:
		on_send(fd, cqe);
		break;
	default:
		/* A cancel finds its receive gone, a close fails: nothing to do. */
		break;
	}
}

/*
 * The ring, set up for one thread that only submits from io_uring_enter:
 * completions' task work then runs when this thread waits, not as
 * interrupts of its work.  Older kernels refuse those flags.
 */
static void
setup_ring(void)
{
	struct io_uring_params p;
	int r;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
	    IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = CQ_ENTRIES;
	if ((r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p)) == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	if (r < 0) {
		errno = -r;
		peer_die("io_uring_queue_init_params");
	}
}

static void
setup_buffers(void)
{
	struct io_uring_buf_reg reg;
	size_t ringsize = NBUFS * sizeof(struct io_uring_buf);
	int r;

	/* The kernel wants the ring page-aligned: mmap, not malloc. */
	bufring = mmap(NULL, ringsize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Untouched pages cost no memory: the idle row pays for none. */
	bufs = mmap(NULL, (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufring == MAP_FAILED || bufs == MAP_FAILED)
		peer_die("mmap");
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)bufring;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	if ((r = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
		errno = -r;
		peer_die("io_uring_register_buf_ring");
	}
	io_uring_buf_ring_init(bufring);
	for (int bid = 0; bid < NBUFS; bid++)
		return_buffer(bid);
	publish_buffers();
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	int flags;

	lfd = peer_listen(argc, argv);
	/* Blocking like the accepted sockets, so no accept ends in -EAGAIN. */
	if ((flags = fcntl(lfd, F_GETFL)) == -1 ||
	    fcntl(lfd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		peer_die("fcntl");
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		peer_die("getrlimit");
	nconns = rl.rlim_cur;
	/* calloc maps zero pages: entries never touched cost no memory. */
	if ((conns = calloc(nconns, sizeof(*conns))) == NULL)
		peer_die("malloc");
	setup_ring();
	setup_buffers();
	arm_accept();
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int r;

		publish_buffers();
		r = io_uring_submit_and_wait(&ring, 1);
		/* -EBUSY: completions are backed up; reaping them is the cure. */
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			errno = -r;
			peer_die("io_uring_submit_and_wait");
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			on_cqe(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
}
