#include "conn.h"

#include <string.h>

void
conn_init(struct conn *c, enum conn_state first, enum conn_framing framing)
{
	memset(c, 0, sizeof(*c));
	c->state = first == CONN_HEADER ? CONN_HEADER : CONN_READING;
	c->framing = (uint8_t)framing;
}

void
conn_header_done(struct conn *c)
{
	if (c->state == CONN_HEADER)
		c->state = CONN_READING;
}

size_t
conn_held(const struct conn *c)
{
	return c->buf != NULL ? c->buf->held : 0;
}

size_t
conn_unsent(const struct conn *c)
{
	return c->buf != NULL ? c->buf->pending : 0;
}

uint32_t
conn_max_line(const struct conn *c, const struct bufpool *pool)
{
	return c->buf != NULL ? c->buf->size : pool->size;
}

size_t
conn_read_room(const struct conn *c, const struct bufpool *pool)
{
	if (c->state != CONN_READING)
		return 0;
	return conn_max_line(c, pool) - conn_held(c);
}

/* Drop the buffer once nothing is pending or held in it. */
static void
conn_release(struct conn *c, struct bufpool *pool)
{
	if (c->buf != NULL)
		bufpool_put(pool, c->buf, c->buf->cap);
	c->buf = NULL;
}

/* After an echo write: Writing while echo is pending, else read or close. */
static void
conn_settle(struct conn *c)
{
	if (conn_unsent(c) > 0)
		c->state = CONN_WRITING;
	else if (c->end != CONN_END_NONE)
		c->state = CONN_CLOSED;
	else
		c->state = CONN_READING;
}

