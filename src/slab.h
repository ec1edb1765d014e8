/*
 * Token-indexed slots, as in the seed's Slab: a token names a slot for its
 * whole life, a freed token is handed out again, and the first `reserved`
 * tokens belong to the listeners (token 0 is the first listener, the seed's
 * SERVER = Token(0)) and are never handed out.
 *
 * The slot array is allocated once for the largest limit the configuration
 * allows and never moves, because libev forbids moving an active watcher.
 * Slots are touched only when first taken, so untouched capacity costs
 * address space, not memory.
 */
#ifndef PINGPONGD_SLAB_H
#define PINGPONGD_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define SLAB_NONE UINT32_MAX            /* no token */

struct slab {
	unsigned char *slots;           /* capacity * slot_size bytes, never moved */
	size_t slot_size;               /* bytes per slot, a multiple of 8 */
	uint32_t reserved;              /* tokens [0, reserved) are the listeners' */
	uint32_t capacity;              /* tokens in all, reserved ones included */
	uint32_t limit;                 /* connection tokens allowed in use at once */
	uint32_t used;                  /* connection tokens in use */
	uint32_t fresh;                 /* lowest token never handed out yet */
	uint32_t free_head;             /* last token given back, or SLAB_NONE */
};

/*
 * Reserve `capacity` slots of slot_size bytes, the first `reserved` of them
 * for listeners, and allow `limit` connection tokens at once.  Returns 0,
 * or -1 when the memory cannot be had or the sizes make no sense.
 */
int slab_init(struct slab *s, size_t slot_size, uint32_t reserved,
    uint32_t capacity, uint32_t limit);
void slab_destroy(struct slab *s);

/* A zeroed slot's token, or SLAB_NONE when `limit` tokens are in use. */
uint32_t slab_take(struct slab *s);

/* Give a taken connection token back; it will be handed out again. */
void slab_give(struct slab *s, uint32_t token);

/* Change how many connection tokens may be in use; those above stay. */
void slab_set_limit(struct slab *s, uint32_t limit);

static inline void *
slab_get(const struct slab *s, uint32_t token)
{
	return s->slots + (size_t)token * s->slot_size;
}

static inline uint32_t
slab_token(const struct slab *s, const void *slot)
{
	return (uint32_t)(((const unsigned char *)slot - s->slots) / s->slot_size);
}

#endif
