#include "pingpong_ping.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pingpong_common.h"
#include "pingpong_line.h"

#define PING_RING_MAX 65536u            /* lines awaiting their echo, at most */
#define PING_IO_BUF 65536u              /* bytes per read or write */
#define PING_STREAM 0                   /* line contents: one connection */

struct ping {
	const struct pp_ping_opts *p_opts;
	struct pp_target *p_target;
	struct ev_loop *p_loop;
	int p_fd;                       /* the connection */
	ev_io p_io;                     /* its watcher: read, and write when blocked */
	ev_timer p_tick;                /* one line per interval */
	ev_timer p_deadline;            /* the oldest line's timeout */
	ev_signal p_sigint;             /* Ctrl-C: summary now */
	bool p_writing;                 /* p_io waits for EV_WRITE too */
	uint64_t *p_sent_ns;            /* ring: when each line was sent */
	uint64_t p_mask;                /* ring size - 1 */
	uint64_t p_next_seq;            /* the next line to send (the first is 1) */
	uint64_t p_wr_seq;              /* next byte to write: its line ... */
	size_t p_wr_off;                /* ... and offset */
	uint64_t p_expired;             /* lines below this one timed out */
	uint64_t p_written;             /* bytes written */
	uint64_t p_echoed;              /* bytes read back */
	struct pp_check p_check;        /* the echo, line by line */
	uint64_t p_transmitted;         /* lines sent */
	uint64_t p_received;            /* lines echoed within the timeout */
	uint64_t p_corrupted;           /* of those, not what was sent */
	uint64_t p_late;                /* lines echoed after their timeout */
	double p_rtt_min, p_rtt_max;    /* ms, over received lines */
	double p_rtt_sum, p_rtt_sum2;   /* ms and ms^2, for avg and mdev */
	uint64_t p_start_ns;            /* first line sent */
	uint64_t p_end_ns;              /* the run ended */
	bool p_error;                   /* the connection failed */
	uint64_t p_extra;               /* bytes echoed that were never sent */
	char *p_buf;                    /* PING_IO_BUF bytes for read and write */
};

static void ping_finish(struct ping *p, bool error);

static uint64_t
seconds_ns(double s)
{
	return (uint64_t)(s * 1e9 + 0.5);
}

static uint64_t
oldest_live(const struct ping *p)
{
	uint64_t seq = p->p_check.chk_seq;

	return seq > p->p_expired ? seq : p->p_expired;
}

static bool
all_sent(const struct ping *p)
{
	return p->p_opts->count != 0 && p->p_transmitted >= p->p_opts->count;
}

static void
maybe_finish(struct ping *p)
{
	if (all_sent(p) && oldest_live(p) == p->p_next_seq)
		ping_finish(p, false);
}

static void
set_writing(struct ping *p, bool on)
{
	if (p->p_writing == on)
		return;
	p->p_writing = on;
	ev_io_stop(p->p_loop, &p->p_io);
	ev_io_set(&p->p_io, p->p_fd, EV_READ | (on ? EV_WRITE : 0));
	ev_io_start(p->p_loop, &p->p_io);
}

static void
conn_failed(struct ping *p, const char *what)
{
	fprintf(stderr, "pingpong: %s: %s\n", p->p_target->tg_text, what);
	ping_finish(p, true);
}

/* Write what has been sent but not yet taken by the kernel. */
static void
flush(struct ping *p)
{
	for (;;) {
		size_t n = pp_line_fill_stream(PING_STREAM, p->p_opts->size,
		    p->p_wr_seq, p->p_wr_off, p->p_next_seq, p->p_buf,
		    PING_IO_BUF);
		ssize_t w;

		if (n == 0) {
			set_writing(p, false);
			return;
		}
		w = write(p->p_fd, p->p_buf, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_writing(p, true);
				return;
			}
			conn_failed(p, strerror(errno));
			return;
		}
		p->p_written += (uint64_t)w;
		pp_line_advance(p->p_opts->size, &p->p_wr_seq, &p->p_wr_off,
		    (size_t)w);
		if ((size_t)w < n) {
			set_writing(p, true);
			return;
		}
	}
}

