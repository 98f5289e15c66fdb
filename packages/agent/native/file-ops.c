/*
 * The small file operations, each one request and one answer (OK, or
 * STAT_RESULT): STAT, MKDIR, RENAME, CHMOD, SYMLINK and a plain REMOVE. As
 * every file operation, they run with the rights of their user (ident.c)
 * and resolve paths without following magic links (resolve.c): the parent
 * directory is resolved, and the last component is then used relative to
 * it, never followed unless the operation says so. A recursive REMOVE can
 * take long, so it runs in a worker (file-job.c).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

/*
 * "/a/b/" -> dir "/a", name "b". The root, "." and ".." have no parent to
 * act in: EINVAL. *dir is malloc'ed; name points into it.
 */
int split_parent(const char *path, char **dir, const char **name)
{
	char *copy, *slash;
	size_t n = strlen(path);

	*dir = NULL;
	if (path[0] != '/')
		return EINVAL;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (!(copy = malloc(n + 2)))
		return ENOMEM;
	memcpy(copy, path, n);
	copy[n] = 0;
	slash = strrchr(copy, '/');
	if (!slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, "..")) {
		free(copy);
		return EINVAL;
	}
	/* dir and name share the buffer: "/a\0b" (the root as "/\0b" needs one more byte) */
	if (slash == copy) {
		memmove(copy + 2, copy + 1, n);
		copy[1] = 0;
		*name = copy + 2;
	} else {
		*slash = 0;
		*name = slash + 1;
	}
	*dir = copy;
	return 0;
}

/* Reads `u32... , strings..., user\0` headers; NULL means ERROR was sent. */
struct req {
	uint32_t u[2];
	const char *s[3];
	struct ident id;
};

static int parse(uint32_t chan, const uint8_t *payload, size_t n, int nu, int ns, struct req *q, const char *what)
{
	struct rd r = {payload, n};
	const char *user;
	int e;

	for (int i = 0; i < nu; i++)
		if (rd_u32(&r, &q->u[i]) < 0)
			goto bad;
	for (int i = 0; i < ns; i++)
		if (!(q->s[i] = rd_str(&r)))
			goto bad;
	if (!(user = rd_str(&r)))
		goto bad;
	if ((e = ident_for(user, &q->id)) != 0) {
		send_error(chan, e, "unknown user '%.200s'", user);
		return -1;
	}
	return 0;
bad:
	send_error(chan, EINVAL, "malformed %s", what);
	return -1;
}

/* Resolves the parent of `path` as the user: an O_PATH dirfd, or -1 with errno. */
static int open_parent(const char *path, char **buf, const char **name)
{
	int e = split_parent(path, buf, name), fd;

	if (e)
		return errno = e, -1;
	fd = resolve_open(*buf, O_PATH | O_DIRECTORY, 0, 1);
	e = errno;
	if (fd < 0) {
		free(*buf);
		*buf = NULL;
	}
	errno = e;
	return fd;
}

/* Runs op() as the user, then answers OK or ERROR naming the step. */
static void as_user(uint32_t chan, struct req *q, int (*op)(struct req *, const char **), const char *what0)
{
	const char *what = what0;
	int e, rc;

	if ((e = ident_enter(&q->id)) != 0) {
		send_error(chan, e, "switch to the user: %s", strerror(e));
		return;
	}
	rc = op(q, &what);
	e = errno;
	ident_leave(&q->id);
	if (rc < 0)
		send_error(chan, e, "%s: %s", what, strerror(e));
	else
		send_ok(chan, (uint64_t)rc);
}

/* ---- STAT: u32 flags (bit 0: do not follow a final symlink), path\0, user\0 ---- */

void file_stat(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;
	struct stat st;
	uint8_t b[29 + PATH_MAX];
	ssize_t ln = 0;
	int fd, e;

	if (parse(chan, payload, n, 1, 1, &q, "STAT") < 0)
		return;
	if ((e = ident_enter(&q.id)) != 0) {
		send_error(chan, e, "switch to the user: %s", strerror(e));
		return;
	}
	fd = resolve_open(q.s[0], O_PATH, 0, !(q.u[0] & 1));
	e = fd < 0 ? errno : (fstat(fd, &st) < 0 ? errno : 0);
	if (!e && S_ISLNK(st.st_mode) && (ln = readlinkat(fd, "", (char *)b + 29, PATH_MAX - 1)) < 0)
		ln = 0;
	ident_leave(&q.id);
	if (fd >= 0)
		close(fd);
	if (e) {
		send_error(chan, e, "stat: %s", strerror(e));
		return;
	}
	b[0] = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'o';
	put_u32(b + 1, st.st_mode & 07777);
	put_u64(b + 5, (uint64_t)st.st_size);
	put_u64(b + 13, (uint64_t)((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000));
	put_u32(b + 21, st.st_uid);
	put_u32(b + 25, st.st_gid);
	b[29 + ln] = 0;
	send_frame(T_STAT_RESULT, chan, b, 29 + (size_t)ln + 1);
}

/* ---- MKDIR: u32 mode, u32 flags (bit 0: parents, and an existing directory is fine), path\0, user\0 ---- */

static int do_mkdir(struct req *q, const char **what)
{
	const char *name;
	char *dir;
	struct stat st;
	int fd, rc = 0, e;

	*what = "mkdir";
	if ((e = split_parent(q->s[0], &dir, &name)) != 0)
		return errno = e, -1;
	if ((q->u[1] & 1) && mkdir_parents(dir) < 0) {
		free(dir);
		return -1;
	}
	if ((fd = resolve_open(dir, O_PATH | O_DIRECTORY, 0, 1)) < 0) {
		free(dir);
		return -1;
	}
	if (mkdirat(fd, name, q->u[0] & 07777) < 0) {
		e = errno;
		/* -p: an existing directory (not a link to one) is what was asked for */
		if (!(e == EEXIST && (q->u[1] & 1) && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)))
			rc = -1;
		errno = e;
	}
	e = errno;
	close(fd);
	free(dir);
	errno = e;
	return rc;
}

