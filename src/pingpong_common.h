/*
 * What every part of the pingpong client shares: its exit statuses, its
 * defaults, and the clock every round trip is measured with.
 */
#ifndef PINGPONG_COMMON_H
#define PINGPONG_COMMON_H

#include <stdint.h>
#include <time.h>

#define PP_EXIT_OK 0            /* every line came back intact */
#define PP_EXIT_FAIL 1          /* a line was lost, late or corrupted */
#define PP_EXIT_ERROR 2         /* usage, resolution or connection error */

#define PP_DEFAULT_PORT "6567"
#define PP_ERROR_MAX 256        /* bytes of one error message */

#define PP_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Nanoseconds on the monotonic clock.  Through the vDSO this costs tens of
 * nanoseconds, which is why callers take one reading per batch of lines.
 */
static inline uint64_t
pp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
