/* Check suite for the token slab: fill, exhaust, reuse, listener tokens. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "slab.h"
#include "unit.h"

#define RESERVED 3
#define CAPACITY 64

struct item {
	uint64_t payload[3];
};

static struct slab slab;

static void
setup(void)
{
	ck_assert_int_eq(slab_init(&slab, sizeof(struct item), RESERVED,
	    CAPACITY, CAPACITY - RESERVED), 0);
}

static void
teardown(void)
{
	slab_destroy(&slab);
}

START_TEST(test_first_token_follows_listeners)
{
	ck_assert_uint_eq(slab_take(&slab), RESERVED);
	ck_assert_uint_eq(slab_take(&slab), RESERVED + 1);
	ck_assert_uint_eq(slab.used, 2);
}
END_TEST

START_TEST(test_fill_and_exhaust)
{
	char seen[CAPACITY] = { 0 };
	uint32_t t;

	for (int i = 0; i < CAPACITY - RESERVED; i++) {
		t = slab_take(&slab);
		ck_assert_uint_ne(t, SLAB_NONE);
		/* Listener tokens are never handed out, nor any token twice. */
		ck_assert_uint_ge(t, RESERVED);
		ck_assert_uint_lt(t, CAPACITY);
		ck_assert_int_eq(seen[t], 0);
		seen[t] = 1;
	}
	ck_assert_uint_eq(slab_take(&slab), SLAB_NONE);
	ck_assert_uint_eq(slab.used, CAPACITY - RESERVED);
}
END_TEST

START_TEST(test_freed_token_reused_and_zeroed)
{
	uint32_t a = slab_take(&slab);
	uint32_t b = slab_take(&slab);
	struct item *it = slab_get(&slab, a);

	memset(it, 0xab, sizeof(*it));
	slab_give(&slab, a);
	ck_assert_uint_eq(slab.used, 1);
	ck_assert_uint_eq(slab_take(&slab), a);
	it = slab_get(&slab, a);
	ck_assert_uint_eq(it->payload[0], 0);
	ck_assert_uint_eq(it->payload[2], 0);
	ck_assert_uint_ne(a, b);
}
END_TEST

START_TEST(test_reuse_after_exhaustion)
{
	uint32_t t;

	while (slab_take(&slab) != SLAB_NONE)
		;
	slab_give(&slab, RESERVED + 7);
	slab_give(&slab, RESERVED + 2);
	/* Most recently freed first; O(1) either way. */
	ck_assert_uint_eq(slab_take(&slab), RESERVED + 2);
	ck_assert_uint_eq(slab_take(&slab), RESERVED + 7);
	t = slab_take(&slab);
	ck_assert_uint_eq(t, SLAB_NONE);
}
END_TEST

START_TEST(test_limit_lower_and_raise)
{
	uint32_t a, b, c;

	slab_set_limit(&slab, 2);
	a = slab_take(&slab);
	b = slab_take(&slab);
	ck_assert_uint_ne(a, SLAB_NONE);
	ck_assert_uint_ne(b, SLAB_NONE);
	ck_assert_uint_eq(slab_take(&slab), SLAB_NONE);
	/* Lowering below the count in use keeps them; new takes wait. */
	slab_set_limit(&slab, 1);
	ck_assert_uint_eq(slab_take(&slab), SLAB_NONE);
	slab_give(&slab, a);
	ck_assert_uint_eq(slab_take(&slab), SLAB_NONE);
	slab_set_limit(&slab, 3);
	c = slab_take(&slab);
	ck_assert_uint_ne(c, SLAB_NONE);
	ck_assert_uint_ne(slab_take(&slab), SLAB_NONE);
	ck_assert_uint_eq(slab_take(&slab), SLAB_NONE);
}
END_TEST

START_TEST(test_limit_capped_by_capacity)
{
	slab_set_limit(&slab, 1000000);
	ck_assert_uint_eq(slab.limit, CAPACITY - RESERVED);
}
END_TEST

START_TEST(test_token_of_slot_round_trips)
{
	uint32_t t = slab_take(&slab);

	ck_assert_uint_eq(slab_token(&slab, slab_get(&slab, t)), t);
	ck_assert_uint_eq(slab_token(&slab, slab_get(&slab, 0)), 0);
}
END_TEST

START_TEST(test_bad_sizes_rejected)
{
	struct slab s;

	ck_assert_int_eq(slab_init(&s, 8, 10, 10, 1), -1);
	ck_assert_int_eq(slab_init(&s, 2, 0, 10, 1), -1);
}
END_TEST

/* The daemon's slot: an idle connection costs this much and nothing else. */
START_TEST(test_slot_size)
{
	ck_assert_uint_eq(sizeof(struct conn), 11);
	ck_assert_uint_le(sizeof(struct slot), 64);
}
END_TEST

static Suite *
slab_suite(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = tcase_create("tokens");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_token_follows_listeners);
	tcase_add_test(tc, test_fill_and_exhaust);
	tcase_add_test(tc, test_freed_token_reused_and_zeroed);
	tcase_add_test(tc, test_reuse_after_exhaustion);
	tcase_add_test(tc, test_limit_lower_and_raise);
	tcase_add_test(tc, test_limit_capped_by_capacity);
	tcase_add_test(tc, test_token_of_slot_round_trips);
	tcase_add_test(tc, test_bad_sizes_rejected);
	tcase_add_test(tc, test_slot_size);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(slab_suite());
}
