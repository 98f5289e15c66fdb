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
