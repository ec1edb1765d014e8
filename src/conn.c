#include "conn.h"

#include <string.h>

void
conn_init(struct conn *c, uint32_t max_line)
{
	memset(c, 0, sizeof(*c));
	c->max_line = max_line;
	c->state = CONN_READING;
}

size_t
conn_read_room(const struct conn *c)
{
	if (c->state != CONN_READING)
		return 0;
	return c->max_line - c->held;
}

/* Drop the buffer once nothing is pending or held in it. */
static void
conn_release(struct conn *c, struct bufpool *pool)
{
	if (c->buf != NULL)
		bufpool_put(pool, c->buf, c->max_line);
	c->buf = NULL;
	c->off = 0;
}

/* After an echo write: Writing while echo is pending, else read or close. */
static void
conn_settle(struct conn *c)
{
	if (c->pending > 0)
		c->state = CONN_WRITING;
	else if (c->eof)
		c->state = CONN_CLOSED;
	else
		c->state = CONN_READING;
}

void
conn_plan(const struct conn *c, const char *data, size_t n,
    struct conn_echo *echo)
{
	const char *nl = memrchr(data, '\n', n);
	size_t total = c->held + n;
	size_t keep;

	/*
	 * Bytes after the last newline stay held, unless with what was held
	 * before they fill max_line: then they go back as a fragment.  n is
	 * at most max_line - held, so the held tail is always < max_line.
	 */
	if (nl != NULL)
		keep = n - (size_t)(nl + 1 - data);
	else
		keep = total == c->max_line ? 0 : total;

	if (keep == total) {
		memset(echo, 0, sizeof(*echo));
		return;
	}
	/* Any echo covers every held byte: they precede the newline. */
	echo->held = c->buf;
	echo->held_len = c->held;
	echo->fresh = data;
	echo->fresh_len = total - keep - c->held;
}

int
conn_commit(struct conn *c, struct bufpool *pool, const char *data,
    size_t n, const struct conn_echo *echo, size_t written)
{
	size_t total = c->held + n;
	size_t out = echo->held_len + echo->fresh_len;
	size_t keep = total - written;

	if (keep == 0) {
		conn_release(c, pool);
		c->pending = c->held = 0;
		conn_settle(c);
		return 0;
	}
	if (c->buf == NULL) {
		c->buf = bufpool_get(pool, c->max_line);
		if (c->buf == NULL)
			return -1;
	}
	/* Keep the suffix of held + data that the kernel did not take. */
	if (written < c->held) {
		memmove(c->buf, c->buf + written, c->held - written);
		memcpy(c->buf + (c->held - written), data, n);
	} else {
		memcpy(c->buf, data + (written - c->held), keep);
	}
	c->off = 0;
	c->pending = (uint32_t)(out - written);
	c->held = (uint32_t)(total - out);
	conn_settle(c);
	return 0;
}

void
conn_pending(const struct conn *c, const char **data, size_t *len)
{
	*data = c->buf + c->off;
	*len = c->pending;
}

void
conn_wrote(struct conn *c, struct bufpool *pool, size_t written)
{
	c->off += (uint32_t)written;
	c->pending -= (uint32_t)written;
	if (c->pending == 0) {
		if (c->held == 0) {
			conn_release(c, pool);
		} else if (c->off > 0) {
			/* Reading appends after the held bytes at the start. */
			memmove(c->buf, c->buf + c->off, c->held);
			c->off = 0;
		}
	}
	conn_settle(c);
}

void
conn_finish(struct conn *c, struct bufpool *pool)
{
	if (c->state == CONN_CLOSED)
		return;
	c->pending += c->held;
	c->held = 0;
	c->eof = 1;
	if (c->pending == 0)
		conn_release(c, pool);
	conn_settle(c);
}

void
conn_abort(struct conn *c, struct bufpool *pool)
{
	conn_release(c, pool);
	c->pending = c->held = 0;
	c->eof = 1;
	c->state = CONN_CLOSED;
}

enum conn_interest
conn_interest(const struct conn *c)
{
	switch (c->state) {
	case CONN_READING:
		return CONN_WANT_READ;
	case CONN_WRITING:
		return CONN_WANT_WRITE;
	default:
		return CONN_WANT_NONE;
	}
}