void file_mkdir(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;
	if (parse(chan, payload, n, 2, 1, &q, "MKDIR") == 0)
		as_user(chan, &q, do_mkdir, "mkdir");
}

/* ---- RENAME: u32 flags (bit 0: never replace), from\0, to\0, user\0 ---- */

static int do_rename(struct req *q, const char **what)
{
	const char *fname, *tname;
	char *fb = NULL, *tb = NULL;
	int ffd, tfd = -1, rc = -1, e;
	struct stat st;

	*what = "rename";
	if ((ffd = open_parent(q->s[0], &fb, &fname)) < 0)
		return -1;
	if ((tfd = open_parent(q->s[1], &tb, &tname)) < 0)
		goto out;
	if (q->u[0] & 1) {
		rc = (int)syscall(SYS_renameat2, ffd, fname, tfd, tname, RENAME_NOREPLACE);
		if (rc < 0 && (errno == ENOSYS || errno == EINVAL)) {
			/* Older kernels (and gVisor 2022): a check, then the rename. */
			if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) == 0)
				errno = EEXIST;
			else
				rc = renameat(ffd, fname, tfd, tname);
		}
	} else {
		rc = renameat(ffd, fname, tfd, tname);
	}
out:
	e = errno;
	close(ffd);
	if (tfd >= 0)
		close(tfd);
	free(fb);
	free(tb);
	errno = e;
	return rc < 0 ? -1 : 0;
}

void file_rename(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;
	if (parse(chan, payload, n, 1, 2, &q, "RENAME") == 0)
		as_user(chan, &q, do_rename, "rename");
}

/* ---- CHMOD: u32 mode, path\0, user\0 (a final symlink is followed, as chmod(1) does) ---- */

static int do_chmod(struct req *q, const char **what)
{
	char proc[64];
	int fd, rc, e;

	*what = "chmod";
	if ((fd = resolve_open(q->s[0], O_PATH, 0, 1)) < 0)
		return -1;
	/*
	 * An O_PATH fd takes no fchmod; its /proc/self/fd entry names exactly the
	 * inode resolved above, so nothing is looked up again by name.
	 */
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	rc = chmod(proc, q->u[0] & 07777);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

void file_chmod(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;
	if (parse(chan, payload, n, 1, 1, &q, "CHMOD") == 0)
		as_user(chan, &q, do_chmod, "chmod");
}

/* ---- SYMLINK: target\0, path\0, user\0 ---- */

static int do_symlink(struct req *q, const char **what)
{
	const char *name;
	char *buf;
	int fd, rc, e;

	*what = "symlink";
	if ((fd = open_parent(q->s[1], &buf, &name)) < 0)
		return -1;
	rc = symlinkat(q->s[0], fd, name);
	e = errno;
	close(fd);
	free(buf);
	errno = e;
	return rc;
}

void file_symlink(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;
	if (parse(chan, payload, n, 0, 2, &q, "SYMLINK") == 0)
		as_user(chan, &q, do_symlink, "symlink");
}

/* ---- REMOVE: u32 flags (bit 0: recursive), path\0, user\0 ---- */

static int do_remove(struct req *q, const char **what)
{
	const char *name;
	char *buf;
	int fd, rc, e;

	*what = "remove";
	if ((fd = open_parent(q->s[0], &buf, &name)) < 0)
		return -1;
	rc = unlinkat(fd, name, 0);
	if (rc < 0 && (errno == EISDIR || errno == EPERM))
		rc = unlinkat(fd, name, AT_REMOVEDIR); /* an empty directory, like rm -d */
	e = errno;
	close(fd);
	free(buf);
	errno = e;
	return rc;
}

void file_remove(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct req q;

	if (parse(chan, payload, n, 1, 1, &q, "REMOVE") < 0)
		return;
	if (q.u[0] & 1)
		job_start(chan, &q.id, q.s[0]);
	else
		as_user(chan, &q, do_remove, "remove");
}
