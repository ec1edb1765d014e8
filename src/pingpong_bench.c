#include "pingpong_bench.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pingpong_common.h"
#include "pingpong_hist.h"
#include "pingpong_line.h"
#include "pingpong_report.h"

#define BENCH_BUF (256u * 1024)         /* bytes per read, and per write */
#define BENCH_PIECES 512                /* per writev: 256 lines of 1 KiB */
#define PROGRESS_WIDTH 79               /* columns the progress line clears */
#define FDS_PER_THREAD 8                /* an event loop's own descriptors */
#define FDS_SPARE 16                    /* stdio, resolver, and margin */
#define PORT_RETRY_S 0.01               /* --cycle: wait for a free local port */

enum bconn_state {
	BC_CLOSED,                      /* no socket: not started, done or failed */
	BC_CONNECTING,                  /* connect in progress */
	BC_OPEN,                        /* connected */
};

struct bthread;

/* One connection of the load; its line contents are stream bc_stream. */
struct bconn {
	ev_io bc_io;                    /* its socket's watcher */
	struct bthread *bc_thread;      /* the loop it runs on */
	int bc_fd;                      /* the socket, -1 when closed */
	uint32_t bc_stream;             /* which lines it sends */
	enum bconn_state bc_state;
	bool bc_writing;                /* bc_io waits for EV_WRITE too */
	bool bc_dead;                   /* failed: never used again */
	struct pp_check bc_check;       /* the echo; chk_seq is the next line due */
	uint64_t bc_wr_seq;             /* next byte to write: its line ... */
	size_t bc_wr_off;               /* ... and offset */
	uint64_t bc_written;            /* bytes written */
	uint64_t bc_echoed;             /* bytes read back */
	uint64_t *bc_sent_ns;           /* ring: when each line in flight was sent */
	uint64_t bc_start_ns;           /* --cycle: when this cycle's connect began */
	ev_timer bc_retry;              /* --cycle: try the connect again */
};

/*
 * A start line the threads all cross together, so that every connection
 * is up before the clock starts.  Unlike a pthread barrier, the number of
 * parties can drop when a thread cannot be created.
 */
struct gate {
	pthread_mutex_t g_lock;
	pthread_cond_t g_open;
	uint32_t g_expected;            /* parties still to arrive, at most */
	uint32_t g_arrived;             /* parties waiting */
};

struct bench;

/* One event loop and the connections it drives. */
struct bthread {
	struct bench *bt_bench;
	struct ev_loop *bt_loop;
	pthread_t bt_tid;               /* when bt_started */
	bool bt_started;                /* a thread of its own is running it */
	bool bt_main;                   /* the main thread: signals, progress */
	bool bt_ran;                    /* it got past the start line */
	struct bconn *bt_conns;
	uint32_t bt_nconns;
	uint64_t *bt_ring;              /* every connection's bc_sent_ns */
	uint32_t bt_connecting;         /* connections not yet connected */
	uint32_t bt_active;             /* connections not failed */
	ev_timer bt_connect_timer;      /* connecting gives up after the timeout */
	ev_timer bt_end_timer;          /* the run lasts opts->seconds */
	ev_async bt_stop;               /* another thread says: stop now */
	char *bt_rbuf;                  /* BENCH_BUF bytes for reads */
	char *bt_wbuf;                  /* BENCH_BUF bytes for writes */
	struct pp_gather bt_gather;     /* a writev's pieces, some in bt_wbuf */
	uint64_t bt_lines;              /* lines (or cycles) echoed intact */
	uint64_t bt_corrupted;          /* lines echoed wrong */
	uint64_t bt_errors;             /* connections that failed */
	uint64_t bt_port_waits;         /* --cycle: connects put off for a port */
	_Atomic uint64_t bt_pub_lines;  /* bt_lines, for the progress line */
	_Atomic uint64_t bt_pub_errors; /* bt_errors, likewise */
	uint64_t bt_start_ns;           /* the run began on this loop */
	uint64_t bt_end_ns;             /* and ended */
	char bt_first[PP_ERROR_MAX];    /* its first failure or corruption */
	struct pp_hist bt_hist;         /* latencies */
};

