/*
 * airlock-agent main loop: frame dispatch, the bounded output queue, and
 * PID 1 duties (reaping, signal immunity, shutdown on stdin EOF).
 */
#include "agent.h"
#include "vm-init.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct agent A;

/* ---- output queue ---- */

/*
 * Returns room for a frame of up to max_payload bytes. Callers respect the
 * budget in agent.h, so a NULL here means a bug; the frame is then dropped
 * rather than letting memory grow.
 */
uint8_t *out_begin(size_t max_payload)
{
	uint8_t *p = buf_space(&A.out, FRAME_HDR + max_payload);
	return p ? p + FRAME_HDR : NULL;
}

void out_end(uint8_t type, uint32_t chan, size_t payload)
{
	frame_header(A.out.data + A.out.tail, type, chan, payload);
	buf_commit(&A.out, FRAME_HDR + payload);
}

void send_frame(uint8_t type, uint32_t chan, const void *p, size_t n)
{
	uint8_t *d = out_begin(n);
	if (!d)
		return;
	if (n)
		memcpy(d, p, n);
	out_end(type, chan, n);
}

void send_error(uint32_t chan, int err, const char *fmt, ...)
{
	uint8_t msg[4 + 512];
	va_list ap;
	int n;

	put_u32(msg, (uint32_t)err);
	va_start(ap, fmt);
	n = vsnprintf((char *)msg + 4, sizeof msg - 4, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof msg - 5)
		n = sizeof msg - 5;
	send_frame(T_ERROR, chan, msg, 4 + (size_t)n + 1);
}

#ifndef AIRLOCK_FUZZ /* the fuzz harness (fuzz/agent-fuzz.c) drains the queue itself */
static void out_flush(void)
{
	while (buf_len(&A.out) && !A.out_dead) {
		ssize_t n = buf_flush(&A.out, 1, SIZE_MAX);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			A.out_dead = 1; /* host side gone; stdin EOF will follow */
	}
	if (A.out_dead)
		buf_consume(&A.out, buf_len(&A.out));
}

#endif

/* ---- payload reader ---- */

int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = get_u32(r->p);
	r->p += 4;
	r->left -= 4;
	return 0;
}

/* A NUL-terminated string that lies wholly inside the payload. */
const char *rd_str(struct rd *r)
{
	const uint8_t *nul = memchr(r->p, 0, r->left);
	const char *s = (const char *)r->p;
	if (!nul)
		return NULL;
	r->left -= (size_t)(nul - r->p) + 1;
	r->p = nul + 1;
	return s;
}

int chan_in_use(uint32_t chan)
{
	return proc_find(chan) || fop_find(chan);
}

/* ---- dispatch ---- */

