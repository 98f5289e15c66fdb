"""
Airlock security probes: each attempts a real harmful action with a harmless payload and reports
whether it got through ("fired") -- inside a sandbox that is an escape, on the host it is the
positive control. Run as root, each probe in a forked child so that one probe's side effects
(unshare, ptrace, a key in a keyring) cannot change the next.

usage: python3 probes.py '<json args>'   args: {"probes": [ids], ...context}
output: one JSON line per probe: {"id", "fired": bool, "detail"}, {"id", "na": reason}, or
        {"id", "error": what} when the probe itself crashed (its result is unknown: the gate fails)

Each probe is built so that host sysctls cannot decide its outcome for an unprivileged caller
(perf_event_open counts user space only, userfaultfd asks for user-mode faults only): then only the
sandbox's own layers (seccomp, capabilities, namespaces) can refuse it, and a refusal shows they matter.
"""
import ctypes, errno, hashlib, json, os, socket, stat, sys, tempfile

ARGS = json.loads(sys.argv[1])
START_FDS = sorted(int(f) for f in os.listdir('/proc/self/fd'))
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# Refusals: a permission check, a filter or a read-only mount said no. Anything else (success,
# EINVAL, EFAULT, ENOENT of a missing object...) means the call reached the kernel's implementation.
REFUSED = {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EROFS}
NR = dict(mount=165, umount2=166, pivot_root=155, unshare=272, setns=308, init_module=175, finit_module=313,
          delete_module=176, kexec_load=246, reboot=169, swapon=167, acct=163, keyctl=250, add_key=248,
          perf_event_open=298, bpf=321, userfaultfd=323, io_uring_setup=425, ptrace=101, process_vm_readv=310,
          kcmp=312, name_to_handle_at=303, open_by_handle_at=304)


class NA(Exception):
    pass


def sc(name, *args):
    conv = [a if isinstance(a, (ctypes.c_void_p, ctypes.c_char_p)) else ctypes.c_long(a) for a in args]
    r = libc.syscall(ctypes.c_long(NR[name]), *conv)
    return r, (ctypes.get_errno() if r < 0 else 0)


def reached(name, *args):
    r, e = sc(name, *args)
    if r >= 0:
        if name in ('userfaultfd', 'io_uring_setup', 'perf_event_open', 'bpf'):
            os.close(r)
        return True, f'{name} returned {r}'
    return e not in REFUSED, f'{name}: {errno.errorcode.get(e, e)}'


def buf(n):
    return ctypes.create_string_buffer(n)


def scratch_dir():
    return tempfile.mkdtemp(prefix='airlock-probe-', dir=ARGS.get('scratch', '/tmp'))


# ---- C: kernel attack surface ----

def c1_mount():
    d = scratch_dir()
    r, e = sc('mount', ctypes.c_char_p(b'none'), ctypes.c_char_p(d.encode()), ctypes.c_char_p(b'tmpfs'), 1, 0)
    if r == 0:
        sc('umount2', ctypes.c_char_p(d.encode()), 0)
    os.rmdir(d)
    return (r == 0 or e not in REFUSED), f'mount tmpfs: {errno.errorcode.get(e, "ok")}'


def c1_umount2():
    d = scratch_dir()
    try:
        return reached('umount2', ctypes.c_char_p(d.encode()), 0)
    finally:
        os.rmdir(d)


def c1_pivot_root():
    d = scratch_dir()
    try:
        return reached('pivot_root', ctypes.c_char_p(d.encode()), ctypes.c_char_p(d.encode()))
    finally:
        os.rmdir(d)


def c1_unshare_user():
    return reached('unshare', 0x10000000)


def c1_unshare_mnt():
    return reached('unshare', 0x00020000)


def c1_unshare_net():
    return reached('unshare', 0x40000000)


def c1_setns():
    # Init's namespace where we may open it, else our parent's (the host control cannot open pid 1's).
    for path in ['/proc/1/ns/mnt', f'/proc/{os.getppid()}/ns/mnt']:
        try:
            fd = os.open(path, os.O_RDONLY)
            break
        except OSError as e:
            last = f'open {path}: {e.strerror}'
    else:
        return False, last
    try:
        return reached('setns', fd, 0)
    finally:
        os.close(fd)


