/*
 * Check suite for the hand-over state record: what is written reads back
 * the same in both versions, fragments make the same bytes as direct puts,
 * and every record that is not what its header says is refused with a
 * reason, at every length, never read past its end.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "conn.h"
#include "handover.h"
#include "proxy.h"
#include "server.h"
#include "unit.h"

#define WHY 256                         /* bytes of a reason */
#define NWORKERS 3
#define NLISTENERS 6
#define NCONNS 8

/* Where the parts start: the daemon's part is five 8-byte fields. */
#define DAEMON_BYTES 40
#define FIGURES_BYTES (HANDOVER_FIGURES * 8)

/* A version 2 connection's fields, by offset from its start. */
#define CONN_STATE 4
#define CONN_END 5
#define CONN_FLAGS 7
#define CONN_SIZE 8
#define CONN_PENDING 12
#define CONN_HELD 16
#define CONN_HEADER_HAVE 36
#define CONN_PEER_LEN 38
#define CONN_FIXED 40                   /* bytes before its peer */

static char why[WHY];

/* ------------------------------------------------------------------ */
/* The sample record: every kind of listener, every state of connection */

static struct handover_daemon sample_daemon = {
	.serial = 9000000001ull,
	.reloads_ok = 3,
	.reloads_failed = 1,
	.started_wall = 1700000000.25,
	.quiesced_ns = 123456789012ull,
};

static struct server_figures sample_figures[NWORKERS];
static struct handover_listener_rec sample_listeners[NLISTENERS];
static struct handover_conn sample_conns[NCONNS];
static struct sockaddr_in6 peer6;
static struct sockaddr_in peer4;
static sa_family_t peer_unix = AF_UNIX;
static const unsigned char proxy_v2_start[14] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11,
};

/* Distinct figures for worker k, with the ones a record does not carry set too. */
static void
sample_worker(struct server_figures *f, unsigned k)
{
	uint64_t base = 1000u * (k + 1);

	memset(f, 0, sizeof(*f));
	f->accepted = base + 1;
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		f->refused[i] = base + 10 + (uint64_t)i;
	for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
		f->closed[i] = base + 100 + (uint64_t)i;
	f->bytes_received = base + 2;
	f->bytes_echoed = base + 3;
	f->lines_echoed = base + 4;
	f->fragments = base + 5;
	f->accept_pauses = base + 6;
	/* Live gauges: the new image counts its own. */
	f->open = 77;
	f->bytes_held = 88;
	f->buffers = 99;
}

static void
sample_listener(struct handover_listener_rec *l, int fd, uint8_t kind,
    uint8_t worker, const char *text)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->kind = kind;
	l->worker = worker;
	snprintf(l->text, sizeof(l->text), "%s", text);
}

static void
sample_conn(struct handover_conn *c, int fd, uint8_t state, uint8_t end,
    uint8_t framing, uint32_t size, const char *pending, const char *held)
{
	static unsigned char data[NCONNS][64];
	size_t np = strlen(pending), nh = strlen(held);
	unsigned i = (unsigned)(c - sample_conns);

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->state = state;
	c->end = end;
	c->framing = framing;
	c->size = size;
	c->pending = (uint32_t)np;
	c->held = (uint32_t)nh;
	c->idle_age_ms = 1000u + (uint32_t)fd;
	c->line_age_ms = nh > 0 ? 500u + (uint32_t)fd : 0;
	c->id = 100u + (uint64_t)fd;
	memcpy(data[i], pending, np);
	memcpy(data[i] + np, held, nh);
	c->data = data[i];
}

static void
sample_make(void)
{
	static const char *const header_v1 = "PROXY TCP4 192.0.2.1 1";
	char longest[HANDOVER_TEXT_MAX + 1];
	struct handover_conn *c = sample_conns;

	for (unsigned k = 0; k < NWORKERS; k++)
		sample_worker(&sample_figures[k], k);

	memset(longest, 'u', HANDOVER_TEXT_MAX);
	memcpy(longest, "unix:/", 6);
	longest[HANDOVER_TEXT_MAX] = '\0';
	sample_listener(&sample_listeners[0], 5, HANDOVER_TCP, 0, "127.0.0.1:7");
	sample_listener(&sample_listeners[1], 6, HANDOVER_TCP, 2, "[::1]:7");
	sample_listener(&sample_listeners[2], 7, HANDOVER_UNIX, HANDOVER_OWNER,
	    "unix:/run/pingpongd/echo.sock");
	sample_listener(&sample_listeners[3], 3, HANDOVER_PASSED,
	    HANDOVER_OWNER, "systemd:pingpongd.socket");
	sample_listener(&sample_listeners[4], 8, HANDOVER_SHARED_TCP,
	    HANDOVER_OWNER, "0.0.0.0:7007");
	sample_listener(&sample_listeners[5], 9, HANDOVER_UNIX, HANDOVER_OWNER,
	    longest);

	memset(&peer6, 0, sizeof(peer6));
	peer6.sin6_family = AF_INET6;
	peer6.sin6_addr.s6_addr[15] = 1;
	memset(&peer4, 0, sizeof(peer4));
	peer4.sin_family = AF_INET;
	peer4.sin_addr.s_addr = htonl(0xc0000207);

	/* Reading, a partial line held, counted under an IPv6 address. */
	sample_conn(&c[0], 20, CONN_READING, CONN_END_NONE, CONN_FRAMING_LINES,
	    64, "", "hello");
	c[0].flags = HANDOVER_COUNTED;
	c[0].peer = (const unsigned char *)&peer6;
	c[0].peer_len = sizeof(peer6);
	/* Writing: echo the kernel has not taken, and a partial line after it. */
	sample_conn(&c[1], 21, CONN_WRITING, CONN_END_NONE, CONN_FRAMING_LINES,
	    32, "ab\ncd\n", "xyz");
	/* The client ended its side: the last echo still owed, bytes framing. */
	sample_conn(&c[2], 22, CONN_WRITING, CONN_END_CLIENT, CONN_FRAMING_BYTES,
	    16, "0123456789", "");
	c[2].flags = HANDOVER_COUNTED;
	c[2].peer = (const unsigned char *)&peer4;
	c[2].peer_len = sizeof(peer4);
	/* A balancer's connection, part of its PROXY header read. */
	sample_conn(&c[3], 23, CONN_HEADER, CONN_END_NONE, CONN_FRAMING_LINES,
	    0, "", "");
	c[3].header = (const unsigned char *)header_v1;
	c[3].header_have = (uint16_t)strlen(header_v1);
	c[3].line_age_ms = 250;
	/* Nothing read yet from a client that must not send a PROXY header. */
	sample_conn(&c[4], 24, CONN_READING, CONN_END_NONE, CONN_FRAMING_BYTES,
	    0, "", "");
	c[4].flags = HANDOVER_REFUSE_HEADER | HANDOVER_COUNTED;
	c[4].peer = (const unsigned char *)&peer_unix;
	c[4].peer_len = sizeof(peer_unix);
	/* A line held too long: a whole buffer of echo owed. */
	sample_conn(&c[5], 25, CONN_WRITING, CONN_END_LINE_TIMEOUT,
	    CONN_FRAMING_LINES, 8, "abcdefgh", "");
	/* The daemon stopping, its last line owed. */
	sample_conn(&c[6], 26, CONN_WRITING, CONN_END_SHUTDOWN,
	    CONN_FRAMING_LINES, 4096, "ok\n", "");
	/* A binary PROXY header begun, bytes framing to follow. */
	sample_conn(&c[7], 27, CONN_HEADER, CONN_END_NONE, CONN_FRAMING_BYTES,
	    0, "", "");
	c[7].header = proxy_v2_start;
	c[7].header_have = sizeof(proxy_v2_start);
	c[7].line_age_ms = 40;
}

