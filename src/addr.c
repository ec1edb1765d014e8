#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* printf into why, tolerating a NULL or empty buffer. */
static void addr_why(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
addr_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * The port after the address: digits only, 0 to ADDR_PORT_MAX.  Returns
 * 0, or -1 with the reason.
 */
static int
addr_parse_port(const char *port, unsigned long *out, char *why,
    size_t whylen)
{
	unsigned long n = 0;
	const char *p;

	if (*port == '\0') {
		addr_why(why, whylen, "missing port");
		return -1;
	}
	for (p = port; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > ADDR_PORT_MAX)
			break;
	}
	if (*p != '\0' || n > ADDR_PORT_MAX) {
		addr_why(why, whylen, "port must be a number from 0 to %d",
		    ADDR_PORT_MAX);
		return -1;
	}
	*out = n;
	return 0;
}

/* "unix:/path" or "unix:@name": a Unix-domain stream socket's address. */
static int
addr_parse_unix(const char *name, struct addr *out, char *why, size_t whylen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)(void *)&out->ss;
	size_t len = strlen(name);

	_Static_assert(sizeof(sun->sun_path) == ADDR_UNIX_PATH_MAX + 1,
	    "a path fits sun_path with its NUL");
	if (len == 0 || (name[0] == '@' && len == 1)) {
		addr_why(why, whylen, "missing path after \"unix:\"");
		return -1;
	}
	if (name[0] != '/' && name[0] != '@') {
		addr_why(why, whylen, "a Unix socket is an absolute path"
		    " (unix:/run/x.sock) or an abstract name (unix:@name)");
		return -1;
	}
	if (len > ADDR_UNIX_PATH_MAX) {
		addr_why(why, whylen, "longer than %d bytes after \"unix:\"",
		    ADDR_UNIX_PATH_MAX);
		return -1;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, name, len);
	if (name[0] == '@') {
		/* Abstract: a NUL first, and the length says where it ends. */
		sun->sun_path[0] = '\0';
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len);
	} else {
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len + 1);
	}
	snprintf(out->text, sizeof(out->text), ADDR_UNIX_PREFIX "%s", name);
	return 0;
}

int
addr_parse(const char *text, struct addr *out, char *why, size_t whylen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&out->ss;
	char host[INET6_ADDRSTRLEN], norm[INET6_ADDRSTRLEN];
	const char *hs, *he, *port, *colon;
	unsigned long portnum;
	size_t hostlen;
	int family;
	void *dst;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, ADDR_UNIX_PREFIX, strlen(ADDR_UNIX_PREFIX)) == 0) {
		if (addr_parse_unix(text + strlen(ADDR_UNIX_PREFIX), out, why,
		    whylen) == -1) {
			memset(out, 0, sizeof(*out));
			return -1;
		}
		return 0;
	}
	if (text[0] == '[') {
		family = AF_INET6;
		hs = text + 1;
		he = strchr(hs, ']');
		if (he == NULL) {
			addr_why(why, whylen,
			    "missing ']' after the IPv6 address");
			return -1;
		}
		if (he[1] != ':') {
			addr_why(why, whylen, "expected \":PORT\" after ']'");
			return -1;
		}
		port = he + 2;
	} else {
		family = AF_INET;
		hs = text;
		colon = strchr(text, ':');
		if (colon == NULL) {
			addr_why(why, whylen, "missing \":PORT\"");
			return -1;
		}
		if (strchr(colon + 1, ':') != NULL) {
			addr_why(why, whylen, "an IPv6 address must be in"
			    " brackets, as in [::1]:6567");
			return -1;
		}
		he = colon;
		port = colon + 1;
	}
	if (he == hs) {
		addr_why(why, whylen, "missing address");
		return -1;
	}
	dst = family == AF_INET ? (void *)&sin->sin_addr :
	    (void *)&sin6->sin6_addr;
	hostlen = (size_t)(he - hs);
	if (hostlen < sizeof(host)) {
		memcpy(host, hs, hostlen);
		host[hostlen] = '\0';
	}
	/* Numeric only: a name would need DNS, which is never done here. */
	if (hostlen >= sizeof(host) || inet_pton(family, host, dst) != 1) {
		addr_why(why, whylen, "not a numeric %s address",
		    family == AF_INET ? "IPv4" : "IPv6");
		memset(out, 0, sizeof(*out));
		return -1;
	}
	if (addr_parse_port(port, &portnum, why, whylen) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	inet_ntop(family, dst, norm, sizeof(norm));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)portnum);
		out->len = sizeof(*sin);
		snprintf(out->text, sizeof(out->text), "%s:%lu", norm, portnum);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)portnum);
		out->len = sizeof(*sin6);
		snprintf(out->text, sizeof(out->text), "[%s]:%lu", norm,
		    portnum);
	}
	return 0;
}

