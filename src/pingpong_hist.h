/*
 * A latency histogram in nanoseconds with log-linear buckets, in the manner
 * of HdrHistogram: exact below 1024 ns, then 512 buckets per power of two,
 * so any value is known within 0.2% up to 2^40 ns (about 18 minutes); the
 * rare value beyond lands in the last bucket.  Recording is an index
 * computation and an increment: nothing is allocated per line, and
 * histograms kept per thread merge by adding their buckets.
 */
#ifndef PINGPONG_HIST_H
#define PINGPONG_HIST_H

#include <stdint.h>

#define PP_HIST_SUB_BITS 10
#define PP_HIST_SUB (1u << PP_HIST_SUB_BITS)    /* exact values, ns */
#define PP_HIST_HALF (PP_HIST_SUB / 2)          /* buckets per power of two */
#define PP_HIST_TOP_BIT 39                      /* highest bit tracked */
#define PP_HIST_BUCKETS \
	((PP_HIST_TOP_BIT - PP_HIST_SUB_BITS + 2) * PP_HIST_HALF + PP_HIST_HALF)

struct pp_hist {
	uint64_t h_count[PP_HIST_BUCKETS]; /* values per bucket */
	uint64_t h_total;               /* values recorded */
	uint64_t h_sum;                 /* their sum, ns */
	uint64_t h_min;                 /* smallest, ns (UINT64_MAX when none) */
	uint64_t h_max;                 /* largest, ns */
};

static inline uint32_t
pp_hist_index(uint64_t ns)
{
	unsigned shift;
	uint64_t index;

	if (ns < PP_HIST_SUB)
		return (uint32_t)ns;
	/* Keep the top PP_HIST_SUB_BITS - 1 bits below the leading one. */
	shift = (unsigned)(63 - __builtin_clzll(ns)) - (PP_HIST_SUB_BITS - 1);
	index = (uint64_t)shift * PP_HIST_HALF + (ns >> shift);
	return index < PP_HIST_BUCKETS ? (uint32_t)index : PP_HIST_BUCKETS - 1;
}

static inline void
pp_hist_record(struct pp_hist *h, uint64_t ns)
{
	h->h_count[pp_hist_index(ns)]++;
	h->h_total++;
	h->h_sum += ns;
	if (ns < h->h_min)
		h->h_min = ns;
	if (ns > h->h_max)
		h->h_max = ns;
}

void pp_hist_init(struct pp_hist *h);

/* Add the values of src into dst. */
void pp_hist_merge(struct pp_hist *dst, const struct pp_hist *src);

/*
 * The value at percentile pct (0 < pct <= 100): the highest value of the
 * bucket holding it, never above the largest value recorded; 0 when the
 * histogram is empty.
 */
uint64_t pp_hist_percentile(const struct pp_hist *h, double pct);

#endif
