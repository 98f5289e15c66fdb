/*
 * LIST_DIR's walk: a stack of open directories, depth-first, up to the
 * depth the host asked for (1: the directory's own entries). Every
 * subdirectory is opened relative to its parent's fd with O_NOFOLLOW, so a
 * symlink is listed as what it is and never walked into. Names are
 * relative to the listed directory ("sub/file").
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WALK_DEPTH_MAX 32

struct walk {
	int n, max;
	struct {
		DIR *d;
		size_t prefix; /* length of this level's prefix in `name` */
	} lv[WALK_DEPTH_MAX];
	char name[PATH_MAX];
};

void walk_free(struct walk *w)
{
	if (!w)
		return;
	while (w->n > 0)
		closedir(w->lv[--w->n].d);
	free(w);
}

/* The walk of f begins at dirfd (taken over); depth in f->cursor. */
int walk_push(struct fop *f, int dirfd, const char *prefix)
{
	struct walk *w = f->walk;
	DIR *d;

	(void)prefix;
	if (!w) {
		if (!(w = calloc(1, sizeof *w)))
			return close(dirfd), errno = ENOMEM, -1;
		w->max = f->cursor < 1 ? 1 : f->cursor > WALK_DEPTH_MAX ? WALK_DEPTH_MAX : (int)f->cursor;
		f->walk = w;
	}
	if (!(d = fdopendir(dirfd))) {
		int e = errno;
		close(dirfd);
		return errno = e, -1;
	}
	w->lv[w->n].d = d;
	w->lv[w->n].prefix = w->n == 0 ? 0 : strlen(w->name);
	w->n++;
	return 0;
}

/*
 * The next entry: 1 with *name and *st set, 0 at the end, -1 with errno.
 * A subdirectory within the depth is entered after it was returned.
 */
int walk_next(struct fop *f, const char **name, struct stat *st)
{
	struct walk *w = f->walk;

	while (w->n > 0) {
		DIR *d = w->lv[w->n - 1].d;
		size_t pl = w->lv[w->n - 1].prefix, nl;
		struct dirent *de;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				return -1;
			closedir(d);
			w->n--;
			continue;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nl = strlen(de->d_name);
		if (pl + nl + 2 > sizeof w->name || fstatat(dirfd(d), de->d_name, st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* too deep a name, or vanished since readdir: skip it */
		if (pl)
			w->name[pl] = '/';
		memcpy(w->name + pl + (pl ? 1 : 0), de->d_name, nl + 1);
		if (S_ISDIR(st->st_mode) && w->n < w->max) {
			int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0) {
				DIR *sub = fdopendir(fd);
				if (sub) {
					w->lv[w->n].d = sub;
					w->lv[w->n].prefix = strlen(w->name);
					w->n++;
				} else {
					close(fd);
				}
			}
		}
		*name = w->name;
		return 1;
	}
	return 0;
}
