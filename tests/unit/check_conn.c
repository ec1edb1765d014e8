/*
 * Check suite for the connection state machine, driven with strings: no
 * socket, no event loop.  A simulated kernel takes a chosen number of bytes
 * from each write, and everything it takes is appended to `out`.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "unit.h"

#define UNLIMITED ((size_t)-1)

static struct bufpool pool;
static struct conn c;
static char out[1 << 20];
static size_t outlen;

static void
start(uint32_t max_line)
{
	bufpool_init(&pool, max_line, sizeof(struct conn_buf));
	conn_init(&c, CONN_READING, CONN_FRAMING_LINES);
	outlen = 0;
}

static void
setup(void)
{
	start(16);
}

static void
teardown(void)
{
	conn_abort(&c, &pool);
	ck_assert_uint_eq(pool.out, 0);
	bufpool_destroy(&pool);
}

/* The kernel takes up to `accept` bytes of the echo; returns how many. */
static size_t
take(const char *a, size_t alen, const char *b, size_t blen, size_t accept)
{
	size_t n = alen + blen < accept ? alen + blen : accept;
	size_t na = n < alen ? n : alen;

	if (na > 0)
		memcpy(out + outlen, a, na);
	if (n > na)
		memcpy(out + outlen + na, b, n - na);
	outlen += n;
	return n;
}

/* Bytes arrive; the kernel takes up to `accept` of the echo. */
static size_t
feed(const char *data, size_t n, size_t accept)
{
	struct conn_echo echo;
	size_t written = 0;

	ck_assert_int_eq(c.state, CONN_READING);
	ck_assert_uint_ge(conn_read_room(&c, &pool), n);
	conn_plan(&c, &pool, data, n, &echo);
	if (echo.held_len + echo.fresh_len > 0)
		written = take(echo.held, echo.held_len, echo.fresh,
		    echo.fresh_len, accept);
	ck_assert_int_eq(conn_commit(&c, &pool, data, n, &echo, written), 0);
	ck_assert_uint_lt(conn_held(&c), conn_max_line(&c, &pool));
	return written;
}

static void
feed_str(const char *s)
{
	feed(s, strlen(s), UNLIMITED);
}

/* The socket is writable again and the kernel takes up to `accept`. */
static void
drain(size_t accept)
{
	const char *data;
	size_t len;

	ck_assert_int_eq(c.state, CONN_WRITING);
	conn_pending(&c, &data, &len);
	conn_wrote(&c, &pool, take(data, len, "", 0, accept));
}

static void
assert_out(const char *expect)
{
	ck_assert_uint_eq(outlen, strlen(expect));
	ck_assert(memcmp(out, expect, outlen) == 0);
}

START_TEST(test_starts_reading_with_no_buffer)
{
	ck_assert_int_eq(c.state, CONN_READING);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_READ);
	ck_assert_ptr_null(c.buf);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 16);
}
END_TEST

START_TEST(test_one_line)
{
	feed_str("hello\n");
	assert_out("hello\n");
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_READ);
	/* Nothing held: the buffer went back. */
	ck_assert_ptr_null(c.buf);
	ck_assert_uint_eq(pool.out, 0);
}
END_TEST

START_TEST(test_many_lines_in_one_read_go_in_one_write)
{
	struct conn_echo echo;
	const char *in = "a\nbb\nccc\nd";

	conn_plan(&c, &pool, in, strlen(in), &echo);
	ck_assert_uint_eq(echo.held_len, 0);
	ck_assert_uint_eq(echo.fresh_len, 9);
	ck_assert_ptr_eq(echo.fresh, in);
	take(echo.held, echo.held_len, echo.fresh, echo.fresh_len, UNLIMITED);
	ck_assert_int_eq(conn_commit(&c, &pool, in, strlen(in), &echo, 9), 0);
	assert_out("a\nbb\nccc\n");
	ck_assert_uint_eq(conn_held(&c), 1);
}
END_TEST

