#include "evmem.h"

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Before every block: how it was had.  16 bytes, so that what libev gets
 * keeps malloc's alignment.
 */
struct evmem_head {
	size_t eh_mapped;               /* bytes of the mapping, 0: from malloc */
	size_t eh_pad;
};

static size_t
evmem_pages(size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page;
}

/* Bytes of the caller's data a block holds. */
static size_t
evmem_usable(const struct evmem_head *h)
{
	if (h->eh_mapped != 0)
		return h->eh_mapped - sizeof(*h);
	return malloc_usable_size((void *)h) - sizeof(*h);
}

void *
evmem_realloc(void *ptr, long size)
{
	struct evmem_head *h = ptr != NULL ? (struct evmem_head *)ptr - 1 : NULL;
	size_t want = (size_t)size + sizeof(struct evmem_head), len;
	void *p;

	if (size <= 0) {
		if (h != NULL && h->eh_mapped != 0)
			munmap(h, h->eh_mapped);
		else
			free(h);
		return NULL;
	}
	if (want < EVMEM_MAP_MIN && (h == NULL || h->eh_mapped == 0)) {
		h = realloc(h, want);
		if (h == NULL)
			return NULL;
		h->eh_mapped = 0;
		return h + 1;
	}
	len = evmem_pages(want);
	if (h != NULL && h->eh_mapped != 0) {
		/* Once mapped, an array stays mapped, shrinking or growing. */
		p = mremap(h, h->eh_mapped, len, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return NULL;
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		if (h != NULL) {
			memcpy((struct evmem_head *)p + 1, h + 1,
			    evmem_usable(h));
			free(h);
		}
	}
	h = p;
	h->eh_mapped = len;
	return h + 1;
}
