/*
 * The state record a pingpongd hands to the image it executes on SIGUSR2:
 * every listener and connection, with what each connection holds, owes and
 * how old its timers are, and the counters.  The descriptors themselves
 * are inherited across the exec; the record, in one sealed memfd, says
 * what each of them is.
 *
 * Format (native byte order and sizes: the same machine reads it):
 *
 *   header, 48 bytes
 *     0  magic          8 bytes, "PPDSTATE"
 *     8  version        u32, HANDOVER_VERSION; readers take this one and
 *                       the one before (HANDOVER_VERSION_OLDEST)
 *    12  header_bytes   u32, 48
 *    16  payload_bytes  u64, bytes after the header
 *    24  checksum       u64, FNV-1a 64 of the payload
 *    32  nlisteners     u32
 *    36  nconnections   u32
 *    40  nworkers       u32, figures records that follow the daemon's
 *    44  flags          u32, HANDOVER_STOPPING: SIGTERM came meanwhile
 *   payload
 *     daemon            serial u64, reloads_ok u64, reloads_failed u64,
 *                       started_wall f64 (Unix seconds), quiesced_ns u64
 *                       (CLOCK_MONOTONIC when the workers stopped)
 *     figures x nworkers   HANDOVER_FIGURES u64 each: accepted, then
 *                       refused by cause, closed by cause, bytes received,
 *                       bytes echoed, lines echoed, fragments, accept pauses
 *     listener x nlisteners
 *                       fd i32, kind u8 (enum handover_listener), worker u8
 *                       (the worker a HANDOVER_TCP socket was; version 1:
 *                       a pad byte), text_len u16, text (the listen line,
 *                       no NUL)
 *     connection x nconnections
 *                       fd i32, state u8, end u8, framing u8, flags u8,
 *                       size u32 (its buffer's max_line), pending u32,
 *                       held u32, idle_age_ms u32, line_age_ms u32,
 *                       id u64 (version 2 only), header_have u16,
 *                       peer_len u16, then peer_len bytes of the client's
 *                       socket address, header_have bytes of PROXY header
 *                       read so far, pending + held bytes of data
 *
 * Version 1 lacks the connection number (id), and does not say whose a
 * worker's listener was: a reader gives such connections new numbers and
 * shares such listeners among all its workers.
 *
 * Pure: buffers in, buffers out; the reader checks every length before it
 * trusts it, so a fuzzer can drive it.
 */
#ifndef PINGPONGD_HANDOVER_H
#define PINGPONGD_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define HANDOVER_MAGIC "PPDSTATE"
#define HANDOVER_VERSION 2
#define HANDOVER_VERSION_OLDEST 1
#define HANDOVER_HEADER 48              /* bytes of the header */
#define HANDOVER_STOPPING 0x1           /* flags: drain at once after the exec */
#define HANDOVER_FIGURES (1 + SERVER_REFUSE_CAUSES + SERVER_CLOSE_CAUSES + 5)
#define HANDOVER_PEER_MAX 128           /* bytes of a client address */
#define HANDOVER_TEXT_MAX 255           /* bytes of a listen line's text */

/* What a handed listening socket is. */
enum handover_listener {
	HANDOVER_TCP,                   /* a worker's own TCP listener */
	HANDOVER_UNIX,                  /* a Unix socket the daemon made */
	HANDOVER_PASSED,                /* the service manager's */
	HANDOVER_SHARED_TCP,            /* a TCP listener handed over before */
};

/* The connection flags. */
/*
 * Most echo a connection may owe past its max_line.  Through io_uring a
 * receive can run ahead of back-pressure by what the socket had buffered
 * when it was stopped (ring.c), and that is owed echo too.
 */
#define HANDOVER_OWED_MAX (64u * 1024 * 1024)
#define HANDOVER_REFUSE_HEADER 0x1      /* a PROXY header in its first bytes closes */
#define HANDOVER_COUNTED 0x2            /* counted for max_per_ip under peer */

struct handover_daemon {
	uint64_t serial;                /* the last connection number given */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	double started_wall;            /* when the first image started */
	uint64_t quiesced_ns;           /* CLOCK_MONOTONIC when service paused */
};

