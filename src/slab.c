#include "slab.h"

#include <stdlib.h>
#include <string.h>

int
slab_init(struct slab *s, size_t slot_size, uint32_t reserved,
    uint32_t capacity, uint32_t limit)
{
	memset(s, 0, sizeof(*s));
	/* A free slot stores the next free token in its first bytes. */
	if (slot_size < sizeof(uint32_t) || reserved >= capacity ||
	    capacity == SLAB_NONE)
		return -1;
	slot_size = (slot_size + 7) & ~(size_t)7;
	/* calloc maps large blocks lazily: untouched slots cost no memory. */
	s->slots = calloc(capacity, slot_size);
	if (s->slots == NULL)
		return -1;
	s->slot_size = slot_size;
	s->reserved = reserved;
	s->capacity = capacity;
	s->fresh = reserved;
	s->free_head = SLAB_NONE;
	slab_set_limit(s, limit);
	return 0;
}

void
slab_destroy(struct slab *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

uint32_t
slab_take(struct slab *s)
{
	uint32_t token;
	void *slot;

	if (s->used >= s->limit)
		return SLAB_NONE;
	if (s->free_head != SLAB_NONE) {
		token = s->free_head;
		slot = slab_get(s, token);
		memcpy(&s->free_head, slot, sizeof(s->free_head));
	} else {
		/* limit <= capacity - reserved keeps fresh inside the array. */
		token = s->fresh++;
		slot = slab_get(s, token);
	}
	memset(slot, 0, s->slot_size);
	s->used++;
	return token;
}

void
slab_give(struct slab *s, uint32_t token)
{
	memcpy(slab_get(s, token), &s->free_head, sizeof(s->free_head));
	s->free_head = token;
	s->used--;
}

void
slab_set_limit(struct slab *s, uint32_t limit)
{
	uint32_t room = s->capacity - s->reserved;

	s->limit = limit < room ? limit : room;
}
