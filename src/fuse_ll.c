/*
 * fuse_ll.c — decodes FUSE low-level requests into vfs calls and encodes
 * the replies.  No POSIX rule lives here.
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>

#include "fuse_ll.h"
#include "metrics.h"
#include "log.h"

struct fuse_ll {
	struct vfs *vfs;
	struct fuse_ll_options opt;
	struct fuse_session *se;
	char *mountpoint;
	int loop_ended; /* fuse_ll_run returned: the vfs may be gone */
};

static struct fuse_ll *ll_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * The caller's identity.  Supplementary groups cost a read of
 * /proc/PID/status, so they are fetched only when a rule needs them.
 */
static void get_ctx_groups(fuse_req_t req, struct vfs_ctx *c, int groups)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	c->uid = fc->uid;
	c->gid = fc->gid;
	c->pid = fc->pid;
	c->ngroups = 0;
	if (groups) {
		c->ngroups = fuse_req_getgroups(req, 64, c->groups);
		if (c->ngroups > 64)
			c->ngroups = 64;
		if (c->ngroups < 0)
			c->ngroups = 0;
	}
}

static void get_ctx(fuse_req_t req, struct vfs_ctx *c)
{
	get_ctx_groups(req, c, 0);
}

static void fill_entry(struct fuse_ll *f, const struct vfs_entry *ve,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ve->ino;
	e->attr = ve->attr;
	e->attr_timeout = f->opt.attr_timeout;
	e->entry_timeout = f->opt.entry_timeout;
}

/* Reply with an entry; undo the lookup if the kernel dropped the reply. */
static void reply_entry(fuse_req_t req, int r, const struct vfs_entry *ve)
{
	struct fuse_ll *f = ll_of(req);
	struct fuse_entry_param e;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fill_entry(f, ve, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		vfs_forget(f->vfs, ve->ino, 1);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Kernel caches are coherent for a single mount; the kernel applies
	 * the umask (no DONT_MASK) and does O_APPEND offsets we override. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
}

static void ll_destroy(void *userdata)
{
	struct fuse_ll *f = userdata;
	/* fuse_session_destroy calls this in fuse_ll_free, after the caller
	 * has flushed and freed the vfs (the coordinator's notice thread
	 * keeps the adapter alive longer than the vfs). */
	if (!f->loop_ended)
		vfs_flush_all(f->vfs);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_entry ve;
	int r = vfs_lookup(f->vfs, parent, name, &ve);
	if (r == -ENOENT && f->opt.negative_timeout > 0) {
		struct fuse_entry_param e = {.ino = 0,
					     .entry_timeout = f->opt.negative_timeout};
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, r, &ve);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	vfs_forget(ll_of(req)->vfs, ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		vfs_forget(ll_of(req)->vfs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct stat st;
	int r = vfs_getattr(f->vfs, ino, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, f->opt.attr_timeout);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_ctx c;
	struct stat st;
	get_ctx(req, &c);
	int r = vfs_setattr(f->vfs, &c, ino, attr, to_set, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, f->opt.attr_timeout);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[META_SYMLINK_MAX + 1];
	int r = vfs_readlink(ll_of(req)->vfs, ino, buf, sizeof(buf));
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, buf);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct vfs_ctx c;
	struct vfs_entry ve;
	get_ctx_groups(req, &c, (mode & S_ISGID) != 0);
	reply_entry(req, vfs_mknod(ll_of(req)->vfs, &c, parent, name, mode, rdev, &ve),
		    &ve);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct vfs_ctx c;
	struct vfs_entry ve;
	get_ctx(req, &c);
	reply_entry(req, vfs_mkdir(ll_of(req)->vfs, &c, parent, name, mode, &ve),
		    &ve);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct vfs_ctx c;
	struct vfs_entry ve;
	get_ctx(req, &c);
	reply_entry(req, vfs_symlink(ll_of(req)->vfs, &c, link, parent, name, &ve),
		    &ve);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct vfs_entry ve;
	reply_entry(req, vfs_link(ll_of(req)->vfs, ino, parent, name, &ve), &ve);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -vfs_unlink(ll_of(req)->vfs, parent, name));
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -vfs_rmdir(ll_of(req)->vfs, parent, name));
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, -vfs_rename(ll_of(req)->vfs, parent, name, newparent,
					newname, flags));
}

