/*
 * airlock-shim: the host-side holder of one sandbox's stdio pipes.
 *
 *   airlock-shim --socket PATH [--attached [--ready-ms N]] -- RUNTIME ARGS...
 *
 * It runs RUNTIME (which leaves the agent running with our pipes as its
 * stdin/stdout), reports `ok` or `error <status>` on its own stdout, then
 * relays frames between the agent and one host connection on PATH. It
 * outlives the server, so a restarted server reconnects to the same agent.
 * Invariants: the agent only ever receives whole frames, every host
 * connection starts on a frame boundary, and all buffers are bounded; with
 * no host connected the agent's output is not read at all.
 *
 * --attached: RUNTIME does not exit after a create; it is the sandbox
 * (bubblewrap, which must keep its parent: --die-with-parent). The shim
 * reports `ok` once the agent has written its first bytes, or the error if
 * RUNTIME exits first, and stays RUNTIME's parent. --ready-ms: how long the
 * agent may take to speak (default READY_MS; a microVM booting under software
 * emulation needs longer).
 */
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define UP_CAP (2u * FRAME_MAX_TOTAL) /* host -> agent: room for a whole max frame */
#define DOWN_CAP (256u * 1024u)       /* agent -> host */
#define STDERR_CAP (64u * 1024u)      /* RUNTIME's stderr kept for the report */
#define EOF_FLUSH_MS 2000             /* last output after the agent is gone */
#define READY_MS 20000                /* --attached: how long the agent may take to speak */

static const char *sock_path;
static int64_t ready_ms = READY_MS;
static int sigfd[2] = {-1, -1};
static volatile sig_atomic_t got_term;

static int lfd = -1, cfd = -1, ain = -1, aout = -1;
static struct buf up, down;
static size_t up_whole; /* bytes at the head of `up` that are whole frames */

/* Frame tracker over the agent bytes already delivered to a host. */
static uint8_t hdr[4];
static unsigned hdr_have; /* > 0: inside a frame */
static uint64_t body_left;
static int skipping;      /* discarding the rest of a dropped host's frame */

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGTERM)
		got_term = 1;
	if (write(sigfd[1], "s", 1) < 0) {
		/* pipe full: a wakeup is pending anyway */
	}
	errno = e;
}

/* How long an exiting shim keeps reaping the sandbox's host processes. */
#define REAP_GRACE_MS 2000