START_TEST(test_line_split_over_many_reads)
{
	feed_str("he");
	assert_out("");
	ck_assert_uint_eq(conn_held(&c), 2);
	ck_assert_ptr_nonnull(c.buf);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 14);
	feed_str("ll");
	feed_str("o");
	assert_out("");
	feed_str(" world\nnext");
	assert_out("hello world\n");
	ck_assert_uint_eq(conn_held(&c), 4);
	feed_str("\n");
	assert_out("hello world\nnext\n");
	ck_assert_uint_eq(conn_held(&c), 0);
	ck_assert_ptr_null(c.buf);
}
END_TEST

START_TEST(test_line_of_exactly_max_line)
{
	/* 15 bytes and the newline: 16 in all, held up to 15, one line. */
	feed_str("123456789012345");
	assert_out("");
	ck_assert_uint_eq(conn_held(&c), 15);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 1);
	feed_str("\n");
	assert_out("123456789012345\n");
	ck_assert_uint_eq(conn_held(&c), 0);
}
END_TEST

START_TEST(test_max_line_without_newline_is_a_fragment)
{
	feed_str("1234567890123456");
	assert_out("1234567890123456");
	ck_assert_uint_eq(conn_held(&c), 0);
	feed_str("\n");
	assert_out("1234567890123456\n");
}
END_TEST

START_TEST(test_long_line_as_fragments)
{
	const char *line = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL\n";
	size_t len = strlen(line), i;

	/* Arrives up to 5 bytes a read, as room allows: fragments at 16, 32. */
	for (i = 0; i < len; ) {
		size_t n = len - i < 5 ? len - i : 5;

		if (n > conn_read_room(&c, &pool))
			n = conn_read_room(&c, &pool);
		feed(line + i, n, UNLIMITED);
		i += n;
		ck_assert_uint_eq(outlen, i < 16 ? 0 : i < 32 ? 16 :
		    i < 48 ? 32 : i < len ? 48 : len);
	}
	assert_out(line);
}
END_TEST

START_TEST(test_fragment_with_held_bytes)
{
	feed_str("0123456789");
	feed_str("abcdef");
	/* 10 held + 6 new = 16 = max_line: one fragment. */
	assert_out("0123456789abcdef");
	ck_assert_uint_eq(conn_held(&c), 0);
}
END_TEST

START_TEST(test_eof_without_held_bytes_closes)
{
	feed_str("x\n");
	conn_finish(&c, &pool, CONN_END_CLIENT);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_NONE);
	assert_out("x\n");
}
END_TEST

START_TEST(test_eof_with_held_bytes_echoes_them_first)
{
	feed_str("x\npartial");
	conn_finish(&c, &pool, CONN_END_CLIENT);
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_WRITE);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 0);
	drain(UNLIMITED);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	assert_out("x\npartial");
}
END_TEST

START_TEST(test_partial_write_holds_rest_and_stops_reading)
{
	ck_assert_uint_eq(feed("abc\ndef\ngh", 10, 3), 3);
	assert_out("abc");
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_WRITE);
	/* Back-pressure: nothing more is read while echo is pending. */
	ck_assert_uint_eq(conn_read_room(&c, &pool), 0);
	ck_assert_uint_eq(conn_unsent(&c), 5);
	ck_assert_uint_eq(conn_held(&c), 2);
	drain(2);
	assert_out("abc\nd");
	ck_assert_int_eq(c.state, CONN_WRITING);
	drain(UNLIMITED);
	assert_out("abc\ndef\n");
	ck_assert_int_eq(c.state, CONN_READING);
	/* The held "gh" moved to the start; room counts it. */
	ck_assert_uint_eq(conn_read_room(&c, &pool), 14);
	feed_str("i\n");
	assert_out("abc\ndef\nghi\n");
}
END_TEST

