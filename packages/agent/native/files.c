/*
 * File operations, resolved inside the sandbox so no host code ever walks
 * a path the sandbox controls. Each one runs with its user's rights
 * (ident.c) and never follows a magic link (resolve.c). This file holds
 * their lifecycle, reads and listings; file-write.c holds writes. Reads
 * and listings are produced chunk by chunk, only while the output queue is
 * below OUT_HIGH, so memory stays flat for any file size. Nothing here can
 * block: FIFOs and devices are refused before they are opened for reading,
 * and the fd of a read is non-blocking.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

struct fop *fop_new(uint32_t chan, enum fop_kind kind)
{
	struct fop *f = calloc(1, sizeof *f);

	if (!f) {
		send_error(chan, ENOMEM, "out of memory");
		return NULL;
	}
	f->chan = chan;
	f->kind = kind;
	f->fd = -1;
	f->dirfd = -1;
	f->next = A.fops;
	A.fops = f;
	return f;
}

/* Unlinks the op and releases it; a pending temp file is removed. */
void fop_free(struct fop *f)
{
	for (struct fop **pp = &A.fops; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (f->kind == FOP_JOB && f->job_pid > 0)
		kill(f->job_pid, SIGKILL); /* cancelled: reaped later as an unknown child */
	walk_free(f->walk);
	watch_free(f->watch);
	if (f->dir)
		closedir(f->dir);
	else if (f->fd >= 0)
		close(f->fd);
	if (f->tmp && f->dirfd >= 0 && ident_enter(&f->id) == 0) {
		unlinkat(f->dirfd, f->tmp, 0); /* as the user, like the create */
		ident_leave(&f->id);
	}
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->tmp);
	free(f->path);
	free(f);
}

void fop_fail(struct fop *f, int err, const char *what)
{
	send_error(f->chan, err, "%s: %s", what, strerror(err));
	fop_free(f);
}

/*
 * The path\0 [user\0] payload of FILE_READ / LIST_DIR (no user, or an
 * empty one: root, so an older host still works). NULL: ERROR sent.
 */
static const char *read_payload(uint32_t chan, const uint8_t *payload, size_t n, struct ident *id, uint32_t *depth)
{
	struct rd r = {payload, n};
	const char *path = rd_str(&r), *user = "";
	int e;

	*depth = 1;
	if (!path || (r.left && !(user = rd_str(&r))) || (r.left && rd_u32(&r, depth) < 0)) {
		send_error(chan, EINVAL, "malformed path");
		return NULL;
	}
	if (path[0] != '/') {
		send_error(chan, EINVAL, "path must be absolute");
		return NULL;
	}
	if ((e = ident_for(user, id)) != 0) {
		send_error(chan, e, "unknown user '%.200s'", user);
		return NULL;
	}
	return path;
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

/*
 * Opens a regular file for reading as the user. The type is checked on an
 * O_PATH fd first, so a FIFO or device is never opened at all (no side
 * effects, no hang); the real open is non-blocking and must find the same
 * inode, so a swap in between is refused too.
 */
static int read_open(const char *path, const char **what)
{
	struct stat a, b;
	int pfd, fd, e;

	*what = "open";
	if ((pfd = resolve_open(path, O_PATH, 0, 1)) < 0)
		return -1;
	if (fstat(pfd, &a) < 0 || !S_ISREG(a.st_mode)) {
		e = S_ISDIR(a.st_mode) ? EISDIR : EINVAL;
		close(pfd);
		*what = "not a regular file";
		return errno = e, -1;
	}
	close(pfd);
	if ((fd = resolve_open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, 1)) < 0)
		return -1;
	if (fstat(fd, &b) < 0 || b.st_dev != a.st_dev || b.st_ino != a.st_ino) {
		close(fd);
		*what = "not a regular file";
		return errno = EINVAL, -1;
	}
	return fd;
}

