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
	struct vfs_cache cache; /* what the vfs lets the kernel cache */
	struct fuse_session *se;
	char *mountpoint;
	int dont_mask; /* the kernel leaves the umask to us (POSIX ACLs) */
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
	c->umask = ll_of(req)->dont_mask ? fc->umask : 0;
	c->fetch_groups = NULL;
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

static int fetch_groups(const struct vfs_ctx *c, gid_t *out, int max)
{
	int n = fuse_req_getgroups(c->fetch_arg, max, out);
	return n < 0 ? 0 : n > max ? max : n;
}

/* The caller, with its supplementary groups fetched only if a rule asks. */
static void get_ctx_lazy(fuse_req_t req, struct vfs_ctx *c)
{
	get_ctx_groups(req, c, 0);
	c->ngroups = -1;
	c->fetch_groups = fetch_groups;
	c->fetch_arg = req;
}

static void fill_entry(struct fuse_ll *f, const struct vfs_entry *ve,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ve->ino;
	e->generation = vfs_generation(f->vfs, ve->ino);
	e->attr = ve->attr;
	e->attr_timeout = vfs_attr_timeout(f->vfs, &f->cache);
	e->entry_timeout = f->cache.entry_timeout;
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
	 * the umask (unless POSIX ACLs are on, below) and does O_APPEND
	 * offsets we override. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
	/* File handles (open_by_handle_at, NFS re-export) for inodes the
	 * kernel no longer holds: it asks LOOKUP "." / ".." by node id. */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* POSIX ACLs: the kernel checks them (this implies
	 * default_permissions) and caches them; vfs stores them, keeps the
	 * mode in step and inherits default ACLs, so it also applies the
	 * umask itself (DONT_MASK) where no default ACL rules. */
	struct fuse_ll *f = userdata;
	unsigned acl = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	if (!f->opt.no_acl && (conn->capable & acl) == acl) {
		conn->want |= acl;
		f->dont_mask = 1;
	}
	vfs_enable_acl(f->vfs, f->dont_mask);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_entry ve;
	int r = vfs_lookup(f->vfs, parent, name, &ve);
	if (r == -ENOENT && f->cache.negative_timeout > 0) {
		struct fuse_entry_param e = {.ino = 0,
					     .entry_timeout = f->cache.negative_timeout};
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
		fuse_reply_attr(req, &st, vfs_attr_timeout(f->vfs, &f->cache));
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fuse_ll *f = ll_of(req);
	struct vfs_ctx c;
	struct stat st;
	get_ctx_lazy(req, &c);
	int r = vfs_setattr(f->vfs, &c, ino, attr, to_set, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, vfs_attr_timeout(f->vfs, &f->cache));
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
	fi->keep_cache = f->cache.keep_cache;
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
		vfs_release(f->vfs, file, 0); /* no release will come */
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
		vfs_release(f->vfs, file, 0);
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
	struct vfs_ctx c;
	get_ctx_lazy(req, &c);
	ssize_t n = vfs_write(ll_of(req)->vfs, &c, file_of(fi), buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	if (n > 0)
		metrics_add(MC_WRITE_BYTES, (uint64_t)n);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_flush(ll_of(req)->vfs, file_of(fi),
				       fi->lock_owner));
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_release(ll_of(req)->vfs, file_of(fi),
					 fi->flock_release ? fi->lock_owner : 0));
}

/* ---- locks across mounts (when the vfs provides them) ---- */

static void to_vfs_lock(struct fuse_file_info *fi, const struct flock *lock,
			struct vfs_lock *l)
{
	memset(l, 0, sizeof(*l));
	l->owner = fi->lock_owner;
	l->start = (uint64_t)lock->l_start;
	l->end = lock->l_len ? (uint64_t)(lock->l_start + lock->l_len - 1)
			     : UINT64_MAX;
	l->type = lock->l_type;
	l->pid = lock->l_pid;
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	struct vfs_lock l;
	to_vfs_lock(fi, lock, &l);
	int r = vfs_getlk(ll_of(req)->vfs, ino, &l);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	lock->l_type = (short)l.type;
	if (l.type != F_UNLCK) {
		lock->l_whence = SEEK_SET;
		lock->l_start = (off_t)l.start;
		lock->l_len = l.end == UINT64_MAX ? 0 : (off_t)(l.end - l.start + 1);
		lock->l_pid = l.pid;
	}
	fuse_reply_lock(req, lock);
}

/* A request whose lock wait goes on on a vfs thread. */
struct lock_req {
	fuse_req_t req;
	struct vfs *vfs;
	uint64_t ino, owner;
};

