#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char proxy_v1_sig[] = "PROXY ";
#define PROXY_V1_SIG_LEN (sizeof(proxy_v1_sig) - 1)

/* True when the len bytes so far agree with the first bytes of sig. */
static int
proxy_prefix_of(const unsigned char *buf, size_t len, const void *sig,
    size_t siglen)
{
	return memcmp(buf, sig, len < siglen ? len : siglen) == 0;
}

int
proxy_has_signature(const unsigned char *buf, size_t len)
{
	return (len >= PROXY_V1_SIG_LEN &&
	    memcmp(buf, proxy_v1_sig, PROXY_V1_SIG_LEN) == 0) ||
	    (len >= sizeof(proxy_v2_sig) &&
	    memcmp(buf, proxy_v2_sig, sizeof(proxy_v2_sig)) == 0);
}

/* A v1 port: 1 to 5 digits, no sign, at most 65535. */
static int
proxy_v1_port(const char *p, size_t n, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* One space-separated field of a v1 line, copied out NUL-terminated. */
static int
proxy_v1_field(const char **p, const char *end, char *out, size_t outlen)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));
	const char *stop = sp != NULL ? sp : end;
	size_t n = (size_t)(stop - *p);

	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = sp != NULL ? sp + 1 : end;
	return 0;
}

static enum proxy_status
proxy_parse_v1(const unsigned char *buf, size_t len, struct proxy_header *out,
    const char **why)
{
	const unsigned char *cr = NULL;
	char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char sport[8], dport[8];
	const char *p, *end;
	uint16_t port, unused;
	int family;
	size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	/*
	 * The line ends at its first LF, which must follow a CR; no NUL may
	 * come before.  Judged the same whether the bytes came at once or in
	 * pieces.
	 */
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\0') {
			*why = "v1 header with a NUL byte";
			return PROXY_BAD;
		}
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r') {
				*why = "v1 header with a LF not after a CR";
				return PROXY_BAD;
			}
			cr = buf + i - 1;
			break;
		}
	}
	if (cr == NULL) {
		if (len >= PROXY_V1_MAX) {
			*why = "v1 header longer than 107 bytes";
			return PROXY_BAD;
		}
		return PROXY_INCOMPLETE;
	}
	if (memchr(buf, '\r', (size_t)(cr - buf)) != NULL) {
		*why = "v1 header with a stray CR";
		return PROXY_BAD;
	}
	out->length = (size_t)(cr - buf) + 2;
	out->version = 1;
	p = (const char *)buf + PROXY_V1_SIG_LEN;
	end = (const char *)cr;
	if (proxy_v1_field(&p, end, proto, sizeof(proto)) == -1) {
		*why = "v1 header without a protocol";
		return PROXY_BAD;
	}
	if (strcmp(proto, "UNKNOWN") == 0) {
		/* The rest of the line is to be ignored, says the spec. */
		out->local = 1;
		return PROXY_OK;
	}
	if (strcmp(proto, "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		family = AF_INET6;
	else {
		*why = "v1 header with an unknown protocol";
		return PROXY_BAD;
	}
	if (proxy_v1_field(&p, end, src, sizeof(src)) == -1 ||
	    proxy_v1_field(&p, end, dst, sizeof(dst)) == -1 ||
	    proxy_v1_field(&p, end, sport, sizeof(sport)) == -1 ||
	    proxy_v1_field(&p, end, dport, sizeof(dport)) == -1 || p != end) {
		*why = "v1 header without exactly four address fields";
		return PROXY_BAD;
	}
	if (proxy_v1_port(sport, strlen(sport), &port) == -1 ||
	    proxy_v1_port(dport, strlen(dport), &unused) == -1) {
		*why = "v1 header with a bad port";
		return PROXY_BAD;
	}
	memset(&out->source, 0, sizeof(out->source));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&out->source;
		struct in_addr d;

		if (inet_pton(AF_INET, src, &in->sin_addr) != 1 ||
		    inet_pton(AF_INET, dst, &d) != 1) {
			*why = "v1 header with a bad IPv4 address";
			return PROXY_BAD;
		}
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->source;
		struct in6_addr d;

		if (inet_pton(AF_INET6, src, &in6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, dst, &d) != 1) {
			*why = "v1 header with a bad IPv6 address";
			return PROXY_BAD;
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return PROXY_OK;
}

static enum proxy_status
proxy_parse_v2(const unsigned char *buf, size_t len, struct proxy_header *out,
    const char **why)
{
	size_t body, total;
	int command;

	if (len < PROXY_V2_FIXED)
		return PROXY_INCOMPLETE;
	if ((buf[12] >> 4) != 2) {
		*why = "v2 header with an unknown version";
		return PROXY_BAD;
	}
	command = buf[12] & 0x0f;
	if (command > 1) {
		*why = "v2 header with an unknown command";
		return PROXY_BAD;
	}
	body = (size_t)buf[14] << 8 | buf[15];
	total = PROXY_V2_FIXED + body;
	if (total > PROXY_HEADER_MAX) {
		*why = "v2 header larger than 1024 bytes";
		return PROXY_BAD;
	}
	if (len < total)
		return PROXY_INCOMPLETE;
	out->length = total;
	out->version = 2;
	memset(&out->source, 0, sizeof(out->source));
	/* LOCAL: the balancer speaking for itself, a health check say. */
	if (command == 0) {
		out->local = 1;
		return PROXY_OK;
	}
	switch (buf[13]) {
	case 0x00:
		/* UNSPEC: the sender does not know; use the connection's. */
		out->local = 1;
		return PROXY_OK;
	case 0x11: {
		struct sockaddr_in *in = (struct sockaddr_in *)&out->source;

		if (body < 12) {
			*why = "v2 TCP4 header too short for its addresses";
			return PROXY_BAD;
		}
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, buf + 16, 4);
		memcpy(&in->sin_port, buf + 24, 2);
		/* TLVs, if any, follow and are skipped with the rest. */
		return PROXY_OK;
	}
	case 0x21: {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->source;

		if (body < 36) {
			*why = "v2 TCP6 header too short for its addresses";
			return PROXY_BAD;
		}
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, buf + 16, 16);
		memcpy(&in6->sin6_port, buf + 48, 2);
		return PROXY_OK;
	}
	default:
		*why = "v2 header for a family other than TCP over IPv4 or IPv6";
		return PROXY_BAD;
	}
}

enum proxy_status
proxy_parse(const unsigned char *buf, size_t len, struct proxy_header *out,
    const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len == 0)
		return PROXY_INCOMPLETE;
	if (buf[0] == 'P') {
		if (!proxy_prefix_of(buf, len, proxy_v1_sig, PROXY_V1_SIG_LEN)) {
			*why = "not a PROXY header";
			return PROXY_BAD;
		}
		if (len < PROXY_V1_SIG_LEN)
			return PROXY_INCOMPLETE;
		return proxy_parse_v1(buf, len, out, why);
	}
	if (!proxy_prefix_of(buf, len, proxy_v2_sig, sizeof(proxy_v2_sig))) {
		*why = "not a PROXY header";
		return PROXY_BAD;
	}
	return proxy_parse_v2(buf, len, out, why);
}
