/* Byte queues and fd helpers shared by the Airlock agent and shim. */
#include "frame.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int buf_init(struct buf *b, size_t cap)
{
	b->data = malloc(cap);
	b->cap = cap;
	b->head = b->tail = 0;
	return b->data ? 0 : -1;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = b->head = b->tail = 0;
}

uint8_t *buf_space(struct buf *b, size_t n)
{
	if (buf_room(b) < n)
		return NULL;
	if (b->cap - b->tail < n) {
		/* Compact lazily: only when the tail would not fit. */
		size_t len = buf_len(b);
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
	}
	return b->data + b->tail;
}

void buf_commit(struct buf *b, size_t n) { b->tail += n; }

void buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

/* Keeps only the first keep_len queued bytes. */
void buf_drop_tail(struct buf *b, size_t keep_len)
{
	if (keep_len < buf_len(b))
		b->tail = b->head + keep_len;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

ssize_t buf_fill(struct buf *b, int fd)
{
	size_t room = buf_room(b);
	uint8_t *p;
	ssize_t n;

	if (room == 0) {
		errno = ENOBUFS;
		return -1;
	}
	p = buf_space(b, room);
	do
		n = read(fd, p, room);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		buf_commit(b, (size_t)n);
	return n;
}

ssize_t buf_flush(struct buf *b, int fd, size_t max)
{
	size_t len = buf_len(b);
	ssize_t n;

	if (len > max)
		len = max;
	if (len == 0)
		return 0;
	do
		n = write(fd, buf_peek(b), len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		buf_consume(b, (size_t)n);
	return n;
}

int fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Marks every inherited fd above 2 close-on-exec, so nothing our own parent
 * leaked reaches the processes we start.
 */
void fds_cloexec_above_stdio(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d) {
		for (int fd = 3; fd < 1024; fd++)
			fd_cloexec(fd);
		return;
	}
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (fd > 2 && fd != dirfd(d))
			fd_cloexec(fd);
	}
	closedir(d);
}