def c2_init_module():
    return reached('init_module', 0, 0, ctypes.c_char_p(b''))


def c2_finit_module():
    return reached('finit_module', -1, ctypes.c_char_p(b''), 0)


def c2_delete_module():
    return reached('delete_module', ctypes.c_char_p(b'airlock_no_such_module'), os.O_NONBLOCK)


def c2_kexec_load():
    return reached('kexec_load', 0, 0, 0, 0xdead0000)


def c2_reboot():
    # Wrong magic numbers: the kernel checks CAP_SYS_BOOT first, then refuses the magic (EINVAL).
    return reached('reboot', 0, 0, 0, 0)


def c2_swapon():
    return reached('swapon', 0, 0)


def c2_acct():
    return reached('acct', 1)  # a bad pointer: EFAULT after the capability check


def c3_keyring():
    # KEY_SPEC_PROCESS_KEYRING: the key dies with this (forked) process.
    r, e = sc('add_key', ctypes.c_char_p(b'user'), ctypes.c_char_p(b'airlock-probe'), ctypes.c_char_p(b'x'), 1, -2)
    if r >= 0:
        return True, f'add_key gave key {r}'
    return reached('keyctl', 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring


# perf_event_attr flag bits (after type, size, config, sample_period, sample_type, read_format).
PERF_DISABLED, PERF_EXCLUDE_KERNEL, PERF_EXCLUDE_HV = 1 << 0, 1 << 5, 1 << 6


def c4_perf_event_open():
    # A software counter (task clock) of this thread, user space only: kernel.perf_event_paranoid=2
    # (Debian's default) allows that to anyone, so only a seccomp deny can refuse it.
    attr = buf(128)
    ctypes.memmove(attr, (1).to_bytes(4, 'little') + (128).to_bytes(4, 'little') + (1).to_bytes(8, 'little'), 16)  # SOFTWARE, size, TASK_CLOCK
    ctypes.memmove(ctypes.addressof(attr) + 40, (PERF_DISABLED | PERF_EXCLUDE_KERNEL | PERF_EXCLUDE_HV).to_bytes(8, 'little'), 8)
    return reached('perf_event_open', ctypes.cast(attr, ctypes.c_void_p), 0, -1, -1, 0)


def c4_bpf():
    attr = buf(64)
    return reached('bpf', 0, ctypes.cast(attr, ctypes.c_void_p), 64)


UFFD_USER_MODE_ONLY = 1


def c4_userfaultfd():
    # User-mode faults only: allowed to anyone whatever vm.unprivileged_userfaultfd says (Linux 5.11+).
    return reached('userfaultfd', UFFD_USER_MODE_ONLY | os.O_CLOEXEC)


def c4_io_uring():
    params = buf(120)
    return reached('io_uring_setup', 1, ctypes.cast(params, ctypes.c_void_p))


def c4_ptrace():
    return reached('ptrace', 0, 0, 0, 0)  # PTRACE_TRACEME


def c4_process_vm_readv():
    src, dst = buf(16), buf(16)

    class IOV(ctypes.Structure):
        _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
    local, remote = IOV(ctypes.cast(dst, ctypes.c_void_p), 16), IOV(ctypes.cast(src, ctypes.c_void_p), 16)
    return reached('process_vm_readv', os.getpid(), ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)


def c4_kcmp():
    return reached('kcmp', os.getpid(), os.getpid(), 0, 0, 0)  # KCMP_FILE of fd 0 with itself


def c4_name_to_handle_at():
    handle, mount_id = buf(136), ctypes.c_int()
    ctypes.memmove(handle, (128).to_bytes(4, 'little'), 4)
    return reached('name_to_handle_at', -100, ctypes.c_char_p(b'/'), ctypes.cast(handle, ctypes.c_void_p), ctypes.addressof(mount_id), 0)


def c4_open_by_handle_at():
    handle = buf(16)
    ctypes.memmove(handle, (8).to_bytes(4, 'little') + (1).to_bytes(4, 'little'), 8)  # a handle that names nothing
    return reached('open_by_handle_at', -100, ctypes.cast(handle, ctypes.c_void_p), 0)


def c6_raw_socket():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True, 'raw AF_INET socket created'
    except OSError as e:
        return e.errno not in REFUSED and e.errno != errno.EAFNOSUPPORT, f'raw socket: {e.strerror}'


def c6_packet_socket():
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        return True, 'AF_PACKET socket created'
    except OSError as e:
        return e.errno not in REFUSED and e.errno != errno.EAFNOSUPPORT, f'packet socket: {e.strerror}'


# ---- B: filesystem ----

def read_bytes(path, n=1 << 20):
    with open(path, 'rb') as f:
        return f.read(n)


def b1_canary_read():
    want = ARGS['canaryText'].encode()
    paths = [ARGS['canaryPath'], '/proc/1/root' + ARGS['canaryPath']]
    paths += [f'/proc/{p}/root{ARGS["canaryPath"]}' for p in os.listdir('/proc') if p.isdigit()]
    for p in paths:
        try:
            if read_bytes(p) == want:
                return True, f'read the host canary at {p}'
        except OSError:
            pass
    return False, f'canary not readable through {len(paths)} paths'


def b1_host_shadow():
    try:
        got = hashlib.sha256(read_bytes('/etc/shadow')).hexdigest()
    except OSError as e:
        return False, f'/etc/shadow: {e.strerror}'
    return got == ARGS['shadowSha256'], 'host /etc/shadow bytes' if got == ARGS['shadowSha256'] else 'a different /etc/shadow'


def b1_data_dir():
    try:
        entries = os.listdir(ARGS['dataDir'])
        return True, f'server data dir lists {len(entries)} entries'
    except OSError as e:
        return False, f'{ARGS["dataDir"]}: {e.strerror}'


def try_writes(paths):
    # Probes judged on the host: whether a file appeared there decides, this only tries every path.
    tried = []
    for p in paths:
        try:
            with open(p, 'w') as f:
                f.write('escaped')
            tried.append(f'{p}: written')
        except OSError as e:
            tried.append(f'{p}: {e.strerror}')
    return False, '; '.join(tried)


def b2_canary_write():
    return try_writes([ARGS['writeTarget'], '/proc/1/root' + ARGS['writeTarget']])


def write_same(path):
    try:
        current = read_bytes(path)
    except OSError as e:
        return False, f'read {path}: {e.strerror}'
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return False, f'open {path} for write: {e.strerror}'
    try:
        os.write(fd, current)  # the value it already has: a harmless payload
        return True, f'wrote {path}'
    except OSError as e:
        return e.errno not in REFUSED, f'write {path}: {e.strerror}'
    finally:
        os.close(fd)


def b2_core_pattern():
    return write_same('/proc/sys/kernel/core_pattern')


def b2_modprobe():
    return write_same('/proc/sys/kernel/modprobe')


def open_for_write(paths):
    for path in paths:
        try:
            os.close(os.open(path, os.O_WRONLY))
            return True, f'opened {path} for writing'
        except OSError as e:
            last = f'{path}: {e.strerror}'
    return False, last


def b2_sysrq():
    return open_for_write(['/proc/sysrq-trigger'])  # opened, never written


def b2_sysfs():
    return write_same('/sys/kernel/mm/transparent_hugepage/enabled')


def b2_release_agent():
    found = []
    for root, dirs, files in os.walk('/sys/fs/cgroup'):
        if 'release_agent' in files:
            found.append(os.path.join(root, 'release_agent'))
        dirs[:] = []  # the top of each hierarchy is where release_agent lives
    if os.path.isdir('/sys/fs/cgroup'):
        for d in os.listdir('/sys/fs/cgroup'):
            if os.path.exists(f'/sys/fs/cgroup/{d}/release_agent'):
                found.append(f'/sys/fs/cgroup/{d}/release_agent')
    if not found:
        return False, 'no cgroup release_agent visible'
    return open_for_write(found)


def readable(path):
    try:
        data = read_bytes(path, 64)
        return len(data) > 0, f'{path} gave {len(data)} bytes'
    except OSError as e:
        return False, f'{path}: {e.strerror}'


def b3_kcore():
    return readable('/proc/kcore')


def b3_kallsyms():
    try:
        lines = read_bytes('/proc/kallsyms', 1 << 16).decode().splitlines()[:200]
    except OSError as e:
        return False, f'/proc/kallsyms: {e.strerror}'
    real = [l for l in lines if l.split(' ')[0].strip('0')]
    return len(real) > 0, f'{len(real)} of {len(lines)} symbols with real addresses'


def b3_config_gz():
    return readable('/proc/config.gz')


def b3_proc_keys():
    sc('add_key', ctypes.c_char_p(b'user'), ctypes.c_char_p(b'airlock-probe'), ctypes.c_char_p(b'x'), 1, -2)
    return readable('/proc/keys')


# (major, minor) of the standard devices: null, zero, full, random, urandom, tty, ptmx; pts/N is 136.
STANDARD_DEV = {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)}


