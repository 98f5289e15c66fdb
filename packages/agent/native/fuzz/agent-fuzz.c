/*
 * libFuzzer harness for the agent's frame handling: arbitrary bytes as host
 * input, through handle_input() and dispatch() into every payload parser
 * (EXEC, FILE_*, LIST_DIR, CREDIT/STDIN/SIGNAL for known and unknown
 * channels, RESET), with the output queue drained as the host would.
 *
 * Built with -DAIRLOCK_FUZZ (see ../Makefile): agent.c has no main, fork is
 * a stub that fails (nothing is ever started), and file operations are
 * confined to a scratch directory that stands in for "/" (resolve.c
 * resolves everything beneath its root fd). The first input byte picks the
 * resolver (openat2 or the component walk) and how the input is cut into
 * reads.
 */
#include "../agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void handle_input(void);

/*
 * Processes are never forked here, so the registry paths (SUBSCRIBE, ACK,
 * RESIZE, LIST, FORGET, output through the rings) run on two fake records
 * made per input: "run", running with output pipes the harness writes to,
 * and "old", ended. Their pid is beyond pid_max, so a SIGNAL reaches nobody.
 */
#define FAKE_PID 0x3ffffff0
static int fake_out[2] = {-1, -1}, fake_err[2] = {-1, -1};

static void fake_procs(void)
{
	const char *ids[2] = {"run", "old"};
	for (int i = 0; i < 2; i++) {
		struct proc *p = calloc(1, sizeof *p);
		if (!p)
			abort();
		strcpy(p->id, ids[i]);
		strcpy(p->cmd, "fake");
		p->seq = ++A.proc_seq;
		p->pid = FAKE_PID;
		p->in_fd = p->ep_fd = -1;
		p->out_fd = p->err_fd = -1;
		ring_init(&p->ring[0], RING_MIN);
		ring_init(&p->ring[1], RING_MIN);
		if (i == 0) {
			p->out_fd = fcntl(fake_out[0], F_DUPFD_CLOEXEC, 3);
			p->err_fd = fcntl(fake_err[0], F_DUPFD_CLOEXEC, 3);
			p->chan = 1000;
		} else {
			p->done = p->reaped = 1;
		}
		p->next = A.procs;
		A.procs = p;
	}
}

static void free_procs(void)
{
	while (A.procs) {
		struct proc *p = A.procs;
		A.procs = p->next;
		proc_free(p);
	}
}

static char scratch[] = "/tmp/airlock-agent-fuzz-XXXXXX";
static int root_fd = -1;
static unsigned long runs;

pid_t agent_fork(void)
{
	errno = EAGAIN;
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void remove_scratch(void)
{
	nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((A.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 || !mkdtemp(scratch) || atexit(remove_scratch) != 0 || (root_fd = open(scratch, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    buf_init(&A.in, IN_CAP) < 0 || buf_init(&A.out, OUT_CAP) < 0 ||
	    pipe2(fake_out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(fake_err, O_CLOEXEC | O_NONBLOCK) < 0) {
		perror("agent-fuzz: setup");
		abort();
	}
	return 0;
}

/* The host side: takes everything the agent queued, and grants its credit back. */
static void drain(void)
{
	buf_consume(&A.out, buf_len(&A.out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut, off = 1;

	if (size < 1)
		return 0;
	resolve_init(root_fd, data[0] & 1);
	cut = (size_t)(data[0] >> 1) * 7 + 1; /* bytes per read() the agent sees */
	A.in_broken = 0;
	buf_consume(&A.in, buf_len(&A.in));
	drain();
	fake_procs();

	while (off < size) {
		size_t n = size - off < cut ? size - off : cut;
		uint8_t *p;

		if (n > buf_room(&A.in))
			n = buf_room(&A.in);
		if (n == 0)
			break;
		p = buf_space(&A.in, n);
		memcpy(p, data + off, n);
		buf_commit(&A.in, n);
		off += n;
		if (A.in_broken)
			buf_consume(&A.in, buf_len(&A.in));
		/* The main loop's round: input, then the producers, then the flush. */
		for (int round = 0; round < 4; round++) {
			struct pollfd pfd[64];
			size_t np;
			if (write(fake_out[1], data + off - n, n) < 0 || write(fake_err[1], "e", 1) < 0) {
				/* pipe full: the fake process "blocks" */
			}
			handle_input();
			procs_service(now_ms());
			fops_service();
			/* One poll round without waiting, as the main loop's, for pipes, jobs and watches. */
			if (procs_count() + fops_count() < 14) {
				np = procs_pollfds(pfd, 0);
				np = fops_pollfds(pfd, np);
				if (poll(pfd, np, 0) > 0) {
					procs_events(pfd);
					fops_events(pfd);
				}
			}
			drain();
		}
	}
	/* Let reads and listings run to their end (bounded: inputs are small). */
	for (int round = 0; round < 64 && fops_service(); round++)
		drain();
	procs_reset();
	fops_abort_all();
	free_procs();
	{
		char junk[4096];
		while (read(fake_out[0], junk, sizeof junk) > 0 || read(fake_err[0], junk, sizeof junk) > 0)
			;
	}
	drain();
	if (++runs % 4096 == 0)
		nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
