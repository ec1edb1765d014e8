/*
 * What the C echo servers of make bench-peers share: the listening socket,
 * the echo of one read with what the kernel does not take kept aside, and
 * the way they fail.
 */
#ifndef PEER_H
#define PEER_H

#include <sys/types.h>

#define PEER_READ_SIZE (64 * 1024)      /* bytes asked of one read */
#define PEER_BACKLOG 511                /* pingpongd's default backlog */

/* Print "NAME: WHAT: strerror(errno)" and exit 2. */
void peer_die(const char *what) __attribute__((noreturn));

/*
 * A nonblocking socket listening on 127.0.0.1 port PORT (text; "0" for any
 * free port), once listening; prints "port N" on standard output, where
 * the benchmark script reads it.  Exits on usage or socket errors.
 */
int peer_listen(int argc, char **argv);

/* Echo the kernel has not taken yet; all zero while there is none. */
struct peer_kept {
	char *k_buf;                    /* the bytes, malloc'ed */
	size_t k_off;                   /* bytes of them written so far */
	size_t k_len;                   /* bytes in k_buf */
};

/*
 * Read once from the nonblocking FD into BUF (PEER_READ_SIZE bytes) and
 * write it back at once; what the kernel does not take goes into K.
 * Returns 1 when bytes were kept (wait to write, not to read), 0 when all
 * went back or there was nothing to read, -1 when the connection is over
 * (end of input or an error).
 */
int peer_echo(int fd, char *buf, struct peer_kept *k);

/*
 * Write more of K: 1 while some remains, 0 once all is gone (K is empty
 * again: wait to read), -1 on an error.
 */
int peer_flush(int fd, struct peer_kept *k);

/* Free what K holds. */
void peer_forget(struct peer_kept *k);

/* TCP_NODELAY on an accepted socket, as pingpongd and redis set it. */
void peer_tune(int fd);

#endif
