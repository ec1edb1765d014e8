/*
 * Check suite for the ordered timed lists: order, touch, removal, expiry
 * and due times, with the neighbours in a plain array, inside bigger
 * per-token records (as the idle list keeps them in the slots), and two
 * lists sharing one set of arrays (as the line and PROXY lists do).
 */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeout.h"
#include "unit.h"

#define TOKENS 16

/* A record with its neighbours at an odd offset, as a slot holds them. */
struct record {
	char before[13];                /* bytes the list must never touch */
	unsigned char links[sizeof(struct timeout_link)];
	char after[11];
};

static uint32_t since[TOKENS], since2[TOKENS];
static struct timeout_link links[TOKENS];
static struct record records[TOKENS];

/* Every list a test runs on, each in one of the places neighbours live. */
enum place { IN_ARRAY, IN_RECORDS };

static void
init_list(struct timeout_list *l, enum place where)
{
	memset(records, 0x5a, sizeof(records));
	if (where == IN_ARRAY)
		timeout_init(l, since, links, sizeof(links[0]));
	else
		timeout_init(l, since, records[0].links, sizeof(records[0]));
}

/* The members from head to tail as letters (token 0 is 'a'), read both ways. */
static void
assert_order(const struct timeout_list *l, const char *want)
{
	char got[TOKENS + 1], back[TOKENS + 1];
	size_t n = 0, m = 0;
	uint32_t t;

	for (t = l->head; t != TIMEOUT_NONE && n < TOKENS; n++) {
		struct timeout_link link;

		got[n] = (char)('a' + t);
		memcpy(&link, l->links + (size_t)t * l->stride, sizeof(link));
		t = link.next;
	}
	got[n] = '\0';
	ck_assert_str_eq(got, want);
	for (t = l->tail; t != TIMEOUT_NONE && m < TOKENS; m++) {
		struct timeout_link link;

		back[m] = (char)('a' + t);
		memcpy(&link, l->links + (size_t)t * l->stride, sizeof(link));
		t = link.prev;
	}
	/* Read from the tail, reversed: the same order, or a link is wrong. */
	for (size_t i = 0; i < m / 2; i++) {
		char c = back[i];

		back[i] = back[m - 1 - i];
		back[m - 1 - i] = c;
	}
	back[m] = '\0';
	ck_assert_str_eq(back, want);
}

/* The record bytes around the neighbours were left alone. */
static void
assert_records_intact(void)
{
	for (size_t i = 0; i < TOKENS; i++)
		for (size_t j = 0; j < sizeof(records[i].before); j++) {
			ck_assert_int_eq(records[i].before[j], 0x5a);
			if (j < sizeof(records[i].after))
				ck_assert_int_eq(records[i].after[j], 0x5a);
		}
}

START_TEST(test_empty_list_has_nothing_due)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	ck_assert_uint_eq(l.head, TIMEOUT_NONE);
	ck_assert_uint_eq(timeout_due_ms(&l, 1000, 50), TIMEOUT_NONE);
	ck_assert_uint_eq(timeout_expired(&l, 1000, 50), TIMEOUT_NONE);
}
END_TEST

START_TEST(test_append_orders_by_time)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	timeout_append(&l, 3, 10);
	timeout_append(&l, 1, 20);
	timeout_append(&l, 7, 20);
	assert_order(&l, "dbh");
	ck_assert_uint_eq(timeout_age_ms(&l, 3, 35), 25);
	ck_assert_uint_eq(timeout_age_ms(&l, 7, 35), 15);
	assert_records_intact();
}
END_TEST

START_TEST(test_touch_moves_to_tail)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	timeout_append(&l, 0, 0);
	timeout_append(&l, 1, 5);
	timeout_append(&l, 2, 6);
	timeout_touch(&l, 0, 9);        /* the head */
	assert_order(&l, "bca");
	timeout_touch(&l, 2, 10);       /* the middle */
	assert_order(&l, "bac");
	timeout_touch(&l, 2, 12);       /* the tail: stays, with the new time */
	assert_order(&l, "bac");
	ck_assert_uint_eq(timeout_age_ms(&l, 2, 12), 0);
	ck_assert_uint_eq(timeout_age_ms(&l, 0, 12), 3);
	assert_records_intact();
}
END_TEST

