/*
 * User resolution for EXEC and FILE_WRITE. The agent is a static binary, so
 * it reads the sandbox's /etc/passwd itself instead of going through NSS.
 * Accepted forms: "" (root), "name", "uid", and either followed by ":gid".
 * As in docker, root is uid 0 / gid 0 even when the image has no passwd
 * entry for it (scratch, static busybox, distroless), and a numeric uid
 * needs no entry either.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parses a decimal id; (uid_t)-1 is refused since it means "unchanged". */
static int parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= 0xffffffffu)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Splits a passwd line into its 7 fields in place; -1 if malformed. */
static int split_passwd(char *line, char *f[7])
{
	int i = 0;

	line[strcspn(line, "\n")] = 0;
	f[i++] = line;
	for (char *p = line; *p && i < 7; p++) {
		if (*p == ':') {
			*p = 0;
			f[i++] = p + 1;
		}
	}
	return i == 7 ? 0 : -1;
}

/*
 * The sandbox controls /etc/passwd (root inside may replace it): it is read
 * only if it is a regular file, without blocking, and only so far.
 */
#define PASSWD_MAX_BYTES (16u << 20)

static FILE *passwd_open(void)
{
	int fd = open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	FILE *fp;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(fp = fdopen(fd, "r"))) {
		close(fd);
		return NULL;
	}
	return fp;
}

/* Finds an entry by name (when name != NULL) or by uid. */
static int passwd_lookup(const char *name, uint32_t uid, struct user *u)
{
	FILE *fp = passwd_open();
	char line[4096], *f[7];
	size_t total = 0;
	int found = 0, skip = 0;

	if (!fp)
		return 0;
	while (!found && total < PASSWD_MAX_BYTES && fgets(line, sizeof line, fp)) {
		size_t len = strlen(line);
		uint32_t id, gid;

		total += len;
		if (skip || (len == sizeof line - 1 && line[len - 1] != '\n')) {
			/* a line longer than any real entry: skip to its end */
			skip = len == sizeof line - 1 && line[len - 1] != '\n';
			continue;
		}
		if (split_passwd(line, f) < 0 || f[0][0] == '+' || f[0][0] == '-')
			continue;
		if (parse_id(f[2], strlen(f[2]), &id) < 0 ||
		    parse_id(f[3], strlen(f[3]), &gid) < 0)
			continue;
		if (name ? strcmp(f[0], name) != 0 : id != uid)
			continue;
		if (strlen(f[0]) >= sizeof u->name || strlen(f[5]) >= sizeof u->home)
			continue;
		u->uid = id;
		u->gid = gid;
		strcpy(u->name, f[0]);
		strcpy(u->home, f[5]);
		u->has_entry = 1;
		found = 1;
	}
	fclose(fp);
	return found;
}

/* An image without a passwd entry for root: uid 0, gid 0, as docker does. */
static void root_without_entry(struct user *u)
{
	u->uid = 0;
	u->gid = 0;
	strcpy(u->name, "root");
	strcpy(u->home, "/root");
	u->has_entry = 1;
}

/* Returns 0, or an errno value (EINVAL for an unknown or malformed user). */
int user_resolve(const char *spec, struct user *u)
{
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	uint32_t id, gid;
	char name[256];

	memset(u, 0, sizeof *u);
	if (ulen >= sizeof name)
		return EINVAL;
	memcpy(name, spec, ulen);
	name[ulen] = 0;

	if (ulen == 0) {
		if (colon)
			return EINVAL;
		/* Default: root, with home and name from passwd when listed. */
		if (!passwd_lookup(NULL, 0, u))
			root_without_entry(u);
	} else if (parse_id(name, ulen, &id) == 0) {
		/* A bare uid need not be listed; its group then is the uid. */
		if (!passwd_lookup(NULL, id, u))
			u->gid = id;
		u->uid = id;
	} else if (!passwd_lookup(name, 0, u)) {
		if (strcmp(name, "root") != 0)
			return EINVAL;
		root_without_entry(u);
	}
	if (colon) {
		if (parse_id(colon + 1, strlen(colon + 1), &gid) < 0)
			return EINVAL;
		u->gid = gid;
	}
	return 0;
}
