/*
 * coord_local.c — coordination for the embedded, one-host case.
 *
 * "local:///DIR": the mount holds an exclusive flock(2) on DIR/mount.lock
 * for its whole life and writes who it is into the file, so a second mount
 * is refused with a message naming the holder, and `cassafs status` can say
 * who has it mounted.  The kernel drops the flock when the holder dies, so
 * a crashed daemon never leaves a stale lock behind.  A holder whose mount
 * the kernel has already ended (umount(8) does not wait for the daemon) is
 * waited for, up to 30 s, instead of refusing the new mount.  Everything else
 * (record locks, notices) is unnecessary with one mount: the kernel does
 * POSIX locks itself when the filesystem does not implement them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "mountinfo.h"

struct coord_local {
	struct coord base;
	char path[PATH_MAX]; /* DIR/mount.lock */
	int fd;              /* held while mounted, else -1 */
};

static int local_open(const char *url, const char *fsid, struct coord **out,
		      char *err, size_t err_len)
{
	const char *dir = url + strlen("local://");
	if (dir[0] != '/') {
		snprintf(err, err_len, "'%s': expected local:///ABSOLUTE/DIR", url);
		return -EINVAL;
	}
	struct coord_local *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (snprintf(c->path, sizeof(c->path), "%s/mount.lock", dir) >=
	    (int)sizeof(c->path)) {
		free(c);
		snprintf(err, err_len, "'%s': path too long", url);
		return -ENAMETOOLONG;
	}
	c->fd = -1;
	*out = &c->base;
	return 0;
}

static void local_close(struct coord *base)
{
	struct coord_local *c = (struct coord_local *)base;
	if (c->fd >= 0) {
		/* Clear the holder record before letting go of the lock. */
		if (ftruncate(c->fd, 0) < 0) {
			/* nothing to do: the flock is what counts */
		}
		close(c->fd);
	}
	free(c);
}

static int read_holder(int fd, struct coord_mount_info *m)
{
	char buf[2048];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	coord_parse_mount_info(buf, m);
	return 0;
}

/* 1 if path is a mount point in the mount namespace of process pid. */
static int mounted_in(pid_t pid, const char *path)
{
	int r = mountinfo_find(pid, path, NULL, 0);
	return r < 0 ? -1 : r;
}

/*
 * The holder is a daemon on this host whose mount the kernel has already
 * ended (umount(8), systemd or a script unmounted it and did not wait):
 * it is writing its last data and exiting.  Wait for its lock, bounded.
 * Returns 0 with the lock held, -EWOULDBLOCK if the holder is a live
 * mount or did not let go in time.
 */
#define HOLDER_EXIT_WAIT_MS 30000
static int wait_for_exiting_holder(int fd, const struct coord_mount_info *first)
{
	char host[256] = "";
	struct coord_mount_info h = *first;
	gethostname(host, sizeof(host) - 1);
	for (int ms = 0;; ms += 20) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (ms >= HOLDER_EXIT_WAIT_MS)
			return -EWOULDBLOCK;
		/* An empty record (the holder clears it just before letting
		 * go, a new holder has not written it yet) or a dead pid (its
		 * successor is writing its own): look again.  Otherwise wait
		 * only for a holder on this host whose mount point is no
		 * longer mounted in its own mount namespace. */
		if (h.pid > 0 && !(kill(h.pid, 0) < 0 && errno == ESRCH) &&
		    (strcmp(h.host, host) || !h.mountpoint[0] ||
		     mounted_in(h.pid, h.mountpoint) != 0))
			return -EWOULDBLOCK;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
		if (read_holder(fd, &h) < 0)
			return -EWOULDBLOCK;
	}
}

static int local_register_mount(struct coord *base,
				const struct coord_mount_info *m, char *err,
				size_t err_len)
{
	struct coord_local *c = (struct coord_local *)base;
	int fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, err_len, "cannot open lock file %s: %s", c->path,
			 strerror(e));
		return -e;
	}
	struct coord_mount_info h;
	int e = flock(fd, LOCK_EX | LOCK_NB) < 0 ? errno : 0;
	if (e == EWOULDBLOCK && read_holder(fd, &h) == 0 &&
	    wait_for_exiting_holder(fd, &h) == 0)
		e = 0; /* the unmounted holder let go */
	if (e) {
		read_holder(fd, &h);
		close(fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, err_len,
				 "already mounted by pid %d on host %s at %s "
				 "(lock file %s); unmount it first",
				 (int)h.pid, h.host[0] ? h.host : "?",
				 h.mountpoint[0] ? h.mountpoint : "?", c->path);
			return -EBUSY;
		}
		snprintf(err, err_len, "cannot lock %s: %s", c->path, strerror(e));
		return -e;
	}
	char buf[2048];
	int n = coord_format_mount_info(buf, sizeof(buf), m);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		snprintf(err, err_len, "cannot write lock file %s: %s", c->path,
			 strerror(e));
		return -e;
	}
	c->fd = fd;
	return 0;
}

static int local_list_mounts(struct coord *base, coord_mount_fn fn, void *arg)
{
	struct coord_local *c = (struct coord_local *)base;
	struct coord_mount_info m;
	if (c->fd >= 0) /* we hold it ourselves */
		return read_holder(c->fd, &m) ?: fn(arg, &m);
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int r = 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			r = read_holder(fd, &m);
			if (r == 0)
				r = fn(arg, &m);
		} else {
			r = -errno;
		}
	}
	close(fd);
	return r;
}

const struct coord_ops coord_local_ops = {
	.scheme = "local",
	.open = local_open,
	.close = local_close,
	.register_mount = local_register_mount,
	.list_mounts = local_list_mounts,
};