static void set_open_flags(struct fuse_ll *f, struct fuse_file_info *fi)
{
	fi->keep_cache = f->opt.keep_cache;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_ctx c;
	struct vfs_file *file;
	get_ctx(req, &c);
	int r = vfs_open(f->vfs, &c, ino, fi->flags, &file);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)file;
	set_open_flags(f, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		vfs_release(f->vfs, file); /* no release will come */
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_ctx c;
	struct vfs_entry ve;
	struct vfs_file *file;
	struct fuse_entry_param e;
	get_ctx_groups(req, &c, (mode & S_ISGID) != 0);
	int r = vfs_create(f->vfs, &c, parent, name, mode, fi->flags, &ve, &file);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)file;
	set_open_flags(f, fi);
	fill_entry(f, &ve, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		vfs_release(f->vfs, file);
		vfs_forget(f->vfs, ve.ino, 1);
	}
}

static struct vfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct vfs_file *)(uintptr_t)fi->fh;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = vfs_read(ll_of(req)->vfs, file_of(fi), buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	if (n > 0)
		metrics_add(MC_READ_BYTES, (uint64_t)n);
	free(buf);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = vfs_write(ll_of(req)->vfs, file_of(fi), buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	if (n > 0)
		metrics_add(MC_WRITE_BYTES, (uint64_t)n);
}

/* Drop every lock of owner on ino (close drops POSIX locks, the last
 * release of an open file drops its flock). */
static void unlock_owner(struct fuse_ll *f, fuse_ino_t ino, uint64_t owner,
			 int flock)
{
	struct coord_plock pl = {.ino = ino, .owner = owner, .start = 0,
				 .end = UINT64_MAX, .type = F_UNLCK,
				 .flock = flock};
	int r = coord_plock_set(f->opt.coord, &pl, 0);
	if (r < 0)
		log_warn("cannot release locks on inode %llu: %s",
			 (unsigned long long)ino, strerror(-r));
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	if (f->opt.coord && coord_has_plocks(f->opt.coord))
		unlock_owner(f, ino, fi->lock_owner, 0);
	fuse_reply_err(req, -vfs_flush(f->vfs, file_of(fi)));
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	if (fi->flock_release && f->opt.coord && coord_has_plocks(f->opt.coord))
		unlock_owner(f, ino, fi->lock_owner, 1);
	fuse_reply_err(req, -vfs_release(f->vfs, file_of(fi)));
}

/* ---- locks across mounts (distributed coordinators) ---- */

static void to_plock(fuse_ino_t ino, struct fuse_file_info *fi,
		     const struct flock *lock, struct coord_plock *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->ino = ino;
	pl->owner = fi->lock_owner;
	pl->start = (uint64_t)lock->l_start;
	pl->end = lock->l_len ? (uint64_t)(lock->l_start + lock->l_len - 1)
			      : UINT64_MAX;
	pl->type = lock->l_type;
	pl->pid = lock->l_pid;
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	struct coord_plock pl;
	to_plock(ino, fi, lock, &pl);
	int r = coord_plock_get(ll_of(req)->opt.coord, &pl);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	lock->l_type = (short)pl.type;
	if (pl.type != F_UNLCK) {
		lock->l_whence = SEEK_SET;
		lock->l_start = (off_t)pl.start;
		lock->l_len = pl.end == UINT64_MAX ? 0 : (off_t)(pl.end - pl.start + 1);
		lock->l_pid = pl.pid;
	}
	fuse_reply_lock(req, lock);
}

struct lock_wait {
	struct coord *coord;
	uint64_t ino, owner;
};

/* The waiting process got a signal: end its F_SETLKW / flock wait. */
static void cancel_lock_wait(fuse_req_t req, void *data)
{
	struct lock_wait *w = data;
	coord_plock_cancel(w->coord, w->ino, w->owner);
}

/*
 * Set a lock, waiting if asked; an interrupted wait answers EINTR, and a
 * lock granted just as the wait was interrupted is given back, since the
 * process will never know it holds it.
 */
static void set_lock(fuse_req_t req, struct coord_plock *pl, int wait)
{
	struct fuse_ll *f = ll_of(req);
	struct lock_wait w = {f->opt.coord, pl->ino, pl->owner};
	if (wait)
		fuse_req_interrupt_func(req, cancel_lock_wait, &w);
	int r = coord_plock_set(f->opt.coord, pl, wait);
	if (wait) {
		fuse_req_interrupt_func(req, NULL, NULL);
		if (fuse_req_interrupted(req)) {
			if (r == 0 && pl->type != F_UNLCK) {
				pl->type = F_UNLCK;
				coord_plock_set(f->opt.coord, pl, 0);
			}
			r = -EINTR;
		}
	}
	fuse_reply_err(req, -r);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct coord_plock pl;
	to_plock(ino, fi, lock, &pl);
	set_lock(req, &pl, sleep);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     int op)
{
	struct coord_plock pl = {.ino = ino, .owner = fi->lock_owner, .start = 0,
				 .end = UINT64_MAX, .flock = 1,
				 .pid = fuse_req_ctx(req)->pid};
	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		pl.type = F_RDLCK;
		break;
	case LOCK_EX:
		pl.type = F_WRLCK;
		break;
	case LOCK_UN:
		pl.type = F_UNLCK;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(req, &pl, !(op & LOCK_NB));
}

/*
 * Another mount changed something: drop what the kernel caches of it.
 * Runs on the coordinator's notice thread, never in a request handler
 * (notifying from a handler can deadlock the mount).
 */
static void on_notice(void *arg, uint64_t ino, uint64_t parent,
		      const char *name, size_t name_len)
{
	struct fuse_ll *f = arg;
	if (!ino && !parent) {
		/* notices were lost: the short timeouts bound the staleness */
		log_info("change notices were lost; caches expire within %g s",
			 f->opt.attr_timeout);
		return;
	}
	if (ino)
		fuse_lowlevel_notify_inval_inode(f->se, ino, 0, 0);
	if (parent && name && name_len)
		fuse_lowlevel_notify_inval_entry(f->se, parent, name, name_len);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_fsync(ll_of(req)->vfs, file_of(fi), datasync));
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_file *dir;
	int r = vfs_opendir(f->vfs, ino, &dir);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)dir;
	if (fuse_reply_open(req, fi) == -ENOENT)
		vfs_releasedir(f->vfs, dir);
}

