/*
 * The guest's memory limit where the host's memory cgroup cannot enforce it per process (gVisor:
 * the host sees only the sentry, and a host OOM kill there ends the whole sandbox). With
 * AIRLOCK_GUEST_MEMORY_MIB set, the agent watches the guest's use (MemTotal - MemFree of the
 * guest kernel, which counts anonymous memory, tmpfs and cache alike) while any process it started
 * runs; above the limit it kills the largest process (by resident set) and tells the host with an
 * OOM frame, as the kernel's OOM killer would. The host's own limit sits above the guest's (the
 * sentry's headroom), so an allocation faster than the watch still ends in the host's kill.
 */
#include "agent.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_MS 25
/* After a kill the guest needs a moment to free its memory; no second kill before that. */
#define GRACE_MS 250
/* A process below this resident size is never the one to kill: it cannot be what filled the guest. */
#define MIN_VICTIM_KIB (4 * 1024)

static long limit_kib;
static int64_t next_at;

void memwatch_init(void)
{
	const char *v = getenv("AIRLOCK_GUEST_MEMORY_MIB");
	long mib = v ? strtol(v, NULL, 10) : 0;
	limit_kib = mib > 0 ? mib * 1024 : 0;
}

/* Reads "Key: N kB" from a buffer of /proc/meminfo. */
static long field(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long used_kib(void)
{
	char buf[2048];
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long total, free_;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	total = field(buf, "MemTotal:");
	free_ = field(buf, "MemFree:");
	return total < 0 || free_ < 0 ? -1 : total - free_;
}

/* The process (not PID 1) with the largest resident set, from /proc/<pid>/statm. */
static pid_t largest(long *rss_pages)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t best = -1;

	*rss_pages = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[64], buf[128];
		long size, rss;
		pid_t pid;
		int fd;
		ssize_t n;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (pid <= 1)
			continue;
		snprintf(path, sizeof path, "/proc/%d/statm", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (sscanf(buf, "%ld %ld", &size, &rss) != 2)
			continue;
		if (rss > *rss_pages) {
			*rss_pages = rss;
			best = pid;
		}
	}
	closedir(d);
	return best;
}

/* Runs the watch when due; returns when it is due next (-1: not watching). */
int64_t memwatch_service(int64_t now)
{
	long used, pages;
	pid_t victim;
	uint8_t b[12];

	if (!limit_kib || !procs_count())
		return -1;
	if (now < next_at)
		return next_at;
	next_at = now + WATCH_MS;
	used = used_kib();
	if (used < 0 || used <= limit_kib)
		return next_at;
	victim = largest(&pages);
	if (victim <= 1 || (long)(pages * (sysconf(_SC_PAGESIZE) / 1024)) < MIN_VICTIM_KIB || kill(victim, SIGKILL) < 0)
		return next_at;
	next_at = now + GRACE_MS;
	/* Reported before the process's EXITED, so the host can name the kill. */
	put_u32(b, (uint32_t)victim);
	put_u64(b + 4, (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE));
	send_frame(T_OOM, 0, b, sizeof b);
	return next_at;
}
