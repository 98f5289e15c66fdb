/*
 * A started process's I/O: output read into the process's journal rings
 * (ring.c) and sent to its subscriber under the
 * per-stream window, reaping, EXITED. Each process has its own session (so
 * SIGNAL reaches its whole group) and pipes (or a PTY, pty.c) whose agent
 * ends are non-blocking and close-on-exec. Nothing here waits for a child:
 * reaping is WNOHANG only. A process keeps running when its host goes
 * away (RESET): its rings fill, then its pipes are no longer read and it
 * blocks in `write` until a new host subscribes and acknowledges.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

size_t procs_count(void)
{
	size_t n = 0;
	for (struct proc *p = A.procs; p; p = p->next)
		n++;
	return n;
}

/* Closes what a process holds beyond its record: fds, rings, its stdin backlog. */
void proc_release_io(struct proc *p)
{
	fd_close(&p->in_fd);
	fd_close(&p->out_fd);
	fd_close(&p->err_fd);
	fd_close(&p->ep_fd);
	free(p->inq);
	p->inq = NULL;
	p->inq_off = p->inq_len = 0;
	ring_free(&p->ring[0]);
	ring_free(&p->ring[1]);
	free(p->argv0);
	free(p->cwd);
	p->argv0 = p->cwd = NULL;
}

void proc_free(struct proc *p)
{
	proc_release_io(p);
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

void proc_signal(struct proc *p, const uint8_t *d, size_t n)
{
	uint32_t sig;

	/* No reply exists for SIGNAL; an invalid one is ignored. */
	if (n < 4 || (sig = get_u32(d)) >= NSIG || p->done)
		return;
	if (kill(-p->pid, (int)sig) < 0 && !p->reaped)
		kill(p->pid, (int)sig);
	if ((p->flags & EXEC_PTY) && p->out_fd >= 0) {
		/* A shell's job runs in a process group of its own: the terminal's foreground one. */
		pid_t fg = tcgetpgrp(p->out_fd);
		if (fg > 0 && fg != p->pid)
			kill(-fg, (int)sig);
	}
}

/* ---- output: pipe -> ring -> host ---- */

/* One read of at most CHUNK bytes into the ring; `drain` closes an empty pipe. */
static void pipe_read(struct proc *p, int s, int drain)
{
	int *fd = s ? &p->err_fd : &p->out_fd;
	struct ring *r = &p->ring[s];
	size_t contig;
	uint8_t *d;
	ssize_t n;

	if (!ring_room(r) || !(d = ring_tail(r, &contig)))
		return; /* full: the writer waits for the host's ACK */
	if (contig > ring_room(r))
		contig = ring_room(r);
	if (contig > CHUNK)
		contig = CHUNK;
	do
		n = read(*fd, d, contig);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		ring_commit(r, (size_t)n);
		if (drain)
			p->drained += (size_t)n;
	} else if (n == 0 || errno != EAGAIN || drain) {
		/* EOF, or EIO from a PTY whose every slave fd is closed */
		fd_close(fd);
	}
}