_Noreturn static void finish(int code)
{
	int64_t until = now_ms() + REAP_GRACE_MS;

	if (lfd >= 0)
		unlink(sock_path);
	/*
	 * The runtime's processes (runc's container init, runsc's sandbox and
	 * gofer) are our children (we are their subreaper). Reap them as they
	 * die, so the runtime's delete never waits on a zombie that the host's
	 * init may be slow to collect.
	 */
	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);
		if (r > 0)
			continue;
		if ((r < 0 && errno == ECHILD) || now_ms() >= until)
			break;
		usleep(10 * 1000);
	}
	exit(code);
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/* ---- setup ---- */

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* A stale socket from a previous shim would make bind fail. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	old = umask(077); /* 0600 from the start: no window for other users */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static pid_t start_runtime(char **argv, int *in_w, int *out_r, int *err_r)
{
	int in[2], out[2], err[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sigaction sa = {.sa_handler = SIG_DFL};
		sigset_t set;

		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &sa, NULL);
		sigemptyset(&set);
		sigprocmask(SIG_SETMASK, &set, NULL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "airlock-shim: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	*in_w = in[1];
	*out_r = out[0];
	*err_r = err[0];
	return pid;
}

/*
 * Waits for RUNTIME while capturing its stderr. Its stderr may be inherited
 * by the container and never reach EOF, so after the exit only what is
 * already in the pipe is taken.
 */
static int wait_runtime(pid_t pid, int errfd, char *cap, size_t *caplen)
{
	char tmp[4096];
	int status = 0, done = 0;
	size_t after = 0; /* bytes taken after the exit: a writer may never stop */

	fd_nonblock(errfd);
	for (;;) {
		struct pollfd p[2] = {{errfd, POLLIN, 0}, {sigfd[0], POLLIN, 0}};
		ssize_t n = -1;

		if (waitpid(pid, &status, WNOHANG) == pid)
			done = 1;
		/* Read what is there; after the exit, stop at the first empty read. */
		while (errfd >= 0 && (n = read(errfd, tmp, sizeof tmp)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					close(errfd);
					errfd = -1;
				}
				break;
			}
			if (done && (after += (size_t)n) > 16 * STDERR_CAP)
				break;
			if (*caplen < STDERR_CAP) {
				size_t k = (size_t)n < STDERR_CAP - *caplen ? (size_t)n : STDERR_CAP - *caplen;
				memcpy(cap + *caplen, tmp, k);
				*caplen += k;
			}
		}
		if (errfd >= 0 && n == 0) {
			close(errfd);
			errfd = -1;
		}
		if (done)
			break;
		if (got_term)
			finish(0);
		p[0].fd = errfd;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			while (read(sigfd[0], tmp, sizeof tmp) > 0)
				;
	}
	if (errfd >= 0)
		close(errfd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Captures up to the cap of RUNTIME's stderr without blocking. */
static void take_stderr(int errfd, char *cap, size_t *caplen)
{
	char tmp[4096];
	ssize_t n;

	while ((n = read(errfd, tmp, sizeof tmp)) > 0) {
		if (*caplen < STDERR_CAP) {
			size_t k = (size_t)n < STDERR_CAP - *caplen ? (size_t)n : STDERR_CAP - *caplen;
			memcpy(cap + *caplen, tmp, k);
			*caplen += k;
		}
	}
}

/*
 * --attached: waits until the agent's first bytes are readable (ready: 0),
 * or RUNTIME exits first (its status, at least 1), or READY_MS pass (1).
 * Nothing is read from the agent here; the relay gets every byte.
 */
static int wait_ready(pid_t pid, int errfd, int outfd, char *cap, size_t *caplen)
{
	int64_t until = now_ms() + ready_ms;
	int status;

	fd_nonblock(errfd);
	for (;;) {
		struct pollfd p[3] = {{outfd, POLLIN, 0}, {errfd, POLLIN, 0}, {sigfd[0], POLLIN, 0}};
		int64_t left = until - now_ms();
		char junk[64];

		if (waitpid(pid, &status, WNOHANG) == pid) {
			take_stderr(errfd, cap, caplen);
			close(errfd);
			if (WIFEXITED(status))
				return WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
			return 128 + WTERMSIG(status);
		}
		if (got_term)
			finish(0);
		if (left <= 0) {
			take_stderr(errfd, cap, caplen);
			close(errfd);
			return 1;
		}
		if (poll(p, 3, (int)(left < 100 ? left : 100)) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents & POLLIN) {
			/* The sandbox keeps its stderr; ours must not fill up unread. */
			take_stderr(errfd, cap, caplen);
			close(errfd);
			return 0;
		}
		if (p[1].revents)
			take_stderr(errfd, cap, caplen);
		if (p[2].revents)
			while (read(sigfd[0], junk, sizeof junk) > 0)
				;
	}
}

/* ---- relay ---- */

/* Advances the tracker over n delivered bytes; with stop, up to a boundary. */
static size_t track(const uint8_t *p, size_t n, int stop)
{
	size_t i = 0;

	while (i < n) {
		if (hdr_have < 4) {
			hdr[hdr_have++] = p[i++];
			if (hdr_have < 4)
				continue;
			body_left = get_u32(hdr);
		} else {
			size_t k = n - i < body_left ? n - i : (size_t)body_left;
			i += k;
			body_left -= k;
		}
		if (hdr_have == 4 && body_left == 0) {
			hdr_have = 0;
			if (stop)
				return i;
		}
	}
	return i;
}

static void drop_client(void)
{
	if (cfd < 0)
		return;
	close(cfd);
	cfd = -1;
	/* A frame the host did not finish is never forwarded... */
	buf_drop_tail(&up, up_whole);
	/* ...and one it got only part of is not continued for the next host. */
	skipping = hdr_have != 0;
}

/* Drops the rest of a frame the previous host got only part of. */
static void skip_partial(void)
{
	while (skipping && buf_len(&down)) {
		buf_consume(&down, track(buf_peek(&down), buf_len(&down), 1));
		skipping = hdr_have != 0;
	}
}

/* Validates newly read host bytes; 0, or -1 for a bad frame length. */
static int scan_up(void)
{
	while (buf_len(&up) - up_whole >= 4) {
		uint32_t len = get_u32(buf_peek(&up) + up_whole);
		if (!frame_len_ok(len))
			return -1;
		if (buf_len(&up) - up_whole < 4 + (size_t)len)
			break;
		up_whole += 4 + (size_t)len;
	}
	if (ain < 0) { /* agent gone: nothing can be delivered */
		buf_consume(&up, up_whole);
		up_whole = 0;
	}
	return 0;
}

static void client_read(void)
{
	ssize_t n = buf_fill(&up, cfd);

	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		drop_client();
		return;
	}
	if (n > 0 && scan_up() < 0) {
		dprintf(2, "airlock-shim: bad frame length from host\n");
		drop_client();
	}
}

static void client_write(void)
{
	ssize_t n;

	do
		n = write(cfd, buf_peek(&down), buf_len(&down));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN)
			drop_client();
		return;
	}
	track(buf_peek(&down), (size_t)n, 0);
	buf_consume(&down, (size_t)n);
}

static void agent_write(void)
{
	ssize_t n = buf_flush(&up, ain, up_whole);

	if (n > 0) {
		up_whole -= (size_t)n;
	} else if (n < 0 && errno != EAGAIN) {
		close(ain); /* the agent is gone; its stdout EOF ends us */
		ain = -1;
		buf_consume(&up, up_whole);
		up_whole = 0;
	}
}

static void accept_client(void)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	drop_client(); /* the newest host wins */
	cfd = fd;
}

