/*
 * The agent's process registry. Processes belong to the agent, not to a
 * host connection: each has an id (chosen by the host, unique in the
 * sandbox) and an optional tag, and stays listed after it ended, with its
 * exit status, until the host forgets it or it is among the oldest ended
 * ones beyond PROCS_EXITED_KEEP. A host reads a process's output through a
 * subscription: the EXEC channel is the first one; after a RESET the new
 * host lists the registry and subscribes again from the offsets it holds.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int rd_u64(struct rd *r, uint64_t *v)
{
	if (r->left < 8)
		return -1;
	*v = get_u64(r->p);
	r->p += 8;
	r->left -= 8;
	return 0;
}

struct proc *proc_find(uint32_t chan)
{
	if (chan == 0)
		return NULL;
	for (struct proc *p = A.procs; p; p = p->next)
		if (p->chan == chan)
			return p;
	return NULL;
}

struct proc *proc_find_id(const char *id)
{
	for (struct proc *p = A.procs; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * The EXEC trailer (PROTOCOL.md): id\0 tag\0 u32 ring_bytes u32 cols u32
 * rows. An EXEC without one gets an id of its own and the default ring.
 * Returns 0, or an errno with nothing sent.
 */
int proc_trailer(struct rd *r, struct proc *p, uint32_t *ring_bytes)
{
	const char *id, *tag;
	uint32_t cols = 80, rows = 24;

	*ring_bytes = RING_DEFAULT;
	if (!r->left) {
		snprintf(p->id, sizeof p->id, "p%llu", (unsigned long long)(A.proc_seq + 1));
		return proc_find_id(p->id) ? EEXIST : 0;
	}
	if (!(id = rd_str(r)) || !(tag = rd_str(r)) || rd_u32(r, ring_bytes) < 0 || rd_u32(r, &cols) < 0 ||
	    rd_u32(r, &rows) < 0 || !id[0] || copy_str(p->id, sizeof p->id, id) < 0 ||
	    copy_str(p->tag, sizeof p->tag, tag) < 0 || cols > 0xffff || rows > 0xffff)
		return EINVAL;
	if (*ring_bytes < RING_MIN)
		*ring_bytes = RING_MIN;
	if (*ring_bytes > RING_MAX)
		*ring_bytes = RING_MAX;
	p->cols = (uint16_t)(cols ? cols : 80);
	p->rows = (uint16_t)(rows ? rows : 24);
	return proc_find_id(p->id) ? EEXIST : 0;
}

/* SUBSCRIBED: pid, where each stream starts, which streams lost bytes the host asked for. */
void proc_send_subscribed(struct proc *p)
{
	uint8_t b[24];
	uint32_t gaps = 0;

	p->sub_pending = 0;
	for (int s = 0; s < 2; s++) {
		struct ring *r = &p->ring[s];
		uint64_t from = p->sub_from[s];
		if (from < r->acked) {
			gaps |= 1u << s; /* freed already: it was acknowledged by an earlier host */
			from = r->acked;
		}
		if (from > r->head)
			from = r->head;
		r->sent = from;
		ring_ack(r, from); /* the host holds what lies before */
		put_u64(b + 4 + 8 * s, from);
	}
	put_u32(b, (uint32_t)p->pid);
	put_u32(b + 20, gaps);
	send_frame(T_SUBSCRIBED, p->chan, b, sizeof b);
}

void proc_subscribe(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	const char *id = rd_str(&r);
	uint64_t from[2];
	struct proc *p;

	if (!id || rd_u64(&r, &from[0]) < 0 || rd_u64(&r, &from[1]) < 0) {
		send_error(chan, EINVAL, "malformed SUBSCRIBE");
		return;
	}
	if (!(p = proc_find_id(id))) {
		send_error(chan, ENOENT, "no process '%.64s'", id);
		return;
	}
	if (p->chan) {
		send_error(chan, EBUSY, "process '%.64s' already has a subscriber", id);
		return;
	}
	p->sub_from[0] = from[0];
	p->sub_from[1] = from[1];
	p->chan = chan;
	if (p->ep_fd >= 0) {
		p->sub_pending = 1; /* answered when its start resolves (spawn.c) */
		return;
	}
	proc_send_subscribed(p);
	if (p->done) {
		/* Ended and delivered before: only the exit status is left to say. */
		uint8_t b[8];
		int code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
		put_u32(b, (uint32_t)code);
		put_u32(b + 4, WIFSIGNALED(p->status) ? (uint32_t)WTERMSIG(p->status) : 0);
		send_frame(T_EXITED, chan, b, 8);
		p->chan = 0;
	}
}

