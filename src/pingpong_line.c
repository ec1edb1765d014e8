#include "pingpong_line.h"

#include <string.h>

#define SEQ_DIGITS 16                   /* hex digits at the start of a line */
#define STREAM_SHIFT 40                 /* where the stream goes in that number */
#define PERIOD 64                       /* the filler repeats every 64 bytes */
#define FILLER_RUN 16384                /* filler bytes in one table slice */
#define GATHER_MIN 1024                 /* less filler is copied: pieces cost */
#define SHORT_COMPARE 128               /* echo this short is generated whole */

/*
 * The filler alphabet over and over, so that FILLER_RUN bytes of filler at
 * any phase are one slice of it: writers point writev at it and the check
 * compares the echo against it, neither generating filler bytes.  It is a
 * list of characters because a string this long is more than C promises.
 */
#define FILLER_64 \
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', \
    'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', \
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', \
    'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', \
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '/'
#define FILLER_256 FILLER_64, FILLER_64, FILLER_64, FILLER_64
#define FILLER_1K FILLER_256, FILLER_256, FILLER_256, FILLER_256
#define FILLER_4K FILLER_1K, FILLER_1K, FILLER_1K, FILLER_1K
#define FILLER_16K FILLER_4K, FILLER_4K, FILLER_4K, FILLER_4K
static _Alignas(64) const char filler[] = { FILLER_16K, FILLER_64 };
_Static_assert(sizeof(filler) >= FILLER_RUN + PERIOD - 1,
    "the filler table is shorter than a slice at the last phase");

static const char hexdigit[] = "0123456789abcdef";

/* "000102...ff": two digits per byte halves the work of a full number. */
#define HEX_ROW(hi) hi "0" hi "1" hi "2" hi "3" hi "4" hi "5" hi "6" hi "7" \
	hi "8" hi "9" hi "a" hi "b" hi "c" hi "d" hi "e" hi "f"
static const char hexpair[] =
    HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4")
    HEX_ROW("5") HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9")
    HEX_ROW("a") HEX_ROW("b") HEX_ROW("c") HEX_ROW("d") HEX_ROW("e")
    HEX_ROW("f");

/* Where the filler starts: past the number and its space, or the newline. */
static inline size_t
filler_start(size_t size)
{
	size_t body = size - 1;

	return body > SEQ_DIGITS ? SEQ_DIGITS + 1 : body;
}

static inline unsigned
line_phase(uint32_t stream, uint64_t seq)
{
	return (unsigned)((seq * 7 + (uint64_t)stream * 13) & (PERIOD - 1));
}

/* Filler bytes from line offset i on, as they stand in the table. */
static inline const char *
filler_at(unsigned phase, size_t i)
{
	return filler + ((i + phase) & (PERIOD - 1));
}

void
pp_line_fill(uint32_t stream, uint64_t seq, size_t size, size_t off,
    char *out, size_t len)
{
	size_t body = size - 1;         /* everything but the newline */
	size_t digits = body < SEQ_DIGITS ? body : SEQ_DIGITS;
	size_t end = off + len;
	size_t i = off;
	uint64_t number = ((uint64_t)stream << STREAM_SHIFT) ^ seq;
	unsigned phase = line_phase(stream, seq);

	if (off == 0 && end >= SEQ_DIGITS && digits == SEQ_DIGITS) {
		for (int b = 7; b >= 0; b--, out += 2)
			memcpy(out, hexpair + 2 * ((number >> (8 * b)) & 0xff), 2);
		i = SEQ_DIGITS;
	}
	for (; i < end && i < digits; i++)
		*out++ = hexdigit[(number >> (4 * (digits - 1 - i))) & 15];
	if (i < end && i == digits && i < body) {
		*out++ = ' ';
		i++;
	}
	while (i < end && i < body) {
		size_t run = (end < body ? end : body) - i;

		if (run > FILLER_RUN)
			run = FILLER_RUN;
		memcpy(out, filler_at(phase, i), run);
		out += run;
		i += run;
	}
	if (i < end)
		*out = '\n';
}

size_t
pp_line_fill_stream(uint32_t stream, size_t size, uint64_t seq, size_t off,
    uint64_t end_seq, char *out, size_t cap)
{
	size_t n = 0;

	while (seq < end_seq && n < cap) {
		size_t k = size - off;

		if (k > cap - n)
			k = cap - n;
		pp_line_fill(stream, seq, size, off, out + n, k);
		n += k;
		pp_line_advance(size, &seq, &off, k);
	}
	return n;
}