/* Sends what the subscriber may take, within each stream's window. */
static void proc_pump(struct proc *p)
{
	if (!p->chan || p->sub_pending || p->ep_fd >= 0)
		return;
	for (int s = 0; s < 2; s++) {
		struct ring *r = &p->ring[s];
		while (buf_len(&A.out) < OUT_HIGH) {
			const uint8_t *src;
			size_t n = ring_unsent(r, &src);
			uint64_t window = r->acked + INITIAL_CREDIT;
			uint8_t *d;

			if (r->sent >= window || n == 0)
				break;
			if (n > window - r->sent)
				n = (size_t)(window - r->sent);
			if (n > CHUNK)
				n = CHUNK;
			if (!(d = out_begin(n)))
				break;
			memcpy(d, src, n);
			out_end(s ? T_STDERR : T_STDOUT, p->chan, n);
			r->sent += n;
		}
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
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				p->reaped = 1;
				p->status = st;
				p->ended_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Every byte read was sent and acknowledged: nothing of its output is only here any more. */
static int all_acked(const struct proc *p)
{
	return p->ring[0].acked == p->ring[0].head && p->ring[1].acked == p->ring[1].head;
}

/*
 * Moves output to subscribers and finishes reaped processes. Past the grace
 * period an output pipe that is still open is read once more and closed as
 * soon as it is empty (a descendant holds it), so output already written is
 * never lost. EXITED goes out once everything the process wrote has been
 * acknowledged, so a host that dies just before still finds it all here.
 * Returns the earliest pending deadline, or -1.
 */
int64_t procs_service(int64_t now)
{
	int64_t next = -1;

	for (struct proc *p = A.procs; p; p = p->next) {
		if (p->done || p->ep_fd >= 0) /* a record only, or not started yet */
			continue;
		if (p->reaped && (p->out_fd >= 0 || p->err_fd >= 0)) {
			if (now < p->deadline) {
				if (next < 0 || p->deadline < next)
					next = p->deadline;
			} else {
				if (p->out_fd >= 0)
					pipe_read(p, 0, 1);
				if (p->err_fd >= 0)
					pipe_read(p, 1, 1);
				if (p->drained > EXIT_DRAIN_MAX) {
					fd_close(&p->out_fd);
					fd_close(&p->err_fd);
				}
			}
		}
		proc_pump(p);
		if (p->reaped && p->out_fd < 0 && p->err_fd < 0 && all_acked(p) &&
		    buf_len(&A.out) <= OUT_EXITED_MAX) {
			if (p->chan && !p->sub_pending) {
				send_exited(p);
				p->chan = 0;
			}
			if (!p->chan) {
				p->done = 1;
				proc_release_io(p);
			}
		}
	}
	procs_evict();
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
	for (struct proc *p = A.procs; p; p = p->next) {
		/* Before STARTED only the error pipe counts: output waits for it. */
		int started = p->ep_fd < 0;

		p->ix_in = p->ix_out = p->ix_err = p->ix_ep = -1;
		if (p->done)
			continue;
		i = add_pfd(pfd, i, p->ep_fd, POLLIN, &p->ix_ep);
		i = add_pfd(pfd, i, p->in_fd, p->inq_len > p->inq_off ? POLLOUT : 0, &p->ix_in);
		/* A full ring is not read: only this process waits, in `write`. */
		i = add_pfd(pfd, i, p->out_fd, started && ring_room(&p->ring[0]) ? POLLIN : 0, &p->ix_out);
		i = add_pfd(pfd, i, p->err_fd, started && ring_room(&p->ring[1]) ? POLLIN : 0, &p->ix_err);
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
		if (p->ix_out >= 0 && pfd[p->ix_out].revents && p->out_fd >= 0)
			pipe_read(p, 0, 0);
		if (p->ix_err >= 0 && pfd[p->ix_err].revents && p->err_fd >= 0)
			pipe_read(p, 1, 0);
		proc_pump(p);
	}
}

void procs_kill_all(void)
{
	for (struct proc *p = A.procs; p; p = p->next) {
		if (p->done)
			continue;
		kill(-p->pid, SIGKILL);
		if (!p->reaped)
			kill(p->pid, SIGKILL);
	}
}

/*
 * RESET: a new host took over. Its predecessor's channels are forgotten,
 * silently (no frame is sent on them any more, so every frame the new host
 * sees after its first PONG belongs to a channel it opened), and their ids
 * are free at once. Every process keeps running; what it writes stays in
 * its rings, unacknowledged, until the new host subscribes (LIST, then
 * SUBSCRIBE from the offsets it has).
 */
void procs_reset(void)
{
	for (struct proc *p = A.procs; p; p = p->next) {
		/* Stdin the old host queued is dropped: the new one never sent it, and must not be told of it. */
		free(p->inq);
		p->inq = NULL;
		p->inq_off = p->inq_len = 0;
		if (p->in_close_pending)
			fd_close(&p->in_fd);
		p->stdin_unreported = 0;
		p->chan = 0;
		p->sub_pending = 0;
		p->ring[0].sent = p->ring[0].acked;
		p->ring[1].sent = p->ring[1].acked;
	}
}

/* CREDIT for a file read: let this much more through. */
void add_credit(uint64_t *credit, const uint8_t *d, size_t n)
{
	if (n < 4)
		return;
	*credit += get_u32(d); /* u64: cannot overflow from u32 grants in practice */
}