/* Newlines in n bytes at data. */
static uint32_t
conn_count_lines(const char *data, size_t n)
{
	const char *p = data, *end = data + n;
	uint32_t lines = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

void
conn_plan(const struct conn *c, const struct bufpool *pool, const char *data,
    size_t n, struct conn_echo *echo)
{
	const char *nl;
	size_t held = conn_held(c), total = held + n;
	size_t keep;

	/*
	 * Bytes after the last newline stay held, unless with what was held
	 * before they fill max_line: then they go back as a fragment.  n is
	 * at most max_line - held, so the held tail is always < max_line.
	 * With bytes framing every byte completes a line: nothing is kept.
	 */
	memset(echo, 0, sizeof(*echo));
	if (c->framing == CONN_FRAMING_BYTES) {
		keep = 0;
	} else if ((nl = memrchr(data, '\n', n)) != NULL) {
		keep = n - (size_t)(nl + 1 - data);
	} else {
		keep = total == conn_max_line(c, pool) ? 0 : total;
		echo->fragments = keep == 0;
	}
	if (keep == total)
		return;
	/* Any echo covers every held byte: they precede the newline. */
	echo->held = held > 0 ? c->buf->data : NULL;
	echo->held_len = held;
	echo->fresh = data;
	echo->fresh_len = total - keep - held;
	echo->lines = conn_count_lines(data, echo->fresh_len);
}

int
conn_commit(struct conn *c, struct bufpool *pool, const char *data,
    size_t n, const struct conn_echo *echo, size_t written)
{
	size_t held = conn_held(c), total = held + n;
	size_t out = echo->held_len + echo->fresh_len;
	size_t keep = total - written;
	struct conn_buf *b = c->buf;

	if (keep == 0) {
		conn_release(c, pool);
		conn_settle(c);
		return 0;
	}
	if (b == NULL) {
		b = bufpool_get(pool, pool->size);
		if (b == NULL)
			return -1;
		b->size = b->cap = pool->size;
		b->off = b->pending = b->held = 0;
		c->buf = b;
	} else if (keep > b->cap) {
		/* A hand-over's small buffer: room for max_line now. */
		b = bufpool_grow(pool, b, b->size);
		if (b == NULL)
			return -1;
		b->cap = b->size;
		c->buf = b;
	}
	/* Keep the suffix of held + data that the kernel did not take. */
	if (written < held) {
		memmove(b->data, b->data + written, held - written);
		memcpy(b->data + (held - written), data, n);
	} else {
		memcpy(b->data, data + (written - held), keep);
	}
	b->off = 0;
	b->pending = (uint32_t)(out - written);
	b->held = (uint32_t)(total - out);
	conn_settle(c);
	return 0;
}

/*
 * Where the echo may be cut in the n bytes at p, which start right after
 * the last cut: after the last newline, or wherever a run without one
 * reaches max bytes (a fragment), wherever the reads happened to end.
 * Returns the bytes up to the last cut, and counts newlines and fragments.
 */
static size_t
conn_cut(const char *p, size_t n, uint32_t max, struct conn_echo *echo)
{
	size_t at = 0, cut = 0;

	while (at < n) {
		size_t limit = cut + max < n ? cut + max : n;
		const char *nl = memchr(p + at, '\n', limit - at);

		if (nl != NULL) {
			at = cut = (size_t)(nl + 1 - p);
			echo->lines++;
		} else if (limit - cut == max) {
			at = cut = limit;
			echo->fragments++;
		} else {
			break;
		}
	}
	return cut;
}

/*
 * Room for need bytes: max_line while that is enough, else at least twice
 * what b had, so that a long run of receives copies each byte a bounded
 * number of times.
 */
static uint32_t
conn_grown_cap(const struct conn_buf *b, uint32_t size, size_t need)
{
	uint64_t cap = size;

	if (need > cap && b != NULL && (uint64_t)b->cap * 2 > cap)
		cap = (uint64_t)b->cap * 2;
	if (need > cap)
		cap = need;
	return cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
}

int
conn_owe(struct conn *c, struct bufpool *pool, const char *data, size_t n,
    bool pinned, struct conn_buf **replaced, struct conn_echo *echo)
{
	struct conn_buf *b = c->buf;
	size_t kept, need, cut;

	memset(echo, 0, sizeof(*echo));
	*replaced = NULL;
	kept = conn_unsent(c) + conn_held(c);
	need = kept + n;
	if (need > UINT32_MAX)
		return -1;
	if (b == NULL || (pinned && b->off + need > b->cap)) {
		/* A fresh buffer; a pinned one is left as it is for the caller. */
		uint32_t size = b != NULL ? b->size : pool->size;
		uint32_t cap = conn_grown_cap(b, size, need);
		struct conn_buf *fresh = bufpool_get(pool, cap);

		if (fresh == NULL)
			return -1;
		fresh->size = size;
		fresh->cap = cap;
		fresh->off = 0;
		fresh->pending = b != NULL ? b->pending : 0;
		fresh->held = b != NULL ? b->held : 0;
		if (b != NULL)
			memcpy(fresh->data, b->data + b->off, kept);
		*replaced = b;
		b = c->buf = fresh;
	} else if (b->off + need > b->cap) {
		if (b->off > 0) {
			memmove(b->data, b->data + b->off, kept);
			b->off = 0;
		}
		if (need > b->cap) {
			uint32_t cap = conn_grown_cap(b, b->size, need);
			struct conn_buf *grown = bufpool_grow(pool, b, cap);

			if (grown == NULL)
				return -1;
			b = c->buf = grown;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->off + kept, data, n);
	if (c->framing == CONN_FRAMING_BYTES) {
		cut = b->held + n;
		echo->lines = conn_count_lines(data, n);
	} else {
		cut = conn_cut(b->data + b->off + b->pending, b->held + n,
		    b->size, echo);
	}
	b->pending += (uint32_t)cut;
	b->held = (uint32_t)(b->held + n - cut);
	conn_settle(c);
	return 0;
}

void
conn_pending(const struct conn *c, const char **data, size_t *len)
{
	*data = c->buf != NULL ? c->buf->data + c->buf->off : NULL;
	*len = conn_unsent(c);
}

void
conn_wrote(struct conn *c, struct bufpool *pool, size_t written)
{
	struct conn_buf *b = c->buf;

	if (b == NULL)
		return;
	b->off += (uint32_t)written;
	b->pending -= (uint32_t)written;
	if (b->pending == 0) {
		if (b->held == 0) {
			conn_release(c, pool);
		} else if (b->off > 0) {
			/* Reading appends after the held bytes at the start. */
			memmove(b->data, b->data + b->off, b->held);
			b->off = 0;
		}
	}
	conn_settle(c);
}

void
conn_finish(struct conn *c, struct bufpool *pool, enum conn_end why)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->end == CONN_END_NONE)
		c->end = (uint8_t)why;
	if (c->buf != NULL) {
		c->buf->pending += c->buf->held;
		c->buf->held = 0;
		if (c->buf->pending == 0)
			conn_release(c, pool);
	}
	conn_settle(c);
}

struct conn_buf *
conn_buf_carried(struct bufpool *pool, uint32_t size, const char *data,
    uint32_t pending, uint32_t held)
{
	struct conn_buf *b = bufpool_get(pool, pending + held);

	if (b == NULL)
		return NULL;
	b->size = size;
	b->cap = pending + held;
	b->off = 0;
	b->pending = pending;
	b->held = held;
	memcpy(b->data, data, (size_t)pending + held);
	return b;
}

void
conn_abort(struct conn *c, struct bufpool *pool)
{
	conn_release(c, pool);
	if (c->end == CONN_END_NONE)
		c->end = CONN_END_ABORT;
	c->state = CONN_CLOSED;
}

enum conn_interest
conn_interest(const struct conn *c)
{
	switch (c->state) {
	case CONN_HEADER:
	case CONN_READING:
		return CONN_WANT_READ;
	case CONN_WRITING:
		return CONN_WANT_WRITE;
	default:
		return CONN_WANT_NONE;
	}
}