struct bench {
	const struct pp_bench_opts *b_opts;
	const struct pp_target *b_target;
	struct bthread **b_threads;
	uint32_t b_nthreads;
	uint64_t b_ring_mask;           /* per-connection ring size - 1 */
	struct gate b_gate;
	atomic_bool b_stop;             /* every loop is to stop */
	atomic_uint b_active;           /* connections not failed, all threads */
	atomic_bool b_interrupted;      /* SIGINT arrived */
	bool b_progress;                /* stdout is a terminal */
	ev_signal b_sigint;             /* on the main loop */
	ev_timer b_progress_timer;      /* on the main loop, each second */
	uint64_t b_progress_lines;      /* lines at the last progress line */
	uint64_t b_progress_ns;         /* and when it was printed */
	bool b_progress_shown;          /* a progress line is on the screen */
};

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void cycle_begin(struct bthread *t, struct bconn *c, uint64_t now);

static void
gate_init(struct gate *g, uint32_t parties)
{
	pthread_mutex_init(&g->g_lock, NULL);
	pthread_cond_init(&g->g_open, NULL);
	g->g_expected = parties;
	g->g_arrived = 0;
}

static void
gate_arrive(struct gate *g)
{
	pthread_mutex_lock(&g->g_lock);
	g->g_arrived++;
	if (g->g_arrived >= g->g_expected)
		pthread_cond_broadcast(&g->g_open);
	while (g->g_arrived < g->g_expected)
		pthread_cond_wait(&g->g_open, &g->g_lock);
	pthread_mutex_unlock(&g->g_lock);
}

/* A party that will never arrive. */
static void
gate_forfeit(struct gate *g)
{
	pthread_mutex_lock(&g->g_lock);
	g->g_expected--;
	if (g->g_arrived >= g->g_expected)
		pthread_cond_broadcast(&g->g_open);
	pthread_mutex_unlock(&g->g_lock);
}

static void
gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->g_open);
	pthread_mutex_destroy(&g->g_lock);
}

static bool
stopping(const struct bench *b)
{
	return atomic_load_explicit(&b->b_stop, memory_order_relaxed);
}

/* Every loop stops: self's at once, the others through their ev_async. */
static void
stop_all(struct bench *b, struct bthread *self)
{
	atomic_store(&b->b_stop, true);
	for (uint32_t i = 0; i < b->b_nthreads; i++) {
		struct bthread *t = b->b_threads[i];

		if (t != self && t->bt_loop != NULL)
			ev_async_send(t->bt_loop, &t->bt_stop);
	}
	if (self != NULL)
		ev_break(self->bt_loop, EVBREAK_ALL);
}

/* Keep the thread's first problem: the report names it. */
static void
note_first_v(struct bthread *t, const char *fmt, va_list ap)
{
	if (t->bt_first[0] == '\0')
		vsnprintf(t->bt_first, sizeof(t->bt_first), fmt, ap);
}

static void
note_first(struct bthread *t, const char *fmt, ...) PP_PRINTF(2, 3);

static void
note_first(struct bthread *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_first_v(t, fmt, ap);
	va_end(ap);
}

static void
conn_close(struct bconn *c)
{
	if (c->bc_fd != -1) {
		ev_io_stop(c->bc_thread->bt_loop, &c->bc_io);
		close(c->bc_fd);
		c->bc_fd = -1;
	}
	c->bc_state = BC_CLOSED;
	c->bc_writing = false;
}

/*
 * A connection is done for: closed and never used again.  It counts as an
 * error unless the echo it got was merely wrong (counted as corrupted).
 * When no connection is left anywhere the whole run stops.
 */
static void
conn_fail(struct bconn *c, bool error, const char *fmt, ...) PP_PRINTF(3, 4);

static void
conn_fail(struct bconn *c, bool error, const char *fmt, ...)
{
	struct bthread *t = c->bc_thread;
	struct bench *b = t->bt_bench;
	va_list ap;

	if (c->bc_dead)
		return;
	va_start(ap, fmt);
	note_first_v(t, fmt, ap);
	va_end(ap);
	if (error) {
		t->bt_errors++;
		atomic_store_explicit(&t->bt_pub_errors, t->bt_errors,
		    memory_order_relaxed);
	}
	conn_close(c);
	c->bc_dead = true;
	t->bt_active--;
	if (atomic_fetch_sub(&b->b_active, 1) == 1)
		stop_all(b, t);
	else if (t->bt_active == 0 && !t->bt_main)
		ev_break(t->bt_loop, EVBREAK_ALL);
}