int
addr_parse_net(const char *text, size_t len, struct addr_net *out, char *why,
    size_t whylen)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(text, '/', len);
	size_t hostlen = slash != NULL ? (size_t)(slash - text) : len;
	unsigned bits, max;
	struct in_addr in4;

	memset(out, 0, sizeof(*out));
	if (len == 4 && memcmp(text, "unix", 4) == 0) {
		out->bits = ADDR_NET_UNIX;
		return 0;
	}
	if (hostlen == 0 || hostlen >= sizeof(host)) {
		addr_why(why, whylen, "not an address");
		return -1;
	}
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';
	if (inet_pton(AF_INET, host, &in4) == 1) {
		out->key[10] = out->key[11] = 0xff;
		memcpy(out->key + 12, &in4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->key) == 1) {
		max = 128;
	} else {
		addr_why(why, whylen, "not a numeric IPv4 or IPv6 address");
		return -1;
	}
	bits = max;
	if (slash != NULL) {
		const char *b = slash + 1, *end = text + len;

		bits = 0;
		if (b == end || end - b > 3)
			bits = max + 1;
		for (; b < end && bits <= max; b++) {
			if (*b < '0' || *b > '9')
				bits = max + 1;
			else
				bits = bits * 10 + (unsigned)(*b - '0');
		}
		if (bits > max) {
			addr_why(why, whylen, "prefix length must be 0 to %u",
			    max);
			return -1;
		}
	}
	out->bits = (uint8_t)(max == 32 ? 96 + bits : bits);
	return 0;
}

bool
addr_key(const struct sockaddr *sa, uint8_t key[ADDR_KEY])
{
	memset(key, 0, ADDR_KEY);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, ADDR_KEY);
		return true;
	}
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
		return true;
	}
	return sa->sa_family == AF_UNIX;
}

bool
addr_in_nets(const struct sockaddr *sa, const struct addr_net *nets,
    unsigned n)
{
	uint8_t key[ADDR_KEY];

	if (!addr_key(sa, key))
		return false;
	for (unsigned i = 0; i < n; i++) {
		unsigned whole = nets[i].bits / 8, rest = nets[i].bits % 8;

		/* A Unix peer is trusted by "unix" only, never by an IP range. */
		if ((sa->sa_family == AF_UNIX) != (nets[i].bits == ADDR_NET_UNIX))
			continue;
		if (sa->sa_family == AF_UNIX)
			return true;
		if (memcmp(key, nets[i].key, whole) != 0)
			continue;
		if (rest == 0 || ((key[whole] ^ nets[i].key[whole]) &
		    (0xff00u >> rest) & 0xff) == 0)
			return true;
	}
	return false;
}

void
addr_net_text(const struct addr_net *net, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	char host[INET6_ADDRSTRLEN];

	if (net->bits == ADDR_NET_UNIX) {
		snprintf(buf, len, "unix");
		return;
	}
	if (memcmp(net->key, mapped, sizeof(mapped)) == 0 && net->bits >= 96) {
		inet_ntop(AF_INET, net->key + 12, host, sizeof(host));
		snprintf(buf, len, "%s/%u", host, net->bits - 96u);
	} else {
		inet_ntop(AF_INET6, net->key, host, sizeof(host));
		snprintf(buf, len, "%s/%u", host, (unsigned)net->bits);
	}
}

void
addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)sa;
		const char *path = sun->sun_path;

		if (path[0] != '\0')
			snprintf(buf, len, ADDR_UNIX_PREFIX "%.*s",
			    ADDR_UNIX_PATH_MAX, path);
		else if (path[1] != '\0')
			snprintf(buf, len, ADDR_UNIX_PREFIX "@%.*s",
			    ADDR_UNIX_PATH_MAX - 1, path + 1);
		else
			snprintf(buf, len, "unix");
	} else {
		snprintf(buf, len, "?");
	}
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->
		    sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_port);
	return 0;
}