/* Returns -1 when the frame must wait (stdin back-pressure), else 0. */
static int dispatch(uint8_t type, uint32_t chan, const uint8_t *p, size_t n)
{
	struct proc *pr;
	struct fop *f;

	switch (type) {
	case T_PING:
		if (n > 64)
			send_error(chan, EMSGSIZE, "PING payload over 64 bytes");
		else
			send_frame(T_PONG, chan, p, n);
		return 0;
	case T_EXEC:
	case T_FILE_WRITE:
	case T_FILE_READ:
	case T_LIST_DIR:
	case T_SUBSCRIBE:
	case T_PROC_LIST:
	case T_FORGET:
	case T_STAT:
	case T_MKDIR:
	case T_REMOVE:
	case T_RENAME:
	case T_CHMOD:
	case T_SYMLINK:
	case T_WATCH:
		if (chan == 0) {
			send_error(chan, EINVAL, "channel 0 is reserved for control");
			return 0;
		}
		if (chan_in_use(chan)) {
			send_error(chan, EBUSY, "channel already in use");
			return 0;
		}
		switch (type) {
		case T_EXEC: proc_exec(chan, p, n); break;
		case T_FILE_WRITE: file_write(chan, p, n); break;
		case T_FILE_READ: file_read(chan, p, n); break;
		case T_LIST_DIR: list_dir(chan, p, n); break;
		case T_SUBSCRIBE: proc_subscribe(chan, p, n); break;
		case T_PROC_LIST: proc_list(chan); break;
		case T_FORGET: proc_forget(chan, p, n); break;
		case T_STAT: file_stat(chan, p, n); break;
		case T_MKDIR: file_mkdir(chan, p, n); break;
		case T_REMOVE: file_remove(chan, p, n); break;
		case T_RENAME: file_rename(chan, p, n); break;
		case T_CHMOD: file_chmod(chan, p, n); break;
		case T_SYMLINK: file_symlink(chan, p, n); break;
		default: file_watch(chan, p, n); break;
		}
		return 0;
	/*
	 * Frames for an operation that already ended are normal races (stdin
	 * after exit, data after a failed write): they are dropped silently.
	 */
	case T_STDIN:
		pr = proc_find(chan);
		return pr ? proc_stdin(pr, p, n) : 0;
	case T_STDIN_CLOSE:
		if ((pr = proc_find(chan)))
			proc_stdin_close(pr);
		return 0;
	case T_SIGNAL:
		if ((pr = proc_find(chan)))
			proc_signal(pr, p, n);
		return 0;
	case T_FILE_DATA:
		if ((f = fop_find(chan)) && f->kind == FOP_WRITE)
			file_data(f, p, n);
		return 0;
	case T_FILE_END:
		if ((f = fop_find(chan)) && f->kind == FOP_WRITE)
			file_end(f);
		return 0;
	case T_CANCEL:
		if ((f = fop_find(chan)))
			fop_cancel(f);
		return 0;
	case T_RESET:
		/* Silently: the host that started them is gone and the new one did not. */
		procs_reset();
		fops_abort_all();
		return 0;
	case T_ACK:
		if ((pr = proc_find(chan)))
			proc_ack(pr, p, n);
		return 0;
	case T_RESIZE:
		if ((pr = proc_find(chan)))
			proc_resize(pr, p, n);
		return 0;
	case T_CREDIT:
		if ((f = fop_find(chan)) && (f->kind == FOP_READ || f->kind == FOP_WATCH))
			add_credit(&f->credit, p, n);
		return 0;
	default:
		send_error(chan, EPROTO, "unknown frame type 0x%02x", type);
		return 0;
	}
}

#ifdef AIRLOCK_FUZZ
#define STATIC_FOR_FUZZ
#else
#define STATIC_FOR_FUZZ static
#endif

STATIC_FOR_FUZZ void handle_input(void)
{
	while (!A.in_broken && buf_len(&A.out) <= OUT_STOP_INPUT) {
		size_t len = buf_len(&A.in);
		const uint8_t *f = buf_peek(&A.in);
		uint32_t flen;

		if (len < 4)
			return;
		flen = get_u32(f);
		if (!frame_len_ok(flen)) {
			/* No way to find the next frame: stay alive, but deaf. */
			send_error(0, EPROTO, "bad frame length %u", flen);
			A.in_broken = 1;
			buf_consume(&A.in, len);
			return;
		}
		if (len < 4 + (size_t)flen)
			return;
		if (dispatch(f[4], get_u32(f + 5), f + FRAME_HDR, flen - 5) < 0)
			return;
		buf_consume(&A.in, 4 + (size_t)flen);
	}
}

/* ---- PID 1 plumbing (not in the fuzz build, which has its own main) ---- */

#ifndef AIRLOCK_FUZZ
static int sigpipe_fds[2] = {-1, -1};

static void on_sigchld(int sig)
{
	int e = errno;
	(void)sig;
	if (write(sigpipe_fds[1], "c", 1) < 0) {
		/* pipe full: a wakeup is already pending */
	}
	errno = e;
}

static void shutdown_agent(void)
{
	/* The shim is gone for good: nothing may outlive the channel. */
	procs_kill_all();
	fops_abort_all();
	exit(0);
}

static void setup(void)
{
	struct sigaction sa;
	int fd;

	/* Children inherit 0-2 by dup2; make sure no pipe lands on them. */
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2)
		fcntl(fd, F_SETFD, 0);
	if (fd > 2)
		close(fd);
	fds_cloexec_above_stdio();

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		perror("airlock-agent: pipe2");
		exit(1);
	}
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);

	/*
	 * Not dumpable: /proc/1/mem, /proc/1/fd/N and ptrace of the agent then
	 * need CAP_SYS_PTRACE, which no sandbox process has. The flag is reset
	 * by execve and credential changes; the agent does neither after this
	 * (its file operations only swap the effective ids, which keeps it
	 * non-dumpable). AIRLOCK_AGENT_DUMPABLE is a build flag for the test
	 * agent that is the positive control of that probe; no release build or
	 * API request can set it.
	 */
