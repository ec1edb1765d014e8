/*
 * Ordered timed lists, the strategy ev(3) calls "Be smart about timeouts":
 * every member of a list was appended at a time no earlier than the one
 * before it, so the oldest is always the head, a member that makes
 * progress moves to the tail in O(1), and one timer waiting for the head
 * serves the whole list.  The idle list holds every connection, least
 * recently active first; the line list holds those with a partial line,
 * oldest first.
 *
 * Pure: tokens and milliseconds in, tokens and milliseconds out.  The
 * caller owns the clock and the timer; timeout_due_ms() says when to arm
 * it.
 *
 * A member's neighbours live wherever the caller puts them: `links` is the
 * first token's, and each next token's are `stride` bytes further on.  A
 * plain array of struct timeout_link has stride sizeof(struct timeout_link);
 * neighbours kept inside bigger per-token records (such as a connection's
 * slot) have the record's size.  Two lists may share arrays as long as no
 * token is on both at once.
 */
#ifndef PINGPONGD_TIMEOUT_H
#define PINGPONGD_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEOUT_NONE UINT32_MAX         /* no token; nothing due */

/* A member's neighbours. */
struct timeout_link {
	uint32_t prev;                  /* older neighbour, TIMEOUT_NONE at the head */
	uint32_t next;                  /* newer neighbour, TIMEOUT_NONE at the tail */
};

struct timeout_list {
	uint32_t head;                  /* oldest member, TIMEOUT_NONE when empty */
	uint32_t tail;                  /* newest member */
	uint32_t *since_ms;             /* by token: when it was appended, ms */
	unsigned char *links;           /* the first token's struct timeout_link */
	size_t stride;                  /* bytes from one token's links to the next */
};

/* An empty list over the caller's arrays. */
void timeout_init(struct timeout_list *l, uint32_t *since_ms, void *links,
    size_t stride);

/* Make token the newest member, at now_ms (no earlier than the tail's). */
void timeout_append(struct timeout_list *l, uint32_t token, uint32_t now_ms);

/* Take a member off the list. */
void timeout_remove(struct timeout_list *l, uint32_t token);

/* The member after token, newer, or TIMEOUT_NONE: to walk the list. */
uint32_t timeout_next(const struct timeout_list *l, uint32_t token);

/* A member made progress at now_ms: it becomes the newest. */
void timeout_touch(struct timeout_list *l, uint32_t token, uint32_t now_ms);

/* ms since the member was appended or touched. */
uint32_t timeout_age_ms(const struct timeout_list *l, uint32_t token,
    uint32_t now_ms);

/*
 * The oldest member when it has been on the list for timeout_ms or more,
 * else TIMEOUT_NONE (also for an empty list or a timeout of 0, "never").
 */
uint32_t timeout_expired(const struct timeout_list *l, uint32_t now_ms,
    uint32_t timeout_ms);

/*
 * ms from now_ms until the oldest member reaches timeout_ms (0 when it
 * already has), or TIMEOUT_NONE when nothing will: an empty list or a
 * timeout of 0.
 */
uint32_t timeout_due_ms(const struct timeout_list *l, uint32_t now_ms,
    uint32_t timeout_ms);

#endif
