/*
 * File operations, resolved inside the sandbox so no host code ever walks
 * a path the sandbox controls. Writes land in a temp file renamed at
 * FILE_END; reads and listings are produced chunk by chunk, only while the
 * output queue is below OUT_HIGH, so memory stays flat for any file size.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fop *fop_find(uint32_t chan)
{
	for (struct fop *f = A.fops; f; f = f->next)
		if (f->chan == chan)
			return f;
	return NULL;
}

static struct fop *fop_new(uint32_t chan, enum fop_kind kind)
{
	struct fop *f = calloc(1, sizeof *f);

	if (!f) {
		send_error(chan, ENOMEM, "out of memory");
		return NULL;
	}
	f->chan = chan;
	f->kind = kind;
	f->fd = -1;
	f->next = A.fops;
	A.fops = f;
	return f;
}

/* Unlinks the op and releases it; a pending temp file is removed. */
static void fop_free(struct fop *f)
{
	for (struct fop **pp = &A.fops; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (f->dir)
		closedir(f->dir);
	else if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	free(f);
}

static void fop_fail(struct fop *f, int err, const char *what)
{
	send_error(f->chan, err, "%s: %s", what, strerror(err));
	fop_free(f);
}

/* The single path\0 payload of FILE_READ / LIST_DIR, or NULL (ERROR sent). */
static const char *abs_path(uint32_t chan, struct rd *r)
{
	const char *path = rd_str(r);

	if (!path) {
		send_error(chan, EINVAL, "malformed path");
		return NULL;
	}
	if (path[0] != '/') {
		send_error(chan, EINVAL, "path must be absolute");
		return NULL;
	}
	return path;
}

/* ---- write ---- */

/* mkdir -p of dir; directories it creates are chowned to the user. */
static int mkdir_parents(char *dir, const struct user *u)
{
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(dir, 0755) == 0) {
			if (lchown(dir, u->uid, u->gid) < 0 && geteuid() == 0) {
				*p = c;
				return -1;
			}
		} else if (errno != EEXIST) {
			*p = c;
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

void file_write(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	uint32_t mode, flags;
	const char *path, *user, *slash;
	struct user u;
	struct stat st;
	struct fop *f;
	char *dir;
	int e;

	if (rd_u32(&r, &mode) < 0 || rd_u32(&r, &flags) < 0 || !(path = rd_str(&r)) ||
	    !(user = rd_str(&r))) {
		send_error(chan, EINVAL, "malformed FILE_WRITE");
		return;
	}
	if (path[0] != '/') {
		send_error(chan, EINVAL, "path must be absolute");
		return;
	}
	if ((e = user_resolve(user, &u)) != 0) {
		send_error(chan, e, "unknown user '%.200s'", user);
		return;
	}
	slash = strrchr(path, '/');
	if (!slash[1]) {
		send_error(chan, EINVAL, "path names a directory");
		return;
	}
	if (!(f = fop_new(chan, FOP_WRITE)))
		return;
	dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	f->path = strdup(path);
	if (!dir || !f->path || asprintf(&f->tmp, "%s/.airlock-tmp-XXXXXX",
					 slash == path ? "" : dir) < 0) {
		f->tmp = NULL;
		free(dir);
		fop_fail(f, ENOMEM, "write");
		return;
	}
	if ((flags & 1) && mkdir_parents(dir, &u) < 0) {
		e = errno;
		free(dir);
		free(f->tmp);
		f->tmp = NULL;
		fop_fail(f, e, "mkdir");
		return;
	}
	free(dir);
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		e = errno;
		free(f->tmp);
		f->tmp = NULL;
		fop_fail(f, e, "create");
		return;
	}
	/* chown before chmod: chown clears set-id bits. */
	if (fstat(f->fd, &st) < 0 ||
	    ((st.st_uid != u.uid || st.st_gid != u.gid) && fchown(f->fd, u.uid, u.gid) < 0) ||
	    fchmod(f->fd, mode & 07777) < 0) {
		fop_fail(f, errno, "create");
		return;
	}
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
	int fd = f->fd;

	f->fd = -1;
	if (close(fd) < 0) {
		fop_fail(f, errno, "write");
		return;
	}
	if (rename(f->tmp, f->path) < 0) {
		fop_fail(f, errno, "rename");
		return;
	}
	free(f->tmp);
	f->tmp = NULL;
	put_u64(b, f->bytes);
	send_frame(T_OK, f->chan, b, 8);
	fop_free(f);
}

/*
 * CANCEL ends the operation with ERROR(ECANCELED), so every operation has
 * exactly one final frame and the host knows when the channel is free.
 */
void fop_cancel(struct fop *f)
{
	send_error(f->chan, ECANCELED, "cancelled");
	fop_free(f);
}

/* ---- read and list ---- */

void file_read(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	const char *path = abs_path(chan, &r);
	struct stat st;
	struct fop *f;
	int fd, e;

	if (!path)
		return;
	/* O_NONBLOCK: opening a FIFO must not hang the loop. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		send_error(chan, e, "open: %s", strerror(e));
		return;
	}
	if (fstat(fd, &st) < 0)
		e = errno;
	else
		e = S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	if (e) {
		close(fd);
		send_error(chan, e, "not a regular file");
		return;
	}
	if (!(f = fop_new(chan, FOP_READ))) {
		close(fd);
		return;
	}
	f->fd = fd;
	f->credit = INITIAL_CREDIT;
}

void list_dir(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	const char *path = abs_path(chan, &r);
	struct fop *f;
	DIR *d;
	int fd, e;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		e = errno;
		if (fd >= 0)
			close(fd);
		send_error(chan, e, "opendir: %s", strerror(e));
		return;
	}
	if (!(f = fop_new(chan, FOP_LIST))) {
		closedir(d);
		return;
	}
	f->dir = d;
}

static void read_chunk(struct fop *f)
{
	size_t want = f->credit < CHUNK ? (size_t)f->credit : CHUNK;
	uint8_t *d;
	ssize_t n;

	if (want == 0 || !(d = out_begin(CHUNK)))
		return;
	do
		n = read(f->fd, d, want);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		f->credit -= (uint64_t)n;
		out_end(T_RFILE_DATA, f->chan, (size_t)n);
	} else if (n == 0) {
		send_frame(T_RFILE_END, f->chan, NULL, 0);
		fop_free(f);
	} else {
		fop_fail(f, errno, "read");
	}
}

/* Encodes one entry: kind, mode, size, mtime, name\0. */
static size_t encode_entry(uint8_t *b, const char *name, const struct stat *st)
{
	size_t nl = strlen(name);
	uint8_t kind = S_ISREG(st->st_mode)   ? 'f'
		       : S_ISDIR(st->st_mode) ? 'd'
		       : S_ISLNK(st->st_mode) ? 'l'
					      : 'o';
	b[0] = kind;
	put_u32(b + 1, st->st_mode & 07777); /* the type is in kind */
	put_u64(b + 5, (uint64_t)st->st_size);
	put_u64(b + 13, (uint64_t)(int64_t)st->st_mtime);
	memcpy(b + 21, name, nl + 1);
	return 21 + nl + 1;
}

/* Fills one DIR_ENTRIES frame (<= CHUNK bytes); DIR_END after the last. */
static void list_chunk(struct fop *f)
{
	uint8_t *d = out_begin(CHUNK);
	size_t len = 0;
	struct dirent *de;
	struct stat st;

	if (!d)
		return;
	if (f->pending_len) {
		memcpy(d, f->pending, f->pending_len);
		len = f->pending_len;
		f->pending_len = 0;
	}
	for (;;) {
		errno = 0;
		de = readdir(f->dir);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strlen(de->d_name) > 255 ||
		    fstatat(dirfd(f->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished since readdir: skip it */
		f->pending_len = encode_entry(f->pending, de->d_name, &st);
		if (len + f->pending_len > CHUNK)
			break; /* keep it for the next frame */
		memcpy(d + len, f->pending, f->pending_len);
		len += f->pending_len;
		f->pending_len = 0;
	}
	if (!de && errno) {
		fop_fail(f, errno, "readdir");
		return;
	}
	if (len)
		out_end(T_DIR_ENTRIES, f->chan, len);
	if (!de) {
		send_frame(T_DIR_END, f->chan, NULL, 0);
		fop_free(f);
	}
}

/* One chunk per read/list op while there is room; 1 if work remains. */
int fops_service(void)
{
	int busy = 0;

	for (struct fop *f = A.fops, *next; f; f = next) {
		next = f->next;
		if (f->kind == FOP_WRITE)
			continue;
		if (buf_len(&A.out) >= OUT_HIGH)
			return 1;
		if (f->kind == FOP_READ) {
			if (!f->credit)
				continue; /* waits for CREDIT; not busy */
			read_chunk(f);
		} else {
			list_chunk(f);
		}
		busy = 1;
	}
	return busy;
}

void fops_abort_all(void)
{
	while (A.fops)
		fop_free(A.fops);
}
