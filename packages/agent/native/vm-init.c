/*
 * vm-init: what the agent does first when it is PID 1 of an Airlock microVM.
 *
 * The kernel starts the agent as /init from the server-built initramfs and
 * passes the boot parameters it does not know itself to init as environment
 * (AIRLOCK_* below). Then, in this order:
 *
 *   1. mount devtmpfs, proc and sysfs; load the kernel modules listed in
 *      /modules.order (finit_module, dependencies first);
 *   2. assemble the sandbox's root at /newroot (AIRLOCK_ROOT):
 *        virtiofs:TAG  the directory shared read-only by the host's virtiofsd
 *                      (the default image: host /usr, a generated /etc);
 *        blk           /dev/vda (erofs: the image, read-only) under an
 *                      overlay whose upper layer is /dev/vdb (ext4, sized to
 *                      the sandbox's disk limit);
 *      then tmpfs at the writable places (AIRLOCK_TMPFS), and /proc, /sys,
 *      cgroup2 at /sys/fs/cgroup, /dev (devtmpfs, /dev/pts, /dev/shm);
 *   3. guest limits: a cgroup /sys/fs/cgroup/sandbox with pids.max =
 *      AIRLOCK_PIDS that the agent (and so everything it starts) joins;
 *      loopback up, the hostname, and AIRLOCK_NET on eth0 if given;
 *   4. move /newroot onto / and chroot into it (the initramfs is emptied
 *      first, so it costs no guest memory), make the virtio-serial port
 *      named "airlock.agent" its stdin/stdout, and return: from here on the
 *      agent runs exactly as in a container.
 *
 * When the agent exits (its channel reached EOF: the host is gone for good)
 * the guest powers off instead of panicking. Any failure here is printed on
 * the console (the host keeps its last lines) and powers off too, so a guest
 * that cannot boot never lingers.
 */
#include "vm-init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/route.h>
#include <time.h>
#include <unistd.h>

#define NEWROOT "/newroot"
#define PORT_NAME "airlock.agent"
#define DEVICE_WAIT_MS 20000

_Noreturn static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

_Noreturn static void die(const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(2, "airlock-vm-init: %s\n", msg);
	/* The host drains the console ring while the guest boots: give it time to take these last words. */
	sleep(1);
	power_off();
}

static void on_exit_power_off(void)
{
	power_off();
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void xmount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		die("mount %s on %s (%s): %s", src, dst, type, strerror(errno));
}

static void load_modules(void)
{
	FILE *f = fopen("/modules.order", "r");
	char line[512];

	if (!f)
		return; /* everything is built in */
	while (fgets(line, sizeof line, f)) {
		int fd;
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("module %s: %s", line, strerror(errno));
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			die("finit_module %s: %s", line, strerror(errno));
		close(fd);
		unlink(line);
	}
	fclose(f);
	unlink("/modules.order");
}

/* Polls for a condition the kernel fulfils asynchronously (devices probing). */
static int wait_for(int (*ready)(const char *), const char *arg)
{
	int64_t until = mono_ms() + DEVICE_WAIT_MS;
	while (!ready(arg)) {
		if (mono_ms() > until)
			return -1;
		usleep(5000);
	}
	return 0;
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static char port_dev[300];

/*
 * A virtio-serial port hangs up (POLLHUP, read 0) until QEMU has answered the
 * guest's open: the agent would take that for its host being gone.
 */
static void wait_host_connected(int fd)
{
	int64_t until = mono_ms() + DEVICE_WAIT_MS;
	for (;;) {
		struct pollfd p = {fd, POLLOUT, 0};
		if (poll(&p, 1, 10) > 0 && !(p.revents & POLLHUP))
			return;
		if (mono_ms() > until)
			die("the host side of %s never connected", port_dev);
		usleep(2000);
	}
}

/* Finds the virtio-serial port named PORT_NAME; its node is /dev/<vportNpM>. */
static int find_port(const char *unused)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;

	(void)unused;
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], name[64] = "";
		int fd;
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof name - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = 0;
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, PORT_NAME) == 0) {
			snprintf(port_dev, sizeof port_dev, "/dev/%s", e->d_name);
			found = exists(port_dev);
		}
	}
	closedir(d);
	return found;
}

