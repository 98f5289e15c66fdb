/*
 * EXEC: spawning user processes and relaying their stdio. Each process gets
 * its own session (so SIGNAL reaches its whole group) and three pipes whose
 * agent ends are non-blocking and close-on-exec.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

struct proc *proc_find(uint32_t chan)
{
	for (struct proc *p = A.procs; p; p = p->next)
		if (p->chan == chan)
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

/* ---- the child, between fork and exec ---- */

/*
 * The child's report on the error pipe: which step failed, with its errno.
 * 8 bytes, below PIPE_BUF, so the parent reads it whole or not at all.
 */
_Noreturn static void child_fail(int errfd, uint32_t step, int err)
{
	uint8_t b[8];

	put_u32(b, step);
	put_u32(b + 4, (uint32_t)err);
	if (write(errfd, b, sizeof b) < 0) {
		/* parent gone: nothing to report to */
	}
	_exit(127);
}

_Noreturn static void child_run(const int fds[3], int errfd, const struct user *u,
				const char *cwd, char **argv, char **envp)
{
	struct sigaction sa;
	sigset_t set;
	int fd;

	setsid();
	/* The agent ignores SIGPIPE/SIGTERM/...; ignored dispositions survive exec. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			child_fail(errfd, STEP_STDIO, errno);

	/*
	 * Make user code the OOM killer's first choice over the agent: the host
	 * cannot lower the agent's score (that needs CAP_SYS_RESOURCE), but any
	 * process may raise its own, so the agent survives to report the kill.
	 */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "500", 3) < 0) {
			/* not permitted here: keep the inherited score */
		}
		close(fd);
	}

	if (geteuid() == 0 || u->uid != geteuid() || u->gid != getegid()) {
		if (setgroups(0, NULL) < 0 && geteuid() == 0)
			child_fail(errfd, STEP_SETGROUPS, errno);
		if (setgid(u->gid) < 0)
			child_fail(errfd, STEP_SETGID, errno);
		if (setuid(u->uid) < 0)
			child_fail(errfd, STEP_SETUID, errno);
	}
#ifdef AIRLOCK_TEST_HOOKS
	/* Test builds only: stop in the window between setuid and execve. */
	for (char **e = envp; *e; e++)
		if (strcmp(*e, "AIRLOCK_TEST_STOP_BEFORE_EXEC=1") == 0)
			raise(SIGSTOP);
#endif
	if (chdir(cwd) < 0)
		child_fail(errfd, STEP_CHDIR, errno);

	/* execvpe searches the PATH of environ, so make it the given env. */
	environ = envp;
	execvpe(argv[0], argv, envp);
	child_fail(errfd, STEP_EXEC, errno);
}

/* ---- spawning ---- */

#ifndef AIRLOCK_FUZZ
pid_t agent_fork(void)
{
	return fork();
}
#endif

static int has_key(char **env, size_t n, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], key, kl) == 0 && env[i][kl] == '=')
			return 1;
	return 0;
}

static int pipe_pair(int p[2])
{
	return pipe2(p, O_CLOEXEC);
}