START_TEST(test_partial_write_inside_held_bytes)
{
	feed_str("0123456");
	ck_assert_uint_eq(feed("789\n", 4, 4), 4);
	assert_out("0123");
	ck_assert_uint_eq(conn_unsent(&c), 7);
	drain(UNLIMITED);
	assert_out("0123456789\n");
	ck_assert_ptr_null(c.buf);
}
END_TEST

START_TEST(test_eagain_on_write_keeps_everything)
{
	ck_assert_uint_eq(feed("one\ntwo\n", 8, 0), 0);
	assert_out("");
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_uint_eq(conn_unsent(&c), 8);
	drain(0);
	ck_assert_int_eq(c.state, CONN_WRITING);
	drain(UNLIMITED);
	assert_out("one\ntwo\n");
	ck_assert_int_eq(c.state, CONN_READING);
	ck_assert_ptr_null(c.buf);
}
END_TEST

START_TEST(test_eof_while_writing_keeps_order)
{
	feed("ab\ncd", 5, 1);
	conn_finish(&c, &pool, CONN_END_CLIENT);
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_uint_eq(conn_unsent(&c), 4);
	drain(UNLIMITED);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	assert_out("ab\ncd");
}
END_TEST

START_TEST(test_binary_bytes_are_data)
{
	static const char in[] = { 'a', '\0', '\r', (char)0xff, '\n', '\r', '\0' };

	feed(in, sizeof(in), UNLIMITED);
	ck_assert_uint_eq(outlen, 5);
	ck_assert(memcmp(out, in, 5) == 0);
	conn_finish(&c, &pool, CONN_END_CLIENT);
	drain(UNLIMITED);
	ck_assert_uint_eq(outlen, sizeof(in));
	ck_assert(memcmp(out, in, sizeof(in)) == 0);
}
END_TEST

START_TEST(test_max_line_one)
{
	conn_abort(&c, &pool);
	bufpool_destroy(&pool);
	start(1);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 1);
	feed_str("a");
	feed_str("\n");
	assert_out("a\n");
	ck_assert_ptr_null(c.buf);
}
END_TEST

/* A reload resizes the pool: held bytes keep the bound they came under. */
START_TEST(test_max_line_follows_pool_until_bytes_are_held)
{
	ck_assert_uint_eq(conn_max_line(&c, &pool), 16);
	feed_str("0123456789");
	bufpool_resize(&pool, 8);
	ck_assert_uint_eq(conn_max_line(&c, &pool), 16);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 6);
	feed_str("abcdef");
	assert_out("0123456789abcdef");
	/* Holding nothing now, the connection takes the new bound. */
	ck_assert_ptr_null(c.buf);
	ck_assert_uint_eq(conn_max_line(&c, &pool), 8);
	feed_str("ABCDEFGH");
	assert_out("0123456789abcdefABCDEFGH");
}
END_TEST

/* What a hand-over leaves: a buffer with room for just what it held. */
static void
shrink_to_held(void)
{
	struct conn_buf *b = c.buf, *small;

	small = conn_buf_carried(&pool, b->size, b->data + b->off, b->pending,
	    b->held);
	ck_assert_ptr_nonnull(small);
	bufpool_put(&pool, b, b->cap);
	c.buf = small;
}

START_TEST(test_handed_buffer_grows_to_max_line)
{
	uint32_t idle;

	feed_str("abc");
	shrink_to_held();
	idle = pool.idle;
	ck_assert_uint_eq(c.buf->cap, 3);
	ck_assert_uint_eq(conn_max_line(&c, &pool), 16);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 13);
	/* Up to max_line held: the buffer must grow, and keeps "abc". */
	feed_str("defghijklmno");
	ck_assert_uint_eq(c.buf->cap, 16);
	ck_assert_uint_eq(conn_held(&c), 15);
	feed_str("p");
	assert_out("abcdefghijklmnop");
	ck_assert_ptr_null(c.buf);
	/* Grown to the pool's size, it is pooled like any other. */
	ck_assert_uint_eq(pool.idle, idle + 1);
}
END_TEST

