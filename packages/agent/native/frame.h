/*
 * Airlock host <-> agent channel: frame layout and byte buffers, shared by
 * the in-sandbox agent and the host-side shim. See ../PROTOCOL.md.
 *
 * Frame: u32 length (type + channel + payload), u8 type, u32 channel,
 * payload. All integers are big-endian.
 */
#ifndef AIRLOCK_FRAME_H
#define AIRLOCK_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_HDR 9u                     /* length + type + channel */
#define FRAME_MAX_PAYLOAD (1024u * 1024u)
#define FRAME_LEN_MIN 5u                 /* type + channel */
#define FRAME_LEN_MAX (5u + FRAME_MAX_PAYLOAD)
#define FRAME_MAX_TOTAL (4u + FRAME_LEN_MAX)

enum {
	/* host -> agent */
	T_EXEC = 0x01,
	T_STDIN = 0x02,
	T_STDIN_CLOSE = 0x03,
	T_SIGNAL = 0x04,
	T_PING = 0x05,
	T_CREDIT = 0x06,
	T_RESET = 0x07,
	T_SUBSCRIBE = 0x08,
	T_ACK = 0x09,
	T_RESIZE = 0x0A,
	T_PROC_LIST = 0x0B,
	T_FORGET = 0x0C,
	T_FILE_WRITE = 0x10,
	T_FILE_DATA = 0x11,
	T_FILE_END = 0x12,
	T_FILE_READ = 0x13,
	T_LIST_DIR = 0x14,
	T_CANCEL = 0x15,
	T_STAT = 0x16,
	T_MKDIR = 0x17,
	T_REMOVE = 0x18,
	T_RENAME = 0x19,
	T_CHMOD = 0x1A,
	T_SYMLINK = 0x1B,
	T_WATCH = 0x1C,
	/* agent -> host */
	T_HELLO = 0x80,
	T_STARTED = 0x81,
	T_STDOUT = 0x82,
	T_STDERR = 0x83,
	T_EXITED = 0x84,
	T_ERROR = 0x85,
	T_OK = 0x86,
	T_RFILE_DATA = 0x87,
	T_RFILE_END = 0x88,
	T_DIR_ENTRIES = 0x89,
	T_DIR_END = 0x8A,
	T_PONG = 0x8B,
	T_OOM = 0x8C,
	T_SUBSCRIBED = 0x8D,
	T_PROC_INFO = 0x8E,
	T_PROC_END = 0x8F,
	T_STAT_RESULT = 0x90,
	T_WATCH_EVENTS = 0x91,
	T_STDIN_ACK = 0x92,
};

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static inline int frame_len_ok(uint32_t len)
{
	return len >= FRAME_LEN_MIN && len <= FRAME_LEN_MAX;
}

/* Writes the 9-byte header for a frame carrying `payload` bytes. */
static inline void frame_header(uint8_t *p, uint8_t type, uint32_t chan, size_t payload)
{
	put_u32(p, (uint32_t)(payload + 5));
	p[4] = type;
	put_u32(p + 5, chan);
}

/*
 * A fixed-capacity byte queue: bytes live in data[head, tail). Memory is
 * allocated once, so every queue in Airlock has a hard upper bound.
 */
struct buf {
	uint8_t *data;
	size_t cap, head, tail;
};

int buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);

static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }
static inline uint8_t *buf_peek(const struct buf *b) { return b->data + b->head; }
static inline size_t buf_room(const struct buf *b) { return b->cap - buf_len(b); }

/* Contiguous space for n bytes at the tail (compacting if needed), or NULL. */
uint8_t *buf_space(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_drop_tail(struct buf *b, size_t keep_len);

/* read() into all free space; returns read()'s result (0 = EOF). */
ssize_t buf_fill(struct buf *b, int fd);
/* write() up to max queued bytes; returns write()'s result. */
ssize_t buf_flush(struct buf *b, int fd, size_t max);

/* Small fd helpers used by both programs. */
int fd_nonblock(int fd);
/* close() and set to -1, if open */
void fd_close(int *fd);
int fd_cloexec(int fd);
int64_t now_ms(void);
void fds_cloexec_above_stdio(void);

#endif
