/*
 * WATCH: inotify inside the sandbox, with the user's rights (adding a watch
 * needs read permission on what it watches), streamed as WATCH_EVENTS under
 * CREDIT like a file read; a first, empty WATCH_EVENTS says the watch is in place. Paths are resolved by resolve.c and the watch is
 * added through the resolved fd's /proc/self/fd entry, so no magic link is
 * ever followed. A recursive watch also watches every subdirectory, and
 * each one created later, up to WATCH_DIRS_MAX. Memory is bounded: events
 * wait in the kernel's queue (which is bounded, and says IN_Q_OVERFLOW when
 * it overflows) while the host takes none; every overflow, and a watch
 * limit reached, is reported as an 'o' event.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_DIRS_MAX 8192
#define WATCH_MASK (IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | \
		    IN_DELETE_SELF | IN_MOVE_SELF)

struct wdir {
	int wd;
	char *rel; /* "" for the watched path itself */
};

struct watch {
	char *root;           /* the path as the host gave it */
	int recursive, overflow;
	struct wdir *dirs;
	size_t n, cap;
	uint8_t ev[4096];     /* events read from inotify, not yet sent */
	size_t evlen, evoff;
};

void watch_free(struct watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->dirs[i].rel);
	free(w->dirs);
	free(w->root);
	free(w);
}

static const char *rel_of(struct watch *w, int wd)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].rel;
	return NULL;
}

/* Adds a watch on root/rel, as the user (already entered); recursing into subdirectories if asked. */
static void add_dir(struct fop *f, const char *rel, int depth)
{
	struct watch *w = f->watch;
	char path[PATH_MAX], proc[64];
	struct stat st;
	int fd, wd;

	if (w->n >= WATCH_DIRS_MAX) {
		w->overflow = 1;
		return;
	}
	if ((size_t)snprintf(path, sizeof path, "%s%s%s", w->root, rel[0] ? "/" : "", rel) >= sizeof path)
		return;
	if ((fd = resolve_open(path, O_PATH, 0, depth == 0)) < 0)
		return;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (fstat(fd, &st) < 0 || (depth > 0 && !S_ISDIR(st.st_mode))) {
		close(fd);
		return;
	}
	wd = inotify_add_watch(f->fd, proc, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			w->overflow = 1; /* the kernel's watch limit */
		close(fd);
		return;
	}
	if (!rel_of(w, wd)) {
		if (w->n == w->cap) {
			size_t nc = w->cap ? w->cap * 2 : 16;
			struct wdir *nd = realloc(w->dirs, nc * sizeof *nd);
			if (!nd) {
				inotify_rm_watch(f->fd, wd);
				close(fd);
				return;
			}
			w->dirs = nd;
			w->cap = nc;
		}
		if (!(w->dirs[w->n].rel = strdup(rel))) {
			inotify_rm_watch(f->fd, wd);
			close(fd);
			return;
		}
		w->dirs[w->n++].wd = wd;
	}
	if (w->recursive && S_ISDIR(st.st_mode) && depth < 64) {
		int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;
		if (!d && dfd >= 0)
			close(dfd);
		while (d && (de = readdir(d))) {
			char sub[PATH_MAX];
			struct stat cs;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &cs, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(cs.st_mode))
				continue;
			if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) < sizeof sub)
				add_dir(f, sub, depth + 1);
		}
		if (d)
			closedir(d);
	}
	close(fd);
}