def b4_devices():
    extra = []
    for root, dirs, files in os.walk('/dev'):
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode) or (stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) not in STANDARD_DEV
                                            and os.major(st.st_rdev) != 136):
                extra.append(f'{p} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}')
    return len(extra) > 0, f'non-standard device nodes: {extra[:8]}' if extra else 'only standard device nodes'


def b4_mknod():
    d = scratch_dir()
    p = os.path.join(d, 'mem')
    try:
        os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 1))
        os.unlink(p)
        return True, 'mknod of a char device succeeded'
    except OSError as e:
        return False, f'mknod: {e.strerror}'
    finally:
        os.rmdir(d)


def b5_leaked_fds():
    leaked = []
    for fd in START_FDS:
        if fd <= 2:
            continue
        try:
            leaked.append(f'{fd}->{os.readlink(f"/proc/self/fd/{fd}")}')
        except OSError:
            pass  # the fd os.listdir itself used
    return len(leaked) > 0, f'inherited fds: {leaked}' if leaked else 'only 0, 1, 2'


def b6_exe_write():
    results = []
    for p in ['/proc/self/exe', '/proc/1/exe']:
        try:
            os.close(os.open(p, os.O_WRONLY))
            return True, f'{p} opened for writing'
        except OSError as e:
            if e.errno not in REFUSED and e.errno != errno.ENOENT:
                return True, f'{p}: {e.strerror} (past the permission check)'
            results.append(f'{p}: {e.strerror}')
    return False, '; '.join(results)


