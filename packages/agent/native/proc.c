/*
 * EXEC, once started (spawn.c starts it): relaying a process's stdio under
 * flow control, reaping, EXITED. Each process has its own session (so
 * SIGNAL reaches its whole group) and three pipes whose agent ends are
 * non-blocking and close-on-exec. Nothing here waits for a child: reaping
 * is WNOHANG only.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc *proc_find(uint32_t chan)
{
	for (struct proc *p = A.procs; p; p = p->next)
		if (p->chan == chan && !p->orphan)
			return p;
	return NULL;
}

size_t procs_count(void)
{
	size_t n = 0;
	for (struct proc *p = A.procs; p; p = p->next)
		n++;
	return n;
}

void proc_free(struct proc *p)
{
	fd_close(&p->in_fd);
	fd_close(&p->out_fd);
	fd_close(&p->err_fd);
	fd_close(&p->ep_fd);
	free(p->inq);
	free(p->argv0);
	free(p->cwd);
	free(p);
}

void proc_unlink(struct proc *p)
{
	for (struct proc **pp = &A.procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

/* ---- stdin ---- */

static void stdin_drop(struct proc *p)
{
	fd_close(&p->in_fd);
	free(p->inq);
	p->inq = NULL;
	p->inq_off = p->inq_len = 0;
}

/* Returns -1 (retry this frame later) when the backlog is full. */
int proc_stdin(struct proc *p, const uint8_t *d, size_t n)
{
	size_t queued = p->inq_len - p->inq_off;

	if (p->in_fd < 0 || p->in_close_pending || n == 0)
		return 0;
	if (queued && queued + n > STDIN_QUEUE_MAX)
		return -1;
	if (!queued) {
		ssize_t w = write(p->in_fd, d, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			stdin_drop(p); /* reader gone (EPIPE): drop, like a closed pipe */
			return 0;
		}
		if (w > 0) {
			d += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return 0;
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
	if (p->inq_len > p->inq_off)
		p->in_close_pending = 1;
	else
		stdin_drop(p);
}

static void stdin_pump(struct proc *p)
{
	ssize_t w = write(p->in_fd, p->inq + p->inq_off, p->inq_len - p->inq_off);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			stdin_drop(p);
		return;
	}
	p->inq_off += (size_t)w;
	if (p->inq_off == p->inq_len) {
		free(p->inq);
		p->inq = NULL;
		p->inq_off = p->inq_len = 0;
		if (p->in_close_pending)
			stdin_drop(p);
	}
}

void proc_signal(struct proc *p, const uint8_t *d, size_t n)
{
	uint32_t sig;

	/* No reply exists for SIGNAL; an invalid one is ignored. */
	if (n < 4 || (sig = get_u32(d)) >= NSIG)
		return;
	if (kill(-p->pid, (int)sig) < 0 && !p->reaped)
		kill(p->pid, (int)sig);
}

/* ---- output pipes ---- */

/* One read of at most CHUNK bytes; `drain` closes an empty pipe. */
static void pipe_read(struct proc *p, int *fd, uint8_t type, int drain)
{
	size_t want = p->credit < CHUNK ? (size_t)p->credit : CHUNK;
	uint8_t *d;
	ssize_t n;

	if (p->orphan) {
		/* Nobody reads it: drain into scratch so the killed process can finish. */
		static uint8_t scratch[CHUNK];
		do
			n = read(*fd, scratch, sizeof scratch);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && (errno != EAGAIN || drain)))
			fd_close(fd);
		else if (n > 0 && drain)
			p->drained += (size_t)n;
		return;
	}
	if (want == 0 || !(d = out_begin(CHUNK)))
		return;
	do
		n = read(*fd, d, want);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		p->credit -= (uint64_t)n;
		out_end(type, p->chan, (size_t)n);
		if (drain)
			p->drained += (size_t)n;
	} else if (n == 0 || errno != EAGAIN || drain) {
		fd_close(fd);
	}
}

void procs_reap(void)
{
	int st;
	pid_t pid;

	/* Orphans reparented to us are reaped here too and simply forgotten. */
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (struct proc *p = A.procs; p; p = p->next) {
			if (p->pid == pid && !p->reaped) {
				p->reaped = 1;
				p->status = st;
				p->deadline = now_ms() + EXIT_GRACE_MS;
				break;
			}
		}
	}
}

static void send_exited(struct proc *p)
{
	uint8_t b[8];
	int code = -1, sig = 0;

	if (WIFEXITED(p->status))
		code = WEXITSTATUS(p->status);
	else if (WIFSIGNALED(p->status))
		sig = WTERMSIG(p->status);
	put_u32(b, (uint32_t)code);
	put_u32(b + 4, (uint32_t)sig);
	send_frame(T_EXITED, p->chan, b, 8);
}