START_TEST(test_remove_head_middle_tail_and_last)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	for (uint32_t t = 0; t < 5; t++)
		timeout_append(&l, t, t);
	timeout_remove(&l, 2);
	assert_order(&l, "abde");
	timeout_remove(&l, 0);
	assert_order(&l, "bde");
	timeout_remove(&l, 4);
	assert_order(&l, "bd");
	timeout_remove(&l, 1);
	timeout_remove(&l, 3);
	ck_assert_uint_eq(l.head, TIMEOUT_NONE);
	ck_assert_uint_eq(l.tail, TIMEOUT_NONE);
	/* An emptied list takes members again. */
	timeout_append(&l, 9, 50);
	assert_order(&l, "j");
	assert_records_intact();
}
END_TEST

START_TEST(test_due_and_expired)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	timeout_append(&l, 4, 100);
	timeout_append(&l, 5, 130);
	ck_assert_uint_eq(timeout_due_ms(&l, 100, 50), 50);
	ck_assert_uint_eq(timeout_due_ms(&l, 120, 50), 30);
	ck_assert_uint_eq(timeout_expired(&l, 149, 50), TIMEOUT_NONE);
	ck_assert_uint_eq(timeout_expired(&l, 150, 50), 4);
	ck_assert_uint_eq(timeout_due_ms(&l, 150, 50), 0);
	ck_assert_uint_eq(timeout_due_ms(&l, 400, 50), 0);
	/* 0 is "never". */
	ck_assert_uint_eq(timeout_due_ms(&l, 400, 0), TIMEOUT_NONE);
	ck_assert_uint_eq(timeout_expired(&l, 400, 0), TIMEOUT_NONE);
	/* The head gone, the next one's time counts. */
	timeout_remove(&l, 4);
	ck_assert_uint_eq(timeout_due_ms(&l, 150, 50), 30);
	ck_assert_uint_eq(timeout_expired(&l, 180, 50), 5);
}
END_TEST

START_TEST(test_clock_wraps)
{
	struct timeout_list l;

	init_list(&l, (enum place)_i);
	timeout_append(&l, 1, UINT32_MAX - 9);
	ck_assert_uint_eq(timeout_age_ms(&l, 1, 10), 20);
	ck_assert_uint_eq(timeout_due_ms(&l, 10, 50), 30);
	ck_assert_uint_eq(timeout_expired(&l, 40, 50), 1);
}
END_TEST

START_TEST(test_two_lists_share_arrays)
{
	struct timeout_list line, proxy;

	/* No token is on both at once; each keeps its own order and ends. */
	timeout_init(&line, since2, links, sizeof(links[0]));
	timeout_init(&proxy, since2, links, sizeof(links[0]));
	timeout_append(&line, 1, 10);
	timeout_append(&proxy, 2, 11);
	timeout_append(&line, 3, 12);
	timeout_append(&proxy, 4, 13);
	assert_order(&line, "bd");
	assert_order(&proxy, "ce");
	/* A member leaves one list and joins the other. */
	timeout_remove(&proxy, 2);
	timeout_append(&line, 2, 20);
	assert_order(&line, "bdc");
	assert_order(&proxy, "e");
	ck_assert_uint_eq(timeout_expired(&proxy, 20, 7), 4);
	ck_assert_uint_eq(timeout_expired(&line, 20, 7), 1);
}
END_TEST

static Suite *
timeout_suite(void)
{
	Suite *s = suite_create("timeout");
	TCase *tc = tcase_create("lists");

	/* Each list test runs twice: neighbours in an array, then in records. */
	tcase_add_loop_test(tc, test_empty_list_has_nothing_due, IN_ARRAY,
	    IN_RECORDS + 1);
	tcase_add_loop_test(tc, test_append_orders_by_time, IN_ARRAY,
	    IN_RECORDS + 1);
	tcase_add_loop_test(tc, test_touch_moves_to_tail, IN_ARRAY,
	    IN_RECORDS + 1);
	tcase_add_loop_test(tc, test_remove_head_middle_tail_and_last, IN_ARRAY,
	    IN_RECORDS + 1);
	tcase_add_loop_test(tc, test_due_and_expired, IN_ARRAY, IN_RECORDS + 1);
	tcase_add_loop_test(tc, test_clock_wraps, IN_ARRAY, IN_RECORDS + 1);
	tcase_add_test(tc, test_two_lists_share_arrays);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(timeout_suite());
}