static void lock_done(void *arg, int r)
{
	struct lock_req *lr = arg;
	fuse_req_interrupt_func(lr->req, NULL, NULL);
	fuse_reply_err(lr->req, -r);
	free(lr);
}

/* The waiting process got a signal: end its F_SETLKW / flock wait. */
static void lock_interrupted(fuse_req_t req, void *data)
{
	struct lock_req *lr = data;
	vfs_lock_cancel(lr->vfs, lr->ino, lr->owner);
}

static void set_lock(fuse_req_t req, uint64_t ino, const struct vfs_lock *l,
		     int wait)
{
	struct fuse_ll *f = ll_of(req);
	struct lock_req *lr = wait ? malloc(sizeof(*lr)) : NULL;
	if (wait && !lr) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	if (lr) {
		*lr = (struct lock_req){req, f->vfs, ino, l->owner};
		fuse_req_interrupt_func(req, lock_interrupted, lr);
	}
	int r = vfs_setlk(f->vfs, ino, l, wait, lock_done, lr);
	if (r == VFS_PENDING) {
		/* lock_done replies; a signal that came before the wait was
		 * listed found nothing to cancel */
		if (fuse_req_interrupted(req))
			vfs_lock_cancel(f->vfs, ino, l->owner);
		return;
	}
	if (lr) {
		fuse_req_interrupt_func(req, NULL, NULL);
		free(lr);
	}
	fuse_reply_err(req, -r);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct vfs_lock l;
	to_vfs_lock(fi, lock, &l);
	set_lock(req, ino, &l, sleep);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     int op)
{
	struct vfs_lock l = {.owner = fi->lock_owner, .start = 0,
			     .end = UINT64_MAX, .flock = 1,
			     .pid = fuse_req_ctx(req)->pid};
	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		l.type = F_RDLCK;
		break;
	case LOCK_EX:
		l.type = F_WRLCK;
		break;
	case LOCK_UN:
		l.type = F_UNLCK;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(req, ino, &l, !(op & LOCK_NB));
}

/* ---- the kernel's caches, dropped when the vfs says so ---- */

static void inval_inode(void *arg, uint64_t ino)
{
	struct fuse_ll *f = arg;
	fuse_lowlevel_notify_inval_inode(f->se, ino, 0, 0);
}

static void inval_attr(void *arg, uint64_t ino)
{
	struct fuse_ll *f = arg;
	fuse_lowlevel_notify_inval_inode(f->se, ino, -1, 0);
}

static void inval_entry(void *arg, uint64_t parent, const char *name,
			size_t len)
{
	struct fuse_ll *f = arg;
	fuse_lowlevel_notify_inval_entry(f->se, parent, name, len);
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
	/* the smallest entry: a 1-byte name, 8-byte aligned after the
	 * 24-byte dirent header (+ 128 bytes of entry_out with plus) */
	size_t max = size / (plus ? 160 : 32) + 1;
	int r = vfs_readdir(d.f->vfs, ino, off, plus, max, fill_dir, &d);
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
	struct vfs_ctx c;
	get_ctx_lazy(req, &c);
	fuse_reply_err(req, -vfs_fallocate(ll_of(req)->vfs, &c, file_of(fi),
					   mode, offset, length));
}

static void ll_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			       off_t off_out, struct fuse_file_info *fi_out,
			       size_t len, int flags)
{
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct vfs_ctx c;
	get_ctx_lazy(req, &c);
	ssize_t n = vfs_copy_range(ll_of(req)->vfs, &c, file_of(fi_in), off_in,
				   file_of(fi_out), off_out, len);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static const struct fuse_lowlevel_ops ll_ops = {
	/*
	 * No .destroy: fuse_session_destroy (in fuse_ll_free) would call it
	 * with no way to report an error.  The owner of the vfs flushes it
	 * once fuse_ll_run returns (and sees the error), and frees the
	 * adapter before the vfs.
	 */
	.init = ll_init,
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
	.copy_file_range = ll_copy_file_range,
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
	struct vfs_cache asked = {o->attr_timeout, o->entry_timeout,
				  o->negative_timeout, 0};
	vfs_cache_policy(v, &asked, &f->cache);
	if (vfs_has_locks(v)) {
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
	struct vfs_kernel k = {inval_inode, inval_attr, inval_entry, f};
	vfs_watch(v, &k);
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
	/* Nothing may call into the session once it goes: no notice, and no
	 * late reply to a lock wait. */
	vfs_watch(f->vfs, NULL);
	vfs_end_lock_waits(f->vfs);
	fuse_session_unmount(f->se);
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
