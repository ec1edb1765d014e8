/*
 * Check suite for libev's allocator: contents survive every growth and
 * shrink, across the step from the heap into a mapping, and size 0 frees.
 * (Leaks and stray writes show under the sanitizer and valgrind runs.)
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "evmem.h"
#include "unit.h"

/* Fill n bytes with a pattern that depends on the offset. */
static void
fill(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = (unsigned char)(i * 131 + 7);
}

/* One assertion for the whole range, so that megabytes check quickly. */
static void
assert_filled(const unsigned char *p, size_t n)
{
	size_t bad = n;

	for (size_t i = 0; i < n && bad == n; i++)
		if (p[i] != (unsigned char)(i * 131 + 7))
			bad = i;
	ck_assert_msg(bad == n, "byte %zu of %zu changed", bad, n);
}

START_TEST(test_grows_across_the_threshold)
{
	/* The sizes libev's arrays take as descriptors grow, and beyond. */
	static const size_t sizes[] = {
		64, 4000, EVMEM_MAP_MIN - 32, EVMEM_MAP_MIN, 100000, 1 << 20,
		3 << 20,
	};
	unsigned char *p = NULL;
	size_t have = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = evmem_realloc(p, (long)sizes[i]);
		ck_assert_ptr_nonnull(p);
		assert_filled(p, have);
		fill(p, have, sizes[i]);
		have = sizes[i];
	}
	/* Shrinking keeps the front. */
	p = evmem_realloc(p, 5000);
	ck_assert_ptr_nonnull(p);
	assert_filled(p, 5000);
	p = evmem_realloc(p, 200000);
	ck_assert_ptr_nonnull(p);
	assert_filled(p, 5000);
	ck_assert_ptr_null(evmem_realloc(p, 0));
}
END_TEST

START_TEST(test_alignment_and_free)
{
	void *small = evmem_realloc(NULL, 24);
	void *big = evmem_realloc(NULL, 1 << 16);

	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq((uintptr_t)small % 16, 0);
	ck_assert_uint_eq((uintptr_t)big % 16, 0);
	memset(small, 1, 24);
	memset(big, 2, 1 << 16);
	ck_assert_ptr_null(evmem_realloc(small, 0));
	ck_assert_ptr_null(evmem_realloc(big, 0));
	ck_assert_ptr_null(evmem_realloc(NULL, 0));
}
END_TEST

static Suite *
evmem_suite(void)
{
	Suite *s = suite_create("evmem");
	TCase *tc = tcase_create("allocator");

	tcase_add_test(tc, test_grows_across_the_threshold);
	tcase_add_test(tc, test_alignment_and_free);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(evmem_suite());
}