START_TEST(test_handed_buffer_is_freed_not_pooled)
{
	uint32_t idle;

	/* Echo owed and a partial line, handed over, then both finish. */
	feed("abc\nde", 6, 2);
	shrink_to_held();
	idle = pool.idle;
	ck_assert_uint_eq(c.buf->cap, 4);
	ck_assert_uint_eq(conn_unsent(&c), 2);
	ck_assert_uint_eq(conn_held(&c), 2);
	drain(UNLIMITED);
	ck_assert_int_eq(c.state, CONN_READING);
	ck_assert_uint_eq(c.buf->cap, 4);
	feed_str("f\n");
	assert_out("abc\ndef\n");
	ck_assert_ptr_null(c.buf);
	/* Too small for the pool: back to free(), never to the free list. */
	ck_assert_uint_eq(pool.idle, idle);
	ck_assert_uint_eq(pool.out, 0);
}
END_TEST

START_TEST(test_abort_frees_buffer)
{
	feed("abc\nde", 6, 0);
	ck_assert_uint_eq(pool.out, 1);
	conn_abort(&c, &pool);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	ck_assert_uint_eq(pool.out, 0);
}
END_TEST

/*
 * Arbitrary input, arbitrary read sizes, arbitrary amounts taken by the
 * kernel: the echo is always exactly the input and never more than
 * max_line bytes are held.
 */
START_TEST(test_random_chunking_is_byte_exact)
{
	static char in[200000];
	unsigned seed = 12345u + (unsigned)_i;
	size_t inlen = sizeof(in), pos = 0;
	uint32_t max_line = 1 + (uint32_t)(rand_r(&seed) % 300);

	conn_abort(&c, &pool);
	bufpool_destroy(&pool);
	start(max_line);
	for (size_t i = 0; i < inlen; i++) {
		int r = rand_r(&seed) % 100;

		in[i] = r < 8 ? '\n' : r < 12 ? '\0' : (char)rand_r(&seed);
	}
	while (pos < inlen) {
		size_t room, n;

		if (c.state == CONN_WRITING) {
			drain((size_t)(rand_r(&seed) % 64));
			continue;
		}
		room = conn_read_room(&c, &pool);
		n = 1 + (size_t)rand_r(&seed) % room;

		if (n > inlen - pos)
			n = inlen - pos;
		feed(in + pos, n, (size_t)(rand_r(&seed) % 3 == 0 ? 0 :
		    rand_r(&seed) % 400));
		ck_assert_uint_le(conn_held(&c) + conn_unsent(&c), max_line);
		pos += n;
	}
	conn_finish(&c, &pool, CONN_END_CLIENT);
	while (c.state == CONN_WRITING)
		drain((size_t)(rand_r(&seed) % 64));
	ck_assert_int_eq(c.state, CONN_CLOSED);
	ck_assert_uint_eq(outlen, inlen);
	ck_assert(memcmp(out, in, inlen) == 0);
}
END_TEST

/* Owe s (a ring's receive): nothing is written now. */
static struct conn_echo
owe_str(const char *s, bool pinned)
{
	struct conn_buf *replaced;
	struct conn_echo echo;

	ck_assert_int_eq(conn_owe(&c, &pool, s, strlen(s), pinned, &replaced,
	    &echo), 0);
	if (replaced != NULL)
		bufpool_put(&pool, replaced, replaced->cap);
	return echo;
}

START_TEST(test_owe_reading_echoes_lines_and_holds_the_rest)
{
	struct conn_echo echo = owe_str("one\ntwo\nthr", false);

	ck_assert_uint_eq(echo.lines, 2);
	ck_assert_uint_eq(echo.fragments, 0);
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_uint_eq(conn_unsent(&c), 8);
	ck_assert_uint_eq(conn_held(&c), 3);
	drain(UNLIMITED);
	assert_out("one\ntwo\n");
	ck_assert_int_eq(c.state, CONN_READING);
	echo = owe_str("ee\n", false);
	ck_assert_uint_eq(echo.lines, 1);
	drain(UNLIMITED);
	assert_out("one\ntwo\nthree\n");
	ck_assert_ptr_null(c.buf);
}
END_TEST

