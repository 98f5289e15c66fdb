/*
 * Path resolution for file operations. A sandbox process may plant
 * symlinks anywhere it can write; the operation's user rights (ident.c)
 * make ordinary symlinks harmless, since the kernel checks every step as
 * that user. Magic links are different: /proc/self/fd/N, /proc/1/root and
 * friends jump straight to an object (here: the agent's own channel pipes
 * and the files of other operations) without a path walk. They are never
 * followed:
 *
 * - openat2(RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT) where the kernel has it;
 * - elsewhere (gVisor 2022 refuses openat2), a walk one component at a time
 *   with O_PATH | O_NOFOLLOW, which follows a symlink by its text only:
 *   /proc/self/fd/0 reads as "pipe:[123]" and leads nowhere, a textual
 *   target is walked again with the same checks.
 *
 * Everything is relative to root_fd ("/"; a scratch directory in the fuzz
 * build), so ".." and absolute link targets never leave it.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_HOPS 40

static int root_fd = -1;
static int have_openat2 = -1;

static long sys_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t)flags, .mode = mode, .resolve = resolve};
	return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int resolve_init(int root, int force_walk)
{
	long fd;

	root_fd = root;
	have_openat2 = 0;
	if (force_walk)
		return 0;
	fd = sys_openat2(root_fd, "/", O_PATH | O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT);
	if (fd >= 0) {
		close((int)fd);
		have_openat2 = 1;
	}
	return 0;
}

int resolve_uses_openat2(void)
{
	return have_openat2 == 1;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The userspace walk. `rest` is a scratch copy of the path (PATH_MAX * 2
 * bytes: a link target is spliced in front of what is left).
 */
static int walk(const char *path, int flags, mode_t mode, int follow_last)
{
	char rest[PATH_MAX * 2], link[PATH_MAX];
	size_t len = strlen(path);
	int cur, hops = 0;

	if (len >= sizeof rest)
		return errno = ENAMETOOLONG, -1;
	memcpy(rest, path, len + 1);
	if ((cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	for (char *p = rest;;) {
		char *comp, *end;
		int last, fd, e;
		struct stat st;
		ssize_t ln;

		while (*p == '/')
			p++;
		if (!*p) { /* the path ended on a directory: that is the result */
			fd = openat(cur, ".", (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW, mode);
			e = errno;
			close(cur);
			errno = e;
			return fd;
		}
		comp = p;
		end = strchr(p, '/');
		if (end) {
			*end = 0;
			p = end + 1;
		} else {
			p = comp + strlen(comp);
		}
		while (*p == '/')
			p++;
		last = !*p;
		if (strcmp(comp, ".") == 0 && !last)
			continue;
		if (strcmp(comp, "..") == 0 && same_file(cur, root_fd)) {
			if (last)
				comp = ".";
			else
				continue;
		}
		if (last && !follow_last) {
			fd = openat(cur, comp, flags | O_NOFOLLOW, mode);
			e = errno;
			close(cur);
			errno = e;
			return fd;
		}
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && last && (flags & O_CREAT)) {
			fd = openat(cur, comp, flags | O_NOFOLLOW, mode);
			e = errno;
			close(cur);
			errno = e;
			return fd;
		}
		if (fd < 0 || fstat(fd, &st) < 0)
			goto fail;
		if (S_ISLNK(st.st_mode)) {
			size_t tl, rl = strlen(p);
			close(fd);
			if (++hops > MAX_HOPS) {
				errno = ELOOP;
				goto fail_noclose;
			}
			ln = readlinkat(cur, comp, link, sizeof link - 1);
			if (ln < 0)
				goto fail_noclose;
			link[ln] = 0;
			tl = (size_t)ln;
			if (tl + 1 + rl + 1 > sizeof rest) {
				errno = ENAMETOOLONG;
				goto fail_noclose;
			}
			/* rest = link + "/" + what is left; p may point into rest. */
			memmove(rest + tl + 1, p, rl + 1);
			memcpy(rest, link, tl);
			rest[tl] = rl ? '/' : 0;
			p = rest;
			if (link[0] == '/') {
				int r = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
				if (r < 0)
					goto fail_noclose;
				close(cur);
				cur = r;
			}
			continue;
		}
		if (last) {
			close(fd);
			fd = openat(cur, comp, flags | O_NOFOLLOW, mode);
			e = errno;
			close(cur);
			errno = e;
			return fd;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			goto fail_noclose;
		}
		close(cur);
		cur = fd;
		continue;
fail:
		e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
fail_noclose:
		e = errno;
		close(cur);
		errno = e;
		return -1;
	}
}

int resolve_open(const char *path, int flags, mode_t mode, int follow_last)
{
	if (path[0] != '/')
		return errno = EINVAL, -1;
	if (have_openat2 == 1) {
		uint64_t res = RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT;
		long fd = sys_openat2(root_fd, path, flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW),
				      (flags & O_CREAT) ? mode : 0, res);
		return (int)fd;
	}
	return walk(path, flags | O_CLOEXEC, mode, follow_last);
}