static void
set_writing(struct bconn *c, bool on)
{
	struct ev_loop *loop = c->bc_thread->bt_loop;

	if (c->bc_writing == on)
		return;
	c->bc_writing = on;
	ev_io_stop(loop, &c->bc_io);
	ev_io_modify(&c->bc_io, EV_READ | (on ? EV_WRITE : 0));
	ev_io_start(loop, &c->bc_io);
}

/* A corrupted line: counted, and the first one described. */
static void
corrupted(struct bthread *t, const struct bconn *c, const struct pp_verdict *v)
{
	t->bt_corrupted++;
	note_first(t, "connection %" PRIu32 " line %" PRIu64 ": byte %" PRIu64
	    " is 0x%02x, sent 0x%02x", c->bc_stream, v->seq, v->bad_at + 1,
	    v->got, v->want);
}

/*
 * Fill the window: every line that may be in flight and is not yet
 * written goes out in one write, stamped with one clock reading.  The
 * write gathers its pieces, so that the filler of long lines goes from
 * one static table to the kernel without a copy on the way.
 */
static void
bench_send(struct bthread *t, struct bconn *c)
{
	const struct pp_bench_opts *o = t->bt_bench->b_opts;
	uint64_t mask = t->bt_bench->b_ring_mask;

	for (;;) {
		uint64_t limit = c->bc_check.chk_seq + o->depth;
		uint64_t first = c->bc_wr_seq, now;
		size_t n = pp_line_gather(&t->bt_gather, c->bc_stream, o->size,
		    c->bc_wr_seq, c->bc_wr_off, limit, BENCH_BUF);
		ssize_t w;

		if (n == 0) {
			set_writing(c, false);
			return;
		}
		now = pp_now_ns();
		/* One piece is the rule for short lines: write costs the least. */
		if (t->bt_gather.g_count == 1)
			w = write(c->bc_fd, t->bt_gather.g_iov[0].iov_base, n);
		else
			w = writev(c->bc_fd, t->bt_gather.g_iov,
			    t->bt_gather.g_count);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_writing(c, true);
				return;
			}
			conn_fail(c, true, "write %s: %s",
			    t->bt_bench->b_target->tg_text, strerror(errno));
			return;
		}
		c->bc_written += (uint64_t)w;
		pp_line_advance(o->size, &c->bc_wr_seq, &c->bc_wr_off,
		    (size_t)w);
		for (uint64_t s = first; s < c->bc_wr_seq; s++)
			c->bc_sent_ns[s & mask] = now;
		if ((size_t)w < n) {
			set_writing(c, true);
			return;
		}
	}
}

/*
 * Read once into the loop's large buffer and check every byte of it.
 * Returns false when the connection failed.
 */
static bool
bench_read(struct bthread *t, struct bconn *c)
{
	const char *target = t->bt_bench->b_target->tg_text;
	uint64_t mask = t->bt_bench->b_ring_mask;
	ssize_t n = read(c->bc_fd, t->bt_rbuf, BENCH_BUF);
	struct pp_echo e;
	struct pp_verdict v;
	uint64_t now;

	if (n == 0) {
		conn_fail(c, true, "%s closed the connection", target);
		return false;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;
		conn_fail(c, true, "read %s: %s", target, strerror(errno));
		return false;
	}
	now = pp_now_ns();
	pp_echo_take(&e, t->bt_rbuf, (size_t)n, c->bc_written, &c->bc_echoed);
	while (pp_echo_next(&e, &c->bc_check, &v)) {
		if (v.intact) {
			pp_hist_record(&t->bt_hist,
			    now - c->bc_sent_ns[v.seq & mask]);
			t->bt_lines++;
		} else {
			corrupted(t, c, &v);
		}
	}
	atomic_store_explicit(&t->bt_pub_lines, t->bt_lines,
	    memory_order_relaxed);
	if (e.e_extra > 0) {
		t->bt_corrupted++;
		conn_fail(c, false, "%s echoed bytes that were never sent",
		    target);
		return false;
	}
	return true;
}