/* While Writing, bytes are owed past max_line, cut as reads would cut. */
START_TEST(test_owe_while_writing_cuts_fragments_at_max_line)
{
	struct conn_echo echo;

	owe_str("ab\n", false);
	/* 40 bytes with no newline, max_line 16: two fragments, 8 held. */
	echo = owe_str("0123456789abcdefghijklmnopqrstuvwxyzABCD", false);
	ck_assert_uint_eq(echo.fragments, 2);
	ck_assert_uint_eq(echo.lines, 0);
	ck_assert_uint_eq(conn_unsent(&c), 3 + 32);
	ck_assert_uint_eq(conn_held(&c), 8);
	echo = owe_str("EFGH\n", false);
	ck_assert_uint_eq(echo.lines, 1);
	ck_assert_uint_eq(conn_held(&c), 0);
	conn_finish(&c, &pool, CONN_END_CLIENT);
	while (c.state == CONN_WRITING)
		drain(5);
	assert_out("ab\n0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH\n");
	ck_assert_int_eq(c.state, CONN_CLOSED);
}
END_TEST

/* A send in flight reads the pending bytes: they never move under it. */
START_TEST(test_owe_pinned_leaves_the_old_buffer_whole)
{
	struct conn_buf *before, *replaced;
	struct conn_echo echo;
	const char *data;
	size_t len;

	owe_str("0123456789\n", false);
	before = c.buf;
	conn_pending(&c, &data, &len);
	ck_assert_uint_eq(len, 11);
	ck_assert_int_eq(conn_owe(&c, &pool, "abcdefghij\n", 11, true,
	    &replaced, &echo), 0);
	/* 22 bytes do not fit in 16: a new buffer, the old one left alone. */
	ck_assert_ptr_eq(replaced, before);
	ck_assert_ptr_ne(c.buf, before);
	ck_assert(memcmp(data, "0123456789\n", 11) == 0);
	ck_assert_uint_eq(conn_unsent(&c), 22);
	bufpool_put(&pool, replaced, replaced->cap);
	/* The kernel took 11 bytes of the old buffer: the same 11 of the new. */
	conn_wrote(&c, &pool, 11);
	drain(UNLIMITED);
	assert_out("abcdefghij\n");
	ck_assert_int_eq(c.state, CONN_READING);
}
END_TEST

/*
 * Arbitrary input owed in arbitrary pieces, Writing or not, pinned or
 * not, drained in arbitrary amounts: the echo is the input, and its lines
 * and fragments are the ones reads of max_line at most would count.
 */
START_TEST(test_owe_random_pieces_match_reads)
{
	static char in[100000];
	unsigned seed = 777u + (unsigned)_i;
	uint32_t max_line = 1 + (uint32_t)(rand_r(&seed) % 300);
	uint64_t lines = 0, fragments = 0, want_lines = 0, want_frags = 0;
	size_t pos = 0, run = 0;

	conn_abort(&c, &pool);
	bufpool_destroy(&pool);
	start(max_line);
	for (size_t i = 0; i < sizeof(in); i++) {
		int r = rand_r(&seed) % 100;

		in[i] = r < 3 ? '\n' : (char)('a' + r % 26);
		/* The contract: a cut at each newline and at max_line bytes. */
		if (in[i] == '\n') {
			want_lines++;
			run = 0;
		} else if (++run == max_line) {
			want_frags++;
			run = 0;
		}
	}
	while (pos < sizeof(in)) {
		size_t n = 1 + (size_t)rand_r(&seed) % 700;
		struct conn_buf *replaced;
		struct conn_echo echo;

		if (n > sizeof(in) - pos)
			n = sizeof(in) - pos;
		ck_assert_int_eq(conn_owe(&c, &pool, in + pos, n,
		    rand_r(&seed) % 2 == 0, &replaced, &echo), 0);
		if (replaced != NULL)
			bufpool_put(&pool, replaced, replaced->cap);
		lines += echo.lines;
		fragments += echo.fragments;
		ck_assert_uint_lt(conn_held(&c), max_line);
		pos += n;
		if (c.state == CONN_WRITING && rand_r(&seed) % 3 != 0)
			drain((size_t)rand_r(&seed) % 900);
	}
	conn_finish(&c, &pool, CONN_END_CLIENT);
	while (c.state == CONN_WRITING)
		drain((size_t)(rand_r(&seed) % 900));
	ck_assert_int_eq(c.state, CONN_CLOSED);
	ck_assert_uint_eq(outlen, sizeof(in));
	ck_assert(memcmp(out, in, sizeof(in)) == 0);
	ck_assert_uint_eq(lines, want_lines);
	ck_assert_uint_eq(fragments, want_frags);
}
END_TEST