#ifndef AIRLOCK_AGENT_DUMPABLE
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif

	/* Outside a PID namespace, still adopt the orphans of our processes. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	{
		const char *gp = getenv("AIRLOCK_GUEST_PIDS");
		memwatch_init();
		A.guest_pids = gp ? strtol(gp, NULL, 10) : 0;
		if (A.guest_pids < 0)
			A.guest_pids = 0;
	}
	if ((A.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		perror("airlock-agent: /dev/null");
		exit(1);
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
#ifdef AIRLOCK_TEST_HOOKS
	/* Test builds only: take the path walk that gVisor needs, on any kernel. */
	if (fd >= 0 && getenv("AIRLOCK_TEST_RESOLVE_WALK"))
		resolve_init(fd, 1);
	else
#endif
	if (fd < 0 || resolve_init(fd, 0) < 0) {
		perror("airlock-agent: open /");
		exit(1);
	}
	if (buf_init(&A.in, IN_CAP) < 0 || buf_init(&A.out, OUT_CAP) < 0) {
		perror("airlock-agent: malloc");
		exit(1);
	}
	fd_nonblock(0);
	fd_nonblock(1);
	fd_cloexec(0);
	fd_cloexec(1);
	send_frame(T_HELLO, 0, AGENT_VERSION, sizeof AGENT_VERSION);
}

int main(void)
{
	struct pollfd *pfd = NULL;
	size_t pfd_cap = 0;

	vm_init(); /* returns at once unless this is PID 1 of a microVM */
	setup();
	for (;;) {
		int64_t now, deadline;
		int timeout = -1, busy;
		size_t need, n;
		char junk[64];

		handle_input();
		now = now_ms();
		deadline = procs_service(now);
		{
			int64_t mw = memwatch_service(now);
			if (mw >= 0 && (deadline < 0 || mw < deadline))
				deadline = mw;
		}
		busy = fops_service();
		out_flush();

		need = 3 + 4 * procs_count() + fops_count();
		if (need > pfd_cap) {
			struct pollfd *np = realloc(pfd, need * 2 * sizeof *pfd);
			if (!np) {
				perror("airlock-agent: realloc");
				continue;
			}
			pfd = np;
			pfd_cap = need * 2;
		}
		/* stdin is always watched so a hang-up is seen even when full. */
		pfd[0].fd = 0;
		pfd[0].events = buf_room(&A.in) ? POLLIN : 0;
		pfd[1].fd = buf_len(&A.out) && !A.out_dead ? 1 : -1;
		pfd[1].events = POLLOUT;
		pfd[2].fd = sigpipe_fds[0];
		pfd[2].events = POLLIN;
		n = procs_pollfds(pfd, 3);
		n = fops_pollfds(pfd, n);

		if (busy && buf_len(&A.out) < OUT_HIGH)
			timeout = 0;
		else if (deadline >= 0)
			timeout = deadline > now ? (int)(deadline - now) : 0;
		for (size_t i = 0; i < n; i++)
			pfd[i].revents = 0;
		if (poll(pfd, n, timeout) < 0) {
			if (errno != EINTR && errno != EAGAIN)
				perror("airlock-agent: poll");
			continue;
		}

		if (pfd[2].revents) {
			while (read(sigpipe_fds[0], junk, sizeof junk) > 0)
				;
		}
		/* Reap on every wakeup: cheap, and covers a lost self-pipe byte. */
		procs_reap();
		if (pfd[0].revents) {
			if (buf_room(&A.in)) {
				ssize_t r = buf_fill(&A.in, 0);
				if (r == 0 || (r < 0 && errno != EAGAIN))
					shutdown_agent();
				if (A.in_broken)
					buf_consume(&A.in, buf_len(&A.in));
			} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
				shutdown_agent();
			}
		}
		if (pfd[1].fd >= 0 && pfd[1].revents)
			out_flush();
		procs_events(pfd);
		fops_events(pfd);
	}
}
#endif
