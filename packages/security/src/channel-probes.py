"""
Airlock hostile-channel probes (security group J): code inside a sandbox goes for its own agent, PID 1.
Nothing here judges the outcome: the host does, from the server's and the sandbox's state afterwards.
On the host, as root against a stand-in process, the same code is the positive control of the
non-frame attacks (the frames' control is written into the real channel by the host).

usage: python3 channel-probes.py '<json args>'   args: {"mode", "target": pid, ...}
  recon    which fds of the target open for writing; /proc/<target>/mem written back with its own
           byte; ptrace(PTRACE_SEIZE); SIGSTOP then SIGCONT. Harmless payloads only.
  signals  every signal in SIGNALS in turn (KILL last); the target may die of it.
  frames   {"fd", "blob": path}: the blob (crafted and random frames) into /proc/<target>/fd/<fd>.
output: JSON lines {"id": ..., ...}; a crash prints {"id", "error"}.
"""
import ctypes, errno, json, os, signal, sys, time

ARGS = json.loads(sys.argv[1])
T = int(ARGS['target'])
libc = ctypes.CDLL(None, use_errno=True)
SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGPIPE', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGSEGV', 'SIGKILL']
PTRACE_SEIZE = 0x4206


def emit(obj):
    sys.stdout.write('\n' + json.dumps(obj) + '\n')
    sys.stdout.flush()


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) else f'{type(e).__name__}: {e}'


def state(pid):
    try:
        s = open(f'/proc/{pid}/stat').read()
        return s[s.rindex(')') + 2]
    except OSError:
        return 'gone'


def fds():
    try:
        names = sorted(int(n) for n in os.listdir(f'/proc/{T}/fd'))
    except OSError as e:
        return {'id': 'fds', 'open': [], 'denied': {'list': err(e)}}
    opened, denied = [], {}
    for fd in names:
        try:
            os.close(os.open(f'/proc/{T}/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK))  # opened, not written
            opened.append(fd)
        except OSError as e:
            denied[str(fd)] = err(e)
    return {'id': 'fds', 'open': opened, 'denied': denied}


def mem():
    try:
        writable = [l for l in open(f'/proc/{T}/maps').read().splitlines() if l.split()[1].startswith('rw')]
        addr = int(writable[0].split('-')[0], 16)
    except (OSError, IndexError) as e:
        addr, why = None, f'maps: {err(e)}'
    try:
        fd = os.open(f'/proc/{T}/mem', os.O_RDWR)
    except OSError as e:
        return {'id': 'J2.mem', 'fired': False, 'detail': f'open /proc/{T}/mem for writing: {err(e)}'}
    try:
        if addr is None:
            return {'id': 'J2.mem', 'fired': True, 'detail': f'opened /proc/{T}/mem for writing ({why})'}
        byte = os.pread(fd, 1, addr)
        n = os.pwrite(fd, byte, addr)  # its own byte back: the write is the attack, the value harmless
        return {'id': 'J2.mem', 'fired': n == 1, 'detail': f'wrote {n} byte of its own back at {addr:#x}'}
    except OSError as e:
        return {'id': 'J2.mem', 'fired': False, 'detail': f'opened, but the write failed: {err(e)}'}
    finally:
        os.close(fd)


def ptrace():
    # In a child that then exits: a seized tracee is released when its tracer goes, so PID 1 never
    # stays traced (PTRACE_ATTACH would queue a SIGSTOP that could outlive us; SEIZE sends none).
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        rc = libc.ptrace(ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(T), None, None)
        os.write(w, json.dumps([rc, ctypes.get_errno()]).encode())
        os._exit(0)
    os.close(w)
    rc, e = json.loads(os.read(r, 256) or b'[-1, 0]')
    os.close(r)
    os.waitpid(child, 0)
    return {'id': 'J3.ptrace', 'fired': rc == 0, 'detail': 'PTRACE_SEIZE succeeded' if rc == 0 else f'PTRACE_SEIZE: {errno.errorcode.get(e, e)}'}


def stop():
    try:
        os.kill(T, signal.SIGSTOP)
    except OSError as e:
        return {'id': 'J5.stop', 'fired': False, 'detail': f'SIGSTOP: {err(e)}'}
    seen = state(T)
    for _ in range(30):
        if seen == 'T':
            break
        time.sleep(0.01)
        seen = state(T)
    os.kill(T, signal.SIGCONT)
    for _ in range(50):
        if state(T) != 'T':
            break
        time.sleep(0.01)
    stopped = seen == 'T'
    return {'id': 'J5.stop', 'fired': stopped,
            'detail': 'PID 1 stopped (state T), then continued' if stopped else f'SIGSTOP delivered, PID 1 kept running (state {seen})'}


def signals():
    sent = {}
    for name in SIGNALS:
        emit({'id': 'J4.signal', 'signal': name})  # announced first: if PID 1 dies of it, this line is what is left
        time.sleep(0.02)
        try:
            os.kill(T, getattr(signal, name))
            sent[name] = 'sent'
        except OSError as e:
            sent[name] = err(e)
        time.sleep(0.05)
        # Printed after each one: if PID 1 dies, this process dies with the sandbox.
        emit({'id': 'J4.signal', 'signal': name, 'result': sent[name], 'state': state(T)})
    return {'id': 'J4.signals', 'fired': state(T) in ('gone', 'Z'), 'sent': sent, 'detail': f'target after the signals: {state(T)}'}


def frames():
    blob = open(ARGS['blob'], 'rb').read()
    fd_path = f'/proc/{T}/fd/{ARGS["fd"]}'
    try:
        fd = os.open(fd_path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        return {'id': 'J1.frames', 'fd': ARGS['fd'], 'opened': False, 'bytes': 0, 'detail': f'open: {err(e)}'}
    written, why = 0, 'all written'
    try:
        while written < len(blob):
            written += os.write(fd, blob[written:])
    except OSError as e:
        why = f'stopped at {err(e)}'
    finally:
        os.close(fd)
    return {'id': 'J1.frames', 'fd': ARGS['fd'], 'opened': True, 'bytes': written, 'detail': why}


IDS = {'fds': 'fds', 'mem': 'J2.mem', 'ptrace': 'J3.ptrace', 'stop': 'J5.stop', 'signals': 'J4.signals', 'frames': 'J1.frames'}

if __name__ == '__main__':
    steps = {'recon': [fds, mem, ptrace, stop], 'signals': [signals], 'frames': [frames]}[ARGS['mode']]
    for step in steps:
        try:
            emit(step())
        except Exception as e:  # a crash says nothing about the sandbox: never counted as blocked
            emit({'id': IDS[step.__name__], 'error': err(e)})
