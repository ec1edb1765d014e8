/*
 * libFuzzer harness for the connection state machine: one input is one
 * connection.  The input picks max_line, the size of every read, how many
 * bytes the kernel takes from every write and how the connection ends, and
 * the rest of it is what the client sends.  After every step the echo
 * contract (DESIGN.md, section 2) is checked against the input itself.
 *
 * Layout of an input (missing bytes count as 0):
 *
 *   [0] [1]   max_line, little-endian, folded into 1..FUZZ_MAX_LINE
 *   [2]       flags: FUZZ_FLAG_EOF, FUZZ_FLAG_EARLY, FUZZ_FLAG_BYTES,
 *             FUZZ_FLAG_HEADER, FUZZ_FLAG_HANDED, FUZZ_FLAG_RING
 *   [3]       how many control bytes follow
 *   [4..]     the control bytes, then the payload
 *
 * Each step takes the next control byte.  For a read, 0 is "as much as
 * conn_read_room() allows" and k is 1 + (k - 1) % room.  For a write, 0 is
 * EAGAIN, 255 is "everything" and k is at most k bytes.  Once the control
 * bytes run out, reads fill the room and the kernel takes everything, so
 * every run ends.
 *
 * With FUZZ_FLAG_RING the bytes come as io_uring's receives bring them
 * (conn_owe): in Reading or Writing alike, up to twice max_line at once,
 * with the pending bytes pinned when the control byte is odd, as a send
 * in flight pins them.  Then held + pending may pass max_line; the rest
 * of the contract stands.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

#define FUZZ_MAX_LINE 300       /* small, so that fragments are common */
#define FUZZ_HEADER 4           /* bytes before the control bytes */
#define FUZZ_FLAG_EOF 0x01      /* the client ends its side after the payload */
#define FUZZ_FLAG_EARLY 0x02    /* ... before its pending echo is drained */
#define FUZZ_FLAG_BYTES 0x04    /* bytes framing: every byte is echoed at once */
#define FUZZ_FLAG_HEADER 0x08   /* starts awaiting a PROXY header */
#define FUZZ_FLAG_HANDED 0x10   /* a hand-over after every step: small buffers */
#define FUZZ_FLAG_RING 0x20     /* receives through conn_owe, as io_uring's */
#define FUZZ_READ_ROOM 0        /* control byte: read as much as allowed */
#define FUZZ_WRITE_EAGAIN 0     /* control byte: the kernel takes nothing */
#define FUZZ_WRITE_ALL 255      /* control byte: the kernel takes everything */