/* Point the deadline timer at the oldest line still within its timeout. */
static void
arm_deadline(struct ping *p, uint64_t now)
{
	uint64_t seq = oldest_live(p);
	uint64_t due;

	ev_timer_stop(p->p_loop, &p->p_deadline);
	if (seq == p->p_next_seq)
		return;
	due = p->p_sent_ns[seq & p->p_mask] + seconds_ns(p->p_opts->timeout);
	ev_timer_set(&p->p_deadline, due > now ? (double)(due - now) / 1e9 : 0.,
	    0.);
	ev_timer_start(p->p_loop, &p->p_deadline);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ping *p = w->data;
	uint64_t now = pp_now_ns();

	(void)loop;
	(void)revents;
	/* Lines whose echo is overdue still hold their place in the ring. */
	if (p->p_next_seq - p->p_check.chk_seq > p->p_mask)
		return;
	if (p->p_transmitted == 0)
		p->p_start_ns = now;
	p->p_sent_ns[p->p_next_seq & p->p_mask] = now;
	p->p_next_seq++;
	p->p_transmitted++;
	if (all_sent(p))
		ev_timer_stop(p->p_loop, &p->p_tick);
	flush(p);
	if (p->p_end_ns == 0)
		arm_deadline(p, now);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ping *p = w->data;
	uint64_t now = pp_now_ns();
	uint64_t timeout = seconds_ns(p->p_opts->timeout);
	uint64_t seq;

	(void)loop;
	(void)revents;
	while ((seq = oldest_live(p)) < p->p_next_seq &&
	    p->p_sent_ns[seq & p->p_mask] + timeout <= now) {
		if (!p->p_opts->quiet)
			printf("no echo from %s: seq=%" PRIu64 " within %g s\n",
			    p->p_target->tg_text, seq, p->p_opts->timeout);
		p->p_expired = seq + 1;
	}
	arm_deadline(p, now);
	maybe_finish(p);
}

/* A byte for a message: itself when printable, else its escape. */
static void
byte_text(unsigned char c, char *buf, size_t len)
{
	if (c == '\n')
		snprintf(buf, len, "'\\n'");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else
		snprintf(buf, len, "0x%02x", c);
}

static void
on_echo(struct ping *p, const struct pp_verdict *v, uint64_t now)
{
	double ms = (double)(now - p->p_sent_ns[v->seq & p->p_mask]) / 1e6;
	bool late = v->seq < p->p_expired;
	char note[96] = "", got[8], want[8];

	if (!v->intact) {
		byte_text(v->got, got, sizeof(got));
		byte_text(v->want, want, sizeof(want));
		snprintf(note, sizeof(note), " CORRUPTED: byte %" PRIu64
		    " is %s, sent %s", v->bad_at + 1, got, want);
	}
	if (late) {
		p->p_late++;
	} else {
		p->p_received++;
		if (!v->intact)
			p->p_corrupted++;
		if (p->p_received == 1 || ms < p->p_rtt_min)
			p->p_rtt_min = ms;
		if (ms > p->p_rtt_max)
			p->p_rtt_max = ms;
		p->p_rtt_sum += ms;
		p->p_rtt_sum2 += ms * ms;
	}
	if (!p->p_opts->quiet)
		printf("%" PRIu64 " bytes from %s: seq=%" PRIu64 " time=%.3f ms%s%s\n",
		    v->len, p->p_target->tg_text, v->seq, ms,
		    late ? " (late, counted as lost)" : "", note);
}

static void
read_echo(struct ping *p)
{
	ssize_t n = read(p->p_fd, p->p_buf, PING_IO_BUF);
	struct pp_echo e;
	struct pp_verdict v;
	uint64_t now;

	if (n == 0) {
		conn_failed(p, "connection closed by the peer");
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_failed(p, strerror(errno));
		return;
	}
	now = pp_now_ns();
	pp_echo_take(&e, p->p_buf, (size_t)n, p->p_written, &p->p_echoed);
	while (pp_echo_next(&e, &p->p_check, &v))
		on_echo(p, &v, now);
	if (e.e_extra > 0) {
		p->p_extra = e.e_extra;
		if (!p->p_opts->quiet)
			printf("%s echoed %" PRIu64 " bytes that were never"
			    " sent\n", p->p_target->tg_text, p->p_extra);
		ping_finish(p, false);
		return;
	}
	arm_deadline(p, now);
	maybe_finish(p);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ping *p = w->data;

	(void)loop;
	if (revents & EV_READ)
		read_echo(p);
	if ((revents & EV_WRITE) && p->p_end_ns == 0)
		flush(p);
}

static void
sigint_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	ping_finish(w->data, false);
}

static void
ping_finish(struct ping *p, bool error)
{
	if (p->p_end_ns != 0)
		return;
	p->p_end_ns = pp_now_ns();
	p->p_error = error;
	ev_io_stop(p->p_loop, &p->p_io);
	ev_timer_stop(p->p_loop, &p->p_tick);
	ev_timer_stop(p->p_loop, &p->p_deadline);
	ev_signal_stop(p->p_loop, &p->p_sigint);
	ev_break(p->p_loop, EVBREAK_ALL);
}

