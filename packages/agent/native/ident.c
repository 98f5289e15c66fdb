/*
 * File operations run with the rights of their user. The agent swaps only
 * its effective ids (and its groups) for the few syscalls that resolve a
 * path, then swaps back:
 *
 * - setfsuid is what Linux offers for this, but gVisor (2022) answers
 *   ENOSYS; the effective-id swap works on every runtime and does more: a
 *   nonzero euid clears the whole effective capability set, so no
 *   CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID survive the switch.
 * - The real and saved uid stay 0, so the switch back is allowed, and a
 *   process of that user can neither signal nor ptrace the agent meanwhile
 *   (both need a match with the target's real or saved uid).
 * - No child process: nothing the user can stop stands between the agent
 *   and its loop.
 * - Groups are those an exec as that user gets: the primary gid only.
 *
 * The agent is single-threaded, so the ids are never seen half-switched.
 */
#include "agent.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static gid_t *saved_groups, saved_egid;
static int saved_ngroups = -1;

/* Not root (bwrap): the agent is its sandbox's user and cannot become another. */
static int agent_is_root(void)
{
	uid_t r, e, s;
	return getresuid(&r, &e, &s) == 0 && r == 0 && s == 0;
}

int ident_for(const char *spec, struct ident *id)
{
	struct user u;
	int e;

	if (!spec[0] && !agent_is_root()) {
		/* Empty means root; without root it means the agent itself. */
		id->uid = geteuid();
		id->gid = getegid();
		id->active = 0;
		return 0;
	}
	if ((e = user_resolve(spec, &u)) != 0)
		return e;
	id->uid = u.uid;
	id->gid = u.gid;
	id->active = 0;
	return 0;
}

int ident_enter(struct ident *id)
{
	int e;

	if (id->uid == geteuid() && id->gid == getegid())
		return 0; /* already that user (root for root, or bwrap's user) */
	if (!agent_is_root())
		return EPERM;
	if (saved_ngroups < 0) {
		int n = getgroups(0, NULL);
		if (n < 0 || !(saved_groups = calloc((size_t)n + 1, sizeof *saved_groups)) ||
		    (n = getgroups(n, saved_groups)) < 0) {
			free(saved_groups);
			saved_groups = NULL;
			return errno ? errno : ENOMEM;
		}
		saved_ngroups = n;
		saved_egid = getegid();
	}
	if (setgroups(0, NULL) < 0 || setresgid((gid_t)-1, id->gid, (gid_t)-1) < 0) {
		e = errno;
		if (setgroups((size_t)saved_ngroups, saved_groups) < 0) {
			/* cannot fail for root; see ident_leave */
		}
		return e;
	}
	if (setresuid((uid_t)-1, id->uid, (uid_t)-1) < 0) {
		e = errno;
		id->active = 1;
		ident_leave(id);
		return e;
	}
	id->active = 1;
	return 0;
}

void ident_leave(struct ident *id)
{
	if (!id->active)
		return;
	id->active = 0;
	/* euid 0 again: the permitted capabilities become effective again. */
	if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, saved_egid, (gid_t)-1) < 0 ||
	    setgroups((size_t)saved_ngroups, saved_groups) < 0) {
		/*
		 * The real and saved ids are 0, so this cannot fail. If it ever did,
		 * the agent must not go on with the wrong identity.
		 */
		perror("airlock-agent: restoring the agent's identity");
		_exit(1);
	}
}
