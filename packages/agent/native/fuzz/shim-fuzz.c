/*
 * libFuzzer harness for the shim's frame tracking. The input is a script:
 * each step takes a byte that says what happens next (host bytes arrive,
 * agent bytes arrive, the host takes part of the agent's output, the agent
 * takes part of the host's frames, the host disconnects and a new one
 * connects), then that step's bytes. It checks the relay's invariants
 * against an independent reference:
 *   - what the agent is given are whole frames with valid lengths only;
 *   - a new host always starts on a frame boundary of the agent's stream.
 * shim.c is included so its static functions can be driven directly; its
 * main() is renamed away.
 */
#define main shim_main
#include "../shim.c"
#undef main

#include <assert.h>

#define STREAM_MAX (1u << 16)

static uint8_t stream[STREAM_MAX]; /* every agent byte of this input */
static size_t stream_len, stream_taken; /* appended / left `down` (sent or skipped) */
static int ain_pipe[2] = {-1, -1};

/* Reference: is `off` a frame boundary of the agent stream? */
static int boundary(size_t off)
{
	size_t b = 0;
	while (b < off) {
		if (stream_len - b < 4)
			return 0;
		b += 4 + (size_t)get_u32(stream + b);
	}
	return b == off;
}

/* What the agent was given must parse as whole frames of valid length. */
static void check_delivered(const uint8_t *p, size_t n)
{
	static uint8_t carry[FRAME_MAX_TOTAL];
	static size_t have;

	for (size_t i = 0; i < n;) {
		size_t k = n - i < sizeof carry - have ? n - i : sizeof carry - have;
		memcpy(carry + have, p + i, k);
		have += k;
		i += k;
		while (have >= 4) {
			uint32_t len = get_u32(carry);
			assert(frame_len_ok(len));
			if (have < 4 + (size_t)len)
				break;
			memmove(carry, carry + 4 + len, have - 4 - len);
			have -= 4 + len;
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (buf_init(&up, UP_CAP) < 0 || buf_init(&down, DOWN_CAP) < 0 || pipe2(ain_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	return 0;
}

static void reset(void)
{
	uint8_t junk[4096];

	buf_consume(&up, buf_len(&up));
	buf_consume(&down, buf_len(&down));
	up_whole = 0;
	hdr_have = 0;
	body_left = 0;
	skipping = 0;
	stream_len = stream_taken = 0;
	ain = ain_pipe[1];
	cfd = -1;
	while (read(ain_pipe[0], junk, sizeof junk) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;
	int connected = 0, fresh = 0;

	reset();
	while (i + 2 <= size) {
		uint8_t op = data[i] & 7, n = data[i + 1];
		const uint8_t *bytes = data + i + 2;
		size_t k = n < size - i - 2 ? n : size - i - 2;
		uint8_t tmp[256];
		ssize_t r;

		i += 2;
		switch (op) {
		case 0: /* host bytes arrive (as client_read, without the socket) */
		case 1:
			if (!connected || k > buf_room(&up))
				break;
			memcpy(buf_space(&up, k), bytes, k);
			buf_commit(&up, k);
			i += k;
			if (scan_up() < 0) {
				cfd = 0; /* drop_client() only acts on a connected host */
				drop_client();
				connected = 0;
			}
			break;
		case 2: /* agent bytes arrive */
		case 3:
			if (k > buf_room(&down) || stream_len + k > STREAM_MAX)
				break;
			memcpy(buf_space(&down, k), bytes, k);
			buf_commit(&down, k);
			memcpy(stream + stream_len, bytes, k);
			stream_len += k;
			i += k;
			break;
		case 4: /* the host takes n bytes of agent output (a partial client_write) */
			skip_partial();
			stream_taken = stream_len - buf_len(&down);
			if (!connected || skipping)
				break;
			if (fresh) {
				assert(boundary(stream_taken)); /* a new host starts on a boundary */
				fresh = 0;
			}
			if (k > buf_len(&down))
				k = buf_len(&down);
			track(buf_peek(&down), k, 0);
			buf_consume(&down, k);
			break;
		case 5: /* the agent takes what it may */
			agent_write();
			while ((r = read(ain_pipe[0], tmp, sizeof tmp)) > 0)
				check_delivered(tmp, (size_t)r);
			break;
		case 6: /* the host goes away */
			if (connected) {
				cfd = 0;
				drop_client();
				connected = 0;
				assert(buf_len(&up) == up_whole);
			}
			break;
		case 7: /* a new host connects */
			if (!connected) {
				connected = 1;
				fresh = 1;
			}
			break;
		}
		assert(up_whole <= buf_len(&up));
	}
	cfd = -1;
	return 0;
}