struct dir_buf {
	fuse_req_t req;
	struct fuse_ll *f;
	char *buf;
	size_t size, used;
	int plus;
};

static int fill_dir(void *arg, const char *name, const struct vfs_entry *ve,
		    off_t next_off)
{
	struct dir_buf *d = arg;
	size_t n;
	if (d->plus) {
		struct fuse_entry_param e;
		fill_entry(d->f, ve, &e);
		n = fuse_add_direntry_plus(d->req, d->buf + d->used,
					   d->size - d->used, name, &e, next_off);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used,
				      name, &ve->attr, next_off);
	}
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       int plus)
{
	struct dir_buf d = {req, ll_of(req), malloc(size), size, 0, plus};
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int r = vfs_readdir(d.f->vfs, ino, off, plus, fill_dir, &d);
	/* After an error mid-listing, hand over what was gathered. */
	if (r < 0 && d.used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_releasedir(ll_of(req)->vfs, file_of(fi)));
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_fsyncdir(ll_of(req)->vfs, ino));
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int r = vfs_statfs(ll_of(req)->vfs, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_statfs(req, &st);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fuse_reply_err(req, -vfs_setxattr(ll_of(req)->vfs, ino, name, value, size,
					  flags));
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = vfs_getxattr(ll_of(req)->vfs, ino, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = vfs_listxattr(ll_of(req)->vfs, ino, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -vfs_removexattr(ll_of(req)->vfs, ino, name));
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct vfs_ctx c;
	get_ctx_groups(req, &c, 1);
	fuse_reply_err(req, -vfs_access(ll_of(req)->vfs, &c, ino, mask));
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_fallocate(ll_of(req)->vfs, file_of(fi), mode,
					   offset, length));
}

