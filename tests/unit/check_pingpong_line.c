/*
 * Check suite for pingpong's lines: the pieces a --bench writer gathers
 * are the bytes of the stream, the echo check finds the first wrong byte
 * wherever it lies, in short lines and in long ones, and a read is checked
 * only as far as it can be an echo.
 */
#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "pingpong_line.h"
#include "unit.h"

#define STREAM 7
#define FIRST_SEQ 3
#define LINES 5                         /* lines in each stream gathered */
#define PIECES_MAX 512
#define SCRATCH_MAX (256u * 1024)

/* Short lines, the sizes where filler starts to be referenced, long ones. */
static const size_t sizes[] = {
	1, 2, 17, 18, 100, 1040, 1041, 1042, 1100, 5000, 16400, 40000,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* The concatenation of g's pieces, into out; returns its length. */
static size_t
joined(const struct pp_gather *g, char *out)
{
	size_t n = 0;

	for (int i = 0; i < g->g_count; i++) {
		memcpy(out + n, g->g_iov[i].iov_base, g->g_iov[i].iov_len);
		n += g->g_iov[i].iov_len;
	}
	return n;
}

/* Whether some piece of g points outside its scratch space. */
static bool
references_table(const struct pp_gather *g)
{
	for (int i = 0; i < g->g_count; i++) {
		const char *p = g->g_iov[i].iov_base;

		if (p < g->g_scratch || p >= g->g_scratch + g->g_cap)
			return true;
	}
	return false;
}

/*
 * For one line size, from several starting offsets and with every mix of
 * byte, piece and scratch limits: what the pieces hold is what
 * pp_line_fill_stream writes for the same bytes.
 */
START_TEST(test_gather_matches_fill)
{
	static const size_t caps[] = { 1, 700, 5000, 70000, SCRATCH_MAX };
	static const int maxes[] = { 1, 2, 5, 64, PIECES_MAX };
	static const size_t scratches[] = { 64, 4096, SCRATCH_MAX };
	size_t size = sizes[_i];
	size_t offs[] = { 0, 1, 17, size / 2, size - 1 };
	char *got = malloc(SCRATCH_MAX), *want = malloc(SCRATCH_MAX);
	char *scratch = malloc(SCRATCH_MAX);
	struct iovec *iov = calloc(PIECES_MAX, sizeof(*iov));

	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(scratch);
	ck_assert_ptr_nonnull(iov);
	for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
		size_t off = offs[o];

		if (off >= size)
			continue;
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
		for (size_t k = 0; k < sizeof(scratches) / sizeof(scratches[0]); k++) {
			struct pp_gather g = {
				.g_iov = iov, .g_max = maxes[m],
				.g_scratch = scratch, .g_cap = scratches[k],
			};
			size_t n, all;

			n = pp_line_gather(&g, STREAM, size, FIRST_SEQ, off,
			    FIRST_SEQ + LINES, caps[c]);
			all = pp_line_fill_stream(STREAM, size, FIRST_SEQ, off,
			    FIRST_SEQ + LINES, want, caps[c]);
			ck_assert_msg(n > 0 && n <= all,
			    "size %zu off %zu cap %zu: %zu bytes of %zu",
			    size, off, caps[c], n, all);
			ck_assert_uint_le(g.g_count, g.g_max);
			ck_assert_uint_le(g.g_used, g.g_cap);
			ck_assert_uint_eq(joined(&g, got), n);
			ck_assert_msg(memcmp(got, want, n) == 0,
			    "size %zu off %zu cap %zu pieces %d scratch %zu:"
			    " the pieces differ from the stream", size, off,
			    caps[c], maxes[m], scratches[k]);
			/* With room to spare it stops only at cap or the end. */
			if (maxes[m] == PIECES_MAX && scratches[k] == SCRATCH_MAX)
				ck_assert_uint_eq(n, all);
		}
	}
	free(iov);
	free(scratch);
	free(want);
	free(got);
}
END_TEST

/* The point of gathering: long filler is not copied, but referenced. */
START_TEST(test_gather_references_long_filler)
{
	char scratch[4096];
	struct iovec iov[64];
	struct pp_gather g = {
		.g_iov = iov, .g_max = 64, .g_scratch = scratch,
		.g_cap = sizeof(scratch),
	};
	size_t n;

	n = pp_line_gather(&g, STREAM, 16384, FIRST_SEQ, 0, FIRST_SEQ + 4,
	    4 * 16384);
	ck_assert_uint_eq(n, 4 * 16384);
	ck_assert(references_table(&g));
	/* Short lines are generated into the scratch space, one piece. */
	n = pp_line_gather(&g, STREAM, 32, FIRST_SEQ, 0, FIRST_SEQ + 4, 4 * 32);
	ck_assert_uint_eq(n, 4 * 32);
	ck_assert_int_eq(g.g_count, 1);
	ck_assert(!references_table(&g));
}
END_TEST

/*
 * Feed echo[0..len) to a fresh check in pieces of chunk bytes until a
 * line ends; returns its verdict.
 */
static struct pp_verdict
check_echo(size_t size, const char *echo, size_t len, size_t chunk)
{
	struct pp_check chk;
	struct pp_verdict v;
	size_t at = 0;
	bool done = false;

	memset(&v, 0, sizeof(v));
	pp_check_init(&chk, STREAM, size, FIRST_SEQ);
	while (!done) {
		size_t n = len - at < chunk ? len - at : chunk;

		ck_assert_msg(n > 0, "the echo ended before its line did");
		at += pp_check_feed(&chk, echo + at, n, &v, &done);
	}
	ck_assert_uint_eq(at, len);
	return v;
}