void proc_exec(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	uint32_t flags, argc, envc;
	const char *user, *cwd;
	char **argv = NULL, **envp = NULL, *home_env = NULL, *user_env = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1};
	struct user u;
	struct stat st;
	struct proc *p = NULL;
	int e;
	pid_t pid;

	if (rd_u32(&r, &flags) < 0 || !(user = rd_str(&r)) || !(cwd = rd_str(&r)) ||
	    rd_u32(&r, &argc) < 0 || argc == 0 || argc > r.left) {
		send_error(chan, EINVAL, "malformed EXEC");
		return;
	}
	/* argc <= remaining bytes, so these allocations are bounded by the frame. */
	argv = calloc((size_t)argc + 1, sizeof *argv);
	if (!argv)
		goto nomem;
	for (uint32_t i = 0; i < argc; i++)
		if (!(argv[i] = (char *)rd_str(&r)))
			goto malformed;
	if (rd_u32(&r, &envc) < 0 || envc > r.left)
		goto malformed;
	envp = calloc((size_t)envc + 4, sizeof *envp);
	if (!envp)
		goto nomem;
	for (uint32_t i = 0; i < envc; i++)
		if (!(envp[i] = (char *)rd_str(&r)))
			goto malformed;

	if ((e = user_resolve(user, &u)) != 0) {
		send_error(chan, e, "unknown user '%.200s'", user);
		goto out;
	}
	if (!has_key(envp, envc, "PATH"))
		envp[envc++] = DEFAULT_PATH;
	if (u.has_entry && !has_key(envp, envc, "HOME")) {
		if (asprintf(&home_env, "HOME=%s", u.home) < 0)
			goto nomem;
		envp[envc++] = home_env;
	}
	if (u.has_entry && !has_key(envp, envc, "USER")) {
		if (asprintf(&user_env, "USER=%s", u.name) < 0)
			goto nomem;
		envp[envc++] = user_env;
	}
	if (!cwd[0])
		cwd = u.has_entry && stat(u.home, &st) == 0 && S_ISDIR(st.st_mode) ? u.home : "/";

	if ((flags & 1) ? pipe_pair(in) < 0
			: (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		goto syserr;
	if (pipe_pair(out) < 0 || pipe_pair(err) < 0 || pipe_pair(ep) < 0)
		goto syserr;

	/* Tracked before the fork, so nothing after it can fail. */
	if (!(p = calloc(1, sizeof *p)) || !(p->argv0 = strdup(argv[0])) || !(p->cwd = strdup(cwd))) {
		if (p) {
			free(p->argv0);
			free(p);
		}
		goto nomem;
	}
	/*
	 * fork, not vfork/posix_spawn: a vfork parent waits until its child
	 * execs, and a child stopped before its exec (SIGSTOP from the user it
	 * switched to) would freeze the whole agent.
	 */
	pid = agent_fork();
	if (pid < 0) {
		e = errno;
		free(p->argv0);
		free(p->cwd);
		free(p);
		send_error(chan, e, "fork: %s", strerror(e));
		goto out;
	}
	if (pid == 0) {
		int fds[3] = {in[0], out[1], err[1]};
		child_run(fds, ep[1], &u, cwd, argv, envp);
	}
	p->chan = chan;
	p->credit = INITIAL_CREDIT;
	p->pid = pid;
	p->uid = u.uid;
	p->gid = u.gid;
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	p->ep_fd = ep[0];
	in[1] = out[0] = err[0] = ep[0] = -1;
	if (p->in_fd >= 0)
		fd_nonblock(p->in_fd);
	fd_nonblock(p->out_fd);
	fd_nonblock(p->err_fd);
	/* STARTED or ERROR follows from the poll loop (proc_start_event). */
	fd_nonblock(p->ep_fd);
	p->next = A.procs;
	A.procs = p;
	goto out;

malformed:
	send_error(chan, EINVAL, "malformed EXEC");
	goto out;
nomem:
	send_error(chan, ENOMEM, "out of memory");
	goto out;
syserr:
	e = errno;
	send_error(chan, e, "exec setup: %s", strerror(e));
out:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	free(home_env);
	free(user_env);
	free(argv);
	free(envp);
}

/* ---- start: the error pipe ---- */

static const char *const step_names[] = {
	[STEP_STDIO] = "stdio", [STEP_SETGROUPS] = "setgroups", [STEP_SETGID] = "setgid",
	[STEP_SETUID] = "setuid", [STEP_CHDIR] = "cwd", [STEP_EXEC] = "exec",
};

static void proc_free(struct proc *p)
{
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	close_fd(&p->ep_fd);
	free(p->inq);
	free(p->argv0);
	free(p->cwd);
	free(p);
}

static void proc_unlink(struct proc *p)
{
	for (struct proc **pp = &A.procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

/* The child failed before its exec: one ERROR naming the step, and the channel is free. */
static void start_failed(struct proc *p, uint32_t step, int err)
{
	const char *what = step < sizeof step_names / sizeof *step_names && step_names[step]
				   ? step_names[step] : "start";

	if (step == STEP_CHDIR)
		send_error(p->chan, err, "cwd %.200s: %s", p->cwd, strerror(err));
	else if (step == STEP_EXEC)
		send_error(p->chan, err, "exec '%.200s': %s", p->argv0, strerror(err));
	else if (step == STEP_SETUID)
		send_error(p->chan, err, "setuid %u: %s", (unsigned)p->uid, strerror(err));
	else if (step == STEP_SETGID)
		send_error(p->chan, err, "setgid %u: %s", (unsigned)p->gid, strerror(err));
	else
		send_error(p->chan, err, "%s: %s", what, strerror(err));
	/*
	 * It is about to _exit(127); if it was stopped first, this ends it. An
	 * unreaped child keeps its pid, so the kill cannot reach anyone else.
	 * procs_reap() collects it later as an unknown child.
	 */
	if (!p->reaped)
		kill(p->pid, SIGKILL);
	proc_unlink(p);
	proc_free(p);
}

/*
 * The error pipe is readable: EOF means the exec happened (close-on-exec),
 * 8 bytes are the child's report. Never blocks: the fd is non-blocking.
 */
static void start_event(struct proc *p)
{
	uint8_t b[8];
	ssize_t n;

	do
		n = read(p->ep_fd, b, sizeof b);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n == (ssize_t)sizeof b) {
		start_failed(p, get_u32(b), (int)get_u32(b + 4));
		return;
	}
	if (n > 0) { /* cannot happen: the report is written whole */
		start_failed(p, 0, EIO);
		return;
	}
	/* EOF (or a broken pipe): the process runs. */
	close_fd(&p->ep_fd);
	put_u32(b, (uint32_t)p->pid);
	send_frame(T_STARTED, p->chan, b, 4);
}

/* ---- stdin ---- */

static void stdin_drop(struct proc *p)
{
	close_fd(&p->in_fd);
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
		close_fd(fd);
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
					close_fd(&p->out_fd);
					close_fd(&p->err_fd);
				}
			}
		}
		if (p->reaped && p->out_fd < 0 && p->err_fd < 0 &&
		    buf_len(&A.out) <= OUT_EXITED_MAX) {
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
			start_event(p); /* may free p */
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
 * Kill those processes and let their pipes drain so they can be freed.
 */
void procs_reset(void)
{
	procs_kill_all();
	for (struct proc *p = A.procs; p; p = p->next)
		p->credit = UINT64_MAX / 2;
}

/* CREDIT: the host's consumer took data; let this much more through. */
void add_credit(uint64_t *credit, const uint8_t *d, size_t n)
{
	if (n < 4)
		return;
	*credit += get_u32(d); /* u64: cannot overflow from u32 grants in practice */
}
