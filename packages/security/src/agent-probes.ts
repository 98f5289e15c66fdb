/**
 * @module agent-probes
 * TEST ONLY: the in-sandbox halves of the agent-hardening tests (agent-hardening.test.ts), as Python
 * programs run through exec. Each prints one JSON line; the host judges it.
 */

/**
 * Tries, ATTEMPTS times each, to reach PID 1 (the agent): open /proc/1/fd/0 and /proc/1/fd/1 (the
 * channel's pipes) and /proc/1/mem for writing, list /proc/1/fd, ptrace-attach, and SIGSTOP it.
 * Nothing is written: an open is the whole attack surface that matters here. `self_pipe` is the
 * positive control of the method: the probe reopens a pipe of its own through /proc/self/fd.
 */
export const PID1_REACH = String.raw`
import ctypes, errno, json, os, signal, time
ATTEMPTS = 20
libc = ctypes.CDLL(None, use_errno=True)
def attempt(fn):
    ok, errors = 0, {}
    for _ in range(ATTEMPTS):
        try:
            fn(); ok += 1
        except OSError as e:
            k = errno.errorcode.get(e.errno, str(e.errno)); errors[k] = errors.get(k, 0) + 1
    return {'ok': ok, 'errors': errors}
def opener(path, flags):
    return lambda: os.close(os.open(path, flags))
own_r, own_w = os.pipe()
def ptrace():
    if libc.ptrace(16, 1, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'ptrace')
    time.sleep(0.01); libc.ptrace(17, 1, 0, 0)
def stop():
    os.kill(1, signal.SIGSTOP)
    time.sleep(0.05)
    state = open('/proc/1/stat').read().rsplit(')', 1)[1].split()[0]
    os.kill(1, signal.SIGCONT)
    if state != 'T':
        raise OSError(errno.ENOTSUP, 'delivered, not stopped')
print(json.dumps({
    'self_pipe': attempt(opener('/proc/self/fd/%d' % own_w, os.O_WRONLY)),
    'fd0': attempt(opener('/proc/1/fd/0', os.O_WRONLY)),
    'fd1': attempt(opener('/proc/1/fd/1', os.O_WRONLY)),
    'mem': attempt(opener('/proc/1/mem', os.O_RDWR)),
    'fd_list': attempt(lambda: os.listdir('/proc/1/fd')),
    'ptrace': attempt(ptrace),
    'sigstop': attempt(stop),
}))
`;

/**
 * Run as the sandbox's user (argv: attack seconds, most hold seconds, result file, release file):
 * stops every process it may signal, over and over, and keeps stopped the ones caught between the
 * agent's fork and their exec (still named like the agent); the others are let go at once. It then
 * writes how many it caught (and how many kill(-1) it sent) to the result file and holds them
 * stopped until the release file appears (written by the host through the agent, which it can only
 * do if the agent still answers) or the hold time is up.
 */
export const STOP_IN_START_WINDOW = String.raw`
import json, os, signal, sys, time
attack, hold, out, release = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
agent = open('/proc/1/comm').read().strip()
me, caught, kills, end = os.getpid(), set(), 0, time.time() + attack
while time.time() < end:
    for _ in range(20):
        try: os.kill(-1, signal.SIGSTOP)
        except OSError: pass
        kills += 1
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) in (me, 1): continue
        try: st = open('/proc/%s/stat' % p).read()
        except OSError: continue
        if st[st.rindex(')') + 2] != 'T': continue
        if st[st.index('(') + 1:st.rindex(')')] == agent: caught.add(int(p))
        else:
            try: os.kill(int(p), signal.SIGCONT)
            except OSError: pass
with open(out + '.tmp', 'w') as f: f.write(json.dumps({'caught': len(caught), 'kills': kills}))
os.rename(out + '.tmp', out)
end = time.time() + hold
while time.time() < end and not os.path.exists(release):
    time.sleep(0.05)
for p in caught:
    try: os.kill(p, signal.SIGCONT)
    except OSError: pass
`;

/** PATH entries that do not exist: execvpe tries each, which widens the window between setuid and exec. */
export const LONG_PATH = `${Array.from({ length: 300 }, (_, i) => `/nonexistent/${i}`).join(':')}:/usr/bin:/bin`;