/* The sample record in version v; its buffer is the caller's to free. */
static unsigned char *
sample_write(uint32_t version, uint32_t flags, size_t *len)
{
	struct handover_writer w;

	sample_make();
	handover_writer_init(&w, version);
	handover_put_daemon(&w, &sample_daemon);
	for (unsigned k = 0; k < NWORKERS; k++)
		handover_put_figures(&w, &sample_figures[k]);
	for (unsigned i = 0; i < NLISTENERS; i++)
		handover_put_listener(&w, &sample_listeners[i]);
	for (unsigned i = 0; i < NCONNS; i++)
		handover_put_conn(&w, &sample_conns[i]);
	*len = handover_finish(&w, flags);
	ck_assert_uint_gt(*len, HANDOVER_HEADER);
	return w.buf;
}

static void
assert_figures(const struct server_figures *got,
    const struct server_figures *want)
{
	ck_assert_uint_eq(got->accepted, want->accepted);
	for (int i = 0; i < SERVER_REFUSE_CAUSES; i++)
		ck_assert_uint_eq(got->refused[i], want->refused[i]);
	for (int i = 0; i < SERVER_CLOSE_CAUSES; i++)
		ck_assert_uint_eq(got->closed[i], want->closed[i]);
	ck_assert_uint_eq(got->bytes_received, want->bytes_received);
	ck_assert_uint_eq(got->bytes_echoed, want->bytes_echoed);
	ck_assert_uint_eq(got->lines_echoed, want->lines_echoed);
	ck_assert_uint_eq(got->fragments, want->fragments);
	ck_assert_uint_eq(got->accept_pauses, want->accept_pauses);
	ck_assert_uint_eq(got->open, 0);
	ck_assert_uint_eq(got->bytes_held, 0);
	ck_assert_uint_eq(got->buffers, 0);
}

static void
assert_conn(const struct handover_conn *got, const struct handover_conn *want,
    uint32_t version)
{
	ck_assert_int_eq(got->fd, want->fd);
	ck_assert_uint_eq(got->state, want->state);
	ck_assert_uint_eq(got->end, want->end);
	ck_assert_uint_eq(got->framing, want->framing);
	ck_assert_uint_eq(got->flags, want->flags);
	ck_assert_uint_eq(got->size, want->size);
	ck_assert_uint_eq(got->pending, want->pending);
	ck_assert_uint_eq(got->held, want->held);
	ck_assert_uint_eq(got->idle_age_ms, want->idle_age_ms);
	ck_assert_uint_eq(got->line_age_ms, want->line_age_ms);
	ck_assert_uint_eq(got->id, version >= 2 ? want->id : 0);
	ck_assert_uint_eq(got->header_have, want->header_have);
	ck_assert_uint_eq(got->peer_len, want->peer_len);
	if (want->peer_len > 0)
		ck_assert_mem_eq(got->peer, want->peer, want->peer_len);
	if (want->header_have > 0)
		ck_assert_mem_eq(got->header, want->header, want->header_have);
	if (want->pending + want->held > 0)
		ck_assert_mem_eq(got->data, want->data,
		    (size_t)want->pending + want->held);
}

/* Read the sample back from buf, and nothing more than it holds. */
static void
sample_check(const unsigned char *buf, size_t len, uint32_t version,
    uint32_t flags)
{
	struct handover_reader r;
	struct handover_daemon d;
	struct server_figures f;
	struct handover_listener_rec l;
	struct handover_conn c;

	ck_assert_int_eq(handover_open(&r, buf, len, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.version, version);
	ck_assert_uint_eq(r.flags, flags);
	ck_assert_uint_eq(r.nworkers, NWORKERS);
	ck_assert_uint_eq(r.nlisteners, NLISTENERS);
	ck_assert_uint_eq(r.nconnections, NCONNS);

	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	ck_assert_uint_eq(d.serial, sample_daemon.serial);
	ck_assert_uint_eq(d.reloads_ok, sample_daemon.reloads_ok);
	ck_assert_uint_eq(d.reloads_failed, sample_daemon.reloads_failed);
	ck_assert(d.started_wall == sample_daemon.started_wall);
	ck_assert_uint_eq(d.quiesced_ns, sample_daemon.quiesced_ns);

	for (unsigned k = 0; k < NWORKERS; k++) {
		ck_assert_int_eq(handover_next_figures(&r, &f, why,
		    sizeof(why)), 0);
		assert_figures(&f, &sample_figures[k]);
	}
	ck_assert_int_eq(handover_next_figures(&r, &f, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "more figures than workers");

	for (unsigned i = 0; i < NLISTENERS; i++) {
		const struct handover_listener_rec *want = &sample_listeners[i];

		ck_assert_int_eq(handover_next_listener(&r, &l, why,
		    sizeof(why)), 0);
		ck_assert_int_eq(l.fd, want->fd);
		ck_assert_uint_eq(l.kind, want->kind);
		ck_assert_str_eq(l.text, want->text);
		/* Version 1 does not say whose a worker's listener was. */
		ck_assert_uint_eq(l.worker, version >= 2 ? want->worker :
		    HANDOVER_OWNER);
	}
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "more listeners than said");

	for (unsigned i = 0; i < NCONNS; i++) {
		ck_assert_msg(handover_next_conn(&r, &c, why, sizeof(why)) == 0,
		    "connection %u: %s", i + 1, why);
		assert_conn(&c, &sample_conns[i], version);
		/* Every byte it points at is inside the record. */
		ck_assert(c.data + c.pending + c.held <= buf + len);
	}
	ck_assert_int_eq(handover_next_conn(&r, &c, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "more connections than said");
	ck_assert_uint_eq(r.pos, len);
}

/*
 * Open and read every part the header promises: 0, or -1 with the reason
 * of the first refusal.
 */
static int
read_all(const unsigned char *buf, size_t len, char *reason, size_t rlen)
{
	struct handover_reader r;
	struct handover_daemon d;
	struct server_figures f;
	struct handover_listener_rec l;
	struct handover_conn c;

	if (handover_open(&r, buf, len, reason, rlen) == -1 ||
	    handover_next_daemon(&r, &d, reason, rlen) == -1)
		return -1;
	for (uint32_t k = 0; k < r.nworkers; k++)
		if (handover_next_figures(&r, &f, reason, rlen) == -1)
			return -1;
	for (uint32_t i = 0; i < r.nlisteners; i++)
		if (handover_next_listener(&r, &l, reason, rlen) == -1)
			return -1;
	for (uint32_t i = 0; i < r.nconnections; i++) {
		if (handover_next_conn(&r, &c, reason, rlen) == -1)
			return -1;
		ck_assert(c.data + c.pending + c.held <= buf + len);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Patching a record's bytes, then sealing it again */

static void
put16(unsigned char *buf, size_t off, uint16_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static void
put32(unsigned char *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static void
put64(unsigned char *buf, size_t off, uint64_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

/* Header fields and checksum that match len bytes, whatever the payload says. */
static void
reseal(unsigned char *buf, size_t len)
{
	put64(buf, 16, len - HANDOVER_HEADER);
	put64(buf, 24, handover_checksum(buf + HANDOVER_HEADER,
	    len - HANDOVER_HEADER));
}

/* Where the sample's listeners start. */
static size_t
sample_listeners_at(void)
{
	return HANDOVER_HEADER + DAEMON_BYTES + NWORKERS * FIGURES_BYTES;
}

/*
 * A record of the daemon's part and one connection, in version 2: where
 * the connection starts goes to *at.  The caller frees it.
 */
static unsigned char *
one_conn(const struct handover_conn *c, size_t *len, size_t *at)
{
	struct handover_writer w;

	sample_make();
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	handover_put_conn(&w, c);
	*len = handover_finish(&w, 0);
	*at = HANDOVER_HEADER + DAEMON_BYTES;
	return w.buf;
}

/* Read the one connection of a record from one_conn(): 0 or -1, why says. */
static int
one_conn_read(const unsigned char *buf, size_t len)
{
	struct handover_reader r;
	struct handover_daemon d;
	struct handover_conn c;

	if (handover_open(&r, buf, len, why, sizeof(why)) == -1 ||
	    handover_next_daemon(&r, &d, why, sizeof(why)) == -1)
		return -1;
	return handover_next_conn(&r, &c, why, sizeof(why));
}

/* Write c alone into a record and read it back: 0 or -1, why says. */
static int
try_conn(const struct handover_conn *c)
{
	size_t len, at;
	unsigned char *buf = one_conn(c, &len, &at);
	int rc = one_conn_read(buf, len);

	free(buf);
	return rc;
}

/* A well-formed connection to spoil one field of. */
static void
plain_conn(struct handover_conn *c, uint8_t state, uint32_t size,
    uint32_t pending, uint32_t held, const unsigned char *data)
{
	memset(c, 0, sizeof(*c));
	c->fd = 30;
	c->state = state;
	c->size = size;
	c->pending = pending;
	c->held = held;
	c->id = 1;
	c->data = data;
}

static void
assert_refused(int rc, const char *reason)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(why, reason) != NULL, "\"%s\" not in \"%s\"",
	    reason, why);
}

/* ------------------------------------------------------------------ */
/* Writing and reading back */

START_TEST(test_round_trip)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, HANDOVER_STOPPING,
	    &len);

	ck_assert_mem_eq(buf, HANDOVER_MAGIC, 8);
	sample_check(buf, len, HANDOVER_VERSION, HANDOVER_STOPPING);
	free(buf);
}
END_TEST

START_TEST(test_listener_worker_byte)
{
	struct handover_reader r;
	struct handover_daemon d;
	struct handover_listener_rec l;
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);
	size_t worker_at = sample_listeners_at() + 5;

	/* The byte after the kind says whose a TCP listener was... */
	ck_assert_uint_eq(buf[worker_at], 0);
	ck_assert_uint_eq(buf[worker_at + 8 + strlen(sample_listeners[0].text)],
	    2);
	/* ...and only a TCP listener's: any other kind is the owner's. */
	buf[worker_at] = 1;
	buf[worker_at + 8 + strlen(sample_listeners[0].text) + 8 +
	    strlen(sample_listeners[1].text)] = 1;
	reseal(buf, len);
	ck_assert_int_eq(handover_open(&r, buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	for (unsigned k = 0; k < NWORKERS; k++) {
		struct server_figures f;

		ck_assert_int_eq(handover_next_figures(&r, &f, why,
		    sizeof(why)), 0);
	}
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), 0);
	ck_assert_uint_eq(l.worker, 1);
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), 0);
	ck_assert_uint_eq(l.worker, 2);
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), 0);
	ck_assert_uint_eq(l.kind, HANDOVER_UNIX);
	ck_assert_uint_eq(l.worker, HANDOVER_OWNER);
	free(buf);
}
END_TEST

