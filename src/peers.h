/*
 * Open connections counted per source address, for max_per_ip.  A table of
 * entries keyed by the address key (addr_key: IPv4 mapped into IPv6) with
 * separate chaining; an entry lives while at least one connection from its
 * address is open, and its index stays valid for that whole time, so a
 * connection keeps the index instead of the address.
 *
 * Pure: the caller hands in the hash seed.
 */
#ifndef PINGPONGD_PEERS_H
#define PINGPONGD_PEERS_H

#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"

#define PEERS_NONE UINT32_MAX           /* no entry */

struct peer_entry {
	uint8_t pe_addr[ADDR_KEY];      /* source address key (addr_key) */
	uint32_t pe_count;              /* open connections from it, > 0 when in use */
	uint32_t pe_next;               /* next entry in the bucket or the free list */
};

struct peers {
	struct peer_entry *entries;     /* grows by doubling; indices never change */
	uint32_t *buckets;              /* heads of the chains, PEERS_NONE when empty */
	uint32_t nbuckets;              /* a power of two */
	uint32_t capacity;              /* entries allocated */
	uint32_t fresh;                 /* lowest entry never used */
	uint32_t free_head;             /* entries given back, PEERS_NONE when none */
	uint32_t used;                  /* entries in use: distinct addresses */
	uint64_t seed;                  /* keeps chain lengths unpredictable to clients */
};

int peers_init(struct peers *p, uint64_t seed);
void peers_destroy(struct peers *p);

/*
 * Count one more connection from sa unless `limit` (0 = none) are already
 * open from it.  Returns the entry's index, or PEERS_NONE when the limit is
 * reached; *nomem is set when the table could not grow.
 */
uint32_t peers_add(struct peers *p, const struct sockaddr *sa, uint32_t limit,
    int *nomem);

/* One connection counted under index closed. */
void peers_remove(struct peers *p, uint32_t index);

/* Open connections from sa. */
uint32_t peers_count(const struct peers *p, const struct sockaddr *sa);

#endif
