/*
 * libev's memory.  libev keeps one record per descriptor and a few lists
 * in arrays that it grows by reallocation as connections arrive.  Grown
 * inside the heap, each step copies the array to a new place and leaves
 * the old copy behind as a hole that stays resident: at 10,000
 * connections that was 10 bytes per connection more than the records
 * themselves.  Here every array past EVMEM_MAP_MIN lives in a mapping of
 * its own and grows with mremap(2), which moves pages instead of copying
 * them and leaves nothing behind.
 */
#ifndef PINGPONGD_EVMEM_H
#define PINGPONGD_EVMEM_H

#define EVMEM_MAP_MIN (16 * 1024)       /* bytes from which an array gets its own mapping */

/*
 * realloc(3) as ev_set_allocator() wants it: size 0 frees.  NULL when
 * memory cannot be had, which libev treats as fatal.
 */
void *evmem_realloc(void *ptr, long size);

#endif
