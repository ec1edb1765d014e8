#include "peers.h"

#include <stdlib.h>
#include <string.h>

#define PEERS_MIN_BUCKETS 64u

/* A keyed mix of the two halves; clients cannot aim at one chain. */
static uint32_t
peers_hash(const struct peers *p, const uint8_t key[ADDR_KEY])
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = p->seed ^ a;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= b;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

int
peers_init(struct peers *p, uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->free_head = PEERS_NONE;
	p->nbuckets = PEERS_MIN_BUCKETS;
	p->buckets = malloc(p->nbuckets * sizeof(*p->buckets));
	if (p->buckets == NULL)
		return -1;
	memset(p->buckets, 0xff, p->nbuckets * sizeof(*p->buckets));
	return 0;
}

void
peers_destroy(struct peers *p)
{
	free(p->entries);
	free(p->buckets);
	memset(p, 0, sizeof(*p));
}

static uint32_t
peers_find(const struct peers *p, const uint8_t key[ADDR_KEY],
    uint32_t bucket)
{
	uint32_t i;

	for (i = p->buckets[bucket]; i != PEERS_NONE; i = p->entries[i].pe_next)
		if (memcmp(p->entries[i].pe_addr, key, ADDR_KEY) == 0)
			return i;
	return PEERS_NONE;
}

/* Keep chains short: twice the buckets once they are all in use. */
static int
peers_grow_buckets(struct peers *p)
{
	uint32_t n = p->nbuckets * 2;
	uint32_t *b = malloc(n * sizeof(*b));

	if (b == NULL)
		return -1;
	memset(b, 0xff, n * sizeof(*b));
	/* Rehash every live entry; the free ones are not in any chain. */
	for (uint32_t i = 0; i < p->fresh; i++) {
		struct peer_entry *e = &p->entries[i];
		uint32_t h;

		if (e->pe_count == 0)
			continue;
		h = peers_hash(p, e->pe_addr) & (n - 1);
		e->pe_next = b[h];
		b[h] = i;
	}
	free(p->buckets);
	p->buckets = b;
	p->nbuckets = n;
	return 0;
}

static uint32_t
peers_new_entry(struct peers *p)
{
	uint32_t i;

	if (p->free_head != PEERS_NONE) {
		i = p->free_head;
		p->free_head = p->entries[i].pe_next;
		return i;
	}
	if (p->fresh == p->capacity) {
		uint32_t cap = p->capacity ? p->capacity * 2 : 64;
		struct peer_entry *e = realloc(p->entries, cap * sizeof(*e));

		if (e == NULL)
			return PEERS_NONE;
		p->entries = e;
		p->capacity = cap;
	}
	return p->fresh++;
}

uint32_t
peers_add(struct peers *p, const struct sockaddr *sa, uint32_t limit,
    int *nomem)
{
	uint8_t key[ADDR_KEY];
	uint32_t bucket, i;

	*nomem = 0;
	(void)addr_key(sa, key);
	bucket = peers_hash(p, key) & (p->nbuckets - 1);
	i = peers_find(p, key, bucket);
	if (i != PEERS_NONE) {
		if (limit != 0 && p->entries[i].pe_count >= limit)
			return PEERS_NONE;
		p->entries[i].pe_count++;
		return i;
	}
	if (p->used >= p->nbuckets && peers_grow_buckets(p) == 0)
		bucket = peers_hash(p, key) & (p->nbuckets - 1);
	i = peers_new_entry(p);
	if (i == PEERS_NONE) {
		*nomem = 1;
		return PEERS_NONE;
	}
	memcpy(p->entries[i].pe_addr, key, ADDR_KEY);
	p->entries[i].pe_count = 1;
	p->entries[i].pe_next = p->buckets[bucket];
	p->buckets[bucket] = i;
	p->used++;
	return i;
}

void
peers_remove(struct peers *p, uint32_t index)
{
	struct peer_entry *e = &p->entries[index];
	uint32_t bucket, *link;

	if (--e->pe_count > 0)
		return;
	bucket = peers_hash(p, e->pe_addr) & (p->nbuckets - 1);
	for (link = &p->buckets[bucket]; *link != index;
	    link = &p->entries[*link].pe_next)
		;
	*link = e->pe_next;
	e->pe_next = p->free_head;
	p->free_head = index;
	p->used--;
}

uint32_t
peers_count(const struct peers *p, const struct sockaddr *sa)
{
	uint8_t key[ADDR_KEY];
	uint32_t i;

	(void)addr_key(sa, key);
	i = peers_find(p, key, peers_hash(p, key) & (p->nbuckets - 1));
	return i == PEERS_NONE ? 0 : p->entries[i].pe_count;
}
