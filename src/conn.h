/*
 * The connection state machine, pure: it is told which bytes arrived and
 * how many bytes the kernel took, and it answers with what to write and
 * which one interest it wants next.  It makes no system call, so Check and
 * a fuzzer can drive it.
 *
 *              header whole             echo left over
 *     Header  --------------->  Reading  ---------------->  Writing
 *       |                        |    ^                        |
 *       |                        |    +------------------------+
 *       |                        |          echo all taken     |
 *       | end of input           | end of input, nothing       | all taken
 *       |                        | held or pending             | after eof
 *       +-------------------->  Closed  <----------------------+
 *
 *   Header   a balancer's connection before its PROXY header is whole:
 *            the bytes are the header's, read by the caller, never echoed.
 *   Reading  waiting for bytes; complete lines go back at once.
 *   Writing  echo is pending: read nothing more until the kernel takes it
 *            (back-pressure).
 *   Closed   done: the slot may be freed.  A socket error leads here from
 *            any state (conn_abort).
 *
 * `end` says no more input will be read, and why: the client ended its
 * side, or the daemon ended it (line_timeout, shutdown).  From then on the
 * held bytes are echo, and the connection closes once the kernel has taken
 * it all.
 *
 * Framing decides what completes an echo: a newline (or max_line bytes
 * with none, a fragment), or with bytes framing every byte, the RFC 862
 * echo service: there, every byte completes a line, so nothing is ever
 * held and only back-pressure keeps echo back.
 *
 * The echo stream is a prefix of the input stream: everything up to the
 * last newline goes back at once, and so does every full max_line bytes
 * with no newline (a fragment).  What is not yet echoed is always a suffix
 * of the input, kept in one buffer that the connection owns only while it
 * holds something: [off, off + pending) is echo the kernel has not taken,
 * the `held` bytes after it wait for their newline.
 *
 * An idle connection is ten bytes: everything else lives in the buffer.
 * Its max_line is the buffer pool's size (the configuration in force)
 * until it takes a buffer, and that buffer's size from then on, so a
 * reload never changes the bound under bytes already held.
 */
#ifndef PINGPONGD_CONN_H
#define PINGPONGD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bufpool.h"

enum conn_state {
	CONN_HEADER,                    /* a PROXY header is due before any echo */
	CONN_READING,                   /* waiting for bytes from the client */
	CONN_WRITING,                   /* echo is pending: read nothing more */
	CONN_CLOSED,                    /* done: the slot may be freed */
};

/* Why no more input is read. */
enum conn_end {
	CONN_END_NONE,                  /* input may still come */
	CONN_END_CLIENT,                /* the client ended its side */
	CONN_END_LINE_TIMEOUT,          /* a partial line was held too long */
	CONN_END_SHUTDOWN,              /* the daemon is stopping */
	CONN_END_ABORT,                 /* a socket error: nothing more is written */
};

/* What completes an echo (config.h's enum config_framing, same values). */
enum conn_framing {
	CONN_FRAMING_LINES,             /* a newline, or max_line bytes */
	CONN_FRAMING_BYTES,             /* every byte */
};

enum conn_interest {
	CONN_WANT_NONE,
	CONN_WANT_READ,
	CONN_WANT_WRITE,
};

/*
 * What a connection holds, at the start of its pool buffer.  A buffer has
 * room for max_line bytes (cap == size), except one that a hand-over
 * filled with what it held: that one has room for just those bytes, and
 * grows to size when more must be kept.  Faulting in a page of max_line
 * for each of thousands of such connections is what a hand-over would
 * otherwise spend most of its pause on.
 */
struct conn_buf {
	uint32_t size;                  /* bytes of data: the max_line it was taken for */
	uint32_t cap;                   /* bytes of data allocated, <= size */
	uint32_t off;                   /* first pending byte in data */
	uint32_t pending;               /* echo bytes the kernel has not taken */
	uint32_t held;                  /* bytes after the last newline, < size */
	char data[];
};

