/*
 * Figures that one thread writes and any thread may read while it runs:
 * each is a relaxed atomic, so a reader never tears a value and never
 * stops the writer.  Only the owner writes, so an increment is a load and
 * a store, not a read-modify-write: on x86-64 and arm64 both are plain
 * moves, with no locked instruction on the echo path.
 */
#ifndef PINGPONGD_COUNTER_H
#define PINGPONGD_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t counter_t;

/* By the owning thread only. */
static inline void
counter_add(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) +
	    n, memory_order_relaxed);
}

static inline void
counter_set(counter_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/* By any thread. */
static inline uint64_t
counter_get(const counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