/* WATCH: u32 flags (bit 0: recursive), path\0, user\0. */
void file_watch(uint32_t chan, const uint8_t *payload, size_t n)
{
	struct rd r = {payload, n};
	const char *path, *user;
	uint32_t flags;
	struct ident id;
	struct fop *f;
	int e;

	if (rd_u32(&r, &flags) < 0 || !(path = rd_str(&r)) || !(user = rd_str(&r))) {
		send_error(chan, EINVAL, "malformed WATCH");
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
	if (!(f = fop_new(chan, FOP_WATCH)))
		return;
	f->id = id;
	f->credit = INITIAL_CREDIT;
	if (!(f->watch = calloc(1, sizeof *f->watch)) || !(f->watch->root = strdup(path))) {
		fop_fail(f, ENOMEM, "watch");
		return;
	}
	f->watch->recursive = flags & 1;
	if ((f->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		fop_fail(f, errno, "inotify");
		return;
	}
	if ((e = ident_enter(&f->id)) != 0) {
		fop_fail(f, e, "switch to the user");
		return;
	}
	add_dir(f, "", 0);
	e = errno;
	ident_leave(&f->id);
	if (f->watch->n == 0)
		fop_fail(f, e ? e : ENOENT, "watch");
	else
		send_frame(T_WATCH_EVENTS, chan, NULL, 0); /* empty: the watch is in place */
}

/* The inotify fd is readable: take one batch (sent by watch_service). */
void watch_event(struct fop *f)
{
	struct watch *w = f->watch;
	ssize_t n;

	if (w->evoff < w->evlen)
		return;
	n = read(f->fd, w->ev, sizeof w->ev);
	if (n > 0) {
		w->evlen = (size_t)n;
		w->evoff = 0;
	}
}

static uint8_t kind_of(uint32_t mask)
{
	if (mask & IN_Q_OVERFLOW)
		return 'o';
	if (mask & IN_CREATE)
		return 'c';
	if (mask & IN_MODIFY)
		return 'w';
	if (mask & (IN_DELETE | IN_DELETE_SELF))
		return 'r';
	if (mask & IN_MOVED_FROM)
		return 'f';
	if (mask & IN_MOVED_TO)
		return 't';
	if (mask & IN_MOVE_SELF)
		return 'm';
	if (mask & IN_ATTRIB)
		return 'a';
	return 0;
}

/* Encodes one entry: u8 kind, u32 cookie, path\0 (relative to the watched path). */
static size_t put_event(uint8_t *b, uint8_t kind, uint32_t cookie, const char *rel, const char *name)
{
	int n = snprintf((char *)b + 5, PATH_MAX, "%s%s%s", rel, rel[0] && name[0] ? "/" : "", name);
	if (n < 0 || n >= PATH_MAX)
		n = 0;
	b[0] = kind;
	put_u32(b + 1, cookie);
	b[5 + n] = 0;
	return 5 + (size_t)n + 1;
}

/* Sends what was read, one WATCH_EVENTS frame at most; 1 if more is waiting to go. */
int watch_service(struct fop *f)
{
	struct watch *w = f->watch;
	uint8_t *d, tmp[5 + PATH_MAX + 1];
	size_t len = 0, max;

	if (!f->credit || (w->evoff >= w->evlen && !w->overflow))
		return 0;
	max = f->credit < CHUNK ? (size_t)f->credit : CHUNK;
	if (max < sizeof tmp || !(d = out_begin(CHUNK)))
		return 0; /* credit of less than one entry: wait for more */
	if (w->overflow) {
		len += put_event(d, 'o', 0, "", "");
		w->overflow = 0;
	}
	while (w->evoff < w->evlen) {
		struct inotify_event *ev = (struct inotify_event *)(w->ev + w->evoff);
		const char *rel = rel_of(w, ev->wd);
		uint8_t kind = kind_of(ev->mask);
		size_t el;

		if (ev->mask & IN_IGNORED) {
			for (size_t i = 0; i < w->n; i++)
				if (w->dirs[i].wd == ev->wd) {
					free(w->dirs[i].rel);
					w->dirs[i] = w->dirs[--w->n];
					break;
				}
		}
		if (!kind || (!rel && kind != 'o')) {
			w->evoff += sizeof *ev + ev->len;
			continue;
		}
		el = put_event(tmp, kind, ev->cookie, kind == 'o' ? "" : rel, ev->len ? ev->name : "");
		if (len + el > max)
			break;
		memcpy(d + len, tmp, el);
		len += el;
		w->evoff += sizeof *ev + ev->len;
		/* A new subdirectory of a recursive watch is watched too (and what is in it already). */
		if (w->recursive && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
		    ident_enter(&f->id) == 0) {
			add_dir(f, (const char *)tmp + 5, 1);
			ident_leave(&f->id);
		}
	}
	if (len) {
		f->credit -= len;
		out_end(T_WATCH_EVENTS, f->chan, len);
	}
	return w->evoff < w->evlen || w->overflow;
}
