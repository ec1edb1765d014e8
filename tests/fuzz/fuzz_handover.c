/*
 * libFuzzer harness for the hand-over state record's reader: arbitrary
 * bytes opened as a record and read part after part until one is
 * refused, then read again with a header made to agree with them (magic,
 * version, header size, payload length, checksum), so that the parts
 * themselves are judged and not only the checksum that guards them.
 * Oracle: no byte outside the input is read (the sanitizers); a refusal
 * says why; every part taken keeps what daemon_upgrade.c and
 * session_handover.c rely on; a record read whole ends at its last part,
 * and written again from what was read it has the same length and reads
 * back to the same parts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "handover.h"
#include "proxy.h"

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "oracle: %s\n", #cond);         \
			abort();                                        \
		}                                                       \
	} while (0)

#define WHY 256

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* A listener as its callers use it. */
static void
check_listener(const struct handover_reader *r,
    const struct handover_listener_rec *l)
{
	size_t n = strlen(l->text);

	CHECK(l->fd >= 0);
	CHECK(l->kind <= HANDOVER_SHARED_TCP);
	CHECK(n > 0 && n <= HANDOVER_TEXT_MAX);
	if (l->kind != HANDOVER_TCP || r->version < 2)
		CHECK(l->worker == HANDOVER_OWNER);
}

/* A connection as session_import() uses it, its bytes inside the record. */
static void
check_conn(const struct handover_reader *r, const struct handover_conn *c)
{
	size_t kept = (size_t)c->pending + c->held;
	struct proxy_header hdr;
	const char *bad;

	CHECK(c->fd >= 0);
	CHECK(c->state == CONN_HEADER || c->state == CONN_READING ||
	    c->state == CONN_WRITING);
	CHECK(c->end < CONN_END_ABORT);
	CHECK(c->framing <= CONN_FRAMING_BYTES);
	CHECK((c->flags & ~(HANDOVER_REFUSE_HEADER | HANDOVER_COUNTED)) == 0);
	CHECK(c->size <= CONFIG_MAX_LINE_MAX);
	/* Echo owed may pass max_line by the io_uring run-ahead, held may not. */
	CHECK(kept == 0 || c->size > 0);
	CHECK(c->pending <= (uint64_t)c->size + HANDOVER_OWED_MAX);
	CHECK(c->held == 0 || c->held < c->size);
	CHECK((c->state == CONN_WRITING) == (c->pending > 0));
	CHECK(c->end == CONN_END_NONE ||
	    (c->state == CONN_WRITING && c->held == 0));
	CHECK(c->peer_len <= HANDOVER_PEER_MAX);
	CHECK(c->header_have < PROXY_HEADER_MAX);
	if (c->state == CONN_HEADER) {
		CHECK(kept == 0 && !(c->flags & HANDOVER_COUNTED));
		CHECK(proxy_parse(c->header, c->header_have, &hdr, &bad) ==
		    PROXY_INCOMPLETE);
	} else {
		CHECK(c->header_have == 0);
	}
	if (c->flags & HANDOVER_REFUSE_HEADER)
		CHECK(c->state == CONN_READING && kept == 0);
	if (c->framing == CONN_FRAMING_BYTES)
		CHECK(c->held == 0);
	else if (c->held > 0)
		CHECK(memchr(c->data + c->pending, '\n', c->held) == NULL);
	/* Its bytes lie one after the other inside the record. */
	CHECK(c->peer >= r->buf + HANDOVER_HEADER);
	CHECK(c->header == c->peer + c->peer_len);
	CHECK(c->data == c->header + c->header_have);
	CHECK(c->data + kept <= r->buf + r->len);
	CHECK(c->data + kept == r->buf + r->pos);
}

/* A refusal: it says why, and the read position is still inside the record. */
static void
check_refused(const struct handover_reader *r, const char *why)
{
	CHECK(why[0] != '\0');
	CHECK(r->pos <= r->len);
}

static void
same_figures(const struct server_figures *a, const struct server_figures *b)
{
	CHECK(a->accepted == b->accepted);
	CHECK(memcmp(a->refused, b->refused, sizeof(a->refused)) == 0);
	CHECK(memcmp(a->closed, b->closed, sizeof(a->closed)) == 0);
	CHECK(a->bytes_received == b->bytes_received);
	CHECK(a->bytes_echoed == b->bytes_echoed);
	CHECK(a->lines_echoed == b->lines_echoed);
	CHECK(a->fragments == b->fragments);
	CHECK(a->accept_pauses == b->accept_pauses);
}

static void
same_conn(const struct handover_conn *a, const struct handover_conn *b)
{
	CHECK(a->fd == b->fd && a->state == b->state && a->end == b->end);
	CHECK(a->framing == b->framing && a->flags == b->flags);
	CHECK(a->size == b->size && a->pending == b->pending &&
	    a->held == b->held);
	CHECK(a->idle_age_ms == b->idle_age_ms &&
	    a->line_age_ms == b->line_age_ms && a->id == b->id);
	CHECK(a->peer_len == b->peer_len && a->header_have == b->header_have);
	CHECK(memcmp(a->peer, b->peer, a->peer_len) == 0);
	CHECK(memcmp(a->header, b->header, a->header_have) == 0);
	CHECK(memcmp(a->data, b->data, (size_t)a->pending + a->held) == 0);
}

