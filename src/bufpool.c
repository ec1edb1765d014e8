#include "bufpool.h"

#include <stdlib.h>
#include <string.h>

void
bufpool_init(struct bufpool *p, uint32_t size, uint32_t header)
{
	memset(p, 0, sizeof(*p));
	p->header = header;
	bufpool_resize(p, size);
}

void
bufpool_resize(struct bufpool *p, uint32_t size)
{
	bufpool_destroy(p);
	p->size = size;
	p->keep = BUFPOOL_KEEP_BYTES / size;
	if (p->keep > BUFPOOL_KEEP_MAX)
		p->keep = BUFPOOL_KEEP_MAX;
	if (p->keep == 0)
		p->keep = 1;
}

void
bufpool_destroy(struct bufpool *p)
{
	void *buf, *next;

	for (buf = p->free_list; buf != NULL; buf = next) {
		memcpy(&next, buf, sizeof(next));
		free(buf);
		p->freed += (uint64_t)p->header + p->size;
	}
	p->free_list = NULL;
	p->idle = 0;
}

void *
bufpool_get(struct bufpool *p, uint32_t size)
{
	void *buf;

	if (size == p->size && p->free_list != NULL) {
		buf = p->free_list;
		memcpy(&p->free_list, buf, sizeof(p->free_list));
		p->idle--;
	} else {
		/* Room for the free-list link even in a tiny buffer. */
		size_t bytes = (size_t)p->header + size;

		buf = malloc(bytes < sizeof(void *) ? sizeof(void *) : bytes);
		if (buf == NULL)
			return NULL;
	}
	p->out++;
	return buf;
}

void
bufpool_put(struct bufpool *p, void *buf, uint32_t size)
{
	p->out--;
	if (size != p->size || p->idle >= p->keep) {
		free(buf);
		p->freed += (uint64_t)p->header + size;
		return;
	}
	memcpy(buf, &p->free_list, sizeof(p->free_list));
	p->free_list = buf;
	p->idle++;
}

void *
bufpool_grow(struct bufpool *p, void *buf, uint32_t to)
{
	return realloc(buf, (size_t)p->header + to);
}
