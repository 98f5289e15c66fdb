/*
 * airlock-rootfs: the host-side helper that prepares and releases sandbox root filesystems on the
 * btrfs image store. One process per operation, talking to the kernel through ioctls and the new
 * mount API, so preparing a sandbox's rootfs is one spawn (about a millisecond) instead of several
 * `btrfs` and `mount` invocations.
 *
 *   subvol-create PATH                      create an empty subvolume
 *   snapshot SRC DST [ro]                   snapshot SRC to DST (read-only with "ro")
 *   set-readonly PATH                       make a subvolume read-only (a finished image layer)
 *   delete PATH                             delete a subvolume (read-only ones too)
 *   prepare SRC DST LIMIT [MNT HOSTID N]    writable snapshot SRC -> DST with an exclusive qgroup
 *                                           limit of LIMIT bytes (0: none); with MNT, also mount DST
 *                                           at MNT idmapped so that ids 0..N-1 appear as HOSTID..
 *   release [MNT] DST                       lazily unmount MNT (if given and mounted), delete DST
 *   quota-enable PATH                       enable simple quotas (kernel >= 6.7) on the volume at
 *                                           PATH, falling back to full qgroups on older kernels
 *   mountpoints ROOT DIR NAME...            make ROOT/DIR a directory and ROOT/DIR/NAME empty files
 *                                           (the runtimes' bind-mount targets for the agent), with
 *                                           fd-relative calls only: no symlink in the image is ever
 *                                           followed, whatever it planted at those names
 *
 * Errors go to stderr as "airlock-rootfs: <what>: <errno name>" and exit status 1; the caller maps
 * ENOSPC/EDQUOT and friends to its own error codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *op = "?";

static void fail(const char *what, const char *path) {
    int e = errno;
    fprintf(stderr, "airlock-rootfs: %s %s: %s (%s)\n", what, path, strerror(e), strerrorname_np(e) ? strerrorname_np(e) : "?");
    exit(1);
}

/* Opens the parent directory of path and returns it, with the last component in *name. */
static int open_parent(const char *path, char *name, size_t name_len) {
    char a[PATH_MAX], b[PATH_MAX];
    if (strlen(path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        fail(op, path);
    }
    strcpy(a, path);
    strcpy(b, path);
    const char *base = basename(a);
    if (strlen(base) >= name_len || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
        errno = EINVAL;
        fail(op, path);
    }
    strcpy(name, base);
    int fd = open(dirname(b), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open parent of", path);
    return fd;
}

static void subvol_create(const char *path) {
    struct btrfs_ioctl_vol_args args;
    memset(&args, 0, sizeof args);
    int dir = open_parent(path, args.name, sizeof args.name);
    if (ioctl(dir, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) fail("create subvolume", path);
    close(dir);
}

static void snapshot(const char *src, const char *dst, int readonly) {
    struct btrfs_ioctl_vol_args_v2 args;
    memset(&args, 0, sizeof args);
    int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s < 0) fail("open", src);
    int dir = open_parent(dst, args.name, sizeof args.name);
    args.fd = s;
    args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
    if (ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0) fail("snapshot to", dst);
    close(dir);
    close(s);
}

static void set_readonly(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open", path);
    uint64_t flags;
    if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0) fail("get flags of", path);
    flags |= BTRFS_SUBVOL_RDONLY;
    if (ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0) fail("set read-only", path);
    close(fd);
}

static void delete_subvol(const char *path) {
    struct btrfs_ioctl_vol_args args;
    memset(&args, 0, sizeof args);
    int dir = open_parent(path, args.name, sizeof args.name);
    if (ioctl(dir, BTRFS_IOC_SNAP_DESTROY, &args) < 0 && errno != ENOENT) fail("delete subvolume", path);
    close(dir);
}

/* An exclusive limit: the shared image below does not count, only what this sandbox writes. */
static void limit(const char *path, uint64_t bytes) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open", path);
    struct btrfs_ioctl_qgroup_limit_args args;
    memset(&args, 0, sizeof args);
    args.qgroupid = 0; /* the subvolume the fd is in */
    args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_EXCL;
    args.lim.max_excl = bytes;
    if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0) fail("set qgroup limit on", path);
    close(fd);
}

/*
 * A user namespace whose only purpose is to carry the id mapping for mount_setattr: a child
 * unshares, we write its maps, open its namespace, and let it exit.
 */
