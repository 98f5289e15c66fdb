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
#include <sys/resource.h>
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

/* ---- the child, between fork and exec ---- */

_Noreturn static void child_fail(int errfd, int err)
{
	if (write(errfd, &err, sizeof err) < 0) {
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
			child_fail(errfd, errno);

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

	/*
	 * The guest's process limit where the host's cgroup cannot count guest
	 * processes (gVisor: the host sees the sentry's threads). The kernel
	 * counts per uid; without CAP_SYS_RESOURCE the hard limit is final.
	 */
	if (A.guest_pids > 0) {
		struct rlimit rl = {(rlim_t)A.guest_pids, (rlim_t)A.guest_pids};
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			child_fail(errfd, errno);
	}

	if (geteuid() == 0 || u->uid != geteuid() || u->gid != getegid()) {
		if (setgroups(0, NULL) < 0 && geteuid() == 0)
			child_fail(errfd, errno);
		if (setgid(u->gid) < 0 || setuid(u->uid) < 0)
			child_fail(errfd, errno);
	}
	if (chdir(cwd) < 0)
		child_fail(errfd, errno);

	/* execvpe searches the PATH of environ, so make it the given env. */
	environ = envp;
	execvpe(argv[0], argv, envp);
	child_fail(errfd, errno);
}

/* ---- spawning ---- */

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
	struct proc *p;
	int e, got;
	ssize_t rn;
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

	pid = fork();
	if (pid < 0)
		goto syserr;
	if (pid == 0) {
		int fds[3] = {in[0], out[1], err[1]};
		child_run(fds, ep[1], &u, cwd, argv, envp);
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&ep[1]);
	/* EOF: exec succeeded (close-on-exec); 4 bytes: the child's errno. */
	got = 0;
	do
		rn = read(ep[0], &e, sizeof e);
	while (rn < 0 && errno == EINTR);
	if (rn == (ssize_t)sizeof e)
		got = 1;
	close_fd(&ep[0]);
	if (got) {
		waitpid(pid, NULL, 0);
		send_error(chan, e, "exec '%.200s': %s", argv[0], strerror(e));
		goto out;
	}

	p = calloc(1, sizeof *p);
	if (!p) {
		/* Cannot track it: do not leave it running unobserved. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto nomem;
	}
	p->chan = chan;
	p->credit = INITIAL_CREDIT;
	p->pid = pid;
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	in[1] = out[0] = err[0] = -1;
	if (p->in_fd >= 0)
		fd_nonblock(p->in_fd);
	fd_nonblock(p->out_fd);
	fd_nonblock(p->err_fd);
	p->next = A.procs;
	A.procs = p;
	{
		uint8_t b[4];
		put_u32(b, (uint32_t)pid);
		send_frame(T_STARTED, chan, b, 4);
	}
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

	if (p->orphan) {
		/* Nobody reads it: drain into scratch so the killed process can finish. */
		static uint8_t scratch[CHUNK];
		do
			n = read(*fd, scratch, sizeof scratch);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && (errno != EAGAIN || drain)))
			close_fd(fd);
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
			if (!p->orphan)
				send_exited(p);
			stdin_drop(p);
			*pp = p->next;
			free(p);
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

		i = add_pfd(pfd, i, p->in_fd, p->inq_len > p->inq_off ? POLLOUT : 0, &p->ix_in);
		i = add_pfd(pfd, i, p->out_fd, prd, &p->ix_out);
		i = add_pfd(pfd, i, p->err_fd, prd, &p->ix_err);
	}
	return i;
}

void procs_events(struct pollfd *pfd)
{
	for (struct proc *p = A.procs; p; p = p->next) {
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
 * are orphaned: no frame is sent for them any more, so every frame the new
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
