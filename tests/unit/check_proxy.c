/* Check suite for the PROXY protocol parser: both versions, hostile input. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "unit.h"

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

static struct proxy_header hdr;
static const char *why;

static enum proxy_status
parse_str(const char *s)
{
	return proxy_parse((const unsigned char *)s, strlen(s), &hdr, &why);
}

/* A v2 header: command byte, family byte, body of n bytes. */
static size_t
v2(unsigned char *out, unsigned char cmd, unsigned char fam,
    const unsigned char *body, size_t n)
{
	memcpy(out, sig, 12);
	out[12] = cmd;
	out[13] = fam;
	out[14] = (unsigned char)(n >> 8);
	out[15] = (unsigned char)n;
	memcpy(out + 16, body, n);
	return 16 + n;
}

static void
assert_v4(const char *addr, unsigned port)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&hdr.source;
	char text[INET_ADDRSTRLEN];

	ck_assert_int_eq(hdr.local, 0);
	ck_assert_int_eq(in->sin_family, AF_INET);
	inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
	ck_assert_str_eq(text, addr);
	ck_assert_uint_eq(ntohs(in->sin_port), port);
}

START_TEST(test_v1_tcp4)
{
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 51234 6567\r\n";

	ck_assert_int_eq(parse_str(h), PROXY_OK);
	ck_assert_uint_eq(hdr.length, strlen(h));
	ck_assert_int_eq(hdr.version, 1);
	assert_v4("192.0.2.7", 51234);
}
END_TEST

START_TEST(test_v1_followed_by_data)
{
	const char *h = "PROXY TCP4 10.1.2.3 10.0.0.1 1 2\r\nhello\n";

	ck_assert_int_eq(parse_str(h), PROXY_OK);
	/* Only the header is consumed: "hello\n" stays for the echo. */
	ck_assert_uint_eq(hdr.length, strlen(h) - 6);
}
END_TEST

START_TEST(test_v1_tcp6)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&hdr.source;
	char text[INET6_ADDRSTRLEN];

	ck_assert_int_eq(parse_str("PROXY TCP6 2001:db8::5 ::1 65535 80\r\n"),
	    PROXY_OK);
	ck_assert_int_eq(in6->sin6_family, AF_INET6);
	inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
	ck_assert_str_eq(text, "2001:db8::5");
	ck_assert_uint_eq(ntohs(in6->sin6_port), 65535);
}
END_TEST

START_TEST(test_v1_unknown_is_local)
{
	ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n"), PROXY_OK);
	ck_assert_int_eq(hdr.local, 1);
	ck_assert_int_eq(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
	    PROXY_OK);
	ck_assert_int_eq(hdr.local, 1);
}
END_TEST

START_TEST(test_v1_incomplete_at_every_length)
{
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 51234 6567\r\n";

	for (size_t n = 0; n < strlen(h); n++)
		ck_assert_int_eq(proxy_parse((const unsigned char *)h, n, &hdr,
		    &why), PROXY_INCOMPLETE);
}
END_TEST

START_TEST(test_v1_bad)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 127.0.0.1 51234\r\n",
		"PROXY TCP4 192.0.2.7 127.0.0.1 51234 6567 extra\r\n",
		"PROXY TCP4 192.0.2.7  127.0.0.1 51234 6567\r\n",
		"PROXY TCP4 192.0.2.7 127.0.0.1 65536 6567\r\n",
		"PROXY TCP4 192.0.2.7 127.0.0.1 -1 6567\r\n",
		"PROXY TCP4 192.0.2.7 127.0.0.1 +1 6567\r\n",
		"PROXY TCP4 ::1 127.0.0.1 1 2\r\n",
		"PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
		"PROXY TCP4 999.0.2.7 127.0.0.1 1 2\r\n",
		"PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n",
		"PROXY \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.0\r\n",
		"hello\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_str(bad[i]) == PROXY_BAD, "accepted: %s",
		    bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_v1_too_long)
{
	char h[200];

	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY TCP4 ", 11);
	/* 107 bytes without CRLF can never become a header. */
	ck_assert_int_eq(proxy_parse((unsigned char *)h, 106, &hdr, &why),
	    PROXY_INCOMPLETE);
	ck_assert_int_eq(proxy_parse((unsigned char *)h, 107, &hdr, &why),
	    PROXY_BAD);
	ck_assert_int_eq(proxy_parse((unsigned char *)h, sizeof(h), &hdr, &why),
	    PROXY_BAD);
}
END_TEST

START_TEST(test_v2_tcp4)
{
	static const unsigned char body[12] = {
		192, 0, 2, 9, 127, 0, 0, 1, 0xc8, 0x1f, 0x19, 0xa7,
	};
	unsigned char h[64];
	size_t n = v2(h, 0x21, 0x11, body, sizeof(body));

	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_OK);
	ck_assert_uint_eq(hdr.length, 28);
	ck_assert_int_eq(hdr.version, 2);
	assert_v4("192.0.2.9", 0xc81f);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(proxy_parse(h, k, &hdr, &why), PROXY_INCOMPLETE);
}
END_TEST