START_TEST(test_bytes_framing_echoes_every_byte)
{
	conn_abort(&c, &pool);
	conn_init(&c, CONN_READING, CONN_FRAMING_BYTES);
	/* No newline, and it goes back at once: nothing is ever held. */
	feed_str("abc");
	assert_out("abc");
	ck_assert_uint_eq(conn_held(&c), 0);
	ck_assert_ptr_null(c.buf);
	feed_str("de\nf");
	assert_out("abcde\nf");
	/* Back-pressure as with lines: what the kernel refuses waits. */
	ck_assert_uint_eq(feed("ghij", 4, 1), 1);
	ck_assert_int_eq(c.state, CONN_WRITING);
	ck_assert_uint_eq(conn_unsent(&c), 3);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 0);
	drain(UNLIMITED);
	assert_out("abcde\nfghij");
	ck_assert_int_eq(c.state, CONN_READING);
	/* A whole max_line in one read is one echo, not a fragment. */
	{
		struct conn_echo echo;
		char full[16];

		memset(full, 'x', sizeof(full));
		conn_plan(&c, &pool, full, sizeof(full), &echo);
		ck_assert_uint_eq(echo.fresh_len, 16);
		ck_assert_uint_eq(echo.fragments, 0);
		ck_assert_uint_eq(echo.lines, 0);
	}
	conn_finish(&c, &pool, CONN_END_CLIENT);
	ck_assert_int_eq(c.state, CONN_CLOSED);
}
END_TEST

START_TEST(test_plan_counts_lines_and_fragments)
{
	struct conn_echo echo;

	conn_plan(&c, &pool, "a\nbb\nc", 6, &echo);
	ck_assert_uint_eq(echo.lines, 2);
	ck_assert_uint_eq(echo.fragments, 0);
	ck_assert_uint_eq(echo.fresh_len, 5);
	conn_plan(&c, &pool, "no newline", 10, &echo);
	ck_assert_uint_eq(echo.lines + echo.fragments + echo.fresh_len, 0);
	/* max_line (16) bytes with no newline: one fragment. */
	conn_plan(&c, &pool, "0123456789abcdef", 16, &echo);
	ck_assert_uint_eq(echo.lines, 0);
	ck_assert_uint_eq(echo.fragments, 1);
	ck_assert_uint_eq(echo.fresh_len, 16);
}
END_TEST

START_TEST(test_end_keeps_its_first_reason)
{
	feed_str("held");
	conn_finish(&c, &pool, CONN_END_LINE_TIMEOUT);
	ck_assert_int_eq(c.end, CONN_END_LINE_TIMEOUT);
	ck_assert_int_eq(c.state, CONN_WRITING);
	/* A shutdown while the echo is owed does not change why it ended. */
	conn_finish(&c, &pool, CONN_END_SHUTDOWN);
	ck_assert_int_eq(c.end, CONN_END_LINE_TIMEOUT);
	drain(UNLIMITED);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	assert_out("held");
	/* An abort on a live connection says so. */
	conn_init(&c, CONN_READING, CONN_FRAMING_LINES);
	conn_abort(&c, &pool);
	ck_assert_int_eq(c.end, CONN_END_ABORT);
}
END_TEST

