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
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void handle_input(void);

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
	    buf_init(&A.in, IN_CAP) < 0 || buf_init(&A.out, OUT_CAP) < 0) {
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
			handle_input();
			procs_service(now_ms());
			fops_service();
			drain();
		}
	}
	/* Let reads and listings run to their end (bounded: inputs are small). */
	for (int round = 0; round < 64 && fops_service(); round++)
		drain();
	procs_reset();
	fops_abort_all();
	drain();
	if (++runs % 4096 == 0)
		nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