# ---- E: other sandboxes' processes ----

def e1_processes():
    marker = ARGS['marker'].encode()
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if read_bytes(f'/proc/{p}/cmdline').split(b'\0')[0] == marker:
                    return True, f'marker process visible as pid {p}'
            except OSError:
                pass
    for pid in ARGS.get('foreignPids', []):
        try:
            os.kill(pid, 0)
            return True, f'kill(0) reached pid {pid}'
        except OSError as e:
            if e.errno != errno.ESRCH:
                return True, f'pid {pid} exists here ({e.strerror})'
    return False, f'marker not visible; {len(ARGS.get("foreignPids", []))} foreign pids answer ESRCH'


def e4_image_write():
    # The image root, the host's /usr and the agent are shared by every sandbox: a write there would
    # reach the next tenant.
    return try_writes([os.path.join(d, ARGS['sharedName']) for d in ARGS['sharedDirs']])


# ---- H: secrets ----

def h3_server_env():
    canary = ARGS['envCanary'].encode()
    if any(canary in (k + '=' + v).encode() for k, v in os.environ.items()):
        return True, 'canary in own environment'
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if canary in read_bytes(f'/proc/{p}/environ'):
                    return True, f'canary in the environment of pid {p}'
            except OSError:
                pass
    return False, 'canary in no environment'


PROBES = {name[:2].upper() + '.' + name[3:].replace('_', '-'): fn for name, fn in list(globals().items())
          if callable(fn) and name[:1] in 'bceh' and name[1:2].isdigit() and name[2:3] == '_'}


def run(pid_id):
    fn = PROBES[pid_id]
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            fired, detail = fn()
            out = {'id': pid_id, 'fired': bool(fired), 'detail': detail}
        except NA as e:
            out = {'id': pid_id, 'na': str(e)}
        except Exception as e:  # a crash says nothing about the sandbox: never counted as blocked
            out = {'id': pid_id, 'error': f'{type(e).__name__}: {e}'}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(child, 0)
    if not data:
        return {'id': pid_id, 'error': f'the probe process died without a result (wait status {status:#x})'}
    return json.loads(data)


if __name__ == '__main__':
    ids = ARGS.get('probes') or sorted(PROBES)
    for i in ids:
        print(json.dumps(run(i)), flush=True)
