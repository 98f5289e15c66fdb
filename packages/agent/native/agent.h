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
#include <sys/stat.h>
#include <sys/types.h>

struct walk;
struct watch;

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
/*
 * Per-process stdin backlog before host frames stop being read. The host sends at most
 * STDIN_WINDOW bytes a process has not taken yet (STDIN_ACK), so a well-behaved host never
 * reaches it: a process that does not read its stdin never holds up the ACKs that its own
 * output waits for.
 */
#define STDIN_QUEUE_MAX (256u * 1024u)
#define STDIN_WINDOW (256u * 1024u)
/* STDIN_ACK is sent per this many bytes taken (or when the backlog empties). */
#define STDIN_ACK_BATCH (32u * 1024u)
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

/*
 * A process's output journal, one per stream: a ring of the bytes the host
 * has not yet acknowledged (ACK), with absolute offsets. `acked` is the
 * offset of the oldest byte held; `head` counts every byte read from the
 * pipe; `sent` is how far the current subscription got. The pipe is read
 * only while the ring has room, so a process nobody reads blocks in
 * `write` instead of losing output (ring.c).
 */
struct ring {
	uint8_t *data;
	size_t cap, limit, start; /* allocated, its maximum, index of `acked` */
	uint64_t acked, head, sent;
};

#define PROC_ID_MAX 64
#define PROC_TAG_MAX 256
#define PROC_CMD_MAX 512
/* The registry keeps this many ended processes (oldest forgotten first). */
#define PROCS_EXITED_KEEP 64
#define PROCS_MAX 1024
#define RING_DEFAULT (1024u * 1024u)
#define RING_MIN (64u * 1024u)
#define RING_MAX (16u * 1024u * 1024u)

/* EXEC flags */
#define EXEC_KEEP_STDIN 1u
#define EXEC_PTY 2u
#define EXEC_FOREGROUND 4u /* recorded for the host: dies with its client */

enum proc_state { PS_STARTING, PS_RUNNING, PS_EXITED };

struct proc {
	struct proc *next;
	uint64_t seq;           /* registry order: LIST and eviction */
	char id[PROC_ID_MAX + 1], tag[PROC_TAG_MAX + 1], cmd[PROC_CMD_MAX + 1];
	uint32_t flags;         /* EXEC_* */
	uint32_t chan;          /* the host's subscription channel, 0: none */
	int sub_pending;        /* SUBSCRIBE arrived before the start resolved */
	uint64_t sub_from[2];   /* ...from these offsets */
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
	int done;               /* EXITED delivered (or nobody to deliver to): only the record is left */
	int64_t deadline;       /* reap time + EXIT_GRACE_MS */
	size_t drained;         /* bytes read after the deadline */
	int64_t started_ms, ended_ms; /* wall clock */
	uint16_t cols, rows;    /* PTY size */
	int ix_in, ix_out, ix_err, ix_ep; /* slots in this round's pollfd array */
	struct ring ring[2];    /* stdout (or the PTY), stderr */
	uint64_t stdin_unreported; /* stdin bytes taken (written, or dropped) not yet told in STDIN_ACK */
};

/* The identity a file operation runs as (ident.c). */
struct ident {
	uid_t uid;
	gid_t gid;
	int active;             /* switched to it right now */
};

enum fop_kind { FOP_WRITE, FOP_READ, FOP_LIST, FOP_PLIST, FOP_JOB, FOP_WATCH };

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
	uint8_t pending[PATH_MAX + 64]; /* FOP_LIST: an entry that did not fit */
	uint64_t credit;        /* FOP_READ, FOP_WATCH: bytes the host will still accept */
	size_t pending_len;
	/* FOP_LIST with a depth: the directories being walked (list-walk.c) */
	struct walk *walk;
	uint64_t cursor;        /* FOP_PLIST: seq of the last process listed */
	pid_t job_pid;          /* FOP_JOB: the forked worker (fd is its result pipe) */
	struct watch *watch;    /* FOP_WATCH (watch.c) */
	int ix;                 /* slot in this round's pollfd array */
};