START_TEST(test_fragments_same_bytes)
{
	struct handover_writer whole, part[4];
	size_t direct_len, len;
	unsigned char *direct = sample_write(HANDOVER_VERSION, 0, &direct_len);

	/* As the daemon writes it: each worker's parts, then the owner's. */
	handover_writer_init(&whole, HANDOVER_VERSION);
	handover_put_daemon(&whole, &sample_daemon);
	for (unsigned k = 0; k < NWORKERS; k++)
		handover_put_figures(&whole, &sample_figures[k]);
	for (unsigned i = 0; i < 4; i++)
		handover_fragment_init(&part[i], HANDOVER_VERSION);
	handover_put_listener(&part[0], &sample_listeners[0]);
	handover_put_listener(&part[0], &sample_listeners[1]);
	/* part[1], a worker with no listener of its own: an empty fragment. */
	for (unsigned i = 0; i < NCONNS; i++)
		handover_put_conn(&part[i < 3 ? 2 : 3], &sample_conns[i]);
	ck_assert_uint_eq(part[1].len, 0);
	ck_assert_uint_eq(part[2].nconnections, 3);

	handover_put_fragment(&whole, &part[0]);
	handover_put_fragment(&whole, &part[1]);
	for (unsigned i = 2; i < NLISTENERS; i++)
		handover_put_listener(&whole, &sample_listeners[i]);
	handover_put_fragment(&whole, &part[2]);
	handover_put_fragment(&whole, &part[3]);
	len = handover_finish(&whole, 0);

	ck_assert_uint_eq(len, direct_len);
	ck_assert_mem_eq(whole.buf, direct, len);
	sample_check(whole.buf, len, HANDOVER_VERSION, 0);
	for (unsigned i = 0; i < 4; i++)
		handover_writer_free(&part[i]);
	handover_writer_free(&whole);
	free(direct);
}
END_TEST

START_TEST(test_big_record_grows)
{
	static unsigned char data[60000];
	struct handover_writer w;
	struct handover_conn c;
	size_t len;

	/* Past the first allocation several times over. */
	memset(data, 'q', sizeof(data));
	plain_conn(&c, CONN_WRITING, 65536, sizeof(data), 0, data);
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	for (unsigned i = 0; i < 3; i++)
		handover_put_conn(&w, &c);
	len = handover_finish(&w, 0);
	ck_assert_uint_eq(len, HANDOVER_HEADER + DAEMON_BYTES +
	    3 * (CONN_FIXED + sizeof(data)));
	ck_assert_int_eq(read_all(w.buf, len, why, sizeof(why)), 0);
	handover_writer_free(&w);
}
END_TEST

START_TEST(test_failed_writer)
{
	struct handover_writer w, part;

	handover_writer_init(&w, HANDOVER_VERSION);
	handover_fragment_init(&part, HANDOVER_VERSION);
	part.failed = true;
	handover_put_fragment(&w, &part);
	ck_assert(w.failed);
	/* A record that lost a part is no record: nothing to hand over. */
	ck_assert_uint_eq(handover_finish(&w, 0), 0);
	ck_assert_ptr_null(w.buf);
	handover_writer_free(&part);
}
END_TEST

