/*
 * A process's stdin: frames from the host go to its pipe (or terminal) as it takes them; what it
 * does not take yet waits in a bounded backlog, and what it took is reported (STDIN_ACK) so that
 * the host sends at most STDIN_WINDOW ahead. A reader that went away drops its input, as a closed
 * pipe would.
 */
#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- stdin ---- */

/* STDIN_ACK: u32 bytes of stdin taken since the last one, so the host may send that much more. */
void stdin_report(struct proc *p, int force)
{
	uint8_t b[4];

	if (!p->stdin_unreported || !p->chan || p->sub_pending)
		return;
	if (!force && p->stdin_unreported < STDIN_ACK_BATCH && p->inq_len > p->inq_off)
		return;
	put_u32(b, (uint32_t)p->stdin_unreported);
	send_frame(T_STDIN_ACK, p->chan, b, 4);
	p->stdin_unreported = 0;
}

void stdin_drop(struct proc *p)
{
	/* What was queued is taken too: the host must not wait for a reader that is gone. */
	p->stdin_unreported += p->inq_len - p->inq_off;
	fd_close(&p->in_fd);
	free(p->inq);
	p->inq = NULL;
	p->inq_off = p->inq_len = 0;
	stdin_report(p, 1);
}

/* Returns -1 (retry this frame later) when the backlog is full. */
int proc_stdin(struct proc *p, const uint8_t *d, size_t n)
{
	size_t queued = p->inq_len - p->inq_off;

	if (p->in_fd < 0 || p->in_close_pending || n == 0) {
		p->stdin_unreported += n; /* dropped, like a closed pipe: taken all the same */
		stdin_report(p, 1);
		return 0;
	}
	if (queued && queued + n > STDIN_QUEUE_MAX)
		return -1;
	if (!queued) {
		ssize_t w = write(p->in_fd, d, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			p->stdin_unreported += n;
			stdin_drop(p); /* reader gone (EPIPE): drop, like a closed pipe */
			return 0;
		}
		if (w > 0) {
			d += w;
			n -= (size_t)w;
			p->stdin_unreported += (size_t)w;
		}
		if (n == 0) {
			stdin_report(p, 0);
			return 0;
		}
	}
	if (p->inq_off) {
		memmove(p->inq, p->inq + p->inq_off, queued);
		p->inq_off = 0;
		p->inq_len = queued;
	}
	{
		uint8_t *q = realloc(p->inq, p->inq_len + n);
		if (!q) {
			stdin_drop(p);
			return 0;
		}
		p->inq = q;
	}
	memcpy(p->inq + p->inq_len, d, n);
	p->inq_len += n;
	return 0;
}

void proc_stdin_close(struct proc *p)
{
	if (p->flags & EXEC_PTY)
		return; /* a terminal has no end of input but ^D, which the host sends as data */
	if (p->inq_len > p->inq_off)
		p->in_close_pending = 1;
	else
		stdin_drop(p);
}

void stdin_pump(struct proc *p)
{
	ssize_t w = write(p->in_fd, p->inq + p->inq_off, p->inq_len - p->inq_off);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			stdin_drop(p);
		return;
	}
	p->inq_off += (size_t)w;
	p->stdin_unreported += (size_t)w;
	stdin_report(p, 0);
	if (p->inq_off == p->inq_len) {
		free(p->inq);
		p->inq = NULL;
		p->inq_off = p->inq_len = 0;
		if (p->in_close_pending)
			stdin_drop(p);
	}
}

