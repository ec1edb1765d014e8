/*
 * What every Check suite's main() does: run the suite, report it (as TAP
 * under make check, through CK_TAP_LOG_FILE_NAME), and exit non-zero when
 * any test failed.
 */
#ifndef PINGPONGD_UNIT_H
#define PINGPONGD_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int
unit_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