START_TEST(test_checksum_is_fnv1a)
{
	ck_assert_uint_eq(handover_checksum(NULL, 0), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(handover_checksum((const unsigned char *)"a", 1),
	    0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(handover_checksum((const unsigned char *)"foobar", 6),
	    0x85944171f73967e8ull);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Version 1 */

START_TEST(test_version1_round_trip)
{
	size_t len1, len2;
	unsigned char *v1 = sample_write(1, 0, &len1);
	unsigned char *v2 = sample_write(2, 0, &len2);
	uint32_t version;

	memcpy(&version, v1 + 8, 4);
	ck_assert_uint_eq(version, 1);
	/* No connection number in version 1. */
	ck_assert_uint_eq(len2 - len1, 8 * NCONNS);
	/* Its pad byte where version 2 says whose a listener was. */
	ck_assert_uint_eq(v1[sample_listeners_at() + 5 + 8 +
	    strlen(sample_listeners[0].text)], 0);
	sample_check(v1, len1, 1, 0);
	free(v1);
	free(v2);
}
END_TEST

START_TEST(test_version1_pad_byte_ignored)
{
	struct handover_reader r;
	struct handover_daemon d;
	struct handover_listener_rec l;
	size_t len;
	unsigned char *buf = sample_write(1, 0, &len);

	buf[sample_listeners_at() + 5] = 1;
	reseal(buf, len);
	ck_assert_int_eq(handover_open(&r, buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	for (unsigned k = 0; k < NWORKERS; k++) {
		struct server_figures f;

		ck_assert_int_eq(handover_next_figures(&r, &f, why,
		    sizeof(why)), 0);
	}
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), 0);
	ck_assert_uint_eq(l.kind, HANDOVER_TCP);
	ck_assert_uint_eq(l.worker, HANDOVER_OWNER);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The header */

START_TEST(test_wrong_magic)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	buf[0] = 'p';
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "not a pingpongd state record");
	free(buf);
}
END_TEST

START_TEST(test_unknown_version)
{
	static const uint32_t bad[] = { 0, HANDOVER_VERSION + 1, 0xffffffffu };
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];

		put32(buf, 8, bad[i]);
		snprintf(want, sizeof(want), "version %u, this image reads 1"
		    " to 2", bad[i]);
		assert_refused(read_all(buf, len, why, sizeof(why)), want);
	}
	free(buf);
}
END_TEST

START_TEST(test_header_bytes)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	put32(buf, 12, 56);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "a 56-byte header, not 48");
	put32(buf, 12, 0);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "a 0-byte header, not 48");
	free(buf);
}
END_TEST

START_TEST(test_payload_length)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);
	uint64_t payload = len - HANDOVER_HEADER;
	char want[64];

	put64(buf, 16, payload - 1);
	snprintf(want, sizeof(want), "%llu bytes said, %llu there",
	    (unsigned long long)payload - 1, (unsigned long long)payload);
	assert_refused(read_all(buf, len, why, sizeof(why)), want);
	put64(buf, 16, payload + 1);
	snprintf(want, sizeof(want), "%llu bytes said, %llu there",
	    (unsigned long long)payload + 1, (unsigned long long)payload);
	assert_refused(read_all(buf, len, why, sizeof(why)), want);
	/* Lengths that overflow a careless addition. */
	put64(buf, 16, UINT64_MAX);
	assert_refused(read_all(buf, len, why, sizeof(why)), "bytes said");
	put64(buf, 16, UINT64_MAX - HANDOVER_HEADER + 1);
	assert_refused(read_all(buf, len, why, sizeof(why)), "bytes said");
	free(buf);
}
END_TEST

START_TEST(test_checksum_mismatch)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	/* One bit anywhere in the payload, the first byte to the last. */
	for (size_t at = HANDOVER_HEADER; at < len; at++) {
		buf[at] ^= 0x01;
		assert_refused(read_all(buf, len, why, sizeof(why)),
		    "the checksum does not match");
		buf[at] ^= 0x01;
	}
	buf[24] ^= 0x80;
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "the checksum does not match");
	buf[24] ^= 0x80;
	ck_assert_int_eq(read_all(buf, len, why, sizeof(why)), 0);
	free(buf);
}
END_TEST

START_TEST(test_truncated_every_length)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	/*
	 * Each prefix in a buffer of its own size, so that a read past its
	 * end is one under a sanitizer or valgrind.
	 */
	for (size_t n = 0; n < len; n++) {
		unsigned char *cut = malloc(n > 0 ? n : 1);

		memcpy(cut, buf, n);
		ck_assert_int_eq(read_all(cut, n, why, sizeof(why)), -1);
		if (n < HANDOVER_HEADER)
			ck_assert_msg(strstr(why, "shorter than the header") !=
			    NULL, "%zu bytes: %s", n, why);
		else
			ck_assert_msg(strstr(why, "bytes said") != NULL,
			    "%zu bytes: %s", n, why);
		free(cut);
	}
	free(buf);
}
END_TEST

START_TEST(test_truncated_and_resealed)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	/*
	 * The header made to agree with every shorter payload: the parts
	 * it promises no longer fit, and one of them must say so.
	 */
	for (size_t n = HANDOVER_HEADER; n < len; n++) {
		unsigned char *cut = malloc(n);

		memcpy(cut, buf, n);
		reseal(cut, n);
		ck_assert_int_eq(read_all(cut, n, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, "short") != NULL, "%zu bytes: %s",
		    n, why);
		free(cut);
	}
	free(buf);
}
END_TEST

START_TEST(test_counts_beyond_bytes)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	/*
	 * One part more than there is, found out by the part that runs
	 * short; every count at its most, by the header alone.
	 */
	put32(buf, 32, NLISTENERS + 1);
	ck_assert_int_eq(read_all(buf, len, why, sizeof(why)), -1);
	put32(buf, 32, UINT32_MAX);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "short for 3 workers, 4294967295 listeners and 8 connections");
	put32(buf, 32, NLISTENERS);
	put32(buf, 36, NCONNS + 1);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "short in connection 9");
	put32(buf, 36, UINT32_MAX);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "short for 3 workers, 6 listeners and 4294967295 connections");
	put32(buf, 32, UINT32_MAX);
	assert_refused(read_all(buf, len, why, sizeof(why)),
	    "4294967295 listeners and 4294967295 connections");
	put32(buf, 32, NLISTENERS);
	put32(buf, 36, NCONNS);
	put32(buf, 40, NWORKERS + 1);
	ck_assert_int_eq(read_all(buf, len, why, sizeof(why)), -1);
	put32(buf, 40, NWORKERS);
	ck_assert_int_eq(read_all(buf, len, why, sizeof(why)), 0);
	free(buf);
}
END_TEST

START_TEST(test_too_many_workers)
{
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);

	put32(buf, 40, CONFIG_WORKERS_MAX + 1);
	assert_refused(read_all(buf, len, why, sizeof(why)), "65 workers");
	put32(buf, 40, UINT32_MAX);
	assert_refused(read_all(buf, len, why, sizeof(why)), "4294967295 workers");
	free(buf);
}
END_TEST