void file_read(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct ident id;
	uint32_t depth;
	const char *path = read_payload(chan, payload, n, &id, &depth), *what;
	struct fop *f;
	int fd, e;

	if (!path)
		return;
	if ((e = ident_enter(&id)) != 0) {
		send_error(chan, e, "switch to the user: %s", strerror(e));
		return;
	}
	fd = read_open(path, &what);
	e = errno;
	ident_leave(&id);
	if (fd < 0) {
		send_error(chan, e, "%s: %s", what, strerror(e));
		return;
	}
	if (!(f = fop_new(chan, FOP_READ))) {
		close(fd);
		return;
	}
	f->fd = fd;
	f->id = id;
	f->credit = INITIAL_CREDIT;
}

void list_dir(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct ident id;
	uint32_t depth;
	const char *path = read_payload(chan, payload, n, &id, &depth);
	struct fop *f;
	int fd, e;

	if (!path)
		return;
	if ((e = ident_enter(&id)) != 0) {
		send_error(chan, e, "switch to the user: %s", strerror(e));
		return;
	}
	fd = resolve_open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0, 1);
	e = errno;
	ident_leave(&id);
	if (fd < 0) {
		send_error(chan, e, "opendir: %s", strerror(e));
		return;
	}
	if (!(f = fop_new(chan, FOP_LIST))) {
		close(fd);
		return;
	}
	f->id = id;
	f->cursor = depth;
	if (walk_push(f, fd, "") < 0)
		fop_fail(f, errno, "opendir");
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
	const char *name;
	struct stat st;
	int e = 0, rc = 0;

	if (!d)
		return;
	/* Entries are stat'ed (and subdirectories opened) as the user too. */
	if ((e = ident_enter(&f->id)) != 0) {
		fop_fail(f, e, "switch to the user");
		return;
	}
	if (f->pending_len) {
		memcpy(d, f->pending, f->pending_len);
		len = f->pending_len;
		f->pending_len = 0;
	}
	while ((rc = walk_next(f, &name, &st)) > 0) {
		f->pending_len = encode_entry(f->pending, name, &st);
		if (len + f->pending_len > CHUNK)
			break; /* keep it for the next frame */
		memcpy(d + len, f->pending, f->pending_len);
		len += f->pending_len;
		f->pending_len = 0;
	}
	e = rc < 0 ? errno : 0;
	ident_leave(&f->id);
	if (e) {
		fop_fail(f, e, "readdir");
		return;
	}
	if (len)
		out_end(T_DIR_ENTRIES, f->chan, len);
	if (rc == 0) {
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
		if (f->kind == FOP_JOB)
			continue; /* its pipe wakes the loop */
		if (f->kind == FOP_WATCH) {
			busy |= watch_service(f);
			continue;
		}
		if (f->kind == FOP_READ) {
			if (!f->credit)
				continue; /* waits for CREDIT; not busy */
			read_chunk(f);
		} else if (f->kind == FOP_PLIST) {
			plist_chunk(f);
		} else {
			list_chunk(f);
		}
		busy = 1;
	}
	return busy;
}

size_t fops_count(void)
{
	size_t n = 0;
	for (struct fop *f = A.fops; f; f = f->next)
		n++;
	return n;
}

/* Jobs wait on their result pipe, watches on their inotify fd (while the host takes events). */
size_t fops_pollfds(struct pollfd *pfd, size_t i)
{
	for (struct fop *f = A.fops; f; f = f->next) {
		f->ix = -1;
		if (f->kind == FOP_JOB || (f->kind == FOP_WATCH && f->credit && buf_len(&A.out) < OUT_HIGH)) {
			pfd[i].fd = f->fd;
			pfd[i].events = POLLIN;
			f->ix = (int)i++;
		}
	}
	return i;
}

void fops_events(struct pollfd *pfd)
{
	for (struct fop *f = A.fops, *next; f; f = next) {
		next = f->next;
		if (f->ix < 0 || !pfd[f->ix].revents)
			continue;
		if (f->kind == FOP_JOB)
			job_event(f); /* may free f */
		else if (f->kind == FOP_WATCH)
			watch_event(f);
	}
}

void fops_abort_all(void)
{
	while (A.fops)
		fop_free(A.fops);
}