/* The connecting phase: one connection's connect has finished. */
static void
connect_done(struct bthread *t, struct bconn *c)
{
	int error = pp_connect_result(c->bc_fd);

	t->bt_connecting--;
	if (error != 0) {
		conn_fail(c, true, "connect %s: %s",
		    t->bt_bench->b_target->tg_text, strerror(error));
	} else {
		c->bc_state = BC_OPEN;
		ev_io_stop(t->bt_loop, &c->bc_io);
		ev_io_modify(&c->bc_io, EV_READ);
	}
	if (t->bt_connecting == 0)
		ev_break(t->bt_loop, EVBREAK_ALL);
}

static void
connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bthread *t = w->data;

	(void)revents;
	for (uint32_t i = 0; i < t->bt_nconns; i++) {
		struct bconn *c = &t->bt_conns[i];

		if (c->bc_state != BC_CONNECTING)
			continue;
		t->bt_connecting--;
		conn_fail(c, true, "connect %s: timed out",
		    t->bt_bench->b_target->tg_text);
	}
	ev_break(loop, EVBREAK_ALL);
}

/*
 * --cycle: close with a reset.  An orderly close would leave the local
 * port in TIME_WAIT, and the kernel reuses those only after a second:
 * the local port range, not the service, would set the rate.
 */
static void
abort_close(struct bconn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(c->bc_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(c);
}

/* --cycle: write this cycle's one line, then wait for its echo. */
static void
cycle_write(struct bthread *t, struct bconn *c)
{
	size_t size = t->bt_bench->b_opts->size;

	while (c->bc_wr_off < size) {
		size_t n = pp_line_fill_stream(c->bc_stream, size,
		    c->bc_wr_seq, c->bc_wr_off, c->bc_wr_seq + 1, t->bt_wbuf,
		    BENCH_BUF);
		ssize_t w = write(c->bc_fd, t->bt_wbuf, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_fail(c, true, "write %s: %s",
			    t->bt_bench->b_target->tg_text, strerror(errno));
			return;
		}
		c->bc_written += (uint64_t)w;
		c->bc_wr_off += (size_t)w;
	}
	ev_io_stop(t->bt_loop, &c->bc_io);
	ev_io_modify(&c->bc_io, EV_READ);
	ev_io_start(t->bt_loop, &c->bc_io);
}

static void
cycle_read(struct bthread *t, struct bconn *c)
{
	const char *target = t->bt_bench->b_target->tg_text;
	ssize_t n = read(c->bc_fd, t->bt_rbuf, BENCH_BUF);
	struct pp_echo e;
	struct pp_verdict v;
	uint64_t now;
	bool done;

	if (n == 0) {
		conn_fail(c, true, "%s closed the connection before the echo",
		    target);
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_fail(c, true, "read %s: %s", target,
			    strerror(errno));
		return;
	}
	now = pp_now_ns();
	pp_echo_take(&e, t->bt_rbuf, (size_t)n, c->bc_written, &c->bc_echoed);
	done = pp_echo_next(&e, &c->bc_check, &v);
	/* The one line sent, and something more. */
	if (e.e_len > 0 || e.e_extra > 0) {
		t->bt_corrupted++;
		conn_fail(c, false, "%s echoed bytes that were never sent",
		    target);
		return;
	}
	if (!done)
		return;
	if (v.intact) {
		pp_hist_record(&t->bt_hist, now - c->bc_start_ns);
		t->bt_lines++;
		atomic_store_explicit(&t->bt_pub_lines, t->bt_lines,
		    memory_order_relaxed);
	} else {
		corrupted(t, c, &v);
	}
	abort_close(c);
	c->bc_wr_seq++;
	if (!stopping(t->bt_bench))
		cycle_begin(t, c, now);
}

static void
cycle_begin(struct bthread *t, struct bconn *c, uint64_t now)
{
	const struct pp_bench_opts *o = t->bt_bench->b_opts;
	int fd = pp_target_start_connect(t->bt_bench->b_target);

	/*
	 * Each cycle leaves its local port in TIME_WAIT, and the kernel hands
	 * one out again only after a second: past that rate the local ports
	 * run out.  That limits the client, not the service, so wait.
	 */
	if (fd == -1 && errno == EADDRNOTAVAIL) {
		t->bt_port_waits++;
		ev_timer_set(&c->bc_retry, PORT_RETRY_S, 0.);
		ev_timer_start(t->bt_loop, &c->bc_retry);
		return;
	}
	if (fd == -1) {
		conn_fail(c, true, "connect %s: %s",
		    t->bt_bench->b_target->tg_text, strerror(errno));
		return;
	}
	c->bc_fd = fd;
	c->bc_state = BC_CONNECTING;
	c->bc_start_ns = now;
	c->bc_wr_off = 0;
	c->bc_written = c->bc_echoed = 0;
	pp_check_init(&c->bc_check, c->bc_stream, o->size, c->bc_wr_seq);
	ev_io_set(&c->bc_io, fd, EV_WRITE);
	ev_io_start(t->bt_loop, &c->bc_io);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bconn *c = w->data;

	(void)loop;
	(void)revents;
	if (!stopping(c->bc_thread->bt_bench))
		cycle_begin(c->bc_thread, c, pp_now_ns());
}

static void
cycle_io(struct bthread *t, struct bconn *c, int revents)
{
	if (c->bc_state == BC_CONNECTING) {
		int error = pp_connect_result(c->bc_fd);

		if (error != 0) {
			conn_fail(c, true, "connect %s: %s",
			    t->bt_bench->b_target->tg_text, strerror(error));
			return;
		}
		c->bc_state = BC_OPEN;
	}
	if (c->bc_wr_off < t->bt_bench->b_opts->size)
		cycle_write(t, c);
	else if (revents & EV_READ)
		cycle_read(t, c);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bconn *c = w->data;
	struct bthread *t = c->bc_thread;

	(void)loop;
	if (t->bt_bench->b_opts->cycle) {
		cycle_io(t, c, revents);
		return;
	}
	if (c->bc_state == BC_CONNECTING) {
		connect_done(t, c);
		return;
	}
	if ((revents & EV_READ) && !bench_read(t, c))
		return;
	bench_send(t, c);
}

static void
end_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
sigint_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct bench *b = w->data;

	(void)loop;
	(void)revents;
	atomic_store(&b->b_interrupted, true);
	stop_all(b, b->b_threads[0]);
}