START_TEST(test_short_daemon_part)
{
	struct handover_writer w;
	struct handover_reader r;
	struct handover_daemon d;
	size_t len;

	/* No daemon's part: judged by the counts, before any part is read. */
	handover_writer_init(&w, HANDOVER_VERSION);
	len = handover_finish(&w, 0);
	ck_assert_uint_eq(len, HANDOVER_HEADER);
	assert_refused(read_all(w.buf, len, why, sizeof(why)),
	    "0 bytes, short for 0 workers, 0 listeners and 0 connections");
	handover_writer_free(&w);

	/* Its one daemon's part read, there is no second. */
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	len = handover_finish(&w, 0);
	ck_assert_int_eq(handover_open(&r, w.buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	assert_refused(handover_next_daemon(&r, &d, why, sizeof(why)),
	    "short in the daemon's part");
	handover_writer_free(&w);
}
END_TEST

/* The record rec with n more bytes after it, sealed again. */
static unsigned char *
with_tail(const unsigned char *rec, size_t len, size_t n)
{
	unsigned char *b = malloc(len + n);

	memcpy(b, rec, len);
	memset(b + len, 0, n);
	reseal(b, len + n);
	return b;
}

START_TEST(test_bytes_after_the_last_part)
{
	struct handover_writer w;
	struct handover_listener_rec l;
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len), *b;

	/* Whichever part comes last, the record must end with it. */
	b = with_tail(buf, len, 1);
	assert_refused(read_all(b, len + 1, why, sizeof(why)),
	    "1 bytes after the last part");
	free(b);
	b = with_tail(buf, len, 4096);
	assert_refused(read_all(b, len + 4096, why, sizeof(why)),
	    "4096 bytes after the last part");
	free(b);
	free(buf);

	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	len = handover_finish(&w, 0);
	b = with_tail(w.buf, len, 3);
	assert_refused(read_all(b, len + 3, why, sizeof(why)),
	    "3 bytes after the last part");
	free(b);
	handover_writer_free(&w);

	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	handover_put_figures(&w, &sample_figures[0]);
	len = handover_finish(&w, 0);
	b = with_tail(w.buf, len, 8);
	assert_refused(read_all(b, len + 8, why, sizeof(why)),
	    "8 bytes after the last part");
	free(b);
	handover_writer_free(&w);

	sample_listener(&l, 4, HANDOVER_UNIX, HANDOVER_OWNER, "unix:/x");
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	handover_put_listener(&w, &l);
	len = handover_finish(&w, 0);
	b = with_tail(w.buf, len, 2);
	assert_refused(read_all(b, len + 2, why, sizeof(why)),
	    "2 bytes after the last part");
	free(b);
	handover_writer_free(&w);
}
END_TEST

START_TEST(test_version_that_lies)
{
	struct handover_conn c;
	size_t len, at;
	unsigned char *buf;

	/*
	 * A version 2 connection read as version 1 takes its id for its
	 * lengths; with lengths of 0 it would pass, but for the 8 bytes
	 * it leaves over.
	 */
	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	c.id = 0;
	buf = one_conn(&c, &len, &at);
	put32(buf, 8, 1);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "8 bytes after the last part");
	free(buf);
}
END_TEST

START_TEST(test_counts_at_the_least)
{
	static const uint32_t least[] = { 0, 32, 40 };
	struct handover_listener_rec l;
	struct handover_conn c;

	sample_make();
	sample_listener(&l, 4, HANDOVER_UNIX, HANDOVER_OWNER, "u");
	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	for (uint32_t v = 1; v <= 2; v++) {
		struct handover_writer w;
		struct handover_reader r;
		size_t len;

		/* Each part as small as it can be: the counts just fit. */
		handover_writer_init(&w, v);
		handover_put_daemon(&w, &sample_daemon);
		handover_put_figures(&w, &sample_figures[0]);
		handover_put_listener(&w, &l);
		handover_put_conn(&w, &c);
		len = handover_finish(&w, 0);
		ck_assert_uint_eq(len, HANDOVER_HEADER + DAEMON_BYTES +
		    FIGURES_BYTES + 9 + least[v]);
		ck_assert_int_eq(read_all(w.buf, len, why, sizeof(why)), 0);
		/* A byte less, and the header is refused for its counts. */
		reseal(w.buf, len - 1);
		ck_assert_int_eq(handover_open(&r, w.buf, len - 1, why,
		    sizeof(why)), -1);
		ck_assert_msg(strstr(why, "short for 1 workers, 1 listeners"
		    " and 1 connections") != NULL, "%s", why);
		handover_writer_free(&w);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Listeners */

/*
 * A record of the daemon's part, the listener l and a good one after it,
 * spoiled by spoil if given: 0 or -1.  The second keeps the payload past
 * the least its counts need, so that l itself is judged.
 */
static int
try_listener(const struct handover_listener_rec *l, uint32_t version,
    unsigned char *(*spoil)(unsigned char *, size_t *))
{
	struct handover_listener_rec good;
	struct handover_writer w;
	size_t len;
	int rc;

	sample_listener(&good, 5, HANDOVER_TCP, 0, "127.0.0.1:9");
	handover_writer_init(&w, version);
	handover_put_daemon(&w, &sample_daemon);
	handover_put_listener(&w, l);
	handover_put_listener(&w, &good);
	len = handover_finish(&w, 0);
	if (spoil != NULL) {
		w.buf = spoil(w.buf, &len);
		reseal(w.buf, len);
	}
	rc = read_all(w.buf, len, why, sizeof(why));
	handover_writer_free(&w);
	return rc;
}

#define LISTENER_AT (HANDOVER_HEADER + DAEMON_BYTES)

static unsigned char *
nul_in_text(unsigned char *buf, size_t *len)
{
	buf[LISTENER_AT + 8 + 2] = '\0';
	(void)len;
	return buf;
}

static unsigned char *
text_too_long(unsigned char *buf, size_t *len)
{
	unsigned char *b = realloc(buf, *len + 1);

	put16(b, LISTENER_AT + 6, HANDOVER_TEXT_MAX + 1);
	b[*len] = 'x';
	(*len)++;
	return b;
}

static unsigned char *
text_beyond_record(unsigned char *buf, size_t *len)
{
	put16(buf, LISTENER_AT + 6, 200);
	(void)len;
	return buf;
}

START_TEST(test_listener_checks)
{
	struct handover_listener_rec l;

	sample_listener(&l, 4, HANDOVER_TCP, 0, "127.0.0.1:7");
	ck_assert_int_eq(try_listener(&l, HANDOVER_VERSION, NULL), 0);
	ck_assert_int_eq(try_listener(&l, 1, NULL), 0);

	l.fd = -1;
	assert_refused(try_listener(&l, HANDOVER_VERSION, NULL),
	    "listener 1 makes no sense (descriptor -1, kind 0, 11 bytes of"
	    " text)");
	l.fd = 4;
	l.kind = HANDOVER_SHARED_TCP + 1;
	assert_refused(try_listener(&l, HANDOVER_VERSION, NULL), "kind 4");
	l.kind = 0xff;
	assert_refused(try_listener(&l, 1, NULL), "kind 255");
	l.kind = HANDOVER_TCP;
	l.text[0] = '\0';
	assert_refused(try_listener(&l, HANDOVER_VERSION, NULL),
	    "0 bytes of text");

	sample_listener(&l, 4, HANDOVER_UNIX, HANDOVER_OWNER, "unix:/x");
	assert_refused(try_listener(&l, HANDOVER_VERSION, nul_in_text),
	    "a listener's text holds a NUL");
	assert_refused(try_listener(&l, HANDOVER_VERSION, text_too_long),
	    "256 bytes of text");
	assert_refused(try_listener(&l, HANDOVER_VERSION, text_beyond_record),
	    "short in a listener's text");
}
END_TEST

START_TEST(test_listener_text_cut_at_max)
{
	struct handover_listener_rec l;
	struct handover_reader r;
	struct handover_daemon d;
	struct handover_writer w;
	size_t len;

	/* A text with no NUL in its array is cut at the format's maximum. */
	memset(&l, 0, sizeof(l));
	l.fd = 4;
	l.kind = HANDOVER_UNIX;
	memset(l.text, 'a', sizeof(l.text));
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	handover_put_listener(&w, &l);
	len = handover_finish(&w, 0);
	ck_assert_int_eq(handover_open(&r, w.buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	memset(&l, 0x55, sizeof(l));
	ck_assert_int_eq(handover_next_listener(&r, &l, why, sizeof(why)), 0);
	ck_assert_uint_eq(strlen(l.text), HANDOVER_TEXT_MAX);
	handover_writer_free(&w);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Connections */

START_TEST(test_conn_fixed_fields)
{
	static const unsigned bad_states[] = { CONN_CLOSED, 4, 8, 128, 255 };
	struct handover_conn c;

	plain_conn(&c, CONN_READING, 64, 0, 0, NULL);
	ck_assert_int_eq(try_conn(&c), 0);

	c.fd = -1;
	assert_refused(try_conn(&c), "connection 1 makes no sense: descriptor -1");
	c.fd = 30;
	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]);
	    i++) {
		char want[32];

		c.state = (uint8_t)bad_states[i];
		snprintf(want, sizeof(want), "state %u", bad_states[i]);
		assert_refused(try_conn(&c), want);
	}
	c.state = CONN_READING;
	c.end = CONN_END_ABORT;
	assert_refused(try_conn(&c), "end 4");
	c.end = 0xff;
	assert_refused(try_conn(&c), "end 255");
	c.end = CONN_END_NONE;
	c.framing = CONN_FRAMING_BYTES + 1;
	assert_refused(try_conn(&c), "framing 2");
	c.framing = CONN_FRAMING_LINES;

	c.size = CONFIG_MAX_LINE_MAX + 1;
	assert_refused(try_conn(&c), "0 bytes kept in 67108865");
	c.size = CONFIG_MAX_LINE_MAX;
	ck_assert_int_eq(try_conn(&c), 0);
}
END_TEST

START_TEST(test_conn_kept_bytes)
{
	static unsigned char data[256];
	struct handover_conn c;
	size_t len, at;
	unsigned char *buf;

	memset(data, 'k', sizeof(data));
	/*
	 * Echo owed past max_line (a ring's receive ran ahead of
	 * back-pressure) is carried, up to HANDOVER_OWED_MAX more.
	 */
	plain_conn(&c, CONN_WRITING, 16, 10, 7, data);
	ck_assert_int_eq(try_conn(&c), 0);
	plain_conn(&c, CONN_WRITING, 16, 200, 0, data);
	ck_assert_int_eq(try_conn(&c), 0);
	plain_conn(&c, CONN_WRITING, 16, 4, 0, data);
	buf = one_conn(&c, &len, &at);
	put32(buf, at + CONN_PENDING, 16 + HANDOVER_OWED_MAX + 1);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "67108881 bytes kept in 16");
	free(buf);
	/* The sum must not wrap: two halves of 2^32, patched in. */
	plain_conn(&c, CONN_WRITING, 16, 4, 0, data);
	buf = one_conn(&c, &len, &at);
	put32(buf, at + CONN_PENDING, 0x80000000u);
	put32(buf, at + CONN_HELD, 0x80000000u);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "4294967296 bytes kept in 16");
	free(buf);
	/* Bytes with no buffer to hold them. */
	plain_conn(&c, CONN_WRITING, 0, 1, 0, data);
	assert_refused(try_conn(&c), "1 bytes kept in 0");
	plain_conn(&c, CONN_READING, 0, 0, 1, data);
	assert_refused(try_conn(&c), "1 bytes kept in 0");
	/* Held bytes are less than max_line: a full buffer is a fragment. */
	plain_conn(&c, CONN_READING, 16, 0, 16, data);
	assert_refused(try_conn(&c), "16 held of 16");
	plain_conn(&c, CONN_READING, 16, 0, 15, data);
	ck_assert_int_eq(try_conn(&c), 0);
	plain_conn(&c, CONN_READING, 1, 0, 1, data);
	assert_refused(try_conn(&c), "1 held of 1");
	/* Held bytes come after the last newline: none among them. */
	plain_conn(&c, CONN_WRITING, 16, 3, 4,
	    (const unsigned char *)"ab\ncd\nx");
	assert_refused(try_conn(&c), "a newline among its 4 held bytes");
	plain_conn(&c, CONN_READING, 16, 0, 1, (const unsigned char *)"\n");
	assert_refused(try_conn(&c), "a newline among its 1 held bytes");
	/* Pending echo is lines and may end in one. */
	plain_conn(&c, CONN_WRITING, 16, 6, 2,
	    (const unsigned char *)"ab\ncd\nxy");
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	/* With bytes framing nothing waits for a newline. */
	plain_conn(&c, CONN_READING, 16, 0, 1, data);
	c.framing = CONN_FRAMING_BYTES;
	assert_refused(try_conn(&c), "bytes framing holding 1");
}
END_TEST

