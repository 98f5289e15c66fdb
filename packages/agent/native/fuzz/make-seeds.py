#!/usr/bin/env python3
"""Writes the small seed corpus of the fuzz harnesses (corpus/agent, corpus/shim).
Run it again after a protocol change; the fuzzers grow their own corpora from these."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))

def frame(t, ch, p=b''):
    return struct.pack('>IBI', 5 + len(p), t, ch) + p

def cstr(s):
    return s.encode() + b'\0'

def u32(n):
    return struct.pack('>I', n)

def u64(n):
    return struct.pack('>Q', n)

def execp(args, user='', cwd='', env=(), flags=0):
    return u32(flags) + cstr(user) + cstr(cwd) + u32(len(args)) + b''.join(map(cstr, args)) + u32(len(env)) + b''.join(map(cstr, env))

agent = {
    'ping': frame(0x05, 0, b'abc'),
    'exec': frame(0x01, 1, execp(['echo', 'hi'], env=['A=1'])) + frame(0x02, 1, b'in') + frame(0x03, 1) + frame(0x04, 1, u32(9)),
    'exec-user': frame(0x01, 2, execp(['true'], user='1234:5678', cwd='/tmp', flags=1)),
    'write-read-list': frame(0x10, 3, u32(0o644) + u32(1) + cstr('/d/e/f') + cstr('')) + frame(0x11, 3, b'hello') + frame(0x12, 3)
        + frame(0x13, 4, cstr('/d/e/f')) + frame(0x06, 4, u32(100)) + frame(0x14, 5, cstr('/d/e') + cstr('nobody')),
    'write-cancel': frame(0x10, 6, u32(0o4755) + u32(0) + cstr('/x') + cstr('nobody')) + frame(0x11, 6, b'x' * 100) + frame(0x15, 6),
    'unknown-channels': frame(0x06, 77, u32(5)) + frame(0x02, 78, b'data') + frame(0x03, 79) + frame(0x12, 80) + frame(0x7f, 81),
    'reset': frame(0x10, 7, u32(0o600) + u32(1) + cstr('/r/s') + cstr('root')) + frame(0x07, 0),
    'symlinkish': frame(0x13, 8, cstr('/proc/self/fd/0') + cstr('')) + frame(0x14, 9, cstr('/../..')),
    'bad-length': frame(0x05, 0, b'x') + b'\xff\xff\xff\xff\x01',
    # the registry: the harness makes a running "run" (subscribed on channel 1000) and an ended "old"
    'exec-trailer': frame(0x01, 10, execp(['sh'], flags=6) + cstr('id-1') + cstr('tag') + u32(1 << 20) + u32(120) + u32(40)),
    'proc-ack-resize': frame(0x09, 1000, u64(100) + u64(1)) + frame(0x0A, 1000, u32(100) + u32(30)) + frame(0x04, 1000, u32(0)),
    'proc-list': frame(0x0B, 11) + frame(0x0B, 12),
    'proc-subscribe': frame(0x08, 13, cstr('old') + u64(0) + u64(0)) + frame(0x08, 14, cstr('run') + u64(5) + u64(0))
        + frame(0x08, 15, cstr('nope') + u64(0) + u64(0)),
    'proc-reset-resubscribe': frame(0x07, 0) + frame(0x08, 16, cstr('run') + u64(7) + u64(1)) + frame(0x09, 16, u64(7) + u64(1)),
    'proc-forget': frame(0x0C, 17, cstr('old')) + frame(0x0C, 18, cstr('run')),
    'file-ops': frame(0x17, 20, u32(0o755) + u32(1) + cstr('/m/n/o') + cstr('')) + frame(0x16, 21, u32(0) + cstr('/m/n') + cstr(''))
        + frame(0x1B, 22, cstr('o') + cstr('/m/n/link') + cstr('')) + frame(0x16, 23, u32(1) + cstr('/m/n/link') + cstr(''))
        + frame(0x1A, 24, u32(0o700) + cstr('/m/n/o') + cstr('')) + frame(0x19, 25, u32(1) + cstr('/m/n/o') + cstr('/m/p') + cstr(''))
        + frame(0x18, 26, u32(0) + cstr('/m/n/link') + cstr('')) + frame(0x18, 27, u32(1) + cstr('/m') + cstr('')),
    'list-depth': frame(0x17, 30, u32(0o755) + u32(1) + cstr('/q/r/s') + cstr('')) + frame(0x14, 31, cstr('/q') + cstr('') + u32(3)),
    'watch': frame(0x17, 40, u32(0o755) + u32(1) + cstr('/w/x') + cstr('')) + frame(0x1C, 41, u32(1) + cstr('/w') + cstr(''))
        + frame(0x17, 42, u32(0o755) + u32(0) + cstr('/w/x/y') + cstr('')) + frame(0x06, 41, u32(4096)) + frame(0x15, 41),
}
for name, body in agent.items():
    for mode in (0, 1):  # resolver: openat2 / walk; one read for the whole input
        with open(os.path.join(here, 'corpus', 'agent', f'{name}-{mode}'), 'wb') as f:
            f.write(bytes([0xfe | mode]) + body)

def step(op, data=b''):
    return bytes([op, len(data)]) + data

shim = {
    'relay': step(7) + step(0, frame(0x05, 0, b'p')) + step(5) + step(2, frame(0x8b, 0, b'p')) + step(4, b'\0' * 3) + step(4, b'\0' * 20),
    'drop-mid-frame': step(7) + step(2, frame(0x82, 1, b'x' * 40)) + step(4, b'\0' * 10) + step(6) + step(7) + step(2, frame(0x82, 1, b'y')) + step(4, b'\0' * 60),
    'host-half-frame': step(7) + step(0, frame(0x01, 1, b'abcdef')[:7]) + step(6) + step(7) + step(0, frame(0x05, 0)) + step(5),
    'bad-length': step(7) + step(0, b'\xff\xff\xff\xff') + step(5),
}
for name, body in shim.items():
    with open(os.path.join(here, 'corpus', 'shim', name), 'wb') as f:
        f.write(body)
