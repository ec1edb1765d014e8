/*
 * Check suite for addr.c: listen addresses, networks and matching, the
 * address key, the port and address text.  (The configuration's quoting
 * of the same errors is checked in check_config.)
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "unit.h"

static struct sockaddr_storage
v4(const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, host, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

START_TEST(test_parse_normalises)
{
	struct addr a;
	char why[128];

	ck_assert_int_eq(addr_parse("127.0.0.1:0", &a, why, sizeof(why)), 0);
	ck_assert_str_eq(a.text, "127.0.0.1:0");
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(addr_port(SA(a.ss)), 0);
	ck_assert_int_eq(addr_parse("[0:0::1]:6567", &a, why, sizeof(why)), 0);
	ck_assert_str_eq(a.text, "[::1]:6567");
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(addr_port(SA(a.ss)), 6567);
}
END_TEST

/* Each refusal says why, with no value in it: the caller quotes that. */
static const struct {
	const char *text;
	const char *why;
} bad_listen[] = {
	{ "127.0.0.1", "missing \":PORT\"" },
	{ "::1:80", "an IPv6 address must be in brackets, as in [::1]:6567" },
	{ "[::1:80", "missing ']' after the IPv6 address" },
	{ "[::1]80", "expected \":PORT\" after ']'" },
	{ ":80", "missing address" },
	{ "localhost:80", "not a numeric IPv4 address" },
	{ "[fe80::1%eth0]:80", "not a numeric IPv6 address" },
	{ "127.0.0.1:", "missing port" },
	{ "127.0.0.1:65536", "port must be a number from 0 to 65535" },
	{ "127.0.0.1:8o", "port must be a number from 0 to 65535" },
};