/* ACK: u64 stdout offset, u64 stderr offset the host now holds. */
void proc_ack(struct proc *p, const uint8_t *d, size_t n)
{
	if (n < 16)
		return;
	ring_ack(&p->ring[0], get_u64(d));
	ring_ack(&p->ring[1], get_u64(d + 8));
}

void send_ok(uint32_t chan, uint64_t v)
{
	uint8_t b[8];
	put_u64(b, v);
	send_frame(T_OK, chan, b, 8);
}

void proc_forget(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	const char *id = rd_str(&r);
	struct proc *p;

	if (!id) {
		send_error(chan, EINVAL, "malformed FORGET");
		return;
	}
	if (!(p = proc_find_id(id))) {
		send_error(chan, ENOENT, "no process '%.64s'", id);
		return;
	}
	if (!p->done) {
		send_error(chan, EBUSY, "process '%.64s' has not ended", id);
		return;
	}
	proc_unlink(p);
	proc_free(p);
	send_ok(chan, 0);
}

/* Forgets the oldest ended processes beyond the registry's keep. */
void procs_evict(void)
{
	for (;;) {
		struct proc *oldest = NULL;
		size_t ended = 0;
		for (struct proc *p = A.procs; p; p = p->next) {
			if (!p->done)
				continue;
			ended++;
			if (!oldest || p->seq < oldest->seq)
				oldest = p;
		}
		if (ended <= PROCS_EXITED_KEEP)
			return;
		proc_unlink(oldest);
		proc_free(oldest);
	}
}

/* ---- PROC_LIST: one PROC_INFO frame per process, in start order, then PROC_END ---- */

void proc_list(uint32_t chan)
{
	struct fop *f = fop_new(chan, FOP_PLIST);
	if (f)
		f->cursor = 0;
}

static size_t encode_info(uint8_t *b, const struct proc *p)
{
	uint8_t state = p->ep_fd >= 0 ? PS_STARTING : p->reaped ? PS_EXITED : PS_RUNNING;
	int code = -1;
	uint32_t sig = 0;
	size_t off = 69, l;

	if (p->reaped && WIFEXITED(p->status))
		code = WEXITSTATUS(p->status);
	else if (p->reaped && WIFSIGNALED(p->status))
		sig = (uint32_t)WTERMSIG(p->status);
	put_u32(b, (uint32_t)p->pid);
	put_u32(b + 4, p->flags);
	b[8] = state;
	put_u32(b + 9, (uint32_t)code);
	put_u32(b + 13, sig);
	put_u64(b + 17, (uint64_t)p->started_ms);
	put_u64(b + 25, (uint64_t)p->ended_ms);
	put_u64(b + 33, p->ring[0].head);
	put_u64(b + 41, p->ring[0].acked);
	put_u64(b + 49, p->ring[1].head);
	put_u64(b + 57, p->ring[1].acked);
	b[65] = (uint8_t)(p->cols >> 8);
	b[66] = (uint8_t)p->cols;
	b[67] = (uint8_t)(p->rows >> 8);
	b[68] = (uint8_t)p->rows;
	for (const char *s[] = {p->id, p->tag, p->cmd}, **q = s; q < s + 3; q++) {
		l = strlen(*q) + 1;
		memcpy(b + off, *q, l);
		off += l;
	}
	return off;
}

/* One frame per call; 0 when the listing is over (and the op freed). */
int plist_chunk(struct fop *f)
{
	struct proc *next = NULL;
	uint8_t *d;

	for (struct proc *p = A.procs; p; p = p->next)
		if (p->seq > f->cursor && (!next || p->seq < next->seq))
			next = p;
	if (!next) {
		send_frame(T_PROC_END, f->chan, NULL, 0);
		fop_free(f);
		return 0;
	}
	if (!(d = out_begin(69 + sizeof next->id + sizeof next->tag + sizeof next->cmd)))
		return 1;
	out_end(T_PROC_INFO, f->chan, encode_info(d, next));
	f->cursor = next->seq;
	return 1;
}