START_TEST(test_conn_state_and_pending)
{
	static const unsigned char data[8] = "abcdefg";
	struct handover_conn c;

	/* Writing exactly when echo is pending. */
	plain_conn(&c, CONN_WRITING, 16, 0, 3, data);
	assert_refused(try_conn(&c), "state 2 with 0 pending");
	plain_conn(&c, CONN_READING, 16, 2, 0, data);
	assert_refused(try_conn(&c), "state 1 with 2 pending");
	plain_conn(&c, CONN_HEADER, 16, 2, 0, data);
	assert_refused(try_conn(&c), "state 0 with 2 pending");
	/* A header awaited: nothing echoed yet, nothing held, input open. */
	plain_conn(&c, CONN_HEADER, 16, 0, 3, data);
	assert_refused(try_conn(&c),
	    "a header awaited with bytes kept or input ended");
	plain_conn(&c, CONN_HEADER, 16, 0, 0, data);
	c.end = CONN_END_CLIENT;
	assert_refused(try_conn(&c),
	    "a header awaited with bytes kept or input ended");
	/* Input ended: the echo owed is all there is, nothing held back. */
	for (uint8_t end = CONN_END_CLIENT; end < CONN_END_ABORT; end++) {
		char want[64];

		plain_conn(&c, CONN_WRITING, 16, 2, 0, data);
		c.end = end;
		ck_assert_msg(try_conn(&c) == 0, "end %u: %s", end, why);
		plain_conn(&c, CONN_READING, 16, 0, 0, data);
		c.end = end;
		snprintf(want, sizeof(want), "input ended (%u) in state 1 with"
		    " 0 held", end);
		assert_refused(try_conn(&c), want);
		plain_conn(&c, CONN_READING, 16, 0, 3, data);
		c.end = end;
		assert_refused(try_conn(&c), "in state 1 with 3 held");
		plain_conn(&c, CONN_WRITING, 16, 2, 3, data);
		c.end = end;
		snprintf(want, sizeof(want), "input ended (%u) in state 2 with"
		    " 3 held", end);
		assert_refused(try_conn(&c), want);
	}
	/* Header bytes only while the header is awaited. */
	plain_conn(&c, CONN_READING, 16, 0, 0, data);
	c.header = (const unsigned char *)"PROXY";
	c.header_have = 5;
	assert_refused(try_conn(&c), "header bytes past the header");
	c.state = CONN_WRITING;
	c.pending = 1;
	assert_refused(try_conn(&c), "header bytes past the header");
}
END_TEST

START_TEST(test_conn_header_and_peer_lengths)
{
	static unsigned char bytes[PROXY_HEADER_MAX + 2];
	struct handover_conn c;
	size_t len, at;
	unsigned char *buf;

	sample_make();
	memset(bytes, 'P', sizeof(bytes));
	memcpy(bytes, &peer6, sizeof(peer6));
	plain_conn(&c, CONN_HEADER, 0, 0, 0, NULL);
	c.header = bytes;
	c.header_have = PROXY_HEADER_MAX + 1;
	assert_refused(try_conn(&c), "1025 header bytes, a 0-byte address");
	/* Judged before the bytes it promises are looked for. */
	c.header_have = 0;
	buf = one_conn(&c, &len, &at);
	put16(buf, at + CONN_HEADER_HAVE, UINT16_MAX);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "65535 header bytes");
	free(buf);
	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	c.flags = HANDOVER_COUNTED;
	c.peer = bytes;
	c.peer_len = HANDOVER_PEER_MAX + 1;
	assert_refused(try_conn(&c), "0 header bytes, a 129-byte address");
	c.peer_len = HANDOVER_PEER_MAX;
	ck_assert_int_eq(try_conn(&c), 0);
}
END_TEST