START_TEST(test_header_reads_nothing_into_the_echo)
{
	conn_abort(&c, &pool);
	conn_init(&c, CONN_HEADER, CONN_FRAMING_LINES);
	ck_assert_int_eq(c.state, CONN_HEADER);
	/* The header's bytes are read by the caller, never into the echo. */
	ck_assert_uint_eq(conn_read_room(&c, &pool), 0);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_READ);
	ck_assert_ptr_null(c.buf);
	conn_header_done(&c);
	ck_assert_int_eq(c.state, CONN_READING);
	ck_assert_uint_eq(conn_read_room(&c, &pool), 16);
	feed("after the header\n", 16, UNLIMITED);
	feed("\n", 1, UNLIMITED);
	ck_assert_uint_eq(outlen, 17);
	ck_assert_mem_eq(out, "after the header\n", 17);
	/* Once Reading, a header_done is no transition at all. */
	conn_header_done(&c);
	ck_assert_int_eq(c.state, CONN_READING);
}
END_TEST

START_TEST(test_header_ended_closes)
{
	conn_abort(&c, &pool);
	conn_init(&c, CONN_HEADER, CONN_FRAMING_LINES);
	conn_finish(&c, &pool, CONN_END_CLIENT);
	ck_assert_int_eq(c.state, CONN_CLOSED);
	ck_assert_int_eq(conn_interest(&c), CONN_WANT_NONE);
	/* Closed stays Closed: a late header_done cannot revive it. */
	conn_header_done(&c);
	ck_assert_int_eq(c.state, CONN_CLOSED);
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_starts_reading_with_no_buffer);
	tcase_add_test(tc, test_one_line);
	tcase_add_test(tc, test_many_lines_in_one_read_go_in_one_write);
	tcase_add_test(tc, test_line_split_over_many_reads);
	tcase_add_test(tc, test_line_of_exactly_max_line);
	tcase_add_test(tc, test_max_line_without_newline_is_a_fragment);
	tcase_add_test(tc, test_long_line_as_fragments);
	tcase_add_test(tc, test_fragment_with_held_bytes);
	tcase_add_test(tc, test_eof_without_held_bytes_closes);
	tcase_add_test(tc, test_eof_with_held_bytes_echoes_them_first);
	tcase_add_test(tc, test_partial_write_holds_rest_and_stops_reading);
	tcase_add_test(tc, test_partial_write_inside_held_bytes);
	tcase_add_test(tc, test_eagain_on_write_keeps_everything);
	tcase_add_test(tc, test_eof_while_writing_keeps_order);
	tcase_add_test(tc, test_binary_bytes_are_data);
	tcase_add_test(tc, test_max_line_one);
	tcase_add_test(tc, test_abort_frees_buffer);
	tcase_add_test(tc, test_max_line_follows_pool_until_bytes_are_held);
	tcase_add_test(tc, test_bytes_framing_echoes_every_byte);
	tcase_add_test(tc, test_plan_counts_lines_and_fragments);
	tcase_add_test(tc, test_end_keeps_its_first_reason);
	tcase_add_test(tc, test_header_reads_nothing_into_the_echo);
	tcase_add_test(tc, test_header_ended_closes);
	tcase_add_test(tc, test_handed_buffer_grows_to_max_line);
	tcase_add_test(tc, test_handed_buffer_is_freed_not_pooled);
	tcase_add_loop_test(tc, test_random_chunking_is_byte_exact, 0, 8);
	tcase_add_test(tc, test_owe_reading_echoes_lines_and_holds_the_rest);
	tcase_add_test(tc, test_owe_while_writing_cuts_fragments_at_max_line);
	tcase_add_test(tc, test_owe_pinned_leaves_the_old_buffer_whole);
	tcase_add_loop_test(tc, test_owe_random_pieces_match_reads, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(conn_suite());
}