_Noreturn static void relay(void)
{
	int64_t eof_at = -1;
	char junk[64];

	for (;;) {
		struct pollfd p[5];
		short ev = 0;
		int timeout = -1;

		if (got_term)
			finish(0);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		skip_partial();
		if (eof_at >= 0) {
			int64_t left = eof_at + EOF_FLUSH_MS - now_ms();
			if (cfd < 0 || !buf_len(&down) || left <= 0)
				finish(0);
			timeout = (int)left;
		}

		p[0] = (struct pollfd){lfd, POLLIN, 0};
		p[1] = (struct pollfd){sigfd[0], POLLIN, 0};
		if (cfd >= 0) {
			if (buf_room(&up))
				ev |= POLLIN;
			if (buf_len(&down) && !skipping)
				ev |= POLLOUT;
		}
		p[2] = (struct pollfd){ev ? cfd : -1, ev, 0};
		/*
		 * No host, no reading: the agent's own queue applies back-pressure.
		 * The pipe is still watched (events 0) for a hang-up, so a container
		 * that stops while no host is connected still ends the shim.
		 */
		p[3] = (struct pollfd){aout, cfd >= 0 && buf_room(&down) ? POLLIN : 0, 0};
		p[4] = (struct pollfd){up_whole && ain >= 0 ? ain : -1, POLLOUT, 0};

		if (poll(p, 5, timeout) < 0) {
			if (errno != EINTR)
				finish(1);
			continue;
		}
		if (p[1].revents)
			while (read(sigfd[0], junk, sizeof junk) > 0)
				;
		if (p[0].revents)
			accept_client();
		if (p[2].fd >= 0 && p[2].fd == cfd && (p[2].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    (ev & POLLIN))
			client_read();
		if (p[2].fd >= 0 && p[2].fd == cfd && (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) &&
		    (ev & POLLOUT))
			client_write();
		if (p[3].fd >= 0 && (p[3].events & POLLIN) && p[3].revents) {
			ssize_t n = buf_fill(&down, aout);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				close(aout);
				aout = -1;
				eof_at = now_ms();
			}
		} else if (p[3].fd >= 0 && cfd < 0 && (p[3].revents & (POLLHUP | POLLERR))) {
			/* The container is gone and nobody is there to read its last words. */
			close(aout);
			aout = -1;
			eof_at = now_ms();
		}
		if (p[4].fd >= 0 && p[4].revents)
			agent_write();
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	char *cap;
	size_t caplen = 0;
	int in_w, out_r, err_r, status, devnull, attached, first;
	pid_t pid;

	attached = argc > 4 && strcmp(argv[3], "--attached") == 0;
	first = attached ? 5 : 4;
	if (attached && argc > 6 && strcmp(argv[4], "--ready-ms") == 0) {
		char *end;
		long v = strtol(argv[5], &end, 10);
		if (*end || v < 1 || v > 3600 * 1000) {
			fprintf(stderr, "airlock-shim: --ready-ms takes 1..3600000\n");
			return 2;
		}
		ready_ms = v;
		first = 7;
	}
	if (argc <= first || strcmp(argv[1], "--socket") != 0 || strcmp(argv[first - 1], "--") != 0) {
		fprintf(stderr, "usage: airlock-shim --socket PATH [--attached [--ready-ms N]] -- RUNTIME ARGS...\n");
		return 2;
	}
	sock_path = argv[2];

	/* Started detached by the server; never die with it or its terminal. */
	setsid();
	/* The container's processes outlive the runtime's create: adopt and reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	fds_cloexec_above_stdio();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (pipe2(sigfd, O_CLOEXEC | O_NONBLOCK) < 0) {
		printf("error 1\nairlock-shim: pipe2: %s\n", strerror(errno));
		return 1;
	}
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);

	cap = malloc(STDERR_CAP);
	if (!cap || buf_init(&up, UP_CAP) < 0 || buf_init(&down, DOWN_CAP) < 0) {
		printf("error 1\nairlock-shim: out of memory\n");
		return 1;
	}
	lfd = listen_socket(sock_path);
	if (lfd < 0) {
		printf("error 1\nairlock-shim: listen %s: %s\n", sock_path, strerror(errno));
		return 1;
	}
	pid = start_runtime(argv + first, &in_w, &out_r, &err_r);
	if (pid < 0) {
		printf("error 1\nairlock-shim: start: %s\n", strerror(errno));
		finish(1);
	}
	status = attached ? wait_ready(pid, err_r, out_r, cap, &caplen) : wait_runtime(pid, err_r, cap, &caplen);

	if (status == 0) {
		write_all(1, "ok\n", 3);
	} else {
		char line[32];
		int n = snprintf(line, sizeof line, "error %d\n", status);
		write_all(1, line, (size_t)n);
		write_all(1, cap, caplen);
	}
	/* The report is the last thing the server reads from us directly. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}
	free(cap);
	if (status != 0) {
		if (attached) /* a sandbox that never answered must not linger */
			kill(pid, SIGKILL);
		finish(1);
	}

	ain = in_w;
	aout = out_r;
	fd_nonblock(ain);
	fd_nonblock(aout);
	relay();
}