/*
 * Read a record whole, a part at a time, each part written as read into
 * w.  Returns 0 when every part was taken, -1 at the first refusal.
 */
static int
read_record(const unsigned char *buf, size_t len, struct handover_writer *w,
    struct handover_reader *r)
{
	char why[WHY] = "";
	struct handover_daemon d;
	struct server_figures f;
	struct handover_listener_rec l;
	struct handover_conn c;

	if (handover_open(r, buf, len, why, sizeof(why)) == -1) {
		CHECK(why[0] != '\0');
		return -1;
	}
	CHECK(r->version >= HANDOVER_VERSION_OLDEST &&
	    r->version <= HANDOVER_VERSION);
	CHECK(r->nworkers <= CONFIG_WORKERS_MAX);
	handover_writer_init(w, r->version);
	if (handover_next_daemon(r, &d, why, sizeof(why)) == -1) {
		check_refused(r, why);
		return -1;
	}
	handover_put_daemon(w, &d);
	for (uint32_t k = 0; k < r->nworkers; k++) {
		if (handover_next_figures(r, &f, why, sizeof(why)) == -1) {
			check_refused(r, why);
			return -1;
		}
		handover_put_figures(w, &f);
	}
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		if (handover_next_listener(r, &l, why, sizeof(why)) == -1) {
			check_refused(r, why);
			return -1;
		}
		check_listener(r, &l);
		handover_put_listener(w, &l);
	}
	for (uint32_t i = 0; i < r->nconnections; i++) {
		/* A refusal is judged with the reason buffer too small. */
		if (handover_next_conn(r, &c, why, i % 2 ? 24 : sizeof(why)) ==
		    -1) {
			check_refused(r, why);
			return -1;
		}
		check_conn(r, &c);
		handover_put_conn(w, &c);
	}
	/* Whole: it ends at its last part, and nothing more is to be had. */
	CHECK(r->pos == r->len);
	CHECK(handover_next_figures(r, &f, NULL, 0) == -1);
	CHECK(handover_next_listener(r, &l, NULL, 0) == -1);
	CHECK(handover_next_conn(r, &c, NULL, 0) == -1);
	return 0;
}

/* Two records read in step: the same parts, one for one. */
static void
same_record(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	struct handover_reader ra, rb;
	struct handover_daemon da, db;
	struct server_figures fa, fb;
	struct handover_listener_rec la, lb;
	struct handover_conn ca, cb;

	CHECK(handover_open(&ra, a, alen, NULL, 0) == 0);
	CHECK(handover_open(&rb, b, blen, NULL, 0) == 0);
	CHECK(ra.version == rb.version && ra.flags == rb.flags);
	CHECK(ra.nworkers == rb.nworkers && ra.nlisteners == rb.nlisteners &&
	    ra.nconnections == rb.nconnections);
	CHECK(handover_next_daemon(&ra, &da, NULL, 0) == 0);
	CHECK(handover_next_daemon(&rb, &db, NULL, 0) == 0);
	CHECK(memcmp(&da, &db, sizeof(da)) == 0);
	for (uint32_t k = 0; k < ra.nworkers; k++) {
		CHECK(handover_next_figures(&ra, &fa, NULL, 0) == 0);
		CHECK(handover_next_figures(&rb, &fb, NULL, 0) == 0);
		same_figures(&fa, &fb);
	}
	for (uint32_t i = 0; i < ra.nlisteners; i++) {
		CHECK(handover_next_listener(&ra, &la, NULL, 0) == 0);
		CHECK(handover_next_listener(&rb, &lb, NULL, 0) == 0);
		CHECK(la.fd == lb.fd && la.kind == lb.kind &&
		    la.worker == lb.worker && strcmp(la.text, lb.text) == 0);
	}
	for (uint32_t i = 0; i < ra.nconnections; i++) {
		CHECK(handover_next_conn(&ra, &ca, NULL, 0) == 0);
		CHECK(handover_next_conn(&rb, &cb, NULL, 0) == 0);
		same_conn(&ca, &cb);
	}
}

/* Read buf; when it reads whole, write it again and compare. */
static void
judge(const unsigned char *buf, size_t len)
{
	struct handover_writer w = { 0 };
	struct handover_reader r;
	size_t again;

	if (read_record(buf, len, &w, &r) == 0) {
		again = handover_finish(&w, r.flags);
		CHECK(again == len);
		same_record(buf, len, w.buf, again);
	}
	handover_writer_free(&w);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint32_t version, header_bytes = HANDOVER_HEADER;
	uint64_t payload, sum;
	unsigned char *copy;

	/* In a block of its own size, so that a byte past it is seen. */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	judge(copy, size);

	/*
	 * The same bytes with a header that agrees with them: the fuzzer
	 * could not otherwise get past the checksum.  The version comes
	 * from the input, so that both layouts are read.
	 */
	if (size >= HANDOVER_HEADER) {
		version = HANDOVER_VERSION_OLDEST + (copy[8] & 1);
		payload = size - HANDOVER_HEADER;
		sum = handover_checksum(copy + HANDOVER_HEADER, payload);
		memcpy(copy, HANDOVER_MAGIC, 8);
		memcpy(copy + 8, &version, 4);
		memcpy(copy + 12, &header_bytes, 4);
		memcpy(copy + 16, &payload, 8);
		memcpy(copy + 24, &sum, 8);
		judge(copy, size);
	}
	free(copy);
	return 0;
}