/* One connection's run: the input, how far it got, and the shadow counts. */
struct fuzz {
	const uint8_t *ctl;             /* control bytes not used yet */
	size_t nctl;                    /* how many of them */
	const char *in;                 /* the payload: what the client sends */
	size_t inlen;                   /* bytes of payload */
	size_t consumed;                /* payload bytes read so far */
	size_t outlen;                  /* bytes written: a prefix of in */
	uint32_t max_line;              /* the connection's, from the header */
	int ring;                       /* FUZZ_FLAG_RING */
	struct conn c;
	struct bufpool pool;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Say what broke and where the connection stood, then abort, so that
 * libFuzzer keeps the input and the log tells the story without a debugger.
 */
static void
fuzz_fail(const struct fuzz *f, int line, const char *what)
{
	fprintf(stderr, "fuzz_conn.c:%d: violated: %s\n"
	    "  max_line %u, state %u, end %u, off %u, pending %u, held %u, "
	    "buf %s, pool.out %u\n"
	    "  payload %zu, consumed %zu, written %zu, control left %zu\n",
	    line, what, (unsigned)f->max_line, (unsigned)f->c.state,
	    (unsigned)f->c.end, (unsigned)(f->c.buf != NULL ? f->c.buf->off : 0), (unsigned)conn_unsent(&f->c),
	    (unsigned)conn_held(&f->c), f->c.buf != NULL ? "set" : "NULL",
	    (unsigned)f->pool.out, f->inlen, f->consumed, f->outlen, f->nctl);
	abort();
}

#define FUZZ_CHECK(f, cond) do {					\
	if (!(cond))							\
		fuzz_fail((f), __LINE__, #cond);			\
} while (0)

/* The next control byte, or `dflt` once they have all been used. */
static unsigned
fuzz_control(struct fuzz *f, unsigned dflt)
{
	if (f->nctl == 0)
		return dflt;
	f->nctl--;
	return *f->ctl++;
}

/*
 * The simulated kernel: take some of the len bytes offered, as a and then
 * b, and check that they continue the echo exactly where the last write
 * stopped.  Returns how many bytes it took.
 */
static size_t
fuzz_kernel(struct fuzz *f, const char *a, size_t alen, const char *b,
    size_t blen)
{
	size_t len = alen + blen, n, na;
	unsigned k = fuzz_control(f, FUZZ_WRITE_ALL);

	if (k == FUZZ_WRITE_ALL)
		n = len;
	else if (k == FUZZ_WRITE_EAGAIN)
		n = 0;
	else
		n = k < len ? k : len;
	na = n < alen ? n : alen;
	FUZZ_CHECK(f, f->outlen + n <= f->consumed);
	/* memcmp() must not see a NULL pointer, even for zero bytes. */
	if (na > 0)
		FUZZ_CHECK(f, memcmp(a, f->in + f->outlen, na) == 0);
	if (n > na)
		FUZZ_CHECK(f, memcmp(b, f->in + f->outlen + na, n - na) == 0);
	f->outlen += n;
	return n;
}

/*
 * What conn.h promises after every step: the counts, the buffer, the state
 * and its interest agree, and echo written + pending + held is exactly the
 * payload consumed so far, with nothing but the held tail lacking its
 * newline.
 */
static void
fuzz_check_state(struct fuzz *f)
{
	const struct conn *c = &f->c;
	const char *pending, *held;
	size_t len, i;

	FUZZ_CHECK(f, conn_max_line(c, &f->pool) == f->max_line);
	FUZZ_CHECK(f, conn_held(c) < conn_max_line(c, &f->pool));
	if (!f->ring) {
		FUZZ_CHECK(f, (size_t)conn_held(c) + conn_unsent(c) <= conn_max_line(c, &f->pool));
		FUZZ_CHECK(f, (size_t)(c->buf != NULL ? c->buf->off : 0) + conn_unsent(c) + conn_held(c) <= conn_max_line(c, &f->pool));
	} else if (c->buf != NULL) {
		FUZZ_CHECK(f, (size_t)c->buf->off + conn_unsent(c) + conn_held(c) <= c->buf->cap);
	}
	FUZZ_CHECK(f, (c->buf == NULL) == (conn_held(c) + conn_unsent(c) == 0));
	FUZZ_CHECK(f, f->pool.out == (c->buf != NULL ? 1u : 0u));
	FUZZ_CHECK(f, f->outlen + conn_unsent(c) + conn_held(c) == f->consumed);
	/* Bytes framing holds nothing: every byte completes its echo. */
	if (c->framing == CONN_FRAMING_BYTES)
		FUZZ_CHECK(f, conn_held(c) == 0);

	switch (c->state) {
	case CONN_READING:
		FUZZ_CHECK(f, conn_unsent(c) == 0);
		FUZZ_CHECK(f, c->end == CONN_END_NONE);
		FUZZ_CHECK(f, conn_read_room(c, &f->pool) == conn_max_line(c, &f->pool) - conn_held(c));
		FUZZ_CHECK(f, conn_interest(c) == CONN_WANT_READ);
		break;
	case CONN_WRITING:
		FUZZ_CHECK(f, conn_unsent(c) > 0);
		FUZZ_CHECK(f, conn_read_room(c, &f->pool) == 0);
		FUZZ_CHECK(f, conn_interest(c) == CONN_WANT_WRITE);
		break;
	case CONN_CLOSED:
		FUZZ_CHECK(f, c->end != CONN_END_NONE);
		FUZZ_CHECK(f, conn_unsent(c) == 0 && conn_held(c) == 0);
		FUZZ_CHECK(f, conn_read_room(c, &f->pool) == 0);
		FUZZ_CHECK(f, conn_interest(c) == CONN_WANT_NONE);
		break;
	default:
		FUZZ_CHECK(f, !"state is one of the three");
	}

	if (conn_unsent(c) > 0) {
		conn_pending(c, &pending, &len);
		FUZZ_CHECK(f, len == conn_unsent(c));
		FUZZ_CHECK(f, pending == c->buf->data + c->buf->off);
		FUZZ_CHECK(f, memcmp(pending, f->in + f->outlen, len) == 0);
	}
	if (conn_held(c) > 0) {
		held = c->buf->data + c->buf->off + conn_unsent(c);
		FUZZ_CHECK(f, memcmp(held, f->in + f->outlen + conn_unsent(c),
		    conn_held(c)) == 0);
		for (i = 0; i < conn_held(c); i++)
			FUZZ_CHECK(f, held[i] != '\n');
	}
}

/*
 * How many bytes of held + data stay held after a read: those after the
 * last newline, unless they fill max_line and go back as a fragment.
 * Worked out here from the contract, not from conn.c, to check conn_plan().
 */
static size_t
fuzz_expect_held(const struct fuzz *f, const char *data, size_t n)
{
	size_t i = n, keep;

	if (f->c.framing == CONN_FRAMING_BYTES)
		return 0;
	while (i > 0 && data[i - 1] != '\n')
		i--;
	keep = i > 0 ? n - i : conn_held(&f->c) + n;
	return keep == f->max_line ? 0 : keep;
}

/*
 * The server's read buffer.  A read lands at its very end, so that
 * AddressSanitizer's redzone after the array catches any look past the
 * bytes read.
 */
static char fuzz_rbuf[FUZZ_MAX_LINE];

/*
 * The client sent bytes and the socket is readable: read what the room
 * allows, echo at once, commit.  Then the bytes in the read buffer are
 * spoiled, as the next read into it would do: a connection that kept a
 * pointer there instead of copying fails the content checks.
 */
static void
fuzz_read(struct fuzz *f)
{
	struct conn_echo echo;
	size_t room = conn_read_room(&f->c, &f->pool), n, keep, written = 0, i;
	uint32_t newlines;
	unsigned k = fuzz_control(f, FUZZ_READ_ROOM);
	char *data;

	FUZZ_CHECK(f, room > 0 && room <= sizeof(fuzz_rbuf));
	n = k == FUZZ_READ_ROOM ? room : 1 + (k - 1) % room;
	if (n > f->inlen - f->consumed)
		n = f->inlen - f->consumed;
	data = fuzz_rbuf + sizeof(fuzz_rbuf) - n;
	memcpy(data, f->in + f->consumed, n);
	keep = fuzz_expect_held(f, data, n);

	conn_plan(&f->c, &f->pool, data, n, &echo);
	f->consumed += n;
	if (echo.held_len + echo.fresh_len > 0) {
		FUZZ_CHECK(f, echo.held_len == conn_held(&f->c));
		FUZZ_CHECK(f, echo.held_len == 0 || echo.held == (f->c.buf != NULL ? f->c.buf->data : NULL));
		FUZZ_CHECK(f, echo.fresh == data);
	}
	FUZZ_CHECK(f, echo.fresh_len <= n);
	FUZZ_CHECK(f, conn_held(&f->c) + n - (echo.held_len + echo.fresh_len) == keep);
	/* The figures the daemon counts: newlines echoed, and max_line cuts. */
	for (i = 0, newlines = 0; i < echo.fresh_len; i++)
		newlines += data[i] == '\n';
	FUZZ_CHECK(f, echo.lines == newlines);
	FUZZ_CHECK(f, echo.fragments == (echo.fresh_len > 0 && newlines == 0 &&
	    f->c.framing == CONN_FRAMING_LINES));
	if (echo.held_len + echo.fresh_len > 0)
		written = fuzz_kernel(f, echo.held, echo.held_len, echo.fresh,
		    echo.fresh_len);
	FUZZ_CHECK(f, conn_commit(&f->c, &f->pool, data, n, &echo,
	    written) == 0);
	for (i = 0; i < n; i++)
		data[i] = (char)~data[i];
	FUZZ_CHECK(f, conn_held(&f->c) == keep);
}

/*
 * The partial line the contract leaves held after `consumed` bytes: the
 * run since the last newline, less every whole max_line cut from it.
 */
static size_t
fuzz_contract_held(const struct fuzz *f)
{
	size_t run = 0;

	if (f->c.framing == CONN_FRAMING_BYTES)
		return 0;
	while (run < f->consumed && f->in[f->consumed - run - 1] != '\n')
		run++;
	return run % f->max_line;
}

/*
 * A ring's receive completed: up to twice max_line bytes, whatever the
 * state, nothing written now.  A pinned buffer must come back untouched.
 */
static void
fuzz_receive(struct fuzz *f)
{
	unsigned k = fuzz_control(f, FUZZ_READ_ROOM);
	size_t n = k == FUZZ_READ_ROOM ? 2 * (size_t)f->max_line :
	    1 + (k - 1) % (2 * (size_t)f->max_line), before, i;
	static char rbuf[2 * FUZZ_MAX_LINE];
	struct conn_buf *old = f->c.buf, *replaced;
	const char *pinned = NULL;
	struct conn_echo echo;
	uint32_t newlines = 0;
	int pin = (k & 1) != 0 && f->c.state == CONN_WRITING;

	if (n > f->inlen - f->consumed)
		n = f->inlen - f->consumed;
	memcpy(rbuf, f->in + f->consumed, n);
	before = f->outlen + conn_unsent(&f->c);
	if (pin)
		pinned = old->data + old->off;
	FUZZ_CHECK(f, conn_owe(&f->c, &f->pool, rbuf, n, pin, &replaced,
	    &echo) == 0);
	f->consumed += n;
	FUZZ_CHECK(f, replaced == NULL || (pin && replaced == old));
	if (replaced != NULL) {
		/* What the send in flight reads is where it was, unchanged. */
		FUZZ_CHECK(f, memcmp(pinned, f->in + f->outlen,
		    conn_unsent(&f->c) < old->pending ? conn_unsent(&f->c) :
		    old->pending) == 0);
		bufpool_put(&f->pool, replaced, replaced->cap);
	} else if (pin) {
		FUZZ_CHECK(f, f->c.buf->data + f->c.buf->off == pinned);
	}
	for (i = before; i < f->outlen + conn_unsent(&f->c); i++)
		newlines += f->in[i] == '\n';
	FUZZ_CHECK(f, echo.lines == newlines);
	FUZZ_CHECK(f, conn_held(&f->c) == fuzz_contract_held(f));
	for (i = 0; i < n; i++)
		rbuf[i] = (char)~rbuf[i];
}

/* The socket is writable again: offer the pending echo to the kernel. */
static void
fuzz_write(struct fuzz *f)
{
	const char *pending;
	size_t len;

	conn_pending(&f->c, &pending, &len);
	conn_wrote(&f->c, &f->pool, fuzz_kernel(f, pending, len, "", 0));
}

/* The client reads again: the kernel keeps taking until it has it all. */
static void
fuzz_drain(struct fuzz *f)
{
	while (f->c.state == CONN_WRITING) {
		fuzz_write(f);
		fuzz_check_state(f);
	}
}

/*
 * What a hand-over does to a connection that holds bytes: the new image
 * gives it a buffer with room for just those, to grow when it must.
 */
static void
fuzz_hand_over(struct fuzz *f)
{
	struct conn_buf *b = f->c.buf, *small;

	if (b == NULL)
		return;
	FUZZ_CHECK(f, b->pending + b->held > 0);
	small = conn_buf_carried(&f->pool, b->size, b->data + b->off,
	    b->pending, b->held);
	FUZZ_CHECK(f, small != NULL);
	bufpool_put(&f->pool, b, b->cap);
	f->c.buf = small;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	uint8_t head[FUZZ_HEADER] = { 0 };
	size_t nctl;
	unsigned flags;

	memcpy(head, data, size < FUZZ_HEADER ? size : FUZZ_HEADER);
	data += size < FUZZ_HEADER ? size : FUZZ_HEADER;
	size -= size < FUZZ_HEADER ? size : FUZZ_HEADER;
	nctl = head[3] < size ? head[3] : size;
	flags = head[2];

	memset(&f, 0, sizeof(f));
	f.max_line = 1 + (uint32_t)(head[0] | head[1] << 8) % FUZZ_MAX_LINE;
	f.ctl = data;
	f.nctl = nctl;
	f.in = (const char *)data + nctl;
	f.inlen = size - nctl;
	bufpool_init(&f.pool, f.max_line, sizeof(struct conn_buf));
	conn_init(&f.c, flags & FUZZ_FLAG_HEADER ? CONN_HEADER : CONN_READING,
	    flags & FUZZ_FLAG_BYTES ? CONN_FRAMING_BYTES : CONN_FRAMING_LINES);
	if (f.c.state == CONN_HEADER) {
		/* Waiting for its header, nothing of the echo moves. */
		FUZZ_CHECK(&f, conn_read_room(&f.c, &f.pool) == 0);
		FUZZ_CHECK(&f, conn_interest(&f.c) == CONN_WANT_READ);
		conn_header_done(&f.c);
	}
	fuzz_check_state(&f);

	f.ring = (flags & FUZZ_FLAG_RING) != 0;
	while (f.consumed < f.inlen) {
		if (f.ring && (f.c.state == CONN_READING ||
		    (f.nctl > 0 && (f.ctl[0] & 2) != 0)))
			fuzz_receive(&f);
		else if (f.c.state == CONN_WRITING)
			fuzz_write(&f);
		else
			fuzz_read(&f);
		fuzz_check_state(&f);
		if (flags & FUZZ_FLAG_HANDED)
			fuzz_hand_over(&f);
	}

	if (flags & FUZZ_FLAG_EOF) {
		if (!(flags & FUZZ_FLAG_EARLY))
			fuzz_drain(&f);
		conn_finish(&f.c, &f.pool, CONN_END_CLIENT);
		fuzz_check_state(&f);
		fuzz_drain(&f);
		FUZZ_CHECK(&f, f.c.state == CONN_CLOSED);
		FUZZ_CHECK(&f, f.outlen == f.inlen);
		/* A shutdown after the client's EOF changes nothing. */
		conn_finish(&f.c, &f.pool, CONN_END_CLIENT);
		fuzz_check_state(&f);
	} else if (flags & FUZZ_FLAG_EARLY) {
		/* A socket error while echo may still be pending. */
		conn_abort(&f.c, &f.pool);
		FUZZ_CHECK(&f, f.c.state == CONN_CLOSED);
		FUZZ_CHECK(&f, f.c.buf == NULL);
	} else {
		/* The client stays, quiet: only its unfinished line is held. */
		fuzz_drain(&f);
		FUZZ_CHECK(&f, f.c.state == CONN_READING);
		FUZZ_CHECK(&f, f.outlen + conn_held(&f.c) == f.inlen);
		conn_abort(&f.c, &f.pool);
	}
	FUZZ_CHECK(&f, f.pool.out == 0);
	bufpool_destroy(&f.pool);
	return 0;
}