START_TEST(test_parse_refuses)
{
	struct addr a;
	char why[128];

	ck_assert_int_eq(addr_parse(bad_listen[_i].text, &a, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why, bad_listen[_i].why);
	ck_assert_str_eq(a.text, "");
	/* A caller that wants no reason gives no buffer. */
	ck_assert_int_eq(addr_parse(bad_listen[_i].text, &a, NULL, 0), -1);
}
END_TEST

START_TEST(test_key_maps_ipv4_into_ipv6)
{
	static const uint8_t want4[ADDR_KEY] = {
		[10] = 0xff, [11] = 0xff, [12] = 10, [13] = 1, [14] = 2, [15] = 3,
	};
	struct sockaddr_storage a = v4("10.1.2.3", 9), b = v6("::ffff:10.1.2.3", 7);
	struct sockaddr_storage other;
	uint8_t ka[ADDR_KEY], kb[ADDR_KEY];

	ck_assert(addr_key(SA(a), ka));
	ck_assert(addr_key(SA(b), kb));
	ck_assert_mem_eq(ka, want4, ADDR_KEY);
	/* The same host over either family is one source; ports do not count. */
	ck_assert_mem_eq(ka, kb, ADDR_KEY);
	/* Every Unix peer is one source: the key no IP peer has. */
	memset(&other, 0, sizeof(other));
	other.ss_family = AF_UNIX;
	ck_assert(addr_key(SA(other), ka));
	ck_assert_mem_eq(ka, (uint8_t[ADDR_KEY]){ 0 }, ADDR_KEY);
	other.ss_family = AF_UNSPEC;
	ck_assert(!addr_key(SA(other), ka));
}
END_TEST

START_TEST(test_nets_match_by_prefix)
{
	struct addr_net nets[3];
	char why[128], text[ADDR_NET_TEXT];
	struct sockaddr_storage in, out, in6, unix_ss;

	ck_assert_int_eq(addr_parse_net("10.0.0.0/9", 10, &nets[0], why,
	    sizeof(why)), 0);
	ck_assert_int_eq(addr_parse_net("2001:db8::/33", 13, &nets[1], why,
	    sizeof(why)), 0);
	ck_assert_int_eq(addr_parse_net("192.0.2.7", 9, &nets[2], why,
	    sizeof(why)), 0);
	addr_net_text(&nets[0], text, sizeof(text));
	ck_assert_str_eq(text, "10.0.0.0/9");
	addr_net_text(&nets[1], text, sizeof(text));
	ck_assert_str_eq(text, "2001:db8::/33");
	addr_net_text(&nets[2], text, sizeof(text));
	ck_assert_str_eq(text, "192.0.2.7/32");
	in = v4("10.127.255.255", 1);
	out = v4("10.128.0.0", 1);
	ck_assert(addr_in_nets(SA(in), nets, 3));
	ck_assert(!addr_in_nets(SA(out), nets, 3));
	in6 = v6("2001:db8:7fff::1", 1);
	ck_assert(addr_in_nets(SA(in6), nets, 3));
	in6 = v6("2001:db8:8000::1", 1);
	ck_assert(!addr_in_nets(SA(in6), nets, 3));
	in = v4("192.0.2.7", 1);
	out = v4("192.0.2.6", 1);
	ck_assert(addr_in_nets(SA(in), nets, 3));
	ck_assert(!addr_in_nets(SA(out), nets, 3));
	/* No networks, nothing matches; a family without a key never does. */
	ck_assert(!addr_in_nets(SA(in), nets, 0));
	memset(&unix_ss, 0, sizeof(unix_ss));
	unix_ss.ss_family = AF_UNIX;
	ck_assert(!addr_in_nets(SA(unix_ss), nets, 3));
}
END_TEST

START_TEST(test_net_refuses)
{
	struct addr_net net;
	char why[128];

	ck_assert_int_eq(addr_parse_net("/8", 2, &net, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not an address");
	ck_assert_int_eq(addr_parse_net("10.0.0.0/33", 11, &net, why,
	    sizeof(why)), -1);
	ck_assert_str_eq(why, "prefix length must be 0 to 32");
	ck_assert_int_eq(addr_parse_net("::/129", 6, &net, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why, "prefix length must be 0 to 128");
	ck_assert_int_eq(addr_parse_net("::/", 3, &net, why, sizeof(why)), -1);
	ck_assert_int_eq(addr_parse_net("::/1x", 5, &net, why, sizeof(why)),
	    -1);
	ck_assert_int_eq(addr_parse_net("::/0008", 7, &net, why, sizeof(why)),
	    -1);
	ck_assert_int_eq(addr_parse_net("10.0.0.0.0", 10, &net, why,
	    sizeof(why)), -1);
	ck_assert_str_eq(why, "not a numeric IPv4 or IPv6 address");
	/* Only len bytes count: what follows is the next item of a list. */
	ck_assert_int_eq(addr_parse_net("10.0.0.1 junk", 8, &net, why,
	    sizeof(why)), 0);
}
END_TEST

START_TEST(test_text)
{
	struct sockaddr_storage a = v4("192.0.2.1", 80), b = v6("::1", 443);
	char buf[ADDR_TEXT];

	addr_text(SA(a), buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.1:80");
	addr_text(SA(b), buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:443");
	a.ss_family = AF_UNSPEC;
	addr_text(SA(a), buf, sizeof(buf));
	ck_assert_str_eq(buf, "?");
	ck_assert_uint_eq(addr_port(SA(a)), 0);
}
END_TEST

START_TEST(test_unix_addresses)
{
	struct addr a;
	char why[128], buf[ADDR_TEXT];
	const struct sockaddr_un *sun = (const void *)&a.ss;

	ck_assert_int_eq(addr_parse("unix:/run/pingpongd.sock", &a, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(a.text, "unix:/run/pingpongd.sock");
	ck_assert_int_eq(sun->sun_family, AF_UNIX);
	ck_assert_str_eq(sun->sun_path, "/run/pingpongd.sock");
	ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) +
	    strlen("/run/pingpongd.sock") + 1);
	addr_text(SA(a.ss), buf, sizeof(buf));
	ck_assert_str_eq(buf, "unix:/run/pingpongd.sock");
	ck_assert_uint_eq(addr_port(SA(a.ss)), 0);
	/* Abstract: a NUL first, the length says where the name ends. */
	ck_assert_int_eq(addr_parse("unix:@pingpong", &a, why, sizeof(why)), 0);
	ck_assert_str_eq(a.text, "unix:@pingpong");
	ck_assert_int_eq(sun->sun_path[0], '\0');
	ck_assert_mem_eq(sun->sun_path + 1, "pingpong", 8);
	ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) + 9);
	addr_text(SA(a.ss), buf, sizeof(buf));
	ck_assert_str_eq(buf, "unix:@pingpong");
}
END_TEST

START_TEST(test_unix_refusals)
{
	char path[ADDR_UNIX_PATH_MAX + 16], why[128];
	struct addr a;

	ck_assert_int_eq(addr_parse("unix:", &a, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "missing path after \"unix:\"");
	ck_assert_int_eq(addr_parse("unix:@", &a, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "missing path after \"unix:\"");
	ck_assert_int_eq(addr_parse("unix:run/x.sock", &a, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why, "a Unix socket is an absolute path"
	    " (unix:/run/x.sock) or an abstract name (unix:@name)");
	/* The longest path fits; one byte more does not. */
	memset(path, 'p', sizeof(path));
	memcpy(path, "unix:/", 6);
	path[5 + ADDR_UNIX_PATH_MAX] = '\0';
	ck_assert_int_eq(addr_parse(path, &a, why, sizeof(why)), 0);
	path[5 + ADDR_UNIX_PATH_MAX] = 'p';
	path[6 + ADDR_UNIX_PATH_MAX] = '\0';
	ck_assert_int_eq(addr_parse(path, &a, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "longer than 107 bytes after \"unix:\"");
}
END_TEST

START_TEST(test_unix_peers_trusted_by_unix_only)
{
	struct addr_net nets[2];
	struct sockaddr_storage peer, ip = v6("::", 0);
	char why[128], text[ADDR_NET_TEXT], buf[ADDR_TEXT];

	memset(&peer, 0, sizeof(peer));
	peer.ss_family = AF_UNIX;
	/* An unnamed peer has no name at all. */
	addr_text(SA(peer), buf, sizeof(buf));
	ck_assert_str_eq(buf, "unix");
	ck_assert_int_eq(addr_parse_net("::/0", 4, &nets[0], why, sizeof(why)),
	    0);
	ck_assert(!addr_in_nets(SA(peer), nets, 1));
	ck_assert_int_eq(addr_parse_net("unix", 4, &nets[1], why, sizeof(why)),
	    0);
	addr_net_text(&nets[1], text, sizeof(text));
	ck_assert_str_eq(text, "unix");
	ck_assert(addr_in_nets(SA(peer), nets, 2));
	/* And "unix" lets no IP peer in, not even ::. */
	ck_assert(!addr_in_nets(SA(ip), &nets[1], 1));
	ck_assert(addr_in_nets(SA(ip), nets, 2));
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("addresses");

	tcase_add_test(tc, test_parse_normalises);
	tcase_add_loop_test(tc, test_parse_refuses, 0,
	    sizeof(bad_listen) / sizeof(bad_listen[0]));
	tcase_add_test(tc, test_key_maps_ipv4_into_ipv6);
	tcase_add_test(tc, test_nets_match_by_prefix);
	tcase_add_test(tc, test_net_refuses);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_unix_addresses);
	tcase_add_test(tc, test_unix_refusals);
	tcase_add_test(tc, test_unix_peers_trusted_by_unix_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(addr_suite());
}