/*
 * One byte of a line changed, wherever it lies: in the number, at the
 * first filler byte, deep in the filler, at the last filler byte, or the
 * newline itself.  Fed whole and in uneven pieces, so the comparison runs
 * from offsets inside the line and over short and long stretches.
 */
START_TEST(test_check_finds_the_changed_byte)
{
	static const size_t chunks[] = { 1, 100, 777, SIZE_MAX };
	size_t size = sizes[_i];
	size_t where[] = { 0, 15, 16, 17, 500, size - 2, size - 1 };
	char *line = malloc(size + 1);

	ck_assert_ptr_nonnull(line);
	pp_line_fill(STREAM, FIRST_SEQ, size, 0, line, size);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct pp_verdict v = check_echo(size, line, size, chunks[c]);

		ck_assert_msg(v.intact, "size %zu: the line as sent is not intact",
		    size);
		ck_assert_uint_eq(v.len, size);
	}
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		size_t pos = where[w], len = size;
		unsigned char sent;

		if (pos >= size)
			continue;
		sent = (unsigned char)line[pos];
		line[pos] = pos == size - 1 ? 'x' : (char)(sent ^ 1);
		/* A lost newline: the echo's next one ends the line. */
		if (pos == size - 1)
			line[len++] = '\n';
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			struct pp_verdict v = check_echo(size, line, len,
			    chunks[c]);

			ck_assert_msg(!v.intact, "size %zu: byte %zu changed,"
			    " yet the line is intact", size, pos);
			ck_assert_uint_eq(v.bad_at, pos);
			ck_assert_uint_eq(v.want, sent);
			ck_assert_uint_eq(v.got, (unsigned char)line[pos]);
			ck_assert_uint_eq(v.len, len);
		}
		line[pos] = (char)sent;
	}
	free(line);
}
END_TEST

/*
 * One connection's reads, cut every which way: pp_echo_take and
 * pp_echo_next give each line written once, in order, with its verdict,
 * and count the bytes read past what was written apart, unchecked.  The
 * echo is LINES lines, the second with a wrong first byte, then junk;
 * the last line's newline was never written, so it is junk too.
 */
START_TEST(test_echo_reads)
{
	static const char junk[] = "xyz";
	static const size_t chunks[] = { 1, 7, 100, 1041, SIZE_MAX };
	size_t size = sizes[_i], len = LINES * size + sizeof(junk) - 1;
	uint64_t written = LINES * size - 1;
	/* The second line is wrong, unless lines are lone newlines. */
	size_t bad = size > 1 ? 1 : LINES;
	unsigned char sent = 0, got = 0;        /* the wrong byte */
	char *echo = malloc(len);

	ck_assert_ptr_nonnull(echo);
	pp_line_fill_stream(STREAM, size, FIRST_SEQ, 0, FIRST_SEQ + LINES,
	    echo, LINES * size);
	memcpy(echo + LINES * size, junk, sizeof(junk) - 1);
	if (bad < LINES) {
		sent = (unsigned char)echo[bad * size];
		got = sent ^ 1;
		echo[bad * size] = (char)got;
	}
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct pp_check chk;
		struct pp_echo e;
		struct pp_verdict v;
		uint64_t echoed = 0, extra = 0, lines = 0;
		size_t at = 0;

		pp_check_init(&chk, STREAM, size, FIRST_SEQ);
		while (at < len) {
			size_t n = len - at < chunks[c] ? len - at : chunks[c];

			pp_echo_take(&e, echo + at, n, written, &echoed);
			extra += e.e_extra;
			while (pp_echo_next(&e, &chk, &v)) {
				ck_assert_msg(v.seq == FIRST_SEQ + lines,
				    "size %zu chunk %zu: line %" PRIu64 " is"
				    " seq %" PRIu64, size, chunks[c], lines,
				    v.seq);
				ck_assert_msg(v.intact == (lines != bad),
				    "size %zu chunk %zu: line %" PRIu64
				    " intact is %d", size, chunks[c], lines,
				    v.intact);
				ck_assert_uint_eq(v.len, size);
				if (!v.intact) {
					ck_assert_uint_eq(v.bad_at, 0);
					ck_assert_uint_eq(v.got, got);
					ck_assert_uint_eq(v.want, sent);
				}
				lines++;
			}
			ck_assert_uint_eq(e.e_len, 0);
			at += n;
		}
		ck_assert_msg(lines == LINES - 1, "size %zu chunk %zu: %" PRIu64
		    " lines", size, chunks[c], lines);
		ck_assert_uint_eq(echoed, written);
		ck_assert_uint_eq(extra, len - written);
		/* The check waits where the writes stopped: one byte short. */
		ck_assert_uint_eq(chk.chk_seq, FIRST_SEQ + LINES - 1);
		ck_assert_uint_eq(chk.chk_off, size - 1);
	}
	free(echo);
}
END_TEST

static Suite *
line_suite(void)
{
	Suite *s = suite_create("pingpong_line");
	TCase *tc = tcase_create("lines");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_gather_matches_fill, 0, NSIZES);
	tcase_add_test(tc, test_gather_references_long_filler);
	tcase_add_loop_test(tc, test_check_finds_the_changed_byte, 0, NSIZES);
	tcase_add_loop_test(tc, test_echo_reads, 0, NSIZES);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(line_suite());
}