START_TEST(test_conn_flags)
{
	static const unsigned char data[4] = "abc";
	struct handover_conn c;

	sample_make();
	plain_conn(&c, CONN_READING, 16, 0, 0, data);
	for (unsigned bit = 2; bit < 8; bit++) {
		char want[16];

		c.flags = (uint8_t)(1u << bit);
		snprintf(want, sizeof(want), "flags 0x%x", 1u << bit);
		assert_refused(try_conn(&c), want);
	}

	/* Refusing a PROXY header: only before a first byte is read. */
	plain_conn(&c, CONN_READING, 16, 0, 0, data);
	c.flags = HANDOVER_REFUSE_HEADER;
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	plain_conn(&c, CONN_READING, 16, 0, 2, data);
	c.flags = HANDOVER_REFUSE_HEADER;
	assert_refused(try_conn(&c),
	    "a PROXY header refused in state 1 with 2 bytes kept");
	plain_conn(&c, CONN_WRITING, 16, 3, 0, data);
	c.flags = HANDOVER_REFUSE_HEADER;
	assert_refused(try_conn(&c),
	    "a PROXY header refused in state 2 with 3 bytes kept");
	plain_conn(&c, CONN_HEADER, 0, 0, 0, NULL);
	c.flags = HANDOVER_REFUSE_HEADER;
	assert_refused(try_conn(&c),
	    "a PROXY header refused in state 0 with 0 bytes kept");

	/* A balancer's connection is counted when its header is whole. */
	plain_conn(&c, CONN_HEADER, 0, 0, 0, NULL);
	c.flags = HANDOVER_COUNTED;
	c.peer = (const unsigned char *)&peer6;
	c.peer_len = sizeof(peer6);
	assert_refused(try_conn(&c), "counted before its PROXY header");
}
END_TEST

START_TEST(test_conn_counted_address)
{
	static unsigned char peer[HANDOVER_PEER_MAX];
	struct handover_conn c;
	sa_family_t family;

	sample_make();
	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	c.flags = HANDOVER_COUNTED;
	c.peer = (const unsigned char *)&peer6;
	c.peer_len = sizeof(peer6);
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	c.peer_len = sizeof(peer6) - 1;
	assert_refused(try_conn(&c), "counted under a 27-byte address of"
	    " family 10");
	c.peer = (const unsigned char *)&peer4;
	c.peer_len = sizeof(peer4);
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	c.peer_len = sizeof(peer4) - 1;
	assert_refused(try_conn(&c), "counted under a 15-byte address of"
	    " family 2");
	c.peer = (const unsigned char *)&peer_unix;
	c.peer_len = sizeof(peer_unix);
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	c.peer_len = 1;
	assert_refused(try_conn(&c), "counted under a 1-byte address of"
	    " family 0");
	c.peer_len = 0;
	assert_refused(try_conn(&c), "counted under a 0-byte address of"
	    " family 0");
	/* A family the table has no key for. */
	memset(peer, 0, sizeof(peer));
	family = AF_UNSPEC;
	memcpy(peer, &family, sizeof(family));
	c.peer = peer;
	c.peer_len = sizeof(peer);
	assert_refused(try_conn(&c), "counted under a 128-byte address of"
	    " family 0");
	family = AF_NETLINK;
	memcpy(peer, &family, sizeof(family));
	assert_refused(try_conn(&c), "of family 16");
	/* An address not counted under is not looked at. */
	c.flags = 0;
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
}
END_TEST

START_TEST(test_conn_header_not_yet_whole)
{
	static const char whole[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n";
	static unsigned char v2[PROXY_HEADER_MAX + 8];
	char more[sizeof(whole) + 8];
	struct handover_conn c;

	plain_conn(&c, CONN_HEADER, 0, 0, 0, NULL);
	c.header = (const unsigned char *)whole;
	/* Every prefix of a header is one still awaited... */
	for (size_t n = 0; n < strlen(whole); n++) {
		c.header_have = (uint16_t)n;
		ck_assert_msg(try_conn(&c) == 0, "%zu bytes: %s", n, why);
	}
	/* ...the whole of it is not... */
	c.header_have = (uint16_t)strlen(whole);
	assert_refused(try_conn(&c),
	    "connection 1 makes no sense: a whole PROXY header (36 bytes)"
	    " still awaited");
	/* ...nor a whole one with more after it, nor one gone bad. */
	snprintf(more, sizeof(more), "%shello\n", whole);
	c.header = (const unsigned char *)more;
	c.header_have = (uint16_t)strlen(more);
	assert_refused(try_conn(&c), "a whole PROXY header (36 bytes)");
	c.header = (const unsigned char *)"GET / HTTP/1.0\r\n";
	c.header_have = 16;
	assert_refused(try_conn(&c), "its header bytes: not a PROXY header");
	c.header = (const unsigned char *)"PROXY TCP4 \n";
	c.header_have = 12;
	assert_refused(try_conn(&c), "its header bytes: v1 header with a LF");

	/* The longest a version 2 header can be: whole only at its last byte. */
	memcpy(v2, proxy_v2_start, sizeof(proxy_v2_start));
	v2[14] = (PROXY_HEADER_MAX - PROXY_V2_FIXED) >> 8;
	v2[15] = (PROXY_HEADER_MAX - PROXY_V2_FIXED) & 0xff;
	c.header = v2;
	c.header_have = PROXY_HEADER_MAX - 1;
	ck_assert_msg(try_conn(&c) == 0, "%s", why);
	c.header_have = PROXY_HEADER_MAX;
	assert_refused(try_conn(&c), "(1024 bytes) still awaited");
}
END_TEST

START_TEST(test_conn_bytes_beyond_record)
{
	static const unsigned char data[8] = "abcdefg";
	struct handover_conn c;
	size_t len, at;
	unsigned char *buf;

	plain_conn(&c, CONN_WRITING, 16, 7, 0, data);
	c.flags = HANDOVER_COUNTED;
	c.peer = (const unsigned char *)&peer_unix;
	c.peer_len = sizeof(peer_unix);
	buf = one_conn(&c, &len, &at);
	ck_assert_int_eq(one_conn_read(buf, len), 0);
	/* Each of the three lengths promising one byte more than there is. */
	put16(buf, at + CONN_PEER_LEN, 3);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "short in connection 1's bytes");
	put16(buf, at + CONN_PEER_LEN, 2);
	put32(buf, at + CONN_SIZE, 16);
	put32(buf, at + CONN_PENDING, 8);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "short in connection 1's bytes");
	free(buf);

	plain_conn(&c, CONN_HEADER, 0, 0, 0, NULL);
	c.header = (const unsigned char *)"PROXY T";
	c.header_have = 5;
	buf = one_conn(&c, &len, &at);
	put16(buf, at + CONN_HEADER_HAVE, 6);
	reseal(buf, len);
	assert_refused(one_conn_read(buf, len), "short in connection 1's bytes");
	free(buf);
}
END_TEST

