/*
 * File operations that can take long run in a worker: a fork of the agent
 * (its own code, never a program of the image) that takes the user's
 * effective ids, does the work and writes one errno to a pipe the poll loop
 * watches. The agent never waits for it, so a huge tree stalls nothing
 * else; a cancelled job is killed. Its real uid stays the agent's, so the
 * user's processes cannot signal or trace it.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RM_DEPTH_MAX 256

/* rm -r of name in dirfd, never following a symlink; the first error, or 0. */
static int rm_at(int dirfd, const char *name, int depth, int top)
{
	struct dirent *de;
	DIR *d;
	int fd, first = 0;

	if (unlinkat(dirfd, name, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return top ? ENOENT : 0; /* gone meanwhile: that is what was asked */
	if (errno != EISDIR && errno != EPERM)
		return errno;
	if (depth >= RM_DEPTH_MAX)
		return ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (!(d = fdopendir(fd))) {
		int e = errno;
		close(fd);
		return e;
	}
	while ((errno = 0, de = readdir(d))) {
		int e;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((e = rm_at(fd, de->d_name, depth + 1, 0)) && !first)
			first = e;
	}
	if (errno && !first)
		first = errno;
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && !first)
		first = errno;
	return first;
}

_Noreturn static void job_child(int wfd, struct ident *id, const char *path)
{
	uint8_t b[4];
	const char *name;
	char *dir;
	int e, fd;

	if ((e = ident_enter(id)) == 0 && (e = split_parent(path, &dir, &name)) == 0) {
		fd = resolve_open(dir, O_PATH | O_DIRECTORY, 0, 1);
		e = fd < 0 ? errno : rm_at(fd, name, 0, 1);
	}
	put_u32(b, (uint32_t)e);
	if (write(wfd, b, sizeof b) < 0) {
		/* the agent is gone: nobody to tell */
	}
	_exit(0);
}

void job_start(uint32_t chan, struct ident *id, const char *path)
{
	int p[2];
	struct fop *f;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		send_error(chan, errno, "remove: %s", strerror(errno));
		return;
	}
	if ((pid = agent_fork()) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		send_error(chan, e, "fork: %s", strerror(e));
		return;
	}
	if (pid == 0) {
		close(p[0]);
		job_child(p[1], id, path);
	}
	close(p[1]);
	fd_nonblock(p[0]);
	if (!(f = fop_new(chan, FOP_JOB))) {
		kill(pid, SIGKILL);
		close(p[0]);
		return;
	}
	f->fd = p[0];
	f->job_pid = pid;
}

/* The worker's pipe is readable: its errno (0: done), or EOF if it died without one. */
void job_event(struct fop *f)
{
	uint8_t b[4];
	ssize_t n;

	do
		n = read(f->fd, b, sizeof b);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	f->job_pid = 0; /* finished: reaped as an unknown child */
	if (n == (ssize_t)sizeof b && get_u32(b) == 0) {
		send_ok(f->chan, 0);
		fop_free(f);
	} else {
		int e = n == (ssize_t)sizeof b ? (int)get_u32(b) : EIO;
		send_error(f->chan, e, "remove: %s", strerror(e));
		fop_free(f);
	}
}
