/*
 * A process stream's journal in the agent: a ring of the bytes the host has
 * not acknowledged yet, addressed by absolute offset. It grows on demand
 * (doubling) up to its limit, so an idle process costs nothing and a busy
 * one at most `limit` bytes of the sandbox's own memory.
 */
#include "agent.h"

#include <stdlib.h>
#include <string.h>

int ring_init(struct ring *r, size_t limit)
{
	memset(r, 0, sizeof *r);
	r->limit = limit;
	return 0;
}

void ring_free(struct ring *r)
{
	free(r->data);
	r->data = NULL;
	r->cap = r->start = 0;
}

size_t ring_len(const struct ring *r)
{
	return (size_t)(r->head - r->acked);
}

/* Bytes that may still be read from the pipe before it must wait for an ACK. */
size_t ring_room(const struct ring *r)
{
	return r->limit - ring_len(r);
}

static int ring_grow(struct ring *r)
{
	size_t len = ring_len(r), ncap = r->cap ? r->cap * 2 : 64u * 1024u;
	uint8_t *nd;

	if (ncap > r->limit)
		ncap = r->limit;
	if (ncap <= r->cap || !(nd = malloc(ncap)))
		return -1;
	/* Linearized: [acked, head) lands at the start of the new buffer. */
	for (size_t i = 0; i < len; i++)
		nd[i] = r->data[(r->start + i) % r->cap];
	free(r->data);
	r->data = nd;
	r->cap = ncap;
	r->start = 0;
	return 0;
}

/* Contiguous free space at the tail (growing if needed), or NULL when full. */
uint8_t *ring_tail(struct ring *r, size_t *contig)
{
	size_t len = ring_len(r), w;

	if (len == r->cap && ring_grow(r) < 0)
		return NULL;
	w = (r->start + len) % r->cap;
	*contig = w >= r->start && len < r->cap ? r->cap - w : r->start - w;
	if (len == 0) {
		r->start = 0;
		w = 0;
		*contig = r->cap;
	}
	return r->data + w;
}

void ring_commit(struct ring *r, size_t n)
{
	r->head += n;
}

/* The contiguous run of bytes from `sent` on; 0 when all were sent. */
size_t ring_unsent(const struct ring *r, const uint8_t **p)
{
	size_t off, n;

	if (r->sent >= r->head)
		return 0;
	off = (size_t)(r->sent - r->acked);
	*p = r->data + (r->start + off) % r->cap;
	n = (size_t)(r->head - r->sent);
	if ((r->start + off) % r->cap + n > r->cap)
		n = r->cap - (r->start + off) % r->cap;
	return n;
}

/* The host holds everything below `off`: free it. Offsets outside [acked, sent] are clamped. */
void ring_ack(struct ring *r, uint64_t off)
{
	if (off > r->sent)
		off = r->sent;
	if (off <= r->acked)
		return;
	if (r->cap)
		r->start = (r->start + (size_t)(off - r->acked)) % r->cap;
	r->acked = off;
	if (r->acked == r->head && r->cap) {
		r->start = 0;
		/* An idle ring gives its memory back. */
		ring_free(r);
	}
}
