/*
 * FILE_WRITE as the operation's user: missing parents are made as that
 * user, the data goes to a temp file created O_EXCL in the target's
 * directory (held open as a dirfd), and FILE_END renames it over the target
 * as the user again, so a reader never sees half a file, a cancelled write
 * leaves nothing, and the user can replace only what it could replace
 * itself (sticky directories included).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * mkdir -p of dir, as the user (so what it creates is the user's, and it
 * creates only where the user may). Each prefix is resolved afresh.
 */
int mkdir_parents(char *dir)
{
	for (char *p = dir + 1;; p++) {
		char c = *p, *slash;
		int fd, pfd;

		if (c != '/' && c != 0)
			continue;
		*p = 0;
		fd = resolve_open(dir, O_PATH | O_DIRECTORY, 0, 1);
		if (fd >= 0) {
			close(fd);
		} else if (errno == ENOENT) {
			slash = strrchr(dir, '/');
			*slash = 0;
			pfd = resolve_open(slash == dir ? "/" : dir, O_PATH | O_DIRECTORY, 0, 1);
			*slash = '/';
			if (pfd < 0 || (mkdirat(pfd, slash + 1, 0755) < 0 && errno != EEXIST)) {
				int e = errno;
				if (pfd >= 0)
					close(pfd);
				*p = c;
				errno = e;
				return -1;
			}
			close(pfd);
		} else {
			*p = c;
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

/* A fresh temp name in dirfd, created O_EXCL (so never through a link). */
static int create_tmp(struct fop *f)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char name[] = ".airlock-tmp-XXXXXXXXXX";
	size_t base = sizeof name - 11;

	for (int tries = 0; tries < 100; tries++) {
		uint8_t rnd[10];
		int fd;

		if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
			for (size_t i = 0; i < sizeof rnd; i++)
				rnd[i] = (uint8_t)(now_ms() >> (i % 8) ^ (uint64_t)tries * 31u ^ i * 7u);
		}
		for (size_t i = 0; i < 10; i++)
			name[base + i] = abc[rnd[i] % (sizeof abc - 1)];
		fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (!(f->tmp = strdup(name))) {
				unlinkat(f->dirfd, name, 0);
				close(fd);
				errno = ENOMEM;
				return -1;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/* The part of file_write that runs as the user; 0 or -1 with errno, *what names the step. */
static int write_open(struct fop *f, const char *path, uint32_t mode, uint32_t flags, const char **what)
{
	const char *slash = strrchr(path, '/');
	char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));

	if (!dir || !(f->path = strdup(slash + 1))) {
		free(dir);
		*what = "write";
		return errno = ENOMEM, -1;
	}
	*what = "mkdir";
	if ((flags & 1) && mkdir_parents(dir) < 0)
		goto fail;
	*what = "open directory";
	f->dirfd = resolve_open(dir, O_PATH | O_DIRECTORY, 0, 1);
	if (f->dirfd < 0)
		goto fail;
	*what = "create";
	f->fd = create_tmp(f);
	if (f->fd < 0)
		goto fail;
	f->mode = mode & 07777; /* set at FILE_END: a write would clear set-id bits again */
	free(dir);
	return 0;
fail:
	free(dir);
	return -1;
}

void file_write(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	uint32_t mode, flags;
	const char *path, *user, *what;
	struct ident id;
	struct fop *f;
	int e, rc;

	if (rd_u32(&r, &mode) < 0 || rd_u32(&r, &flags) < 0 || !(path = rd_str(&r)) ||
	    !(user = rd_str(&r))) {
		send_error(chan, EINVAL, "malformed FILE_WRITE");
		return;
	}
	if (path[0] != '/') {
		send_error(chan, EINVAL, "path must be absolute");
		return;
	}
	if ((e = ident_for(user, &id)) != 0) {
		send_error(chan, e, "unknown user '%.200s'", user);
		return;
	}
	if (!strrchr(path, '/')[1]) {
		send_error(chan, EINVAL, "path names a directory");
		return;
	}
	if (!(f = fop_new(chan, FOP_WRITE)))
		return;
	f->id = id;
	if ((e = ident_enter(&f->id)) != 0) {
		fop_fail(f, e, "switch to the user");
		return;
	}
	rc = write_open(f, path, mode, flags, &what);
	e = errno;
	ident_leave(&f->id);
	if (rc < 0)
		fop_fail(f, e, what);
}

void file_data(struct fop *f, const uint8_t *d, size_t n)
{
	while (n) {
		ssize_t w = write(f->fd, d, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fop_fail(f, errno, "write");
			return;
		}
		d += w;
		n -= (size_t)w;
		f->bytes += (uint64_t)w;
	}
}

void file_end(struct fop *f)
{
	uint8_t b[8];
	int fd = f->fd, e;
	const char *what = "rename";

	/*
	 * The mode, then the rename, as the user: the file is its own already, so
	 * it may set any bits on it (set-id ones of its own ids only).
	 */
	f->fd = -1;
	if ((e = ident_enter(&f->id)) == 0) {
		if (fchmod(fd, f->mode) < 0) {
			e = errno;
			what = "chmod";
		} else if (renameat(f->dirfd, f->tmp, f->dirfd, f->path) < 0) {
			e = errno;
		}
		ident_leave(&f->id);
	}
	if (close(fd) < 0 && !e) {
		e = errno;
		what = "write";
	}
	if (e) {
		fop_fail(f, e, what);
		return;
	}
	free(f->tmp);
	f->tmp = NULL;
	put_u64(b, f->bytes);
	send_frame(T_OK, f->chan, b, 8);
	fop_free(f);
}

