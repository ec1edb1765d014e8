/* Check suite for the per-address connection counts behind max_per_ip. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "unit.h"

static struct peers peers;

static void
setup(void)
{
	ck_assert_int_eq(peers_init(&peers, 0x1234), 0);
}

static void
teardown(void)
{
	peers_destroy(&peers);
}

static struct sockaddr_storage
v4(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, text, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

START_TEST(test_limit_per_address)
{
	struct sockaddr_storage a = v4("127.0.0.2", 1000);
	struct sockaddr_storage a2 = v4("127.0.0.2", 2000);
	struct sockaddr_storage b = v4("127.0.0.3", 1000);
	uint32_t i1, i2;
	int nomem;

	i1 = peers_add(&peers, SA(a), 2, &nomem);
	ck_assert_uint_ne(i1, PEERS_NONE);
	/* The port does not matter: same address, same count. */
	i2 = peers_add(&peers, SA(a2), 2, &nomem);
	ck_assert_uint_eq(i2, i1);
	ck_assert_uint_eq(peers_add(&peers, SA(a), 2, &nomem), PEERS_NONE);
	ck_assert_int_eq(nomem, 0);
	ck_assert_uint_eq(peers_count(&peers, SA(a)), 2);
	/* Another address has its own count. */
	ck_assert_uint_ne(peers_add(&peers, SA(b), 2, &nomem), PEERS_NONE);
	ck_assert_uint_eq(peers_count(&peers, SA(b)), 1);
	peers_remove(&peers, i1);
	ck_assert_uint_eq(peers_count(&peers, SA(a)), 1);
	ck_assert_uint_ne(peers_add(&peers, SA(a), 2, &nomem), PEERS_NONE);
}
END_TEST

START_TEST(test_zero_is_unlimited)
{
	struct sockaddr_storage a = v4("10.0.0.1", 1);
	int nomem;

	for (int i = 0; i < 1000; i++)
		ck_assert_uint_ne(peers_add(&peers, SA(a), 0, &nomem), PEERS_NONE);
	ck_assert_uint_eq(peers_count(&peers, SA(a)), 1000);
	ck_assert_uint_eq(peers.used, 1);
}
END_TEST

START_TEST(test_entry_freed_and_reused)
{
	struct sockaddr_storage a = v4("192.0.2.1", 1);
	struct sockaddr_storage b = v4("192.0.2.2", 1);
	uint32_t ia, ib;
	int nomem;

	ia = peers_add(&peers, SA(a), 0, &nomem);
	peers_remove(&peers, ia);
	ck_assert_uint_eq(peers.used, 0);
	ck_assert_uint_eq(peers_count(&peers, SA(a)), 0);
	ib = peers_add(&peers, SA(b), 0, &nomem);
	ck_assert_uint_eq(ib, ia);
	ck_assert_uint_eq(peers_count(&peers, SA(a)), 0);
	ck_assert_uint_eq(peers_count(&peers, SA(b)), 1);
}
END_TEST

START_TEST(test_ipv4_and_ipv6_kept_apart)
{
	struct sockaddr_storage a = v4("127.0.0.1", 1);
	struct sockaddr_storage l6 = v6("::1");
	struct sockaddr_storage mapped = v6("::ffff:127.0.0.1");
	int nomem;

	ck_assert_uint_ne(peers_add(&peers, SA(a), 1, &nomem), PEERS_NONE);
	ck_assert_uint_ne(peers_add(&peers, SA(l6), 1, &nomem), PEERS_NONE);
	/* An IPv4-mapped IPv6 address is the same client as its IPv4 form. */
	ck_assert_uint_eq(peers_add(&peers, SA(mapped), 1, &nomem), PEERS_NONE);
	ck_assert_uint_eq(peers.used, 2);
}
END_TEST

/* Many addresses force the buckets to grow; every count survives it. */
START_TEST(test_many_addresses_grow_and_shrink)
{
	enum { N = 5000 };
	static uint32_t index[N];
	struct sockaddr_storage ss;
	int nomem;

	for (uint32_t i = 0; i < N; i++) {
		char text[32];

		snprintf(text, sizeof(text), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		ss = v4(text, 1);
		index[i] = peers_add(&peers, SA(ss), 1, &nomem);
		ck_assert_uint_ne(index[i], PEERS_NONE);
		ck_assert_uint_eq(peers_add(&peers, SA(ss), 1, &nomem), PEERS_NONE);
	}
	ck_assert_uint_eq(peers.used, N);
	ck_assert_uint_ge(peers.nbuckets, N);
	for (uint32_t i = 0; i < N; i += 2)
		peers_remove(&peers, index[i]);
	ck_assert_uint_eq(peers.used, N / 2);
	for (uint32_t i = 0; i < N; i++) {
		char text[32];

		snprintf(text, sizeof(text), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		ss = v4(text, 1);
		ck_assert_uint_eq(peers_count(&peers, SA(ss)), i % 2);
	}
}
END_TEST

static Suite *
peers_suite(void)
{
	Suite *s = suite_create("peers");
	TCase *tc = tcase_create("counts");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_limit_per_address);
	tcase_add_test(tc, test_zero_is_unlimited);
	tcase_add_test(tc, test_entry_freed_and_reused);
	tcase_add_test(tc, test_ipv4_and_ipv6_kept_apart);
	tcase_add_test(tc, test_many_addresses_grow_and_shrink);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(peers_suite());
}