static void
print_summary(const struct ping *p)
{
	uint64_t lost = p->p_transmitted - p->p_received;
	double loss = p->p_transmitted == 0 ? 0. :
	    100.0 * (double)lost / (double)p->p_transmitted;
	uint64_t elapsed = p->p_transmitted == 0 ? 0 :
	    (p->p_end_ns - p->p_start_ns) / 1000000;
	char late[48] = "", extra[48] = "";

	if (p->p_late > 0)
		snprintf(late, sizeof(late), ", %" PRIu64 " late", p->p_late);
	if (p->p_extra > 0)
		snprintf(extra, sizeof(extra), ", +%" PRIu64 " bytes never sent",
		    p->p_extra);
	printf("\n--- %s pingpong statistics ---\n", p->p_target->tg_text);
	printf("%" PRIu64 " lines transmitted, %" PRIu64 " received, %" PRIu64
	    " corrupted%s%s, %g%% loss, time %" PRIu64 "ms\n",
	    p->p_transmitted, p->p_received, p->p_corrupted, late, extra, loss,
	    elapsed);
	if (p->p_received > 0) {
		double n = (double)p->p_received;
		double avg = p->p_rtt_sum / n;
		double var = p->p_rtt_sum2 / n - avg * avg;

		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n",
		    p->p_rtt_min, avg, p->p_rtt_max, var > 0 ? sqrt(var) : 0.);
	}
}

/* The smallest power of two holding the lines that can await an echo. */
static uint64_t
ring_size(uint64_t count)
{
	uint64_t size = 1;

	while (size < PING_RING_MAX && (count == 0 || size < count))
		size <<= 1;
	return size;
}

int
pp_ping_run(const struct pp_ping_opts *o, struct pp_target *t)
{
	char err[PP_ERROR_MAX];
	struct ping p;
	uint64_t ring;
	int status;

	memset(&p, 0, sizeof(p));
	p.p_opts = o;
	p.p_target = t;
	p.p_next_seq = p.p_wr_seq = p.p_expired = 1;
	pp_check_init(&p.p_check, PING_STREAM, o->size, 1);
	p.p_fd = pp_target_connect(t, o->timeout, err, sizeof(err));
	if (p.p_fd == -1) {
		fprintf(stderr, "pingpong: %s\n", err);
		return PP_EXIT_ERROR;
	}
	ring = ring_size(o->count);
	p.p_mask = ring - 1;
	p.p_sent_ns = calloc(ring, sizeof(*p.p_sent_ns));
	p.p_buf = malloc(PING_IO_BUF);
	p.p_loop = ev_loop_new(EVFLAG_AUTO);
	if (p.p_sent_ns == NULL || p.p_buf == NULL || p.p_loop == NULL) {
		fprintf(stderr, "pingpong: out of memory\n");
		status = PP_EXIT_ERROR;
		goto out;
	}
	if (!o->quiet) {
		if (t->tg_named)
			printf("PINGPONG %s (%s): %zu bytes per line\n",
			    t->tg_host, t->tg_text, o->size);
		else
			printf("PINGPONG %s: %zu bytes per line\n", t->tg_text,
			    o->size);
	}
	ev_io_init(&p.p_io, io_cb, p.p_fd, EV_READ);
	p.p_io.data = &p;
	ev_io_start(p.p_loop, &p.p_io);
	ev_timer_init(&p.p_tick, tick_cb, 0., o->interval);
	p.p_tick.data = &p;
	ev_timer_start(p.p_loop, &p.p_tick);
	ev_init(&p.p_deadline, deadline_cb);
	p.p_deadline.data = &p;
	ev_signal_init(&p.p_sigint, sigint_cb, SIGINT);
	p.p_sigint.data = &p;
	ev_signal_start(p.p_loop, &p.p_sigint);
	ev_run(p.p_loop, 0);

	print_summary(&p);
	if (p.p_error)
		status = PP_EXIT_ERROR;
	else if (p.p_transmitted > 0 && p.p_received == p.p_transmitted &&
	    p.p_corrupted == 0 && p.p_extra == 0)
		status = PP_EXIT_OK;
	else
		status = PP_EXIT_FAIL;
out:
	if (p.p_loop != NULL)
		ev_loop_destroy(p.p_loop);
	free(p.p_buf);
	free(p.p_sent_ns);
	close(p.p_fd);
	return status;
}