static int userns_with_map(unsigned long hostid, unsigned long count) {
    int ready[2], done[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) fail("pipe", "");
    pid_t pid = fork();
    if (pid < 0) fail("fork", "");
    if (pid == 0) {
        char c = 0;
        close(ready[0]);
        close(done[1]); /* so that read() below sees EOF once the parent is done */
        if (unshare(CLONE_NEWUSER) < 0) _exit(1);
        if (write(ready[1], &c, 1) != 1) _exit(1);
        (void)!read(done[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        errno = EPERM;
        fail("unshare user namespace", "");
    }
    char path[64], map[64];
    snprintf(map, sizeof map, "0 %lu %lu\n", hostid, count);
    const char *files[] = {"uid_map", "gid_map"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/proc/%d/%s", pid, files[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, map, strlen(map)) != (ssize_t)strlen(map)) fail("write", path);
        close(fd);
    }
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) fail("open", path);
    close(done[1]);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    return ns;
}

static void idmap_mount(const char *src, const char *mnt, unsigned long hostid, unsigned long count) {
    int ns = userns_with_map(hostid, count);
    int tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) fail("open_tree", src);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV;
    attr.userns_fd = ns;
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) fail("idmap", src);
    if (mkdir(mnt, 0755) < 0 && errno != EEXIST) fail("mkdir", mnt);
    if (move_mount(tree, "", AT_FDCWD, mnt, MOVE_MOUNT_F_EMPTY_PATH) < 0) fail("mount at", mnt);
    close(tree);
    close(ns);
}

#ifndef BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA
#define BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA 4
#endif

/*
 * Simple quotas account each extent to the subvolume that wrote it, with no backref walks on
 * snapshot or delete; full qgroups made every snapshot and first write several times slower here.
 */
static void quota_enable(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open", path);
    struct btrfs_ioctl_quota_ctl_args args;
    memset(&args, 0, sizeof args);
    args.cmd = BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA;
    if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args) < 0) {
        if (errno != EINVAL && errno != EOPNOTSUPP) fail("enable simple quotas on", path);
        args.cmd = BTRFS_QUOTA_CTL_ENABLE;
        if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args) < 0) fail("enable quotas on", path);
    }
    close(fd);
}

/*
 * SECURITY: the rootfs is an image's content (untrusted). Every step is relative to an fd and never
 * follows a link: a symlink, file or device at DIR or NAME is removed and replaced, a non-empty
 * directory at NAME is refused. Nothing outside ROOT can be reached.
 */
static int dir_beneath(int parent, const char *name) {
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno != ENOENT) {
        /* ELOOP/ENOTDIR: a symlink or something else stands there. */
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT) fail("remove", name);
    }
    if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) fail("mkdir", name);
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail("open", name);
    return fd;
}

static void empty_file_beneath(int dir, const char *name) {
    struct stat st;
    if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        errno = EINVAL;
        fail("mount point name", name);
    }
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISREG(st.st_mode)) return;
        if (unlinkat(dir, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) fail("remove", name);
    } else if (errno != ENOENT) {
        fail("stat", name);
    }
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
    if (fd < 0) fail("create", name);
    close(fd);
}

static void mountpoints(const char *root, const char *dir, char **names, int n) {
    int r = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (r < 0) fail("open", root);
    if (strchr(dir, '/') || !strcmp(dir, ".") || !strcmp(dir, "..")) {
        errno = EINVAL;
        fail("mount point directory", dir);
    }
    int d = dir_beneath(r, dir);
    for (int i = 0; i < n; i++) empty_file_beneath(d, names[i]);
    close(d);
    close(r);
}

static unsigned long number(const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0') {
        errno = EINVAL;
        fail("parse number", s);
    }
    return (unsigned long)v;
}

static int usage(void) {
    fprintf(stderr, "usage: airlock-rootfs subvol-create|snapshot|set-readonly|delete|prepare|release ...\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    op = argv[1];
    if (strcmp(op, "subvol-create") == 0 && argc == 3) {
        subvol_create(argv[2]);
    } else if (strcmp(op, "snapshot") == 0 && (argc == 4 || argc == 5)) {
        snapshot(argv[2], argv[3], argc == 5 && strcmp(argv[4], "ro") == 0);
    } else if (strcmp(op, "set-readonly") == 0 && argc == 3) {
        set_readonly(argv[2]);
    } else if (strcmp(op, "delete") == 0 && argc == 3) {
        delete_subvol(argv[2]);
    } else if (strcmp(op, "prepare") == 0 && (argc == 5 || argc == 8)) {
        snapshot(argv[2], argv[3], 0);
        unsigned long bytes = number(argv[4]);
        if (bytes > 0) limit(argv[3], bytes);
        if (argc == 8) idmap_mount(argv[3], argv[5], number(argv[6]), number(argv[7]));
    } else if (strcmp(op, "mountpoints") == 0 && argc >= 5) {
        mountpoints(argv[2], argv[3], argv + 4, argc - 4);
    } else if (strcmp(op, "quota-enable") == 0 && argc == 3) {
        quota_enable(argv[2]);
    } else if (strcmp(op, "release") == 0 && (argc == 3 || argc == 4)) {
        if (argc == 4 && umount2(argv[2], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) fail("unmount", argv[2]);
        delete_subvol(argv[argc - 1]);
    } else {
        return usage();
    }
    return 0;
}
