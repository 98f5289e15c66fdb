/*
 * airlock-agent: PID 1 of every Airlock sandbox. One thread, one poll()
 * loop; the host talks to it over stdin/stdout frames (../PROTOCOL.md).
 */
#ifndef AIRLOCK_AGENT_H
#define AIRLOCK_AGENT_H

#include "frame.h"

#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_VERSION "airlock-agent 0.1.0"

/*
 * Output budget. The queue to the host is a fixed 256 KiB. Data producers
 * (process pipes, file reads, listings) only run below OUT_HIGH and add at
 * most one CHUNK frame each, host frames are only handled below
 * OUT_STOP_INPUT (each one answers with a small frame at most) and EXITED
 * waits below OUT_EXITED_MAX, so the queue can never overflow.
 */
#define OUT_CAP (256u * 1024u)
#define OUT_HIGH (64u * 1024u)
#define OUT_STOP_INPUT (128u * 1024u)
#define OUT_EXITED_MAX (192u * 1024u)
#define CHUNK (32u * 1024u)
/*
 * Per-operation flow control: an exec's output and a file read may run this
 * many bytes ahead of the host; CREDIT frames grant more as the host's
 * consumer takes data. One slow consumer then stalls only its own process.
 */
#define INITIAL_CREDIT (256u * 1024u)
/* Host frames up to the protocol maximum must fit whole. */
#define IN_CAP (FRAME_MAX_TOTAL + 64u * 1024u)
/* Per-process stdin backlog before host frames stop being read. */
#define STDIN_QUEUE_MAX (256u * 1024u)
/* After the reap, how long descendants may keep the output pipes. */
#define EXIT_GRACE_MS 100
/* ...and how much they may still write through them after that. */
#define EXIT_DRAIN_MAX (1024u * 1024u)

struct user {
	uid_t uid;
	gid_t gid;
	int has_entry;          /* found in /etc/passwd */
	char name[256];
	char home[PATH_MAX];
};

struct proc {
	struct proc *next;
	uint32_t chan;
	pid_t pid;              /* also the process group id (setsid) */
	int in_fd, out_fd, err_fd;
	int ep_fd;              /* error pipe: >= 0 until STARTED or ERROR */
	char *argv0, *cwd;      /* for the error message of a failed start */
	uid_t uid;
	gid_t gid;
	int in_close_pending;   /* STDIN_CLOSE seen while input was queued */
	uint8_t *inq;           /* stdin bytes the pipe did not take yet */
	size_t inq_off, inq_len;
	int reaped, status;
	int64_t deadline;       /* reap time + EXIT_GRACE_MS */
	size_t drained;         /* bytes read after the deadline */
	int ix_in, ix_out, ix_err, ix_ep; /* slots in this round's pollfd array */
	uint64_t credit;        /* output bytes the host will still accept */
	int orphan;             /* its host is gone (RESET): output is drained and dropped, no frames */
};

/* The identity a file operation runs as (ident.c). */
struct ident {
	uid_t uid;
	gid_t gid;
	int active;             /* switched to it right now */
};

enum fop_kind { FOP_WRITE, FOP_READ, FOP_LIST };

struct fop {
	struct fop *next;
	uint32_t chan;
	enum fop_kind kind;
	int fd;
	void *dir;              /* DIR * for FOP_LIST */
	int dirfd;              /* FOP_WRITE: the target's directory */
	char *tmp, *path;       /* FOP_WRITE: temp and target names in dirfd */
	mode_t mode;            /* FOP_WRITE: permission bits, set at FILE_END */
	struct ident id;
	uint64_t bytes;
	uint8_t pending[320];   /* FOP_LIST: an entry that did not fit */
	uint64_t credit;        /* FOP_READ: bytes the host will still accept */
	size_t pending_len;
};

struct agent {
	struct buf in, out;
	struct proc *procs;
	struct fop *fops;
	int out_dead;           /* stdout broke: discard output */
	int devnull;            /* opened at start: the sandbox may replace /dev/null with a FIFO later */
	long guest_pids;        /* AIRLOCK_GUEST_PIDS: RLIMIT_NPROC of every process it starts (0: none) */
	int in_broken;          /* framing lost: ignore input until EOF */
};
extern struct agent A;

/* agent.c: output queue */
uint8_t *out_begin(size_t max_payload);
void out_end(uint8_t type, uint32_t chan, size_t payload);
void send_frame(uint8_t type, uint32_t chan, const void *p, size_t n);
void send_error(uint32_t chan, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int chan_in_use(uint32_t chan);

/* Bounds-checked reader over a frame payload. */
struct rd {
	const uint8_t *p;
	size_t left;
};
int rd_u32(struct rd *r, uint32_t *v);
const char *rd_str(struct rd *r);

/* user.c */
int user_resolve(const char *spec, struct user *u);

/* spawn.c: the steps a child reports on its error pipe */
enum { STEP_STDIO = 1, STEP_RLIMIT, STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_CHDIR, STEP_EXEC };
/* fork(), or a stub in the fuzzing build (nothing is ever started there). */
pid_t agent_fork(void);
void proc_exec(uint32_t chan, const uint8_t *p, size_t n);
void proc_start_event(struct proc *p);

/* proc.c */
void proc_free(struct proc *p);
void proc_unlink(struct proc *p);
struct proc *proc_find(uint32_t chan);
int proc_stdin(struct proc *p, const uint8_t *d, size_t n);
void proc_stdin_close(struct proc *p);
void proc_signal(struct proc *p, const uint8_t *d, size_t n);
void add_credit(uint64_t *credit, const uint8_t *d, size_t n);
void procs_reap(void);
int64_t procs_service(int64_t now);
size_t procs_pollfds(struct pollfd *pfd, size_t i);
void procs_events(struct pollfd *pfd);
size_t procs_count(void);
void procs_kill_all(void);
void procs_reset(void);

/* ident.c: run file syscalls as a user */
int ident_for(const char *spec, struct ident *id);
int ident_enter(struct ident *id);
void ident_leave(struct ident *id);

/* resolve.c: path lookup that never follows a magic link */
int resolve_init(int root_fd, int force_walk);
int resolve_uses_openat2(void);
int resolve_open(const char *path, int flags, mode_t mode, int follow_last);

/* file-write.c */
void file_write(uint32_t chan, const uint8_t *p, size_t n);
void file_data(struct fop *f, const uint8_t *d, size_t n);
void file_end(struct fop *f);

/* files.c */
struct fop *fop_new(uint32_t chan, enum fop_kind kind);
void fop_free(struct fop *f);
void fop_fail(struct fop *f, int err, const char *what);
void file_read(uint32_t chan, const uint8_t *p, size_t n);
void list_dir(uint32_t chan, const uint8_t *p, size_t n);
void fop_cancel(struct fop *f);
struct fop *fop_find(uint32_t chan);
int fops_service(void);
void fops_abort_all(void);

#endif