static void
progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench *b = w->data;
	uint64_t lines = 0, errors = 0, now = pp_now_ns();
	double dt = (double)(now - b->b_progress_ns) / 1e9;
	double rate;

	(void)loop;
	(void)revents;
	for (uint32_t i = 0; i < b->b_nthreads; i++) {
		lines += atomic_load_explicit(&b->b_threads[i]->bt_pub_lines,
		    memory_order_relaxed);
		errors += atomic_load_explicit(&b->b_threads[i]->bt_pub_errors,
		    memory_order_relaxed);
	}
	rate = dt > 0 ? (double)(lines - b->b_progress_lines) / dt : 0.;
	printf("\r%-*.*s", PROGRESS_WIDTH, PROGRESS_WIDTH, "");
	printf("\r%s: %.0f s, %.0f %s/s", b->b_target->tg_text,
	    (double)(now - b->b_threads[0]->bt_start_ns) / 1e9, rate,
	    b->b_opts->cycle ? "cycles" : "lines");
	if (!b->b_opts->cycle)
		printf(", %.2f MB/s", rate * (double)b->b_opts->size / 1e6);
	printf(", %" PRIu64 " errors", errors);
	fflush(stdout);
	b->b_progress_lines = lines;
	b->b_progress_ns = now;
	b->b_progress_shown = true;
}