START_TEST(test_v2_tcp6_with_tlvs_skipped)
{
	/* Two TLVs (ALPN and a custom one) that must be skipped whole. */
	static const unsigned char tlvs[11] = {
		0x01, 0x00, 0x02, 'h', '2', 0xe0, 0x00, 0x03, 'a', 'b', 'c',
	};
	unsigned char body[36 + 11], h[128];
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&hdr.source;
	size_t n;

	memset(body, 0, sizeof(body));
	body[15] = 1;                   /* source ::1 */
	body[31] = 2;                   /* destination ::2 */
	body[32] = 0x12; body[33] = 0x34;
	memcpy(body + 36, tlvs, sizeof(tlvs));
	n = v2(h, 0x21, 0x21, body, sizeof(body));
	memcpy(h + n, "data\n", 5);
	ck_assert_int_eq(proxy_parse(h, n + 5, &hdr, &why), PROXY_OK);
	ck_assert_uint_eq(hdr.length, n);
	ck_assert_int_eq(in6->sin6_family, AF_INET6);
	ck_assert_uint_eq(in6->sin6_addr.s6_addr[15], 1);
	ck_assert_uint_eq(ntohs(in6->sin6_port), 0x1234);
}
END_TEST

START_TEST(test_v2_local_and_unspec)
{
	unsigned char h[64];
	size_t n = v2(h, 0x20, 0x00, (const unsigned char *)"", 0);

	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_OK);
	ck_assert_int_eq(hdr.local, 1);
	ck_assert_uint_eq(hdr.length, 16);
	/* LOCAL with addresses: they are the balancer's own, ignored. */
	n = v2(h, 0x20, 0x11, (const unsigned char *)"123456789012", 12);
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_OK);
	ck_assert_int_eq(hdr.local, 1);
	n = v2(h, 0x21, 0x00, (const unsigned char *)"", 0);
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_OK);
	ck_assert_int_eq(hdr.local, 1);
}
END_TEST

START_TEST(test_v2_bad)
{
	unsigned char h[64], body[36] = { 0 };
	size_t n;

	n = v2(h, 0x11, 0x11, body, 12);                /* version 1 */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	n = v2(h, 0x22, 0x11, body, 12);                /* command 2 */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	n = v2(h, 0x21, 0x11, body, 11);                /* short IPv4 */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	n = v2(h, 0x21, 0x21, body, 35);                /* short IPv6 */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	n = v2(h, 0x21, 0x12, body, 12);                /* UDP */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	n = v2(h, 0x21, 0x31, body, 12);                /* UNIX */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
	h[5] ^= 1;                                      /* signature */
	ck_assert_int_eq(proxy_parse(h, n, &hdr, &why), PROXY_BAD);
}
END_TEST

START_TEST(test_v2_oversized)
{
	unsigned char h[PROXY_V2_FIXED];

	memcpy(h, sig, 12);
	h[12] = 0x21;
	h[13] = 0x11;
	/* 1008 + 16 = 1024 is the most; one more is refused at once. */
	h[14] = 1008 >> 8; h[15] = 1008 & 0xff;
	ck_assert_int_eq(proxy_parse(h, sizeof(h), &hdr, &why), PROXY_INCOMPLETE);
	h[14] = 1009 >> 8; h[15] = 1009 & 0xff;
	ck_assert_int_eq(proxy_parse(h, sizeof(h), &hdr, &why), PROXY_BAD);
	h[14] = 0xff; h[15] = 0xff;
	ck_assert_int_eq(proxy_parse(h, sizeof(h), &hdr, &why), PROXY_BAD);
}
END_TEST

START_TEST(test_signature_detection)
{
	unsigned char h[16];

	ck_assert(proxy_has_signature((const unsigned char *)"PROXY TCP4", 10));
	ck_assert(!proxy_has_signature((const unsigned char *)"PROXY", 5));
	ck_assert(!proxy_has_signature((const unsigned char *)"hello\n", 6));
	memcpy(h, sig, 12);
	ck_assert(proxy_has_signature(h, 12));
	ck_assert(!proxy_has_signature(h, 11));
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("headers");

	tcase_add_test(tc, test_v1_tcp4);
	tcase_add_test(tc, test_v1_followed_by_data);
	tcase_add_test(tc, test_v1_tcp6);
	tcase_add_test(tc, test_v1_unknown_is_local);
	tcase_add_test(tc, test_v1_incomplete_at_every_length);
	tcase_add_test(tc, test_v1_bad);
	tcase_add_test(tc, test_v1_too_long);
	tcase_add_test(tc, test_v2_tcp4);
	tcase_add_test(tc, test_v2_tcp6_with_tlvs_skipped);
	tcase_add_test(tc, test_v2_local_and_unspec);
	tcase_add_test(tc, test_v2_bad);
	tcase_add_test(tc, test_v2_oversized);
	tcase_add_test(tc, test_signature_detection);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(proxy_suite());
}
