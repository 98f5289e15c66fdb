/*
 * airlock-statx-compat.so: preloaded (via /etc/ld.so.preload) into gVisor
 * sandboxes whose image uses glibc.
 *
 * gVisor as packaged in Debian 12 (2022) answers EINVAL to statx(2) and
 * newfstatat(2) calls that carry AT_NO_AUTOMOUNT, and coreutils add that flag
 * to every stat it makes, so `ls -l` and `stat` fail there. The flag has no
 * effect on stat-family calls in Linux (they never trigger an automount), so
 * clearing it changes nothing else. Images without glibc ignore
 * ld.so.preload and are unaffected.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>

/* Bind to the oldest dlsym so that images with glibc older than 2.34 can load us too. */
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");

typedef int statx_fn(int, const char *, int, unsigned int, struct statx *);

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
	static statx_fn *next;

	if (!next)
		next = (statx_fn *)dlsym(RTLD_NEXT, "statx");
	return next(dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
}