/* Start every connection; run the loop until all are up, failed or late. */
static void
connect_all(struct bthread *t)
{
	struct bench *b = t->bt_bench;

	for (uint32_t i = 0; i < t->bt_nconns && !stopping(b); i++) {
		struct bconn *c = &t->bt_conns[i];
		int fd = pp_target_start_connect(b->b_target);

		if (fd == -1) {
			conn_fail(c, true, "connect %s: %s", b->b_target->tg_text,
			    strerror(errno));
			continue;
		}
		c->bc_fd = fd;
		c->bc_state = BC_CONNECTING;
		ev_io_set(&c->bc_io, fd, EV_WRITE);
		ev_io_start(t->bt_loop, &c->bc_io);
		t->bt_connecting++;
	}
	if (t->bt_connecting == 0 || stopping(b))
		return;
	ev_now_update(t->bt_loop);
	ev_timer_set(&t->bt_connect_timer, b->b_opts->timeout, 0.);
	ev_timer_start(t->bt_loop, &t->bt_connect_timer);
	ev_run(t->bt_loop, 0);
	ev_timer_stop(t->bt_loop, &t->bt_connect_timer);
}

/* At the end: a connection whose oldest line waited past the timeout. */
static void
count_stalls(struct bthread *t, uint64_t now)
{
	const struct pp_bench_opts *o = t->bt_bench->b_opts;
	uint64_t timeout = (uint64_t)(o->timeout * 1e9);

	for (uint32_t i = 0; i < t->bt_nconns; i++) {
		struct bconn *c = &t->bt_conns[i];
		uint64_t since;

		if (c->bc_state == BC_CLOSED)
			continue;
		if (o->cycle)
			since = c->bc_start_ns;
		else if (c->bc_check.chk_seq < c->bc_wr_seq)
			since = c->bc_sent_ns[c->bc_check.chk_seq &
			    t->bt_bench->b_ring_mask];
		else
			continue;
		if (now - since > timeout)
			conn_fail(c, true, "%s: no echo for %g s",
			    t->bt_bench->b_target->tg_text, o->timeout);
	}
}

static void
thread_run(struct bthread *t)
{
	struct bench *b = t->bt_bench;
	const struct pp_bench_opts *o = b->b_opts;

	if (!o->cycle)
		connect_all(t);
	gate_arrive(&b->b_gate);
	if (!stopping(b)) {
		/* The loop's clock stood still at the start line: timers read it. */
		ev_now_update(t->bt_loop);
		t->bt_ran = true;
		t->bt_start_ns = pp_now_ns();
		ev_timer_set(&t->bt_end_timer, o->seconds, 0.);
		ev_timer_start(t->bt_loop, &t->bt_end_timer);
		if (t->bt_main && b->b_progress) {
			b->b_progress_ns = t->bt_start_ns;
			ev_timer_start(t->bt_loop, &b->b_progress_timer);
		}
		for (uint32_t i = 0; i < t->bt_nconns && !stopping(b); i++) {
			struct bconn *c = &t->bt_conns[i];

			if (o->cycle) {
				cycle_begin(t, c, pp_now_ns());
			} else if (c->bc_state == BC_OPEN) {
				ev_io_start(t->bt_loop, &c->bc_io);
				bench_send(t, c);
			}
		}
		/* A break before ev_run would be forgotten: test instead. */
		if (!stopping(b) && (t->bt_active > 0 || t->bt_main))
			ev_run(t->bt_loop, 0);
		t->bt_end_ns = pp_now_ns();
		if (!atomic_load(&b->b_interrupted))
			count_stalls(t, t->bt_end_ns);
	}
	for (uint32_t i = 0; i < t->bt_nconns; i++) {
		ev_timer_stop(t->bt_loop, &t->bt_conns[i].bc_retry);
		conn_close(&t->bt_conns[i]);
	}
}

static void *
thread_main(void *arg)
{
	thread_run(arg);
	return NULL;
}

static void
thread_free(struct bthread *t)
{
	if (t == NULL)
		return;
	if (t->bt_loop != NULL)
		ev_loop_destroy(t->bt_loop);
	free(t->bt_conns);
	free(t->bt_ring);
	free(t->bt_rbuf);
	free(t->bt_wbuf);
	free(t->bt_gather.g_iov);
	free(t);
}

