/*
 * EXEC: starting a process without ever waiting for it. The agent forks;
 * the child switches to the user and execs, and reports a failed step
 * (errno and which step) on a close-on-exec pipe that the poll loop watches:
 * EOF there means the exec happened (STARTED), a report means it did not
 * (ERROR naming the step and its path). A child stopped anywhere in between
 * stops only its own operation.
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
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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
				const char *cwd, char **argv, char **envp, int pty, int own_stdin)
{
	struct sigaction sa;
	sigset_t set;
	int fd;

	setsid();
	if (pty)
		pty_child(fds[0]);
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
	 * The pipes (or the terminal) are the agent's, root's, and mode 0600: the
	 * process could not reopen its own /dev/stdout. They become the user's.
	 * /dev/null is shared and stays as it is. Failure only keeps the old owner.
	 */
	for (int i = own_stdin ? 0 : 1; i < 3; i++)
		if (fchown(i, u->uid, u->gid) < 0) {
			/* not permitted (bwrap: the agent is the user already) */
		}

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
			child_fail(errfd, STEP_RLIMIT, errno);
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

/* argv joined by spaces, cut to PROC_CMD_MAX bytes: what LIST shows. */
static void join_cmd(char *dst, char **argv)
{
	size_t off = 0;
	for (char **a = argv; *a && off < PROC_CMD_MAX; a++) {
		size_t l = strlen(*a);
		if (a != argv)
			dst[off++] = ' ';
		if (l > PROC_CMD_MAX - off)
			l = PROC_CMD_MAX - off;
		memcpy(dst + off, *a, l);
		off += l;
	}
	dst[off] = 0;
}

static size_t procs_live(void)
{
	size_t n = 0;
	for (struct proc *p = A.procs; p; p = p->next)
		n += !p->done;
	return n;
}

void proc_exec(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	uint32_t flags, argc, envc, ring_bytes;
	const char *user, *cwd;
	char **argv = NULL, **envp = NULL, *home_env = NULL, *user_env = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1};
	int pty = 0;
	struct user u;
	struct stat st;
	struct timespec ts;
	struct proc *p = NULL;
	int e;
	pid_t pid;

	if (rd_u32(&r, &flags) < 0 || !(user = rd_str(&r)) || !(cwd = rd_str(&r)) ||
	    rd_u32(&r, &argc) < 0 || argc == 0 || argc > r.left) {
		send_error(chan, EINVAL, "malformed EXEC");
		return;
	}
	pty = (flags & EXEC_PTY) != 0;
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
	if (!(p = calloc(1, sizeof *p)))
		goto nomem;
	p->in_fd = p->out_fd = p->err_fd = p->ep_fd = -1;
	if ((e = proc_trailer(&r, p, &ring_bytes)) != 0) {
		if (e == EEXIST)
			send_error(chan, e, "a process '%.64s' exists already", p->id);
		else
			send_error(chan, e, "malformed EXEC");
		goto out;
	}
	if (procs_live() >= PROCS_MAX) {
		send_error(chan, EAGAIN, "the agent runs %u processes already", PROCS_MAX);
		goto out;
	}

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

	if (pty) {
		/* One terminal: in[1] / out[0] are the master, the child's three fds the slave. */
		int m, sl;
		if (pty_open(&m, &sl, p->cols, p->rows) < 0)
			goto syserr;
		in[1] = m;
		in[0] = sl;
		if ((out[0] = fcntl(m, F_DUPFD_CLOEXEC, 3)) < 0 || (out[1] = fcntl(sl, F_DUPFD_CLOEXEC, 3)) < 0 ||
		    (err[1] = fcntl(sl, F_DUPFD_CLOEXEC, 3)) < 0)
			goto syserr;
	} else {
		if ((flags & EXEC_KEEP_STDIN) ? pipe_pair(in) < 0
					      : (in[0] = fcntl(A.devnull, F_DUPFD_CLOEXEC, 3)) < 0)
			goto syserr;
		if (pipe_pair(out) < 0 || pipe_pair(err) < 0)
			goto syserr;
	}
	if (pipe_pair(ep) < 0)
		goto syserr;

	/* Tracked before the fork, so nothing after it can fail. */
	if (!(p->argv0 = strdup(argv[0])) || !(p->cwd = strdup(cwd)))
		goto nomem;
	/*
	 * fork, not vfork/posix_spawn: a vfork parent waits until its child
	 * execs, and a child stopped before its exec (SIGSTOP from the user it
	 * switched to) would freeze the whole agent.
	 */
	pid = agent_fork();
	if (pid < 0) {
		e = errno;
		send_error(chan, e, "fork: %s", strerror(e));
		goto out;
	}
	if (pid == 0) {
		int fds[3] = {in[0], out[1], err[1]};
		child_run(fds, ep[1], &u, cwd, argv, envp, pty, pty || (flags & EXEC_KEEP_STDIN));
	}
	p->seq = ++A.proc_seq;
	p->flags = flags & (EXEC_KEEP_STDIN | EXEC_PTY | EXEC_FOREGROUND);
	join_cmd(p->cmd, argv);
	clock_gettime(CLOCK_REALTIME, &ts);
	p->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ring_init(&p->ring[0], ring_bytes);
	ring_init(&p->ring[1], ring_bytes);
	p->chan = chan;
	p->pid = pid;
	p->uid = u.uid;
	p->gid = u.gid;
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = pty ? -1 : err[0];
	p->ep_fd = ep[0];
	in[1] = out[0] = ep[0] = -1;
	if (!pty)
		err[0] = -1;
	if (p->in_fd >= 0)
		fd_nonblock(p->in_fd);
	fd_nonblock(p->out_fd);
	if (p->err_fd >= 0)
		fd_nonblock(p->err_fd);
	/* STARTED or ERROR follows from the poll loop (proc_start_event). */
	fd_nonblock(p->ep_fd);
	p->next = A.procs;
	A.procs = p;
	p = NULL;
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
	if (p)
		proc_free(p);
	fd_close(&in[0]);
	fd_close(&in[1]);
	fd_close(&out[0]);
	fd_close(&out[1]);
	fd_close(&err[0]);
	fd_close(&err[1]);
	fd_close(&ep[0]);
	fd_close(&ep[1]);
	free(home_env);
	free(user_env);
	free(argv);
	free(envp);
}

/* ---- start: the error pipe ---- */

static const char *const step_names[] = {
	[STEP_STDIO] = "stdio", [STEP_SETGROUPS] = "setgroups", [STEP_SETGID] = "setgid",
	[STEP_SETUID] = "setuid", [STEP_CHDIR] = "cwd", [STEP_EXEC] = "exec", [STEP_RLIMIT] = "setrlimit",
};

/* The child failed before its exec: one ERROR naming the step, and the channel is free. */
static void start_failed(struct proc *p, uint32_t step, int err)
{
	const char *what = step < sizeof step_names / sizeof *step_names && step_names[step]
				   ? step_names[step] : "start";

	if (!p->chan)
		; /* its host is gone (RESET): no frame */
	else if (step == STEP_CHDIR)
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
void proc_start_event(struct proc *p)
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
	fd_close(&p->ep_fd);
	if (!p->chan)
		return;
	if (p->sub_pending) {
		proc_send_subscribed(p); /* a new host subscribed while it was starting */
		return;
	}
	put_u32(b, (uint32_t)p->pid);
	send_frame(T_STARTED, p->chan, b, 4);
}
