/*
 * The lines pingpong sends and the check of their echo.
 *
 * A line is a pure function of (stream, seq, size), so neither side of the
 * check keeps a copy of what was sent: the writer produces the bytes it
 * writes, and the checker produces them again to compare the echo against.
 * Most of a long line is filler that repeats every 64 bytes, and that part
 * both sides take straight from a static table.
 * Line seq of stream S, SIZE bytes long:
 *
 *     000000000000002a GHIJKLMNOPQRST\n
 *
 * up to 16 hex digits of (S << 40) ^ seq (the low ones when the line is
 * shorter), a space, printable filler whose phase depends on both, and the
 * newline.  Lines of 1 byte are just the newline.  Every line of a stream
 * differs from its neighbours, so a lost, repeated or reordered line fails
 * the check as surely as a flipped byte.
 */
#ifndef PINGPONG_LINE_H
#define PINGPONG_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PP_LINE_MAX (16u * 1024 * 1024)  /* longest line, bytes */

/* Bytes [off, off + len) of a line into out; off + len <= size. */
void pp_line_fill(uint32_t stream, uint64_t seq, size_t size, size_t off,
    char *out, size_t len);

/*
 * A stream from line seq, byte off, up to (not including) line end_seq:
 * as many bytes as fit in cap go into out.  Returns the count.
 */
size_t pp_line_fill_stream(uint32_t stream, size_t size, uint64_t seq,
    size_t off, uint64_t end_seq, char *out, size_t cap);

/*
 * Where pp_line_gather puts a stream: the pieces for one writev, and the
 * scratch space that holds those of their bytes that are generated.
 */
struct pp_gather {
	struct iovec *g_iov;            /* g_max pieces */
	int g_max;
	int g_count;                    /* pieces in use */
	char *g_scratch;                /* g_cap bytes */
	size_t g_cap;
	size_t g_used;                  /* bytes of it in use */
};

/*
 * The bytes pp_line_fill_stream would give for up to cap bytes, as pieces
 * in g: long runs of filler point into a static table, everything else is
 * generated into the scratch space.  Returns the count of bytes, which is
 * smaller when the pieces or the scratch space run out.
 */
size_t pp_line_gather(struct pp_gather *g, uint32_t stream, size_t size,
    uint64_t seq, size_t off, uint64_t end_seq, size_t cap);

/* Move a stream position (seq, off) forward by n bytes. */
static inline void
pp_line_advance(size_t size, uint64_t *seq, size_t *off, size_t n)
{
	size_t total = *off + n;

	if (total < size) {
		*off = total;
		return;
	}
	*seq += total / size;
	*off = total % size;
}

/*
 * The check of one stream's echo.  It follows the echo line by line: a
 * line is intact when its bytes are the ones sent, newline included.  At
 * the first wrong byte the line is corrupted and the rest of it, up to the
 * next newline in the echo, is skipped, so one bad line does not condemn
 * those after it.
 */
struct pp_check {
	uint32_t chk_stream;            /* which stream's lines are expected */
	size_t chk_size;                /* line length, newline included */
	uint64_t chk_seq;               /* line being received */
	uint64_t chk_off;               /* its bytes received so far */
	bool chk_bad;                   /* it already differs */
	uint64_t chk_bad_at;            /* offset of its first wrong byte */
	unsigned char chk_got;          /* that byte, as echoed */
	unsigned char chk_want;         /* that byte, as sent */
};

/* One echoed line, complete. */
struct pp_verdict {
	uint64_t seq;                   /* which line it was */
	uint64_t len;                   /* bytes echoed for it, newline included */
	bool intact;                    /* byte for byte what was sent */
	uint64_t bad_at;                /* when not: offset of the first wrong byte */
	unsigned char got;              /* the byte echoed there */
	unsigned char want;             /* the byte sent there */
};

void pp_check_init(struct pp_check *chk, uint32_t stream, size_t size,
    uint64_t first_seq);

/*
 * Feed echoed bytes.  Consumes at most one line's worth and returns how
 * many bytes it took; *done says whether a line ended, and if so v holds
 * its verdict.  Call again with the rest.
 */
size_t pp_check_feed(struct pp_check *chk, const char *p, size_t n,
    struct pp_verdict *v, bool *done);

/*
 * The bytes of one read awaiting the check.  Only what was written and
 * not yet echoed can be an echo; the rest was never sent and is counted,
 * not checked.
 */
struct pp_echo {
	const char *e_p;                /* the next byte to check */
	size_t e_len;                   /* bytes left to check */
	uint64_t e_extra;               /* bytes of the read never sent */
};

/*
 * Take n bytes read from a connection that wrote written bytes, of which
 * *echoed came back before: those that can be an echo are added to
 * *echoed and left in e for pp_echo_next.
 */
static inline void
pp_echo_take(struct pp_echo *e, const char *p, size_t n, uint64_t written,
    uint64_t *echoed)
{
	e->e_p = p;
	e->e_len = n;
	e->e_extra = 0;
	if (*echoed + n > written) {
		e->e_extra = *echoed + n - written;
		e->e_len = (size_t)(written - *echoed);
	}
	*echoed += e->e_len;
}

/*
 * Check e's bytes up to the end of the next line: true with its verdict
 * in v, false when they run out first.  Inline, because it runs once per
 * line on the benchmark's hot path.
 */
static inline bool
pp_echo_next(struct pp_echo *e, struct pp_check *chk, struct pp_verdict *v)
{
	bool done;

	while (e->e_len > 0) {
		size_t used = pp_check_feed(chk, e->e_p, e->e_len, v, &done);

		e->e_p += used;
		e->e_len -= used;
		if (done)
			return true;
	}
	return false;
}

#endif
