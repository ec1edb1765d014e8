#include "pingpong_line.h"

#include <string.h>

#define SEQ_DIGITS 16                   /* hex digits at the start of a line */
#define STREAM_SHIFT 40                 /* where the stream goes in that number */
#define COMPARE_CHUNK 512               /* bytes generated per memcmp */

/* The filler alphabet twice, so that any 64-byte run is one memcpy. */
static const char filler[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexdigit[] = "0123456789abcdef";

/* "000102...ff": two digits per byte halves the work of a full number. */
#define HEX_ROW(hi) hi "0" hi "1" hi "2" hi "3" hi "4" hi "5" hi "6" hi "7" \
	hi "8" hi "9" hi "a" hi "b" hi "c" hi "d" hi "e" hi "f"
static const char hexpair[] =
    HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4")
    HEX_ROW("5") HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9")
    HEX_ROW("a") HEX_ROW("b") HEX_ROW("c") HEX_ROW("d") HEX_ROW("e")
    HEX_ROW("f");

void
pp_line_fill(uint32_t stream, uint64_t seq, size_t size, size_t off,
    char *out, size_t len)
{
	size_t body = size - 1;         /* everything but the newline */
	size_t digits = body < SEQ_DIGITS ? body : SEQ_DIGITS;
	size_t end = off + len;
	size_t i = off;
	uint64_t number = ((uint64_t)stream << STREAM_SHIFT) ^ seq;
	unsigned phase = (unsigned)((seq * 7 + (uint64_t)stream * 13) & 63);

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
		size_t at = (i + phase) & 63;

		if (run > 64)
			run = 64;
		memcpy(out, filler + at, run);
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

void
pp_check_init(struct pp_check *chk, uint32_t stream, size_t size,
    uint64_t first_seq)
{
	memset(chk, 0, sizeof(*chk));
	chk->chk_stream = stream;
	chk->chk_size = size;
	chk->chk_seq = first_seq;
}

/*
 * Where p[0..n) first differs from bytes [off, off + n) of the expected
 * line, or n when it does not; the expected byte there goes into *want.
 */
static size_t
first_difference(const struct pp_check *chk, size_t off, const char *p,
    size_t n, unsigned char *want)
{
	char expect[COMPARE_CHUNK];
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < COMPARE_CHUNK ? n - done : COMPARE_CHUNK;

		pp_line_fill(chk->chk_stream, chk->chk_seq, chk->chk_size,
		    off + done, expect, k);
		if (memcmp(expect, p + done, k) != 0) {
			size_t i = 0;

			while (expect[i] == p[done + i])
				i++;
			*want = (unsigned char)expect[i];
			return done + i;
		}
		done += k;
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