static void root_virtiofs(const char *tag)
{
	xmount(tag, NEWROOT, "virtiofs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

static void root_blk(void)
{
	if (wait_for(exists, "/dev/vda") < 0 || wait_for(exists, "/dev/vdb") < 0)
		die("the root disks /dev/vda and /dev/vdb did not appear");
	xmount("/dev/vda", "/lower", "erofs", MS_RDONLY | MS_NODEV, NULL);
	xmount("/dev/vdb", "/upper", "ext4", MS_NOSUID | MS_NODEV, NULL);
	mkdir("/upper/data", 0755);
	mkdir("/upper/work", 0700);
	xmount("overlay", NEWROOT, "overlay", MS_NODEV,
	       "lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work");
}

/*
 * AIRLOCK_TMPFS: comma-separated dest:mode:uid:gid:sizeMiB:inodes[:ro], each
 * a tmpfs in the new root (bounded in size and inodes: guest memory).
 */
static void tmpfs_mounts(const char *spec)
{
	char *copy, *save = NULL, *ent;

	if (!spec || !*spec)
		return;
	copy = strdup(spec);
	if (!copy)
		die("out of memory");
	for (ent = strtok_r(copy, ",", &save); ent; ent = strtok_r(NULL, ",", &save)) {
		char dest[256], ro[4] = "", path[300], data[128];
		unsigned mode, uid, gid, size, inodes;
		unsigned long flags = MS_NOSUID | MS_NODEV;
		if (sscanf(ent, "%255[^:]:%o:%u:%u:%u:%u:%3s", dest, &mode, &uid, &gid, &size, &inodes, ro) < 6 || dest[0] != '/')
			die("bad AIRLOCK_TMPFS entry: %s", ent);
		if (strcmp(ro, "ro") == 0)
			flags |= MS_RDONLY;
		snprintf(path, sizeof path, NEWROOT "%s", dest);
		snprintf(data, sizeof data, "mode=%o,uid=%u,gid=%u,size=%um,nr_inodes=%u", mode, uid, gid, size, inodes);
		if (mount("tmpfs", path, "tmpfs", flags, data) < 0)
			die("tmpfs on %s: %s", dest, strerror(errno));
	}
	free(copy);
}

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		die("write %s: %s", path, strerror(errno));
	close(fd);
}

/* The guest's own limits: a pids cgroup that PID 1 joins, so everything it starts is counted. */
static void guest_cgroup(const char *pids)
{
	char self[16];

	xmount("cgroup2", NEWROOT "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	write_file(NEWROOT "/sys/fs/cgroup/cgroup.subtree_control", "+pids +memory");
	if (mkdir(NEWROOT "/sys/fs/cgroup/sandbox", 0755) < 0 && errno != EEXIST)
		die("mkdir the sandbox cgroup: %s", strerror(errno));
	if (pids && *pids)
		write_file(NEWROOT "/sys/fs/cgroup/sandbox/pids.max", pids);
	snprintf(self, sizeof self, "%d", getpid());
	write_file(NEWROOT "/sys/fs/cgroup/sandbox/cgroup.procs", self);
}

static void if_up(int s, const char *name)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("%s: %s", name, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("%s up: %s", name, strerror(errno));
}

/* AIRLOCK_NET: ADDR/PREFIX[,GATEWAY] for eth0 (the tap in the sandbox's network namespace). */
static void network(const char *net)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char addr[64] = "", gw[64] = "";
	unsigned prefix = 0;
	struct ifreq ifr = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	if (s < 0)
		die("socket: %s", strerror(errno));
	if_up(s, "lo");
	if (!net || !*net) {
		close(s);
		return;
	}
	if (sscanf(net, "%63[0-9.]/%u,%63[0-9.]", addr, &prefix, gw) < 2 || prefix > 32)
		die("bad AIRLOCK_NET: %s", net);
	if (wait_for(exists, "/sys/class/net/eth0") < 0)
		die("eth0 did not appear");
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "eth0");
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1 || ioctl(s, SIOCSIFADDR, &ifr) < 0)
		die("eth0 address %s: %s", addr, strerror(errno));
	sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		die("eth0 netmask: %s", strerror(errno));
	if_up(s, "eth0");
	if (gw[0]) {
		struct rtentry rt = {0};
		struct sockaddr_in *g = (struct sockaddr_in *)&rt.rt_gateway;
		((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
		g->sin_family = AF_INET;
		if (inet_pton(AF_INET, gw, &g->sin_addr) != 1)
			die("bad gateway %s", gw);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = "eth0";
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			die("default route via %s: %s", gw, strerror(errno));
	}
	close(s);
}

/* Empties the initramfs (what switch_root does), without crossing into mounts. */
static void empty_dir(int dfd, dev_t dev)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				empty_dir(sub, dev);
			unlinkat(dfd, e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dfd, e->d_name, 0);
		}
	}
	closedir(d);
}