/*
 * Finishes reaped processes. Past the grace period an output pipe that is
 * still open is read once more and closed as soon as it is empty (a
 * descendant holds it), so output already written is never lost. Returns
 * the earliest pending deadline, or -1.
 */
int64_t procs_service(int64_t now)
{
	int64_t next = -1;

	for (struct proc **pp = &A.procs; *pp;) {
		struct proc *p = *pp;

		if (p->ep_fd >= 0) { /* not started yet: nothing to finish */
			pp = &p->next;
			continue;
		}
		if (p->reaped && (p->out_fd >= 0 || p->err_fd >= 0)) {
			if (now < p->deadline) {
				if (next < 0 || p->deadline < next)
					next = p->deadline;
			} else if (buf_len(&A.out) < OUT_HIGH) {
				if (p->out_fd >= 0)
					pipe_read(p, &p->out_fd, T_STDOUT, 1);
				if (p->err_fd >= 0 && buf_len(&A.out) < OUT_HIGH)
					pipe_read(p, &p->err_fd, T_STDERR, 1);
				if (p->drained > EXIT_DRAIN_MAX) {
					fd_close(&p->out_fd);
					fd_close(&p->err_fd);
				}
			}
		}
		if (p->reaped && p->out_fd < 0 && p->err_fd < 0 &&
		    buf_len(&A.out) <= OUT_EXITED_MAX) {
			if (!p->orphan)
				send_exited(p);
			*pp = p->next;
			proc_free(p);
			continue;
		}
		pp = &p->next;
	}
	return next;
}

static size_t add_pfd(struct pollfd *pfd, size_t i, int fd, short ev, int *ix)
{
	*ix = -1;
	if (fd < 0 || !ev)
		return i;
	pfd[i].fd = fd;
	pfd[i].events = ev;
	*ix = (int)i;
	return i + 1;
}

size_t procs_pollfds(struct pollfd *pfd, size_t i)
{
	/* Above OUT_HIGH the pipes are not read: the writer blocks instead. */
	short rd = buf_len(&A.out) < OUT_HIGH ? POLLIN : 0;

	for (struct proc *p = A.procs; p; p = p->next) {
		/* Without credit its pipes are not read either: only this process waits. */
		short prd = p->credit ? rd : 0;

		/* Before STARTED only the error pipe counts: output waits for it. */
		i = add_pfd(pfd, i, p->ep_fd, POLLIN, &p->ix_ep);
		if (p->ep_fd >= 0)
			prd = 0;
		i = add_pfd(pfd, i, p->in_fd, p->inq_len > p->inq_off ? POLLOUT : 0, &p->ix_in);
		i = add_pfd(pfd, i, p->out_fd, prd, &p->ix_out);
		i = add_pfd(pfd, i, p->err_fd, prd, &p->ix_err);
	}
	return i;
}

void procs_events(struct pollfd *pfd)
{
	for (struct proc *p = A.procs, *next; p; p = next) {
		next = p->next;
		if (p->ix_ep >= 0 && pfd[p->ix_ep].revents && p->ep_fd >= 0) {
			proc_start_event(p); /* may free p */
			continue;
		}
		if (p->ix_in >= 0 && pfd[p->ix_in].revents && p->in_fd >= 0) {
			if (pfd[p->ix_in].revents & POLLOUT)
				stdin_pump(p);
			else
				stdin_drop(p); /* POLLERR: the reader is gone */
		}
		if (p->ix_out >= 0 && pfd[p->ix_out].revents && p->out_fd >= 0 &&
		    buf_len(&A.out) < OUT_HIGH)
			pipe_read(p, &p->out_fd, T_STDOUT, 0);
		if (p->ix_err >= 0 && pfd[p->ix_err].revents && p->err_fd >= 0 &&
		    buf_len(&A.out) < OUT_HIGH)
			pipe_read(p, &p->err_fd, T_STDERR, 0);
	}
}

void procs_kill_all(void)
{
	for (struct proc *p = A.procs; p; p = p->next) {
		kill(-p->pid, SIGKILL);
		if (!p->reaped)
			kill(p->pid, SIGKILL);
	}
}

/*
 * RESET: a new host took over and nobody reads what the old one started.
 * Kill those processes and let their pipes drain so they can be freed. They
 * are orphaned: no frame is sent for them any more (not even the STARTED or
 * ERROR of one still starting), so every frame the new
 * host sees after its first PONG belongs to a channel it opened, and their
 * channel ids are free for the new host at once.
 */
void procs_reset(void)
{
	procs_kill_all();
	for (struct proc *p = A.procs; p; p = p->next) {
		p->orphan = 1;
		p->credit = UINT64_MAX / 2;
	}
}

/* CREDIT: the host's consumer took data; let this much more through. */
void add_credit(uint64_t *credit, const uint8_t *d, size_t n)
{
	if (n < 4)
		return;
	*credit += get_u32(d); /* u64: cannot overflow from u32 grants in practice */
}
