/*
 * Connection buffers of one size, kept on a short free list so that a busy
 * connection does not go to malloc for every partial line.  Buffers of any
 * other size (left from before a reload changed max_line) go back to free().
 */
#ifndef PINGPONGD_BUFPOOL_H
#define PINGPONGD_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#define BUFPOOL_KEEP_BYTES (4u * 1024 * 1024)  /* most idle buffer memory kept */
#define BUFPOOL_KEEP_MAX 64u                    /* most idle buffers kept */

struct bufpool {
	void *free_list;                /* idle buffers, linked through their first bytes */
	uint32_t size;                  /* bytes of data per pooled buffer */
	uint32_t header;                /* bytes before the data in each buffer */
	uint32_t idle;                  /* buffers on free_list */
	uint32_t keep;                  /* most buffers kept on free_list */
	uint32_t out;                   /* buffers handed out and not yet returned */
	uint64_t freed;                 /* bytes given back to free() so far */
};

/* Pool buffers of header + size bytes. */
void bufpool_init(struct bufpool *p, uint32_t size, uint32_t header);

/* Free the idle buffers and pool `size`-byte buffers from now on. */
void bufpool_resize(struct bufpool *p, uint32_t size);

/* Free every idle buffer. */
void bufpool_destroy(struct bufpool *p);

/* A buffer of header + `size` bytes, or NULL when memory is exhausted. */
void *bufpool_get(struct bufpool *p, uint32_t size);
void bufpool_put(struct bufpool *p, void *buf, uint32_t size);

/*
 * buf, a buffer from bufpool_get(), with room for header + `to` bytes now
 * (its contents kept), or NULL when memory is exhausted (buf is then as it
 * was).
 */
void *bufpool_grow(struct bufpool *p, void *buf, uint32_t to);

#endif