START_TEST(test_conn_fixed_part_short)
{
	struct handover_conn c;
	size_t len, at;
	unsigned char *buf;

	static unsigned char data[30];
	struct handover_writer w;
	struct handover_reader r;
	struct handover_daemon d;

	/*
	 * Two connections, the first with 30 bytes: every cut inside the
	 * second's fixed fields, sealed to look whole.  Up to 10 bytes in,
	 * the counts alone say it; after that the second one runs short.
	 */
	memset(data, 'z', sizeof(data));
	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	plain_conn(&c, CONN_WRITING, 64, sizeof(data), 0, data);
	handover_put_conn(&w, &c);
	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	handover_put_conn(&w, &c);
	len = handover_finish(&w, 0);
	buf = w.buf;
	at = len - CONN_FIXED;
	for (size_t n = at; n < len; n++) {
		reseal(buf, n);
		if (n < at + 10) {
			assert_refused(read_all(buf, n, why, sizeof(why)),
			    "short for 0 workers, 0 listeners and 2 connections");
			continue;
		}
		ck_assert_int_eq(handover_open(&r, buf, n, why, sizeof(why)), 0);
		ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)),
		    0);
		ck_assert_int_eq(handover_next_conn(&r, &c, why, sizeof(why)),
		    0);
		assert_refused(handover_next_conn(&r, &c, why, sizeof(why)),
		    "short in connection 2");
	}
	handover_writer_free(&w);
}
END_TEST

START_TEST(test_more_calls_than_counts)
{
	struct handover_writer w;
	struct handover_reader r;
	struct handover_daemon d;
	struct server_figures f;
	struct handover_listener_rec l;
	struct handover_conn c;
	size_t len;

	handover_writer_init(&w, HANDOVER_VERSION);
	handover_put_daemon(&w, &sample_daemon);
	len = handover_finish(&w, 0);
	ck_assert_int_eq(handover_open(&r, w.buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	assert_refused(handover_next_figures(&r, &f, why, sizeof(why)),
	    "more figures than workers");
	assert_refused(handover_next_listener(&r, &l, why, sizeof(why)),
	    "more listeners than said");
	assert_refused(handover_next_conn(&r, &c, why, sizeof(why)),
	    "more connections than said");
	/* Again: a refusal is no step forward. */
	assert_refused(handover_next_conn(&r, &c, why, sizeof(why)),
	    "more connections than said");
	ck_assert_uint_eq(r.pos, len);
	handover_writer_free(&w);
}
END_TEST

START_TEST(test_reason_buffer)
{
	struct handover_reader r;
	size_t len;
	unsigned char *buf = sample_write(HANDOVER_VERSION, 0, &len);
	char small[8];

	buf[0] = 'x';
	/* No room for a reason, or only a little: refused all the same. */
	ck_assert_int_eq(handover_open(&r, buf, len, NULL, 0), -1);
	memset(small, '#', sizeof(small));
	ck_assert_int_eq(handover_open(&r, buf, len, small, sizeof(small)), -1);
	ck_assert_str_eq(small, "not a p");
	free(buf);
}
END_TEST

START_TEST(test_conn_reason_buffer)
{
	struct handover_conn c;
	struct handover_reader r;
	struct handover_daemon d;
	struct handover_conn got;
	size_t len, at;
	unsigned char *buf;
	char small[16], *unwritten;

	plain_conn(&c, CONN_READING, 0, 0, 0, NULL);
	c.state = 9;
	buf = one_conn(&c, &len, &at);
	ck_assert_int_eq(handover_open(&r, buf, len, NULL, 0), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, NULL, 0), 0);
	ck_assert_int_eq(handover_next_conn(&r, &got, NULL, 0), -1);
	ck_assert_int_eq(handover_open(&r, buf, len, NULL, 0), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, NULL, 0), 0);
	ck_assert_int_eq(handover_next_conn(&r, &got, small, sizeof(small)),
	    -1);
	ck_assert_str_eq(small, "connection 1 ma");

	/*
	 * No room at all: the caller's bytes are neither written nor read
	 * (a heap block, so that a read past it is seen under valgrind).
	 */
	unwritten = malloc(sizeof(small));
	memset(unwritten, '#', sizeof(small));
	ck_assert_int_eq(handover_open(&r, buf, len, NULL, 0), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, NULL, 0), 0);
	ck_assert_int_eq(handover_next_conn(&r, &got, unwritten, 0), -1);
	for (size_t i = 0; i < sizeof(small); i++)
		ck_assert_int_eq(unwritten[i], '#');
	free(unwritten);
	free(buf);
}
END_TEST

START_TEST(test_conn_refused_points_nowhere)
{
	static const unsigned char data[8] = "abcdefg";
	struct handover_conn c;
	struct handover_reader r;
	struct handover_daemon d;
	size_t len, at;
	unsigned char *buf;

	plain_conn(&c, CONN_WRITING, 16, 7, 0, data);
	buf = one_conn(&c, &len, &at);
	put32(buf, at + CONN_PENDING, 8);
	reseal(buf, len);
	ck_assert_int_eq(handover_open(&r, buf, len, why, sizeof(why)), 0);
	ck_assert_int_eq(handover_next_daemon(&r, &d, why, sizeof(why)), 0);
	/* What a refused connection points at is not to be used: NULL. */
	memset(&c, 0x55, sizeof(c));
	assert_refused(handover_next_conn(&r, &c, why, sizeof(why)),
	    "short in connection 1's bytes");
	ck_assert_ptr_null(c.peer);
	ck_assert_ptr_null(c.header);
	ck_assert_ptr_null(c.data);
	free(buf);
}
END_TEST

static Suite *
handover_suite(void)
{
	Suite *s = suite_create("handover");
	TCase *tw = tcase_create("writing");
	TCase *th = tcase_create("header");
	TCase *tp = tcase_create("parts");

	tcase_add_test(tw, test_round_trip);
	tcase_add_test(tw, test_listener_worker_byte);
	tcase_add_test(tw, test_fragments_same_bytes);
	tcase_add_test(tw, test_big_record_grows);
	tcase_add_test(tw, test_failed_writer);
	tcase_add_test(tw, test_checksum_is_fnv1a);
	tcase_add_test(tw, test_version1_round_trip);
	tcase_add_test(tw, test_version1_pad_byte_ignored);
	suite_add_tcase(s, tw);

	tcase_add_test(th, test_wrong_magic);
	tcase_add_test(th, test_unknown_version);
	tcase_add_test(th, test_header_bytes);
	tcase_add_test(th, test_payload_length);
	tcase_add_test(th, test_checksum_mismatch);
	tcase_add_test(th, test_truncated_every_length);
	tcase_add_test(th, test_truncated_and_resealed);
	tcase_add_test(th, test_counts_beyond_bytes);
	tcase_add_test(th, test_too_many_workers);
	tcase_add_test(th, test_short_daemon_part);
	tcase_add_test(th, test_counts_at_the_least);
	tcase_add_test(th, test_bytes_after_the_last_part);
	tcase_add_test(th, test_version_that_lies);
	tcase_add_test(th, test_reason_buffer);
	suite_add_tcase(s, th);

	tcase_add_test(tp, test_listener_checks);
	tcase_add_test(tp, test_listener_text_cut_at_max);
	tcase_add_test(tp, test_conn_fixed_fields);
	tcase_add_test(tp, test_conn_kept_bytes);
	tcase_add_test(tp, test_conn_state_and_pending);
	tcase_add_test(tp, test_conn_header_and_peer_lengths);
	tcase_add_test(tp, test_conn_flags);
	tcase_add_test(tp, test_conn_counted_address);
	tcase_add_test(tp, test_conn_header_not_yet_whole);
	tcase_add_test(tp, test_conn_bytes_beyond_record);
	tcase_add_test(tp, test_conn_fixed_part_short);
	tcase_add_test(tp, test_more_calls_than_counts);
	tcase_add_test(tp, test_conn_reason_buffer);
	tcase_add_test(tp, test_conn_refused_points_nowhere);
	suite_add_tcase(s, tp);
	return s;
}

int
main(void)
{
	return unit_run(handover_suite());
}