size_t
pp_line_gather(struct pp_gather *g, uint32_t stream, size_t size,
    uint64_t seq, size_t off, uint64_t end_seq, size_t cap)
{
	size_t body = size - 1, lead = filler_start(size), n = 0;
	bool extend = false;            /* the last piece ends where scratch does */

	g->g_count = 0;
	g->g_used = 0;
	if (body - lead < GATHER_MIN) {
		/* No filler worth a piece of its own: one generated piece. */
		if (g->g_max == 0)
			return 0;
		n = pp_line_fill_stream(stream, size, seq, off, end_seq,
		    g->g_scratch, cap < g->g_cap ? cap : g->g_cap);
		if (n > 0) {
			g->g_iov[0].iov_base = g->g_scratch;
			g->g_iov[0].iov_len = n;
			g->g_count = 1;
			g->g_used = n;
		}
		return n;
	}
	while (seq < end_seq && n < cap) {
		size_t k = size - off, from, to;

		if (k > cap - n)
			k = cap - n;
		/* This line's filler within the k bytes from off. */
		from = off > lead ? off : lead;
		to = off + k < body ? off + k : body;
		if (to > from && to - from >= GATHER_MIN && from == off) {
			if (g->g_count == g->g_max)
				break;
			k = to - from < FILLER_RUN ? to - from : FILLER_RUN;
			/* iov_base is not const, but writev only reads it. */
			g->g_iov[g->g_count].iov_base =
			    (void *)filler_at(line_phase(stream, seq), off);
			g->g_iov[g->g_count++].iov_len = k;
			extend = false;
		} else {
			/* Generated, up to the filler when that is referenced. */
			if (to > from && to - from >= GATHER_MIN)
				k = from - off;
			if (k > g->g_cap - g->g_used)
				k = g->g_cap - g->g_used;
			if (k == 0)
				break;
			if (!extend) {
				if (g->g_count == g->g_max)
					break;
				g->g_iov[g->g_count].iov_base =
				    g->g_scratch + g->g_used;
				g->g_iov[g->g_count++].iov_len = 0;
				extend = true;
			}
			pp_line_fill(stream, seq, size, off,
			    g->g_scratch + g->g_used, k);
			g->g_iov[g->g_count - 1].iov_len += k;
			g->g_used += k;
		}
		n += k;
		pp_line_advance(size, &seq, &off, k);
	}
	return n;
}

void
pp_check_init(struct pp_check *chk, uint32_t stream, size_t size,
    uint64_t first_seq)
{
	memset(chk, 0, sizeof(*chk));
	chk->chk_stream = stream;
	chk->chk_size = size;
	chk->chk_seq = first_seq;
}

/* Where p[0..n) first differs from expect[0..n), or n when it does not. */
static size_t
mismatch(const char *expect, const char *p, size_t n, unsigned char *want)
{
	size_t i = 0;

	if (memcmp(expect, p, n) == 0)
		return n;
	while (expect[i] == p[i])
		i++;
	*want = (unsigned char)expect[i];
	return i;
}

/*
 * Where p[0..n) first differs from bytes [off, off + n) of the expected
 * line, or n when it does not; the expected byte there goes into *want.
 * A short stretch is generated and compared in one go.  Of a longer one
 * only the number is generated, and the filler is compared in place
 * against the table: one pass over the echo, nothing written.
 */
static size_t
first_difference(const struct pp_check *chk, size_t off, const char *p,
    size_t n, unsigned char *want)
{
	size_t body = chk->chk_size - 1, lead = filler_start(chk->chk_size);
	size_t end = off + n, i = off, at;
	unsigned phase = line_phase(chk->chk_stream, chk->chk_seq);

	if (n <= SHORT_COMPARE) {
		char expect[SHORT_COMPARE];

		pp_line_fill(chk->chk_stream, chk->chk_seq, chk->chk_size, off,
		    expect, n);
		return mismatch(expect, p, n, want);
	}
	if (i < lead) {
		char expect[SEQ_DIGITS + 1];
		size_t k = (end < lead ? end : lead) - i;

		pp_line_fill(chk->chk_stream, chk->chk_seq, chk->chk_size, i,
		    expect, k);
		at = mismatch(expect, p, k, want);
		if (at < k)
			return at;
		i += k;
	}
	while (i < end && i < body) {
		size_t k = (end < body ? end : body) - i;

		if (k > FILLER_RUN)
			k = FILLER_RUN;
		at = mismatch(filler_at(phase, i), p + (i - off), k, want);
		if (at < k)
			return i - off + at;
		i += k;
	}
	if (i < end && p[i - off] != '\n') {
		*want = '\n';
		return i - off;
	}
	return n;
}

static void
line_done(struct pp_check *chk, struct pp_verdict *v, bool *done)
{
	v->seq = chk->chk_seq;
	v->len = chk->chk_off;
	v->intact = !chk->chk_bad;
	v->bad_at = chk->chk_bad_at;
	v->got = chk->chk_got;
	v->want = chk->chk_want;
	*done = true;
	chk->chk_seq++;
	chk->chk_off = 0;
	chk->chk_bad = false;
}

size_t
pp_check_feed(struct pp_check *chk, const char *p, size_t n,
    struct pp_verdict *v, bool *done)
{
	size_t k, at;
	const char *nl;

	*done = false;
	if (n == 0)
		return 0;
	if (chk->chk_bad) {
		/* The line is condemned already: find where the echo ends it. */
		nl = memchr(p, '\n', n);
		if (nl == NULL) {
			chk->chk_off += n;
			return n;
		}
		k = (size_t)(nl - p) + 1;
		chk->chk_off += k;
		line_done(chk, v, done);
		return k;
	}
	k = chk->chk_size - (size_t)chk->chk_off;
	if (k > n)
		k = n;
	at = first_difference(chk, (size_t)chk->chk_off, p, k, &chk->chk_want);
	if (at < k) {
		chk->chk_bad = true;
		chk->chk_bad_at = chk->chk_off + at;
		chk->chk_got = (unsigned char)p[at];
		chk->chk_off += at + 1;
		/* An early newline ends the echoed line where it stands. */
		if (p[at] == '\n')
			line_done(chk, v, done);
		return at + 1;
	}
	chk->chk_off += k;
	if (chk->chk_off == chk->chk_size)
		line_done(chk, v, done);
	return k;
}
