/*
 * The PROXY protocol (HAProxy's spec, versions 1 and 2), receiving side: a
 * balancer puts one header before the client's bytes saying who the client
 * is.  Pure: bytes in, a verdict out, so Check and a fuzzer can drive it.
 */
#ifndef PINGPONGD_PROXY_H
#define PINGPONGD_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107                /* bytes of a v1 line, CRLF included */
#define PROXY_V2_FIXED 16               /* signature, command, family, length */
#define PROXY_HEADER_MAX 1024           /* the largest header we accept, bytes */

enum proxy_status {
	PROXY_INCOMPLETE,               /* a valid start: wait for more bytes */
	PROXY_OK,                       /* a whole, valid header */
	PROXY_BAD,                      /* not, or not a valid, header */
};

struct proxy_header {
	size_t length;                  /* bytes the header takes: consumed, never echoed */
	int version;                    /* 1 or 2 */
	int local;                      /* LOCAL or UNKNOWN: no client address in it */
	struct sockaddr_storage source; /* the client's address and port unless local */
};

/*
 * Parse the header at the start of buf (len bytes so far).  On PROXY_BAD
 * *why says what is wrong.  A header never needs more than
 * PROXY_HEADER_MAX bytes to be judged.
 */
enum proxy_status proxy_parse(const unsigned char *buf, size_t len,
    struct proxy_header *out, const char **why);

/* True when buf starts with the signature of either version. */
int proxy_has_signature(const unsigned char *buf, size_t len);

#endif
