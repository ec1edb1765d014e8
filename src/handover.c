#include "handover.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "proxy.h"

#define HANDOVER_FIRST 4096             /* bytes first allocated */

/* The fewest bytes each part takes, to judge the header's counts by. */
#define HANDOVER_DAEMON_BYTES 40        /* five 8-byte fields */
#define HANDOVER_LISTENER_LEAST 9       /* fd, kind, worker, text_len, a byte */
#define HANDOVER_CONN_LEAST_V1 32       /* its fixed fields, no id */
#define HANDOVER_CONN_LEAST 40          /* and with its id */

uint64_t
handover_checksum(const unsigned char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= buf[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* Writing */

static void handover_put(struct handover_writer *w, const void *p, size_t n);

void
handover_fragment_init(struct handover_writer *w, uint32_t version)
{
	handover_writer_init(w, version);
	w->len = 0;
}

void
handover_put_fragment(struct handover_writer *w,
    const struct handover_writer *part)
{
	handover_put(w, part->buf, part->len);
	if (part->failed)
		w->failed = true;
	w->nlisteners += part->nlisteners;
	w->nconnections += part->nconnections;
}

void
handover_writer_init(struct handover_writer *w, uint32_t version)
{
	memset(w, 0, sizeof(*w));
	w->version = version;
	/* Room for the header, filled in at the end. */
	w->buf = calloc(1, HANDOVER_FIRST);
	if (w->buf == NULL) {
		w->failed = true;
		return;
	}
	w->cap = HANDOVER_FIRST;
	w->len = HANDOVER_HEADER;
}

static void
handover_put(struct handover_writer *w, const void *p, size_t n)
{
	if (w->failed || n == 0)
		return;
	if (w->cap - w->len < n) {
		size_t cap = w->cap;
		unsigned char *b;

		while (cap - w->len < n)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (b == NULL) {
			w->failed = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

#define HANDOVER_PUT(w, v) handover_put((w), &(v), sizeof(v))

void
handover_put_daemon(struct handover_writer *w, const struct handover_daemon *d)
{
	HANDOVER_PUT(w, d->serial);
	HANDOVER_PUT(w, d->reloads_ok);
	HANDOVER_PUT(w, d->reloads_failed);
	HANDOVER_PUT(w, d->started_wall);
	HANDOVER_PUT(w, d->quiesced_ns);
}

/* The figures that add up, in the format's order. */
static void
handover_figures_fields(struct server_figures *f, uint64_t **fields)
{
	unsigned n = 0;

	fields[n++] = &f->accepted;
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		fields[n++] = &f->refused[i];
	for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
		fields[n++] = &f->closed[i];
	fields[n++] = &f->bytes_received;
	fields[n++] = &f->bytes_echoed;
	fields[n++] = &f->lines_echoed;
	fields[n++] = &f->fragments;
	fields[n++] = &f->accept_pauses;
}

void
handover_put_figures(struct handover_writer *w, const struct server_figures *f)
{
	struct server_figures copy = *f;
	uint64_t *fields[HANDOVER_FIGURES];

	handover_figures_fields(&copy, fields);
	for (unsigned i = 0; i < HANDOVER_FIGURES; i++)
		handover_put(w, fields[i], sizeof(uint64_t));
	w->nworkers++;
}

void
handover_put_listener(struct handover_writer *w,
    const struct handover_listener_rec *l)
{
	int32_t fd = l->fd;
	uint8_t kind = l->kind, worker = l->worker;
	uint16_t text_len = (uint16_t)strnlen(l->text, HANDOVER_TEXT_MAX);

	/* Version 1 had a pad byte here, always 0. */
	if (w->version < 2)
		worker = 0;
	HANDOVER_PUT(w, fd);
	HANDOVER_PUT(w, kind);
	HANDOVER_PUT(w, worker);
	HANDOVER_PUT(w, text_len);
	handover_put(w, l->text, text_len);
	w->nlisteners++;
}

void
handover_put_conn(struct handover_writer *w, const struct handover_conn *c)
{
	int32_t fd = c->fd;

	HANDOVER_PUT(w, fd);
	HANDOVER_PUT(w, c->state);
	HANDOVER_PUT(w, c->end);
	HANDOVER_PUT(w, c->framing);
	HANDOVER_PUT(w, c->flags);
	HANDOVER_PUT(w, c->size);
	HANDOVER_PUT(w, c->pending);
	HANDOVER_PUT(w, c->held);
	HANDOVER_PUT(w, c->idle_age_ms);
	HANDOVER_PUT(w, c->line_age_ms);
	if (w->version >= 2)
		HANDOVER_PUT(w, c->id);
	HANDOVER_PUT(w, c->header_have);
	HANDOVER_PUT(w, c->peer_len);
	handover_put(w, c->peer, c->peer_len);
	handover_put(w, c->header, c->header_have);
	handover_put(w, c->data, (size_t)c->pending + c->held);
	w->nconnections++;
}

size_t
handover_finish(struct handover_writer *w, uint32_t flags)
{
	uint32_t header_bytes = HANDOVER_HEADER;
	uint64_t payload, sum;
	unsigned char *h;

	if (w->failed) {
		handover_writer_free(w);
		return 0;
	}
	h = w->buf;
	payload = w->len - HANDOVER_HEADER;
	sum = handover_checksum(w->buf + HANDOVER_HEADER, payload);
	memcpy(h, HANDOVER_MAGIC, 8);
	memcpy(h + 8, &w->version, 4);
	memcpy(h + 12, &header_bytes, 4);
	memcpy(h + 16, &payload, 8);
	memcpy(h + 24, &sum, 8);
	memcpy(h + 32, &w->nlisteners, 4);
	memcpy(h + 36, &w->nconnections, 4);
	memcpy(h + 40, &w->nworkers, 4);
	memcpy(h + 44, &flags, 4);
	return w->len;
}

void
handover_writer_free(struct handover_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Reading */

static int handover_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
handover_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Take n bytes at the read position, or false when the record is short. */
static bool
handover_get(struct handover_reader *r, void *out, size_t n)
{
	if (r->len - r->pos < n)
		return false;
	if (out != NULL)
		memcpy(out, r->buf + r->pos, n);
	r->pos += n;
	return true;
}

#define HANDOVER_GET(r, v) handover_get((r), &(v), sizeof(v))

/*
 * Once every part the header counts has been read, no byte may be left:
 * bytes over mean the record was laid out otherwise than this reader
 * reads it (a version that is not what it says), and the parts read
 * from it mean nothing.
 */
static int
handover_ended(const struct handover_reader *r, char *why, size_t whylen)
{
	if (r->figures_read < r->nworkers ||
	    r->listeners_read < r->nlisteners ||
	    r->connections_read < r->nconnections || r->pos == r->len)
		return 0;
	return handover_fail(why, whylen, "%zu bytes after the last part",
	    r->len - r->pos);
}

int
handover_open(struct handover_reader *r, const unsigned char *buf, size_t len,
    char *why, size_t whylen)
{
	uint32_t header_bytes;
	uint64_t payload, sum, least;

	memset(r, 0, sizeof(*r));
	if (len < HANDOVER_HEADER)
		return handover_fail(why, whylen, "%zu bytes, shorter than the"
		    " header (%d)", len, HANDOVER_HEADER);
	if (memcmp(buf, HANDOVER_MAGIC, 8) != 0)
		return handover_fail(why, whylen, "not a pingpongd state record");
	memcpy(&r->version, buf + 8, 4);
	memcpy(&header_bytes, buf + 12, 4);
	memcpy(&payload, buf + 16, 8);
	memcpy(&sum, buf + 24, 8);
	memcpy(&r->nlisteners, buf + 32, 4);
	memcpy(&r->nconnections, buf + 36, 4);
	memcpy(&r->nworkers, buf + 40, 4);
	memcpy(&r->flags, buf + 44, 4);
	if (r->version < HANDOVER_VERSION_OLDEST ||
	    r->version > HANDOVER_VERSION)
		return handover_fail(why, whylen, "version %u, this image reads"
		    " %d to %d", r->version, HANDOVER_VERSION_OLDEST,
		    HANDOVER_VERSION);
	if (header_bytes != HANDOVER_HEADER)
		return handover_fail(why, whylen, "a %u-byte header, not %d",
		    header_bytes, HANDOVER_HEADER);
	if (payload != len - HANDOVER_HEADER)
		return handover_fail(why, whylen, "%llu bytes said, %zu there",
		    (unsigned long long)payload, len - HANDOVER_HEADER);
	if (handover_checksum(buf + HANDOVER_HEADER, (size_t)payload) != sum)
		return handover_fail(why, whylen, "the checksum does not match");
	if (r->nworkers > CONFIG_WORKERS_MAX)
		return handover_fail(why, whylen, "%u workers", r->nworkers);
	/*
	 * Counts the payload cannot hold are refused here, before a caller
	 * sizes its tables by them: a count near 2^32 would otherwise be
	 * found out only after gigabytes were asked for.
	 */
	least = HANDOVER_DAEMON_BYTES +
	    (uint64_t)r->nworkers * HANDOVER_FIGURES * sizeof(uint64_t) +
	    (uint64_t)r->nlisteners * HANDOVER_LISTENER_LEAST +
	    (uint64_t)r->nconnections * (r->version >= 2 ?
	    HANDOVER_CONN_LEAST : HANDOVER_CONN_LEAST_V1);
	if (least > payload)
		return handover_fail(why, whylen, "%llu bytes, short for %u"
		    " workers, %u listeners and %u connections",
		    (unsigned long long)payload, r->nworkers, r->nlisteners,
		    r->nconnections);
	r->buf = buf;
	r->len = len;
	r->pos = HANDOVER_HEADER;
	return 0;
}

int
handover_next_daemon(struct handover_reader *r, struct handover_daemon *d,
    char *why, size_t whylen)
{
	if (!HANDOVER_GET(r, d->serial) || !HANDOVER_GET(r, d->reloads_ok) ||
	    !HANDOVER_GET(r, d->reloads_failed) ||
	    !HANDOVER_GET(r, d->started_wall) || !HANDOVER_GET(r, d->quiesced_ns))
		return handover_fail(why, whylen, "short in the daemon's part");
	return handover_ended(r, why, whylen);
}

int
handover_next_figures(struct handover_reader *r, struct server_figures *f,
    char *why, size_t whylen)
{
	uint64_t *fields[HANDOVER_FIGURES];

	if (r->figures_read == r->nworkers)
		return handover_fail(why, whylen, "more figures than workers");
	memset(f, 0, sizeof(*f));
	handover_figures_fields(f, fields);
	for (unsigned i = 0; i < HANDOVER_FIGURES; i++)
		if (!handover_get(r, fields[i], sizeof(uint64_t)))
			return handover_fail(why, whylen, "short in worker %u's"
			    " figures", r->figures_read + 1);
	r->figures_read++;
	return handover_ended(r, why, whylen);
}

int
handover_next_listener(struct handover_reader *r,
    struct handover_listener_rec *l, char *why, size_t whylen)
{
	int32_t fd;
	uint8_t kind, worker;
	uint16_t text_len;

	if (r->listeners_read == r->nlisteners)
		return handover_fail(why, whylen, "more listeners than said");
	if (!HANDOVER_GET(r, fd) || !HANDOVER_GET(r, kind) ||
	    !HANDOVER_GET(r, worker) || !HANDOVER_GET(r, text_len))
		return handover_fail(why, whylen, "short in a listener");
	if (fd < 0 || kind > HANDOVER_SHARED_TCP || text_len == 0 ||
	    text_len > HANDOVER_TEXT_MAX)
		return handover_fail(why, whylen, "listener %u makes no sense"
		    " (descriptor %d, kind %u, %u bytes of text)",
		    r->listeners_read + 1, (int)fd, kind, text_len);
	if (!handover_get(r, l->text, text_len))
		return handover_fail(why, whylen, "short in a listener's text");
	l->text[text_len] = '\0';
	if (strlen(l->text) != text_len)
		return handover_fail(why, whylen, "a listener's text holds a NUL");
	l->fd = fd;
	l->kind = kind;
	/* Version 1 does not say whose a worker's listener was. */
	l->worker = r->version < 2 ? HANDOVER_OWNER : worker;
	if (kind != HANDOVER_TCP)
		l->worker = HANDOVER_OWNER;
	r->listeners_read++;
	return handover_ended(r, why, whylen);
}

/*
 * What the state machine can be in after a hand-over: a connection that
 * says otherwise would break conn.c's promises.
 */
static int
handover_conn_sane(const struct handover_conn *c, char *why, size_t whylen)
{
	uint64_t kept = (uint64_t)c->pending + c->held;

	if (c->fd < 0)
		return handover_fail(why, whylen, "descriptor %d", c->fd);
	if (c->state != CONN_HEADER && c->state != CONN_READING &&
	    c->state != CONN_WRITING)
		return handover_fail(why, whylen, "state %u", c->state);
	if (c->end >= CONN_END_ABORT)
		return handover_fail(why, whylen, "end %u", c->end);
	if (c->framing > CONN_FRAMING_BYTES)
		return handover_fail(why, whylen, "framing %u", c->framing);
	if (c->size > CONFIG_MAX_LINE_MAX ||
	    c->pending > (uint64_t)c->size + HANDOVER_OWED_MAX ||
	    (kept > 0 && c->size == 0))
		return handover_fail(why, whylen, "%llu bytes kept in %u",
		    (unsigned long long)kept, c->size);
	if (c->held >= c->size && c->held > 0)
		return handover_fail(why, whylen, "%u held of %u", c->held,
		    c->size);
	if ((c->state == CONN_WRITING) != (c->pending > 0))
		return handover_fail(why, whylen, "state %u with %u pending",
		    c->state, c->pending);
	if (c->state == CONN_HEADER && (kept > 0 || c->end != CONN_END_NONE))
		return handover_fail(why, whylen, "a header awaited with bytes"
		    " kept or input ended");
	/*
	 * When input ends, conn_finish() makes the held bytes echo and closes
	 * the connection if no echo is owed: one whose input ended is
	 * Writing, with nothing held.  Reading, it would read on past the end
	 * it was given; holding bytes, it would close with them never echoed.
	 */
	if (c->end != CONN_END_NONE &&
	    (c->state != CONN_WRITING || c->held > 0))
		return handover_fail(why, whylen, "input ended (%u) in state %u"
		    " with %u held", c->end, c->state, c->held);
	if (c->state != CONN_HEADER && c->header_have > 0)
		return handover_fail(why, whylen, "header bytes past the header");
	if (c->header_have > PROXY_HEADER_MAX || c->peer_len > HANDOVER_PEER_MAX)
		return handover_fail(why, whylen, "%u header bytes, a %u-byte"
		    " address", c->header_have, c->peer_len);
	if (c->framing == CONN_FRAMING_BYTES && c->held > 0)
		return handover_fail(why, whylen, "bytes framing holding %u",
		    c->held);
	if (c->flags & ~(HANDOVER_REFUSE_HEADER | HANDOVER_COUNTED))
		return handover_fail(why, whylen, "flags 0x%x", c->flags);
	/*
	 * A client that must not send a PROXY header is judged by its first
	 * bytes, and the flag goes once they came: a connection that holds
	 * or owes bytes, or awaits a header itself, has no first bytes to
	 * come, and would close over a later read that looks like one.
	 */
	if ((c->flags & HANDOVER_REFUSE_HEADER) &&
	    (c->state != CONN_READING || kept > 0))
		return handover_fail(why, whylen, "a PROXY header refused in"
		    " state %u with %llu bytes kept", c->state,
		    (unsigned long long)kept);
	/*
	 * A balancer's connection is counted when its header names the
	 * client, and session_proxy_admit() then sets the count it gives
	 * back: one counted before would never be given back, and
	 * max_per_ip would turn that address away for good.
	 */
	if ((c->flags & HANDOVER_COUNTED) && c->state == CONN_HEADER)
		return handover_fail(why, whylen, "counted before its PROXY"
		    " header");
	return 0;
}

/*
 * What a connection's bytes must be, once they are known to be in the
 * record.
 */
static int
handover_conn_bytes_sane(const struct handover_conn *c,
    const unsigned char *peer, const unsigned char *header,
    const unsigned char *data, char *why, size_t whylen)
{
	struct proxy_header hdr;
	const char *bad;

	/*
	 * A header still awaited is one not yet whole.  Bytes that make a
	 * whole one already would have session_proxy_read() take fewer
	 * bytes than it holds: a negative count, handed to read() as a
	 * huge one, into a buffer of PROXY_HEADER_MAX bytes.
	 */
	if (c->state == CONN_HEADER) {
		switch (proxy_parse(header, c->header_have, &hdr, &bad)) {
		case PROXY_INCOMPLETE:
			break;
		case PROXY_OK:
			return handover_fail(why, whylen, "a whole PROXY header"
			    " (%zu bytes) still awaited", hdr.length);
		default:
			return handover_fail(why, whylen, "its header bytes:"
			    " %s", bad);
		}
	}
	/*
	 * A counted connection is counted under its address: one the table
	 * cannot key (addr_key()) would be counted under the zero key, with
	 * the Unix clients, and one cut short under part of an address.
	 */
	if (c->flags & HANDOVER_COUNTED) {
		sa_family_t family = AF_UNSPEC;
		size_t need = 0;

		if (c->peer_len >= sizeof(family))
			memcpy(&family, peer + offsetof(struct sockaddr_storage,
			    ss_family), sizeof(family));
		if (family == AF_INET)
			need = sizeof(struct sockaddr_in);
		else if (family == AF_INET6)
			need = sizeof(struct sockaddr_in6);
		else if (family == AF_UNIX)
			need = sizeof(family);
		if (need == 0 || c->peer_len < need)
			return handover_fail(why, whylen, "counted under a"
			    " %u-byte address of family %u", c->peer_len,
			    (unsigned)family);
	}
	/*
	 * Held bytes are the ones after the last newline.  A newline among
	 * them would be a whole line that conn_plan() never echoes until
	 * another newline comes, and never counts.
	 */
	if (c->framing == CONN_FRAMING_LINES && c->held > 0 &&
	    memchr(data + c->pending, '\n', c->held) != NULL)
		return handover_fail(why, whylen, "a newline among its %u held"
		    " bytes", c->held);
	return 0;
}

int
handover_next_conn(struct handover_reader *r, struct handover_conn *c,
    char *why, size_t whylen)
{
	int32_t fd;
	size_t data;
	const unsigned char *at;
	char reason[128];

	if (r->connections_read == r->nconnections)
		return handover_fail(why, whylen, "more connections than said");
	memset(c, 0, sizeof(*c));
	if (!HANDOVER_GET(r, fd) || !HANDOVER_GET(r, c->state) ||
	    !HANDOVER_GET(r, c->end) || !HANDOVER_GET(r, c->framing) ||
	    !HANDOVER_GET(r, c->flags) || !HANDOVER_GET(r, c->size) ||
	    !HANDOVER_GET(r, c->pending) || !HANDOVER_GET(r, c->held) ||
	    !HANDOVER_GET(r, c->idle_age_ms) || !HANDOVER_GET(r, c->line_age_ms) ||
	    (r->version >= 2 && !HANDOVER_GET(r, c->id)) ||
	    !HANDOVER_GET(r, c->header_have) || !HANDOVER_GET(r, c->peer_len))
		return handover_fail(why, whylen, "short in connection %u",
		    r->connections_read + 1);
	c->fd = fd;
	/*
	 * The reason in a buffer of its own: the caller's may be too small
	 * to hold it, or hold nothing when it gave no room.
	 */
	if (handover_conn_sane(c, reason, sizeof(reason)) == -1)
		return handover_fail(why, whylen, "connection %u makes no"
		    " sense: %s", r->connections_read + 1, reason);
	data = (size_t)c->pending + c->held;
	at = r->buf + r->pos;
	if (!handover_get(r, NULL, (size_t)c->peer_len + c->header_have + data))
		return handover_fail(why, whylen, "short in connection %u's"
		    " bytes", r->connections_read + 1);
	if (handover_conn_bytes_sane(c, at, at + c->peer_len,
	    at + c->peer_len + c->header_have, reason, sizeof(reason)) == -1)
		return handover_fail(why, whylen, "connection %u makes no"
		    " sense: %s", r->connections_read + 1, reason);
	/* Pointers into the record only once they are known to be inside it. */
	c->peer = at;
	c->header = c->peer + c->peer_len;
	c->data = c->header + c->header_have;
	r->connections_read++;
	return handover_ended(r, why, whylen);
}