/* Packed so that the slot around it stays small: 11 bytes on LP64. */
struct __attribute__((packed)) conn {
	struct conn_buf *buf;           /* NULL while nothing is pending or held */
	uint8_t state;                  /* enum conn_state */
	uint8_t end;                    /* enum conn_end: close once pending is 0 */
	uint8_t framing;                /* enum conn_framing */
};

/* What to write after bytes arrive: the held bytes, then a prefix of the new. */
struct conn_echo {
	const char *held;               /* the connection's held bytes */
	size_t held_len;
	const char *fresh;              /* the start of the bytes just read */
	size_t fresh_len;
	uint32_t lines;                 /* newlines in the echo */
	uint32_t fragments;             /* 1 when it ends in a max_line cut */
};

/*
 * A new connection: Reading, or Header when a PROXY header must come
 * first, with its framing for its whole life.
 */
void conn_init(struct conn *c, enum conn_state first,
    enum conn_framing framing);

/* The PROXY header is whole: Header becomes Reading. */
void conn_header_done(struct conn *c);

/* Bytes held (after the last newline) and echo not yet taken by the kernel. */
size_t conn_held(const struct conn *c);
size_t conn_unsent(const struct conn *c);

/* The bound on held bytes in force for this connection. */
uint32_t conn_max_line(const struct conn *c, const struct bufpool *pool);

/* The most bytes the next read may bring into the echo (0 unless Reading). */
size_t conn_read_room(const struct conn *c, const struct bufpool *pool);

/*
 * n > 0 bytes arrived in data (n <= conn_read_room()): say what to echo.
 * The echo may be empty when the bytes complete no line or fragment.
 */
void conn_plan(const struct conn *c, const struct bufpool *pool,
    const char *data, size_t n, struct conn_echo *echo);

/*
 * The kernel took `written` bytes of that echo (0 on EAGAIN): keep what it
 * did not take and the new held bytes.  data, n and echo are what was given
 * to conn_plan().  Returns 0, or -1 when no buffer could be had; the caller
 * must then close the connection.
 */
int conn_commit(struct conn *c, struct bufpool *pool, const char *data,
    size_t n, const struct conn_echo *echo, size_t written);

/*
 * n > 0 bytes arrived and nothing is written now: they join what the
 * connection owes, cut into lines and fragments exactly as reads of any
 * size would have cut them.  This is how a completion ring receives: its
 * bytes may come while echo is still pending (the receive runs ahead of
 * back-pressure), so in Writing they are taken too, and the buffer grows
 * past max_line for them; the caller bounds that by stopping receives.
 * Only in Reading or Writing with input not ended.  The lines and
 * fragments of the new echo go into echo (its other fields are unset).
 *
 * pinned says the kernel is reading the pending bytes where they are (a
 * send in flight): they are not moved, and when more room is needed the
 * connection takes a new buffer and the old one is left in *replaced, for
 * the caller to give back (bufpool_put with its cap) once the kernel is
 * done; else *replaced is NULL.  Returns 0, or -1 when no buffer could be
 * had: nothing changed, and the caller must close the connection.
 */
int conn_owe(struct conn *c, struct bufpool *pool, const char *data,
    size_t n, bool pinned, struct conn_buf **replaced,
    struct conn_echo *echo);

/* The echo the kernel has not taken yet, while Writing. */
void conn_pending(const struct conn *c, const char **data, size_t *len);

/* The kernel took `written` bytes of conn_pending(). */
void conn_wrote(struct conn *c, struct bufpool *pool, size_t written);

/*
 * No more input will be read, for the reason given: the held bytes become
 * echo, then the connection closes.  The first reason stays.
 */
void conn_finish(struct conn *c, struct bufpool *pool, enum conn_end why);

/* Give the buffer back and close, whatever is pending (a socket error). */
void conn_abort(struct conn *c, struct bufpool *pool);

/*
 * A buffer for bytes a hand-over carried: `pending` bytes of echo, then
 * `held` of a partial line, at data, under max_line `size`.  It has room
 * for just those (cap); conn_commit() grows it when it must.  NULL when
 * memory is exhausted.
 */
struct conn_buf *conn_buf_carried(struct bufpool *pool, uint32_t size,
    const char *data, uint32_t pending, uint32_t held);

enum conn_interest conn_interest(const struct conn *c);

#endif