static struct bthread *
thread_new(struct bench *b, uint32_t first, uint32_t nconns)
{
	uint64_t ring = b->b_ring_mask + 1;
	struct bthread *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->bt_bench = b;
	t->bt_nconns = t->bt_active = nconns;
	t->bt_loop = ev_loop_new(EVFLAG_AUTO);
	t->bt_conns = calloc(nconns, sizeof(*t->bt_conns));
	t->bt_ring = calloc((size_t)nconns * ring, sizeof(*t->bt_ring));
	t->bt_rbuf = malloc(BENCH_BUF);
	t->bt_wbuf = malloc(BENCH_BUF);
	t->bt_gather.g_iov = calloc(BENCH_PIECES, sizeof(struct iovec));
	if (t->bt_loop == NULL || t->bt_conns == NULL || t->bt_ring == NULL ||
	    t->bt_rbuf == NULL || t->bt_wbuf == NULL ||
	    t->bt_gather.g_iov == NULL) {
		thread_free(t);
		return NULL;
	}
	t->bt_gather.g_max = BENCH_PIECES;
	t->bt_gather.g_scratch = t->bt_wbuf;
	t->bt_gather.g_cap = BENCH_BUF;
	pp_hist_init(&t->bt_hist);
	ev_init(&t->bt_connect_timer, connect_timeout_cb);
	t->bt_connect_timer.data = t;
	ev_init(&t->bt_end_timer, end_cb);
	ev_async_init(&t->bt_stop, stop_cb);
	ev_async_start(t->bt_loop, &t->bt_stop);
	for (uint32_t i = 0; i < nconns; i++) {
		struct bconn *c = &t->bt_conns[i];

		c->bc_thread = t;
		c->bc_fd = -1;
		c->bc_stream = first + i;
		c->bc_sent_ns = t->bt_ring + (size_t)i * ring;
		pp_check_init(&c->bc_check, c->bc_stream, b->b_opts->size, 0);
		ev_init(&c->bc_io, io_cb);
		c->bc_io.data = c;
		ev_init(&c->bc_retry, retry_cb);
		c->bc_retry.data = c;
	}
	return t;
}

/* Room for every connection in the descriptor limit, or false. */
static bool
fit_descriptors(const struct pp_bench_opts *o)
{
	rlim_t want = (rlim_t)o->conns + (rlim_t)o->threads * FDS_PER_THREAD +
	    FDS_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return true;
	if (rl.rlim_cur >= want)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		fprintf(stderr, "pingpong: %" PRIu32 " connections need about %llu"
		    " descriptors but the limit is %llu\n", o->conns,
		    (unsigned long long)want, (unsigned long long)rl.rlim_max);
		return false;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		perror("pingpong: setrlimit");
		return false;
	}
	return true;
}

static uint64_t
ring_size(uint32_t depth)
{
	uint64_t size = 1;

	while (size < depth)
		size <<= 1;
	return size;
}

static bool
bench_setup(struct bench *b)
{
	const struct pp_bench_opts *o = b->b_opts;
	uint32_t first = 0;

	b->b_ring_mask = (o->cycle ? 1 : ring_size(o->depth)) - 1;
	b->b_nthreads = o->threads;
	b->b_threads = calloc(o->threads, sizeof(*b->b_threads));
	if (b->b_threads == NULL)
		return false;
	for (uint32_t i = 0; i < o->threads; i++) {
		uint32_t n = o->conns / o->threads +
		    (i < o->conns % o->threads ? 1 : 0);

		b->b_threads[i] = thread_new(b, first, n);
		if (b->b_threads[i] == NULL)
			return false;
		first += n;
	}
	b->b_threads[0]->bt_main = true;
	atomic_init(&b->b_stop, false);
	atomic_init(&b->b_interrupted, false);
	atomic_init(&b->b_active, o->conns);
	b->b_progress = isatty(STDOUT_FILENO);
	ev_signal_init(&b->b_sigint, sigint_cb, SIGINT);
	b->b_sigint.data = b;
	ev_signal_start(b->b_threads[0]->bt_loop, &b->b_sigint);
	ev_timer_init(&b->b_progress_timer, progress_cb, 1., 1.);
	b->b_progress_timer.data = b;
	return true;
}

