/*
 * Addresses as operators write them and as sockets give them: parsing
 * "IPv4:PORT", "[IPv6]:PORT" and "unix:/path" (or "unix:@name", an
 * abstract socket), networks "ADDR/BITS" (or "unix", every Unix-domain
 * peer) and matching an address against them, the one 16-byte key an
 * address is counted and matched by, and address text for logs.
 *
 * Pure, with no other part of pingpongd beneath it, so that the pingpong
 * client links it on its own.  Errors are a reason without the value: the
 * caller knows how to quote what it was given.
 */
#ifndef PINGPONGD_ADDR_H
#define PINGPONGD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_UNIX_PREFIX "unix:"        /* how a Unix-domain address is written */
#define ADDR_UNIX_PATH_MAX 107          /* bytes of a socket path or abstract name */
#define ADDR_TEXT 116                   /* "unix:" and the longest path, plus NUL */
#define ADDR_NET_TEXT 52                /* "v6 address/128" plus NUL */
#define ADDR_KEY 16                     /* bytes of an address key */
#define ADDR_NET_UNIX 255               /* addr_net.bits of "unix": every Unix peer */
#define ADDR_PORT_MAX 65535

/* A listen address: what the operator wrote, normalised, and the socket address. */
struct addr {
	char text[ADDR_TEXT];           /* "127.0.0.1:6567", "[::1]:6567", "unix:/run/x.sock" */
	struct sockaddr_storage ss;     /* numeric address and port, port 0 = any */
	socklen_t len;                  /* bytes of ss in use */
};

/* A network: an address key and how many leading bits of it must match. */
struct addr_net {
	uint8_t key[ADDR_KEY];          /* IPv6, or IPv4 mapped (::ffff:a.b.c.d) */
	uint8_t bits;                   /* prefix length over those 128 bits, or
	                                   ADDR_NET_UNIX */
};

/*
 * Parse numeric "IPv4:PORT" or "[IPv6]:PORT", or "unix:/absolute/path" or
 * "unix:@abstract-name", into out.  Returns 0, or -1 with the reason in
 * why ("missing \":PORT\"").
 */
int addr_parse(const char *text, struct addr *out, char *why, size_t whylen);

/*
 * Parse the len bytes at text, "ADDR" or "ADDR/BITS", into a network; an
 * address alone is a network of one, and "unix" stands for every peer of
 * a Unix-domain socket.  Returns 0, or -1 with the reason.
 */
int addr_parse_net(const char *text, size_t len, struct addr_net *out,
    char *why, size_t whylen);

/*
 * The key an address is known by: IPv6 as it is, IPv4 mapped into IPv6,
 * and every Unix-domain peer the zero key (::, which no IP peer has): they
 * count as one source.  False (and the zero key) for any other family.
 */
bool addr_key(const struct sockaddr *sa, uint8_t key[ADDR_KEY]);

/* True when sa lies in one of the n networks ("unix" alone takes Unix peers). */
bool addr_in_nets(const struct sockaddr *sa, const struct addr_net *nets,
    unsigned n);

/* Write a network back as "10.0.0.0/8" or "::1/128". */
void addr_net_text(const struct addr_net *net, char *buf, size_t len);

/* The port of an IPv4 or IPv6 socket address, 0 for other families. */
uint16_t addr_port(const struct sockaddr *sa);

/*
 * "127.0.0.1:6567", "[::1]:6567", "unix:/run/x.sock", "unix:@name", or
 * "unix" for an unnamed Unix peer, for a socket address; "?" for others.
 * A Unix address must be NUL-padded past what the kernel gave.
 */
void addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