#define HANDOVER_OWNER 0xff             /* a listener no one worker had */

struct handover_listener_rec {
	int fd;
	uint8_t kind;                   /* enum handover_listener */
	uint8_t worker;                 /* the worker a HANDOVER_TCP one was, or
	                                   HANDOVER_OWNER */
	char text[HANDOVER_TEXT_MAX + 1]; /* the listen line, NUL-terminated */
};

struct handover_conn {
	int fd;
	uint8_t state;                  /* enum conn_state */
	uint8_t end;                    /* enum conn_end */
	uint8_t framing;                /* enum conn_framing */
	uint8_t flags;                  /* HANDOVER_REFUSE_HEADER, _COUNTED */
	uint32_t size;                  /* max_line of its buffer (0: none) */
	uint32_t pending;               /* echo the kernel has not taken */
	uint32_t held;                  /* bytes after the last newline */
	uint32_t idle_age_ms;           /* since its last progress */
	uint32_t line_age_ms;           /* since its partial line (or header) began */
	uint64_t id;                    /* its number; 0 from a version 1 record */
	uint16_t header_have;           /* PROXY header bytes read so far */
	uint16_t peer_len;              /* bytes of peer */
	const unsigned char *peer;      /* the address max_per_ip counts it under */
	const unsigned char *header;    /* the header bytes read so far */
	const unsigned char *data;      /* pending bytes, then held bytes */
};

/* A record being written. */
struct handover_writer {
	unsigned char *buf;
	size_t len, cap;
	bool failed;                    /* memory ran out */
	uint32_t version;               /* what to write (HANDOVER_VERSION) */
	uint32_t nlisteners, nconnections, nworkers;
};

void handover_writer_init(struct handover_writer *w, uint32_t version);

/*
 * A fragment: records with no header, written by a worker and put whole
 * into the record by the owner (handover_put_fragment), in their order.
 */
void handover_fragment_init(struct handover_writer *w, uint32_t version);
void handover_put_fragment(struct handover_writer *w,
    const struct handover_writer *part);
void handover_put_daemon(struct handover_writer *w,
    const struct handover_daemon *d);
void handover_put_figures(struct handover_writer *w,
    const struct server_figures *f);
void handover_put_listener(struct handover_writer *w,
    const struct handover_listener_rec *l);
void handover_put_conn(struct handover_writer *w,
    const struct handover_conn *c);

/*
 * Close the record: fill in the header.  Returns the whole record's length,
 * or 0 when memory ran out (the buffer is then freed).  The records must
 * be put in the order of the format: daemon, figures, listeners,
 * connections.
 */
size_t handover_finish(struct handover_writer *w, uint32_t flags);
void handover_writer_free(struct handover_writer *w);

/* A record read and checked; its parts are read in order with the next_ calls. */
struct handover_reader {
	const unsigned char *buf;
	size_t len;                     /* of the whole record */
	size_t pos;                     /* the next byte to read */
	uint32_t version, flags;
	uint32_t nlisteners, nconnections, nworkers;
	uint32_t listeners_read, connections_read, figures_read;
};

/*
 * Check the header, the length and the checksum of the len bytes at buf.
 * Returns 0, or -1 with the reason in why.
 */
int handover_open(struct handover_reader *r, const unsigned char *buf,
    size_t len, char *why, size_t whylen);

/*
 * The parts, in order: the daemon's, each worker's figures, each
 * listener, each connection.  Each returns 0, or -1 with the reason when
 * the record is not what its header says.
 */
int handover_next_daemon(struct handover_reader *r, struct handover_daemon *d,
    char *why, size_t whylen);
int handover_next_figures(struct handover_reader *r, struct server_figures *f,
    char *why, size_t whylen);
int handover_next_listener(struct handover_reader *r,
    struct handover_listener_rec *l, char *why, size_t whylen);
int handover_next_conn(struct handover_reader *r, struct handover_conn *c,
    char *why, size_t whylen);

/* FNV-1a 64 of len bytes, the record's checksum. */
uint64_t handover_checksum(const unsigned char *buf, size_t len);

#endif