struct agent {
	struct buf in, out;
	struct proc *procs;
	struct fop *fops;
	int out_dead;           /* stdout broke: discard output */
	int devnull;            /* opened at start: the sandbox may replace /dev/null with a FIFO later */
	long guest_pids;        /* AIRLOCK_GUEST_PIDS: RLIMIT_NPROC of every process it starts (0: none) */
	int in_broken;          /* framing lost: ignore input until EOF */
	uint64_t proc_seq;
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
int rd_u64(struct rd *r, uint64_t *v);
const char *rd_str(struct rd *r);

/* user.c */
int user_resolve(const char *spec, struct user *u);

/* spawn.c: the steps a child reports on its error pipe */
enum { STEP_STDIO = 1, STEP_RLIMIT, STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_CHDIR, STEP_EXEC };
/* fork(), or a stub in the fuzzing build (nothing is ever started there). */
pid_t agent_fork(void);
void proc_exec(uint32_t chan, const uint8_t *p, size_t n);
void proc_start_event(struct proc *p);

/* ring.c */
int ring_init(struct ring *r, size_t limit);
void ring_free(struct ring *r);
size_t ring_len(const struct ring *r);
size_t ring_room(const struct ring *r);
uint8_t *ring_tail(struct ring *r, size_t *contig);
void ring_commit(struct ring *r, size_t n);
size_t ring_unsent(const struct ring *r, const uint8_t **p);
void ring_ack(struct ring *r, uint64_t off);

/* registry.c: ids, LIST, SUBSCRIBE, ACK, FORGET */
struct proc *proc_find(uint32_t chan);
struct proc *proc_find_id(const char *id);
void proc_subscribe(uint32_t chan, const uint8_t *p, size_t n);
void proc_ack(struct proc *p, const uint8_t *d, size_t n);
void proc_forget(uint32_t chan, const uint8_t *p, size_t n);
void proc_list(uint32_t chan);
int plist_chunk(struct fop *f);
void proc_send_subscribed(struct proc *p);
void procs_evict(void);
int proc_trailer(struct rd *r, struct proc *p, uint32_t *ring_bytes);

/* pty.c */
int pty_open(int *master, int *slave, uint16_t cols, uint16_t rows);
void pty_child(int slave);
void proc_resize(struct proc *p, const uint8_t *d, size_t n);

/* proc.c */
void proc_free(struct proc *p);
void proc_unlink(struct proc *p);
void proc_release_io(struct proc *p);
void stdin_report(struct proc *p, int force);
void stdin_drop(struct proc *p);
void stdin_pump(struct proc *p);
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

/* file-ops.c: STAT, MKDIR, RENAME, CHMOD, SYMLINK; REMOVE in a worker (file-job.c) */
void file_stat(uint32_t chan, const uint8_t *p, size_t n);
void file_mkdir(uint32_t chan, const uint8_t *p, size_t n);
void file_rename(uint32_t chan, const uint8_t *p, size_t n);
void file_chmod(uint32_t chan, const uint8_t *p, size_t n);
void file_symlink(uint32_t chan, const uint8_t *p, size_t n);
void file_remove(uint32_t chan, const uint8_t *p, size_t n);
void send_ok(uint32_t chan, uint64_t v);
int split_parent(const char *path, char **dir, const char **name);
void job_event(struct fop *f);
void job_start(uint32_t chan, struct ident *id, const char *path);

/* files.c: the fds of jobs and watches in the poll set */
size_t fops_pollfds(struct pollfd *pfd, size_t i);
void fops_events(struct pollfd *pfd);
size_t fops_count(void);

/* list-walk.c: LIST_DIR with a depth */
void walk_free(struct walk *w);
int walk_push(struct fop *f, int dirfd, const char *prefix);
int walk_next(struct fop *f, const char **name, struct stat *st);

/* watch.c: inotify as the user, streamed with credit */
void file_watch(uint32_t chan, const uint8_t *p, size_t n);
void watch_free(struct watch *w);
void watch_event(struct fop *f);
int watch_service(struct fop *f);

/* file-write.c */
int mkdir_parents(char *dir);
void file_write(uint32_t chan, const uint8_t *p, size_t n);
void file_data(struct fop *f, const uint8_t *d, size_t n);
void file_end(struct fop *f);

/* memwatch.c */
void memwatch_init(void);
int64_t memwatch_service(int64_t now);

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