static const struct fuse_lowlevel_ops ll_ops = {
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.readlink = ll_readlink,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.symlink = ll_symlink,
	.link = ll_link,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.rename = ll_rename,
	.open = ll_open,
	.create = ll_create,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.release = ll_release,
	.fsync = ll_fsync,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.readdirplus = ll_readdirplus,
	.releasedir = ll_releasedir,
	.fsyncdir = ll_fsyncdir,
	.statfs = ll_statfs,
	.setxattr = ll_setxattr,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
	.removexattr = ll_removexattr,
	.access = ll_access,
	.fallocate = ll_fallocate,
};

int fuse_ll_mount(struct vfs *v, const char *mountpoint,
		  const struct fuse_ll_options *o, struct fuse_ll **out,
		  char *err, size_t err_len)
{
	struct fuse_ll *f = calloc(1, sizeof(*f));
	char opts[4096];
	if (!f)
		return -ENOMEM;
	f->vfs = v;
	f->opt = *o;
	f->mountpoint = strdup(mountpoint);
	/* libfuse splits options at commas: escape them (and backslashes)
	 * in the source name, e.g. a cluster URL with several seeds. */
	char fsname[1024];
	size_t j = 0;
	for (const char *p = o->fsname; *p && j < sizeof(fsname) - 3; p++) {
		if (*p == ',' || *p == '\\')
			fsname[j++] = '\\';
		fsname[j++] = *p;
	}
	fsname[j] = 0;
	snprintf(opts, sizeof(opts),
		 "default_permissions,fsname=%s,subtype=cassafs%s%s",
		 fsname, o->fuse_opts && *o->fuse_opts ? "," : "",
		 o->fuse_opts ? o->fuse_opts : "");
	char *argv[] = {"cassafs", "-o", opts, o->debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
	struct fuse_lowlevel_ops ops = ll_ops;
	if (o->coord && coord_has_plocks(o->coord)) {
		ops.getlk = ll_getlk;
		ops.setlk = ll_setlk;
		ops.flock = ll_flock;
	}
	if (metrics_enabled())
		metrics_wrap_fuse_ops(&ops);
	f->se = fuse_session_new(&args, &ops, sizeof(ops), f);
	if (!f->se) {
		snprintf(err, err_len, "cannot start a FUSE session (options %s)",
			 opts);
		goto fail;
	}
	if (fuse_set_signal_handlers(f->se) != 0) {
		snprintf(err, err_len, "cannot install signal handlers");
		goto fail;
	}
	if (fuse_session_mount(f->se, mountpoint) != 0) {
		snprintf(err, err_len,
			 "cannot mount on %s (is /dev/fuse there and fuse3 "
			 "installed? see the messages above)", mountpoint);
		fuse_remove_signal_handlers(f->se);
		goto fail;
	}
	if (o->coord && coord_has_notices(o->coord) &&
	    coord_watch(o->coord, on_notice, f) < 0)
		log_warn("cannot watch for changes made by other mounts; "
			 "caches expire within %g s", o->attr_timeout);
	*out = f;
	return 0;
fail:
	if (f->se)
		fuse_session_destroy(f->se);
	free(f->mountpoint);
	free(f);
	return -EIO;
}

int fuse_ll_run(struct fuse_ll *f)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, (unsigned)(f->opt.max_threads > 0
							     ? f->opt.max_threads
							     : 2));
	int r = fuse_session_loop_mt(f->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_session_unmount(f->se);
	f->loop_ended = 1;
	return r;
}

void fuse_ll_free(struct fuse_ll *f)
{
	if (!f)
		return;
	fuse_remove_signal_handlers(f->se);
	fuse_session_destroy(f->se);
	free(f->mountpoint);
	free(f);
}
