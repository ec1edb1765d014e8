#include "timeout.h"

#include <string.h>

/* Neighbours may sit unaligned inside a caller's record: copy, never cast. */
static struct timeout_link
timeout_link_get(const struct timeout_list *l, uint32_t token)
{
	struct timeout_link link;

	memcpy(&link, l->links + (size_t)token * l->stride, sizeof(link));
	return link;
}

static void
timeout_link_set(struct timeout_list *l, uint32_t token,
    struct timeout_link link)
{
	memcpy(l->links + (size_t)token * l->stride, &link, sizeof(link));
}

void
timeout_init(struct timeout_list *l, uint32_t *since_ms, void *links,
    size_t stride)
{
	l->head = l->tail = TIMEOUT_NONE;
	l->since_ms = since_ms;
	l->links = links;
	l->stride = stride;
}

void
timeout_append(struct timeout_list *l, uint32_t token, uint32_t now_ms)
{
	struct timeout_link tail;

	l->since_ms[token] = now_ms;
	timeout_link_set(l, token, (struct timeout_link){
	    .prev = l->tail, .next = TIMEOUT_NONE });
	if (l->tail != TIMEOUT_NONE) {
		tail = timeout_link_get(l, l->tail);
		tail.next = token;
		timeout_link_set(l, l->tail, tail);
	} else {
		l->head = token;
	}
	l->tail = token;
}

uint32_t
timeout_next(const struct timeout_list *l, uint32_t token)
{
	return timeout_link_get(l, token).next;
}

void
timeout_remove(struct timeout_list *l, uint32_t token)
{
	struct timeout_link self = timeout_link_get(l, token), other;

	if (self.prev != TIMEOUT_NONE) {
		other = timeout_link_get(l, self.prev);
		other.next = self.next;
		timeout_link_set(l, self.prev, other);
	} else {
		l->head = self.next;
	}
	if (self.next != TIMEOUT_NONE) {
		other = timeout_link_get(l, self.next);
		other.prev = self.prev;
		timeout_link_set(l, self.next, other);
	} else {
		l->tail = self.prev;
	}
}

void
timeout_touch(struct timeout_list *l, uint32_t token, uint32_t now_ms)
{
	/* The usual case on a busy connection: it is the newest already. */
	if (l->tail == token) {
		l->since_ms[token] = now_ms;
		return;
	}
	timeout_remove(l, token);
	timeout_append(l, token, now_ms);
}

uint32_t
timeout_age_ms(const struct timeout_list *l, uint32_t token, uint32_t now_ms)
{
	/* Unsigned: right across the wrap of the 32-bit clock too. */
	return now_ms - l->since_ms[token];
}

uint32_t
timeout_expired(const struct timeout_list *l, uint32_t now_ms,
    uint32_t timeout_ms)
{
	if (timeout_ms == 0 || l->head == TIMEOUT_NONE ||
	    timeout_age_ms(l, l->head, now_ms) < timeout_ms)
		return TIMEOUT_NONE;
	return l->head;
}

uint32_t
timeout_due_ms(const struct timeout_list *l, uint32_t now_ms,
    uint32_t timeout_ms)
{
	uint32_t age;

	if (timeout_ms == 0 || l->head == TIMEOUT_NONE)
		return TIMEOUT_NONE;
	age = timeout_age_ms(l, l->head, now_ms);
	return age >= timeout_ms ? 0 : timeout_ms - age;
}
