#include "pingpong_hist.h"

#include <math.h>
#include <string.h>

void
pp_hist_init(struct pp_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->h_min = UINT64_MAX;
}

void
pp_hist_merge(struct pp_hist *dst, const struct pp_hist *src)
{
	for (uint32_t i = 0; i < PP_HIST_BUCKETS; i++)
		dst->h_count[i] += src->h_count[i];
	dst->h_total += src->h_total;
	dst->h_sum += src->h_sum;
	if (src->h_min < dst->h_min)
		dst->h_min = src->h_min;
	if (src->h_max > dst->h_max)
		dst->h_max = src->h_max;
}

/* The highest value that lands in bucket index. */
static uint64_t
bucket_top(uint32_t index)
{
	unsigned shift;
	uint64_t mantissa;

	if (index < PP_HIST_SUB)
		return index;
	shift = index / PP_HIST_HALF - 1;
	mantissa = index - (uint64_t)shift * PP_HIST_HALF;
	return ((mantissa + 1) << shift) - 1;
}

uint64_t
pp_hist_percentile(const struct pp_hist *h, double pct)
{
	uint64_t want, seen = 0;

	if (h->h_total == 0)
		return 0;
	want = (uint64_t)ceil((double)h->h_total * pct / 100.0);
	if (want < 1)
		want = 1;
	if (want >= h->h_total)
		return h->h_max;
	for (uint32_t i = 0; i < PP_HIST_BUCKETS; i++) {
		seen += h->h_count[i];
		if (seen >= want) {
			uint64_t top = bucket_top(i);

			return top < h->h_max ? top : h->h_max;
		}
	}
	return h->h_max;
}
