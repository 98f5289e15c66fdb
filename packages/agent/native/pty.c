/*
 * Processes on a pseudo-terminal: the agent opens the master (posix_openpt)
 * and the slave before the fork; the child makes the slave its controlling
 * terminal (setsid, then TIOCSCTTY) and its stdio. The agent reads the
 * master as the process's one output stream and writes stdin to it; RESIZE
 * sets the window size (TIOCSWINSZ), and the kernel sends SIGWINCH to the
 * terminal's foreground process group.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int pty_open(int *master, int *slave, uint16_t cols, uint16_t rows)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	char name[64];
	int m, s, e;

	*master = *slave = -1;
	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof name) != 0)
		goto fail;
	if ((s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		goto fail;
	ioctl(m, TIOCSWINSZ, &ws);
	*master = m;
	*slave = s;
	return 0;
fail:
	e = errno;
	close(m);
	errno = e;
	return -1;
}

/* In the child, after setsid(): the slave becomes the controlling terminal. */
void pty_child(int slave)
{
	ioctl(slave, TIOCSCTTY, 0);
}

/* RESIZE: u32 cols, u32 rows. 0x0 (a hidden terminal) is ignored. */
void proc_resize(struct proc *p, const uint8_t *d, size_t n)
{
	struct winsize ws = {0};
	uint32_t cols, rows;

	if (n < 8 || !(p->flags & EXEC_PTY) || p->out_fd < 0)
		return;
	cols = get_u32(d);
	rows = get_u32(d + 4);
	if (!cols || !rows || cols > 0xffff || rows > 0xffff)
		return;
	ws.ws_col = (unsigned short)cols;
	ws.ws_row = (unsigned short)rows;
	if (ioctl(p->out_fd, TIOCSWINSZ, &ws) == 0) {
		p->cols = (uint16_t)cols;
		p->rows = (uint16_t)rows;
	}
}