/* Start threads 1.. with SIGINT blocked, so that only the main loop sees it. */
static void
start_threads(struct bench *b)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (uint32_t i = 1; i < b->b_nthreads; i++) {
		struct bthread *t = b->b_threads[i];
		int rc = pthread_create(&t->bt_tid, NULL, thread_main, t);

		if (rc == 0) {
			t->bt_started = true;
			continue;
		}
		/* Its connections count as failed; the others run. */
		snprintf(t->bt_first, sizeof(t->bt_first), "thread: %s",
		    strerror(rc));
		t->bt_errors += t->bt_nconns;
		atomic_fetch_sub(&b->b_active, t->bt_nconns);
		gate_forfeit(&b->b_gate);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int
bench_report(struct bench *b, struct pp_hist *hist)
{
	const struct pp_bench_opts *o = b->b_opts;
	struct pp_report r = {
		.r_cycle = o->cycle,
		.r_target = b->b_target->tg_text,
		.r_conns = o->conns,
		.r_depth = o->cycle ? 1 : o->depth,
		.r_threads = o->threads,
		.r_size = o->size,
		.r_hist = hist,
		.r_first_error = "",
		.r_interrupted = atomic_load(&b->b_interrupted),
	};
	uint64_t start = UINT64_MAX, end = 0;
	bool ran = false;

	for (uint32_t i = 0; i < b->b_nthreads; i++) {
		struct bthread *t = b->b_threads[i];

		pp_hist_merge(hist, &t->bt_hist);
		r.r_lines += t->bt_lines;
		r.r_corrupted += t->bt_corrupted;
		r.r_errors += t->bt_errors;
		r.r_port_waits += t->bt_port_waits;
		if (r.r_first_error[0] == '\0')
			r.r_first_error = t->bt_first;
		if (!t->bt_ran)
			continue;
		ran = true;
		if (t->bt_start_ns < start)
			start = t->bt_start_ns;
		if (t->bt_end_ns > end)
			end = t->bt_end_ns;
	}
	if (ran)
		r.r_seconds = (double)(end - start) / 1e9;
	if (ran && !r.r_interrupted && r.r_lines + r.r_corrupted +
	    r.r_errors == 0) {
		r.r_errors = 1;
		r.r_first_error = "nothing was echoed";
	}
	if (b->b_progress_shown)
		printf("\r%-*.*s\r", PROGRESS_WIDTH, PROGRESS_WIDTH, "");
	if (o->json)
		pp_report_json(stdout, &r);
	else
		pp_report_text(stdout, &r);
	if (r.r_errors > 0)
		return PP_EXIT_ERROR;
	return r.r_corrupted > 0 ? PP_EXIT_FAIL : PP_EXIT_OK;
}

int
pp_bench_run(const struct pp_bench_opts *o, struct pp_target *t)
{
	char err[PP_ERROR_MAX];
	struct bench b;
	struct pp_hist *hist = NULL;
	int status = PP_EXIT_ERROR;
	int fd;

	memset(&b, 0, sizeof(b));
	b.b_opts = o;
	b.b_target = t;
	gate_init(&b.b_gate, o->threads);
	if (!fit_descriptors(o))
		goto out;
	/* The SIGINT watcher is up from here on: a Ctrl-C gets its report. */
	hist = malloc(sizeof(*hist));
	if (hist == NULL || !bench_setup(&b)) {
		fprintf(stderr, "pingpong: out of memory\n");
		goto out;
	}
	pp_hist_init(hist);
	/* One connection first picks the address and fails fast. */
	fd = pp_target_connect(t, o->timeout, err, sizeof(err));
	if (fd == -1) {
		fprintf(stderr, "pingpong: %s\n", err);
		goto out;
	}
	close(fd);
	start_threads(&b);
	thread_run(b.b_threads[0]);
	for (uint32_t i = 1; i < b.b_nthreads; i++)
		if (b.b_threads[i]->bt_started)
			pthread_join(b.b_threads[i]->bt_tid, NULL);
	status = bench_report(&b, hist);
out:
	if (b.b_threads != NULL) {
		if (b.b_threads[0] != NULL) {
			ev_timer_stop(b.b_threads[0]->bt_loop,
			    &b.b_progress_timer);
			ev_signal_stop(b.b_threads[0]->bt_loop, &b.b_sigint);
		}
		for (uint32_t i = 0; i < b.b_nthreads; i++)
			thread_free(b.b_threads[i]);
		free(b.b_threads);
	}
	gate_destroy(&b.b_gate);
	free(hist);
	return status;
}