static void switch_root(void)
{
	struct stat st;
	int fd;

	if (chdir(NEWROOT) < 0)
		die("chdir: %s", strerror(errno));
	mkdir(NEWROOT "/dev", 0755);
	/* Everything the old root still has mounted moves along. */
	if (mount("/dev", NEWROOT "/dev", NULL, MS_MOVE, NULL) < 0)
		die("move /dev: %s", strerror(errno));
	umount2("/proc", MNT_DETACH);
	umount2("/sys", MNT_DETACH);
	/* The overlay keeps its layers; their mount points need not stay. */
	umount2("/lower", MNT_DETACH);
	umount2("/upper", MNT_DETACH);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0)
		empty_dir(fd, st.st_dev);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		die("move the new root: %s", strerror(errno));
	if (chroot(".") < 0 || chdir("/") < 0)
		die("chroot: %s", strerror(errno));
}

void vm_init(void)
{
	const char *root = getenv("AIRLOCK_ROOT");
	int fd;

	if (getpid() != 1 || !getenv("AIRLOCK_VM"))
		return;
	atexit(on_exit_power_off);
	xmount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	/* The kernel gave init no console if the initramfs had no /dev/console: use it now. */
	fd = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	xmount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	load_modules();

	mkdir(NEWROOT, 0755);
	if (root && strncmp(root, "virtiofs:", 9) == 0)
		root_virtiofs(root + 9);
	else if (root && strcmp(root, "blk") == 0)
		root_blk();
	else
		die("AIRLOCK_ROOT must be virtiofs:TAG or blk, not %s", root ? root : "(unset)");
	tmpfs_mounts(getenv("AIRLOCK_TMPFS"));
	xmount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmount("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
	guest_cgroup(getenv("AIRLOCK_PIDS"));
	xmount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
	xmount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, getenv("AIRLOCK_SHM") ? getenv("AIRLOCK_SHM") : "mode=1777,size=64m");
	/* devtmpfs has no /dev/fd or /dev/std*: what udev or a container runtime would add. */
	{
		static const char *const links[][2] = {{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
						       {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}};
		for (size_t i = 0; i < sizeof links / sizeof *links; i++)
			if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
				die("symlink %s: %s", links[i][1], strerror(errno));
	}
	network(getenv("AIRLOCK_NET"));
	if (sethostname("sandbox", 7) < 0)
		die("sethostname: %s", strerror(errno));

	if (wait_for(find_port, NULL) < 0)
		die("the agent's virtio-serial port %s did not appear", PORT_NAME);
	switch_root();
	fd = open(port_dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", port_dev, strerror(errno));
	wait_host_connected(fd);
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		die("dup2: %s", strerror(errno));
	close(fd);
	/* The agent's children must not inherit the boot parameters. */
	clearenv();
}
