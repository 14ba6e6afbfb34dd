/*
 * vfs.c — POSIX rules on top of meta.
 *
 * Locking (outer to inner):
 *   vnode hold_lock — one per in-memory inode: serialises taking and
 *                    giving up this mount's hold on it in the store;
 *   vnode io_lock  — one per in-memory inode: serialises its write buffer,
 *                    flushes and size changes;
 *   store txn      — meta_write()/meta_read();
 *   leaf locks     — table_lock (the vnode table) and vnode attr_lock
 *                    (dirty size/mtime); nothing is taken while holding one.
 * A transaction callback never takes an io_lock, so an engine that
 * serialises transactions cannot deadlock against a flush.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "layout.h"
#include "log.h"
#include "metrics.h"
#include "u64vec.h"
#include "vfs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define TABLE_SIZE 65536
#define LINK_MAX_COUNT 65000
#define MAX_DEPTH 65536 /* parent walk bound: a cycle means corruption */

/* A buffered block of file data. */
/*
 * A buffered block of file data.  mask has one bit per byte written
 * here; at flush only those bytes are laid over the block as it is in the
 * store then, so mounts writing different bytes of one block never undo
 * each other's writes (a conflicting store transaction is retried).
 */
struct dblock {
	uint64_t idx;
	uint32_t len;  /* bytes that may be non-zero */
	uint8_t *data; /* block_size bytes */
	uint8_t *mask; /* block_size / 8 bytes */
};

struct vnode {
	uint64_t ino;
	struct vnode *next;    /* hash chain; table_lock */
	uint64_t nlookup;      /* kernel references; table_lock */
	int nopen;             /* open files; table_lock */
	int refs;              /* callers using the vnode now; table_lock */
	int unlinked;          /* nlink hit 0 while open; table_lock */

	pthread_mutex_t hold_lock; /* open/close of a shared inode */
	int held;                  /* the store notes our hold; hold_lock */

	pthread_mutex_t io_lock; /* write buffer, flush, truncate */
	struct dblock *blk;      /* dirty blocks; io_lock */
	size_t nblk, capblk;

	pthread_mutex_t attr_lock; /* leaf: the fields below */
	int dirty;
	uint64_t size;              /* file size while dirty */
	struct timespec mtime;      /* mtime of the last buffered write */
};

struct vfs_file {
	struct vnode *vn;
	int flags;
};

struct lock_wait;

struct vfs {
	struct meta *meta;
	struct coord *coord;
	/* file contents: the data tier (format 2), or NULL for a format-1
	 * filesystem whose blocks are BLOCK rows of the store */
	struct layout *layout;
	uint32_t bs;
	struct vfs_options opt;
	/*
	 * Several mounts may share the filesystem (the coordinator says so):
	 * inodes held open are then noted in the store under this mount's
	 * session id, so that an unlink on another mount keeps them alive.
	 */
	int shared;
	uint64_t session_id;           /* 0 until vfs_mount() */
	struct coord_mount_info mount; /* what the session record says */
	pthread_t keeper;              /* heartbeat and reaper */
	pthread_rwlock_t kernel_lock;  /* the kernel's cache callbacks: read-held
					* by callers, so a request handler never
					* waits behind a notice that waits for
					* the kernel (page locks) */
	struct vfs_kernel kernel;      /* kernel_lock */
	int kernel_set, watching;
	/* a shared mount whose kernel caches attributes (attr_timeout > 0),
	 * allowed only when the store's cache is kept up to date by the
	 * server, which also tells of every inode changed (store_watch) */
	int attr_cached;
	int store_watching;
	pthread_mutex_t waits_lock;    /* lock waits in progress */
	pthread_cond_t waits_cond;
	struct lock_wait *waits;       /* waits_lock */
	size_t nwaits;
	int waits_closed;
	int keeper_running, keeper_stop; /* keeper_lock */
	pthread_mutex_t keeper_lock;
	pthread_cond_t keeper_cond;
	pthread_mutex_t table_lock;
	struct vnode *table[TABLE_SIZE];
	pthread_mutex_t dirty_lock;
	size_t dirty_total; /* dirty_lock */
	uint32_t generation; /* of every inode but the root: from the uuid */
	int acl;             /* POSIX ACLs on (the kernel enforces them) */
};

static struct timespec now_ts(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

uint32_t vfs_block_size(const struct vfs *v)
{
	return v->bs;
}

/* ---- the vnode table ---- */

static struct vnode **bucket(struct vfs *v, uint64_t ino)
{
	return &v->table[(ino * 0x9E3779B97F4A7C15ull) >> 48];
}

static struct vnode *find_locked(struct vfs *v, uint64_t ino)
{
	for (struct vnode *vn = *bucket(v, ino); vn; vn = vn->next)
		if (vn->ino == ino)
			return vn;
	return NULL;
}

/* Get (creating if needed) the vnode of ino with one reference held. */
static struct vnode *vnode_get(struct vfs *v, uint64_t ino)
{
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	if (!vn) {
		vn = calloc(1, sizeof(*vn));
		if (!vn) {
			pthread_mutex_unlock(&v->table_lock);
			return NULL;
		}
		vn->ino = ino;
		pthread_mutex_init(&vn->hold_lock, NULL);
		pthread_mutex_init(&vn->io_lock, NULL);
		pthread_mutex_init(&vn->attr_lock, NULL);
		struct vnode **b = bucket(v, ino);
		vn->next = *b;
		*b = vn;
	}
	vn->refs++;
	pthread_mutex_unlock(&v->table_lock);
	return vn;
}

/* Free vn if nobody refers to it any more; table_lock held. */
static void maybe_free_locked(struct vfs *v, struct vnode *vn)
{
	if (vn->refs || vn->nlookup || vn->nopen || vn->nblk)
		return;
	struct vnode **p = bucket(v, vn->ino);
	while (*p != vn)
		p = &(*p)->next;
	*p = vn->next;
	pthread_mutex_destroy(&vn->hold_lock);
	pthread_mutex_destroy(&vn->io_lock);
	pthread_mutex_destroy(&vn->attr_lock);
	free(vn->blk);
	free(vn);
}

static void vnode_put(struct vfs *v, struct vnode *vn)
{
	pthread_mutex_lock(&v->table_lock);
	vn->refs--;
	maybe_free_locked(v, vn);
	pthread_mutex_unlock(&v->table_lock);
}

static void add_lookup(struct vfs *v, uint64_t ino)
{
	struct vnode *vn = vnode_get(v, ino);
	if (!vn)
		return;
	pthread_mutex_lock(&v->table_lock);
	vn->nlookup++;
	vn->refs--;
	pthread_mutex_unlock(&v->table_lock);
}

static void purge_unlinked(struct vfs *v, uint64_t ino);

void vfs_forget(struct vfs *v, uint64_t ino, uint64_t nlookup)
{
	int purge = 0;
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	if (vn) {
		vn->nlookup = vn->nlookup > nlookup ? vn->nlookup - nlookup : 0;
		if (vn->nlookup == 0 && vn->nopen == 0 && vn->unlinked) {
			vn->unlinked = 0;
			purge = 1;
		}
		maybe_free_locked(v, vn);
	}
	pthread_mutex_unlock(&v->table_lock);
	if (purge)
		purge_unlinked(v, ino);
}

/*
 * Does the kernel still hold ino (looked up or open)?  Then an inode that
 * loses its last link must live on as an orphan until forget/release.
 * Called inside transactions (leaf lock only).
 */
static int is_referenced(struct vfs *v, uint64_t ino)
{
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	int held = vn && (vn->nopen > 0 || vn->nlookup > 0);
	pthread_mutex_unlock(&v->table_lock);
	return held;
}

static void mark_unlinked(struct vfs *v, uint64_t ino)
{
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	if (vn)
		vn->unlinked = 1;
	pthread_mutex_unlock(&v->table_lock);
}

/*
 * Tell other mounts what changed (distributed coordinators only), after
 * the transaction committed.  ino 0 / parent 0 leave that part out.
 * Distributed mounts cache no "no such name", and attributes only when
 * the store tells of every change itself (on_store_change), so only what
 * their kernels do cache needs a notice: names that went away or moved
 * (unlink, rmdir, rename) and file data (write, truncate, fallocate).
 * Creating a name or changing attributes needs none.
 */
static void notice(struct vfs *v, uint64_t ino, uint64_t parent,
		   const char *name)
{
	if (!v->coord || !coord_has_notices(v->coord))
		return;
	int r = coord_publish(v->coord, ino, parent, name, name ? strlen(name) : 0);
	if (r < 0)
		log_warn("could not tell other mounts about inode %llu: %s",
			 (unsigned long long)(ino ? ino : parent), strerror(-r));
}

/* ---- attributes ---- */

static void to_stat(struct vfs *v, const struct meta_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blksize = v->bs;
	uint64_t stored = in->blocks * v->bs;
	uint64_t rounded = (in->size + 4095) & ~4095ull;
	st->st_blocks = (blkcnt_t)((stored < rounded ? stored : rounded) / 512);
	/* More blocks than the file spans: fallocate KEEP_SIZE allocated
	 * past the end; count those too. */
	uint64_t span = (in->size + v->bs - 1) / v->bs;
	if (in->blocks > span)
		st->st_blocks = (blkcnt_t)((rounded + (in->blocks - span) * v->bs) / 512);
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
	/* Buffered writes not yet in the store change size and times. */
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, in->ino);
	if (vn) {
		pthread_mutex_lock(&vn->attr_lock);
		if (vn->dirty) {
			st->st_size = (off_t)vn->size;
			st->st_mtim = st->st_ctim = vn->mtime;
			uint64_t r = (vn->size + 4095) & ~4095ull;
			if ((uint64_t)st->st_blocks * 512 < r)
				st->st_blocks = (blkcnt_t)(r / 512);
		}
		pthread_mutex_unlock(&vn->attr_lock);
	}
	pthread_mutex_unlock(&v->table_lock);
}

static int in_group(const struct vfs_ctx *c, gid_t gid)
{
	if (c->gid == gid)
		return 1;
	const gid_t *g = c->groups;
	int n = c->ngroups;
	gid_t fetched[64];
	if (n < 0) {
		n = c->fetch_groups ? c->fetch_groups(c, fetched, 64) : 0;
		g = fetched;
	}
	for (int i = 0; i < n && i < 64; i++)
		if (g[i] == gid)
			return 1;
	return 0;
}

/*
 * Writing, truncating or fallocating a file clears set-group-ID without
 * group execute when the caller is outside the file's group and is not
 * privileged (Linux's setattr_should_drop_sgid; root stands for
 * CAP_FSETID).  The kernel's FUSE client clears set-user-ID and
 * set-group-ID with group execute itself (a SETATTR before the write),
 * but not this case.
 */
static int drops_sgid(const struct vfs_ctx *c, const struct meta_inode *in)
{
	return c && c->uid != 0 && S_ISREG(in->mode) &&
	       (in->mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
	       !in_group(c, in->gid);
}

struct drop_sgid_args {
	const struct vfs_ctx *c;
	uint64_t ino;
};

static int drop_sgid_txn(struct store_txn *t, void *arg)
{
	struct drop_sgid_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r == -ENOENT ? -ESTALE : r;
	if (!drops_sgid(a->c, &in))
		return 0;
	in.mode &= ~S_ISGID;
	in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

/* Clear set-group-ID before a write if the rule above says so; in is the
 * inode as just read (the check is made again inside the transaction). */
static int drop_sgid(struct vfs *v, const struct vfs_ctx *c,
		     const struct meta_inode *in)
{
	if (!drops_sgid(c, in))
		return 0;
	struct drop_sgid_args a = {c, in->ino};
	int r = meta_write(v->meta, drop_sgid_txn, &a);
	if (r < 0)
		return r;
	/* The kernel caches the mode and no reply to a write carries it. */
	pthread_rwlock_rdlock(&v->kernel_lock);
	if (v->kernel_set && v->kernel.inval_attr)
		v->kernel.inval_attr(v->kernel.arg, in->ino);
	pthread_rwlock_unlock(&v->kernel_lock);
	notice(v, in->ino, 0, NULL);
	return 0;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -ENOENT;
	if (n > META_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- POSIX ACLs (acl.h) ---- */

void vfs_enable_acl(struct vfs *v, int on)
{
	v->acl = on;
}

/* chmod changed in->mode: bring the access ACL, if any, in step. */
static int acl_follow_mode(struct store_txn *t, const struct meta_inode *in)
{
	const void *val;
	size_t len;
	int r = meta_xattr_get(t, in->ino, ACL_XATTR_ACCESS, &val, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, val, len);
	acl_chmod(copy, len, in->mode);
	r = meta_xattr_put(t, in->ino, ACL_XATTR_ACCESS, copy, len);
	free(copy);
	return r;
}

/*
 * A new inode in directory parent: with a default ACL there, the inode
 * gets it as its access ACL limited by the requested mode (and a new
 * directory gets it as its default too), and the umask does not apply;
 * without one the umask does.  Symlinks have neither.
 */
static int acl_inherit(struct store_txn *t, struct vfs *v, uint64_t parent,
		       const struct vfs_ctx *c, struct meta_inode *in)
{
	if (S_ISLNK(in->mode))
		return 0;
	if (!v->acl) {
		in->mode &= ~(c->umask & 0777);
		return 0;
	}
	const void *val;
	size_t len;
	int r = meta_xattr_get(t, parent, ACL_XATTR_DEFAULT, &val, &len);
	if (r == -ENOENT || (r == 0 && acl_check(val, len, 0) < 0)) {
		in->mode &= ~(c->umask & 0777);
		return 0;
	}
	if (r < 0)
		return r;
	uint8_t *acl = malloc(len);
	if (!acl)
		return -ENOMEM;
	memcpy(acl, val, len);
	if (S_ISDIR(in->mode) &&
	    (r = meta_xattr_put(t, in->ino, ACL_XATTR_DEFAULT, acl, len)) < 0)
		goto out;
	mode_t mode = in->mode;
	if (acl_create(acl, len, &mode) == 1)
		r = meta_xattr_put(t, in->ino, ACL_XATTR_ACCESS, acl, len);
	in->mode = mode;
out:
	free(acl);
	return r;
}

struct setacl_args {
	uint64_t ino;
	const char *name;
	const void *val;
	size_t size;
	int flags;
};

/*
 * Set an ACL: a default ACL only on directories; an access ACL sets the
 * mode's permission bits, and one the mode says all of is not stored
 * (as ext4 does: getfacl then shows the mode).
 */
static int setacl_txn(struct store_txn *t, void *arg)
{
	struct setacl_args *a = arg;
	struct meta_inode in;
	const void *old;
	size_t len;
	int access = !strcmp(a->name, ACL_XATTR_ACCESS);
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!access && !S_ISDIR(in.mode))
		return -EACCES;
	r = meta_xattr_get(t, a->ino, a->name, &old, &len);
	if (r < 0 && r != -ENOENT)
		return r;
	int exists = r == 0;
	if (exists && (a->flags & XATTR_CREATE))
		return -EEXIST;
	if (!exists && (a->flags & XATTR_REPLACE))
		return -ENODATA;
	int store = a->size > 4;
	if (access) {
		mode_t perm;
		store = !acl_mode(a->val, a->size, &perm);
		in.mode = (in.mode & ~(mode_t)0777) | perm;
	}
	if (store)
		r = meta_xattr_put(t, a->ino, a->name, a->val, a->size);
	else
		r = exists ? meta_xattr_del(t, a->ino, a->name) : 0;
	if (r < 0)
		return r;
	in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

/* ---- lookup / getattr ---- */

/*
 * Load an inode that the caller names by number (the kernel holds it).
 * If it is gone, another mount removed it while this kernel still holds a
 * dentry or handle for it: ESTALE, not ENOENT, makes the kernel's VFS walk
 * the path again with a fresh LOOKUP instead of reporting "no such file"
 * for a name that may exist (now naming another inode).
 */
static int get_node(struct store_txn *t, uint64_t ino, struct meta_inode *in)
{
	int r = meta_inode_get(t, ino, in);
	return r == -ENOENT ? -ESTALE : r;
}

/*
 * The entry (parent, name) named inode ino, which is not there.  With an
 * optimistic store this is usually another mount's unlink or rename that
 * committed between our two reads (the transaction would fail its commit
 * anyway): read the entry again, and if it is gone or names another inode,
 * run the operation again (-EAGAIN) instead of reporting a dangling entry.
 * Reads are live in such a store; with a snapshot store the entry reads
 * the same and this stays -EIO (a real dangling entry, for fsck).
 */
static int entry_moved(struct store_txn *t, uint64_t parent, const char *name,
		       uint64_t ino)
{
	uint64_t now;
	int r = meta_dentry_get(t, parent, name, strlen(name), &now, NULL);
	if (r == -ENOENT || (r == 0 && now != ino))
		return -EAGAIN;
	return r < 0 ? r : -EIO;
}

struct lookup_args {
	struct vfs *v;
	uint64_t parent;
	const char *name;
	struct vfs_entry *e;
};

static int lookup_txn(struct store_txn *t, void *arg)
{
	struct lookup_args *a = arg;
	struct meta_inode in;
	uint64_t ino;
	/* The kernel looks names up only in directories, so a missing entry
	 * is ENOENT without reading the parent (one store read less for
	 * every new name). */
	int r = meta_dentry_get(t, a->parent, a->name, strlen(a->name), &ino, NULL);
	if (r < 0)
		return r;
	if ((r = meta_inode_get(t, ino, &in)) < 0)
		return r == -ENOENT ? entry_moved(t, a->parent, a->name, ino) : r;
	a->e->ino = ino;
	to_stat(a->v, &in, &a->e->attr);
	return 0;
}

/*
 * "." and ".." by node id: the kernel asks these when it decodes a file
 * handle (FUSE_CAP_EXPORT_SUPPORT) for an inode it does not hold, e.g.
 * after a remount or from an NFS client.  Inode numbers are never reused,
 * so a node id stays valid for the inode's whole life; a removed inode
 * answers ESTALE.
 */
struct lookup_dot_args {
	struct vfs *v;
	uint64_t ino;
	int dotdot;
	struct vfs_entry *e;
};

static int lookup_dot_txn(struct store_txn *t, void *arg)
{
	struct lookup_dot_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
	if (r == -ENOENT || (r == 0 && in.nlink == 0))
		return -ESTALE;
	if (r < 0)
		return r;
	if (a->dotdot) {
		if (!S_ISDIR(in.mode))
			return -ENOTDIR;
		uint64_t p = a->ino == META_ROOT_INO || !in.parent ? META_ROOT_INO
								      : in.parent;
		if ((r = meta_inode_get(t, p, &in)) < 0)
			return r == -ENOENT ? -ESTALE : r;
	}
	a->e->ino = in.ino;
	to_stat(a->v, &in, &a->e->attr);
	return 0;
}

uint64_t vfs_generation(const struct vfs *v, uint64_t ino)
{
	return ino == META_ROOT_INO ? 0 : v->generation;
}

int vfs_lookup(struct vfs *v, uint64_t parent, const char *name,
	       struct vfs_entry *e)
{
	if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) {
		struct lookup_dot_args d = {v, parent, name[1] == '.', e};
		int r = meta_read_cached(v->meta, lookup_dot_txn, &d);
		if (r == 0)
			add_lookup(v, e->ino);
		return r;
	}
	int r = check_name(name);
	if (r < 0)
		return r;
	struct lookup_args a = {v, parent, name, e};
	r = meta_read_cached(v->meta, lookup_txn, &a);
	if (r == 0)
		add_lookup(v, e->ino);
	return r;
}

struct getattr_args {
	struct vfs *v;
	uint64_t ino;
	struct stat *st;
	struct meta_inode in;
};

static int getattr_txn(struct store_txn *t, void *arg)
{
	struct getattr_args *a = arg;
	int r = get_node(t, a->ino, &a->in);
	if (r == 0 && a->st)
		to_stat(a->v, &a->in, a->st);
	return r;
}

/* Is ino open on this mount? */
static int open_here(struct vfs *v, uint64_t ino)
{
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	int open = vn && vn->nopen > 0;
	pthread_mutex_unlock(&v->table_lock);
	return open;
}

int vfs_getattr(struct vfs *v, uint64_t ino, struct stat *st)
{
	struct getattr_args a = {v, ino, st};
	int r = meta_read_cached(v->meta, getattr_txn, &a);
	/*
	 * Several mounts: a file or directory with no link left is kept only
	 * while some mount uses it.  Where it is open, fstat shows nlink 0
	 * (the kernel's getattr does not say whether it comes from fstat or
	 * from a name); where it is not, only a stale dentry can lead here
	 * (the name was unlinked or replaced on another mount): ESTALE makes
	 * the kernel look the name up again.
	 */
	if (r == 0 && v->shared && a.in.nlink == 0 && !open_here(v, ino))
		return -ESTALE;
	return r;
}

static int load_inode(struct vfs *v, uint64_t ino, struct meta_inode *in)
{
	struct getattr_args a = {v, ino, NULL};
	int r = meta_read(v->meta, getattr_txn, &a);
	if (r == 0)
		*in = a.in;
	return r;
}

/* ---- write buffers ---- */

static void dirty_account(struct vfs *v, ssize_t delta)
{
	pthread_mutex_lock(&v->dirty_lock);
	v->dirty_total += (size_t)delta;
	pthread_mutex_unlock(&v->dirty_lock);
	metrics_gauge_add(MG_DIRTY_BYTES, delta);
}

static size_t dirty_total(struct vfs *v)
{
	pthread_mutex_lock(&v->dirty_lock);
	size_t n = v->dirty_total;
	pthread_mutex_unlock(&v->dirty_lock);
	return n;
}

struct flush_args {
	struct vfs *v;
	struct vnode *vn;
	uint64_t size;
	struct timespec mtime;
	uint8_t *merged; /* block_size scratch */
};

static void mark_written(uint8_t *mask, uint32_t lo, uint32_t hi)
{
	for (; lo < hi && (lo & 7); lo++)
		mask[lo >> 3] |= (uint8_t)(1u << (lo & 7));
	if (hi - lo >= 8) {
		memset(mask + (lo >> 3), 0xff, (hi - lo) >> 3);
		lo += (hi - lo) & ~7u;
	}
	for (; lo < hi; lo++)
		mask[lo >> 3] |= (uint8_t)(1u << (lo & 7));
}

static int all_written(const uint8_t *mask, uint32_t bs)
{
	for (uint32_t i = 0; i < bs / 8; i++)
		if (mask[i] != 0xff)
			return 0;
	return 1;
}

/*
 * A block as the store has it.  A value longer than the block size (a
 * corrupt or foreign store) is EIO and a log line: every buffer below is
 * block_size bytes.
 */
static int get_block(struct store_txn *t, struct vfs *v, uint64_t ino,
		     uint64_t idx, const void **data, size_t *len)
{
	int r = meta_block_get(t, ino, idx, data, len);
	if (r == 0 && *len > v->bs) {
		log_error("inode %llu: block %llu in the store is %zu bytes, "
			  "longer than the block size %u (corrupt store: run "
			  "cassafs fsck)",
			  (unsigned long long)ino, (unsigned long long)idx, *len,
			  v->bs);
		return -EIO;
	}
	return r;
}

/* Lay the bytes written here over the block as the store has it now. */
static int merge_block(struct store_txn *t, struct vfs *v, uint64_t ino,
		       const struct dblock *b, uint8_t *out, size_t *len)
{
	const void *cur = NULL;
	size_t cur_len = 0;
	int r = get_block(t, v, ino, b->idx, &cur, &cur_len);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT)
		cur_len = 0;
	else
		memcpy(out, cur, cur_len);
	memset(out + cur_len, 0, v->bs - cur_len);
	size_t end = cur_len;
	for (uint32_t i = 0; i < b->len;) {
		if (!(b->mask[i >> 3] & (1u << (i & 7)))) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j < b->len && (b->mask[j >> 3] & (1u << (j & 7))))
			j++;
		memcpy(out + i, b->data + i, j - i);
		if (j > end)
			end = j;
		i = j;
	}
	*len = end;
	return 0;
}

static int flush_txn(struct store_txn *t, void *arg)
{
	struct flush_args *a = arg;
	struct meta_inode in;
	/* Open files are held in the store (see hold_txn), so the inode of a
	 * buffer cannot go away under it; if it did (fsck, or this mount's
	 * session expired and another mount reclaimed what it held), say so:
	 * acknowledged data never vanishes without an error. */
	int r = get_node(t, a->vn->ino, &in);
	if (r < 0)
		return r;
	for (size_t i = 0; i < a->vn->nblk; i++) {
		struct dblock *b = &a->vn->blk[i];
		if (all_written(b->mask, a->v->bs)) {
			r = meta_block_put(t, &in, b->idx, b->data, b->len);
		} else {
			size_t len;
			r = merge_block(t, a->v, in.ino, b, a->merged, &len);
			if (r == 0)
				r = meta_block_put(t, &in, b->idx, a->merged, len);
		}
		if (r < 0)
			return r;
	}
	/* Another mount may have grown the file meanwhile: never shrink. */
	if (a->size > in.size)
		in.size = a->size;
	in.mtime = in.ctime = a->mtime;
	return meta_inode_put(t, &in);
}

/* Forget the buffered blocks of vn (written, or of a reclaimed inode);
 * io_lock held. */
static void drop_blocks_locked(struct vfs *v, struct vnode *vn)
{
	for (size_t i = 0; i < vn->nblk; i++) {
		free(vn->blk[i].data);
		free(vn->blk[i].mask);
	}
	dirty_account(v, -(ssize_t)(vn->nblk * v->bs));
	vn->nblk = 0;
	pthread_mutex_lock(&vn->attr_lock);
	vn->dirty = 0;
	pthread_mutex_unlock(&vn->attr_lock);
}

/* The first byte at or after k (below end) whose mask bit is set (or
 * clear), or end; whole mask bytes of the other kind are skipped at
 * once (a flush scans every buffered byte's bit). */
static uint32_t mask_next(const uint8_t *mask, uint32_t k, uint32_t end,
			  int set)
{
	uint8_t skip = set ? 0x00 : 0xff;
	while (k < end) {
		if (!(k & 7) && mask[k >> 3] == skip) {
			k += 8;
			continue;
		}
		if (!!(mask[k >> 3] & (1u << (k & 7))) == set)
			return k;
		k++;
	}
	return end;
}

static int dblock_cmp(const void *a, const void *b)
{
	const struct dblock *x = a, *y = b;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct lflush_args {
	struct vfs *v;
	struct vnode *vn;
	struct layout_batch *b;
	uint64_t size;
	struct timespec mtime;
};

static int lflush_txn(struct store_txn *t, void *arg)
{
	struct lflush_args *a = arg;
	struct meta_inode in;
	/* see flush_txn: the inode of a buffer is held, so it is there */
	int r = get_node(t, a->vn->ino, &in);
	if (r < 0 || (r = layout_commit_txn(t, a->v->layout, a->b, &in)) < 0)
		return r;
	if (a->size > in.size)
		in.size = a->size;
	in.mtime = in.ctime = a->mtime;
	return meta_inode_put(t, &in);
}

/*
 * With a data tier: the bytes written (each block's mask says which) are
 * uploaded as objects, then one transaction adds their slices and the
 * size.  No block is read first: a slice covers only what was written.
 */
static int flush_layout_locked(struct vfs *v, struct vnode *vn)
{
	struct lflush_args a = {v, vn};
	pthread_mutex_lock(&vn->attr_lock);
	a.size = vn->size;
	a.mtime = vn->mtime;
	pthread_mutex_unlock(&vn->attr_lock);
	qsort(vn->blk, vn->nblk, sizeof(*vn->blk), dblock_cmp);
	struct layout_piece *p = NULL;
	size_t np = 0, cap = 0;
	int r = 0;
	for (size_t i = 0; i < vn->nblk && r == 0; i++) {
		const struct dblock *b = &vn->blk[i];
		for (uint32_t k = 0; k < b->len;) {
			k = mask_next(b->mask, k, b->len, 1);
			if (k >= b->len)
				break;
			uint32_t j = mask_next(b->mask, k, b->len, 0);
			if (np == cap) {
				size_t c = cap ? cap * 2 : 64;
				struct layout_piece *q = realloc(p, c * sizeof(*q));
				if (!q) {
					r = -ENOMEM;
					break;
				}
				p = q;
				cap = c;
			}
			p[np++] = (struct layout_piece){b->idx * v->bs + k,
							b->data + k, j - k};
			k = j;
		}
	}
	if (r == 0)
		r = layout_upload(v->layout, vn->ino, p, np, &a.b);
	free(p);
	if (r == 0) {
		r = meta_write(v->meta, lflush_txn, &a);
		layout_batch_done(v->layout, a.b, r);
	}
	if (r < 0) {
		log_error("cannot write buffered data of inode %llu: %s",
			  (unsigned long long)vn->ino, strerror(-r));
		return r; /* keep the buffer: a later flush may succeed */
	}
	notice(v, vn->ino, 0, NULL);
	drop_blocks_locked(v, vn);
	return 0;
}

/* Write the buffered blocks of vn to the store; io_lock held. */
static int flush_locked(struct vfs *v, struct vnode *vn)
{
	if (!vn->nblk)
		return 0;
	if (v->layout)
		return flush_layout_locked(v, vn);
	struct flush_args a = {v, vn};
	pthread_mutex_lock(&vn->attr_lock);
	a.size = vn->size;
	a.mtime = vn->mtime;
	pthread_mutex_unlock(&vn->attr_lock);
	if (!(a.merged = malloc(v->bs)))
		return -ENOMEM;
	int r = meta_write(v->meta, flush_txn, &a);
	free(a.merged);
	if (r < 0) {
		log_error("cannot write buffered data of inode %llu: %s",
			  (unsigned long long)vn->ino, strerror(-r));
		return r; /* keep the buffer: a later flush may succeed */
	}
	notice(v, vn->ino, 0, NULL);
	drop_blocks_locked(v, vn);
	return 0;
}

static int flush_vnode(struct vfs *v, struct vnode *vn)
{
	pthread_mutex_lock(&vn->io_lock);
	int r = flush_locked(v, vn);
	pthread_mutex_unlock(&vn->io_lock);
	return r;
}

int vfs_flush_all(struct vfs *v)
{
	int r = 0;
	struct vnode **list = NULL;
	size_t cap = 0;
	for (size_t b = 0; b < TABLE_SIZE; b++) {
		/* every dirty vnode of the bucket, however many */
		pthread_mutex_lock(&v->table_lock);
		size_t n = 0;
		for (struct vnode *vn = v->table[b]; vn; vn = vn->next)
			if (vn->nblk)
				n++;
		if (n > cap) {
			struct vnode **l = realloc(list, n * sizeof(*l));
			if (!l) {
				pthread_mutex_unlock(&v->table_lock);
				r = -ENOMEM;
				continue;
			}
			list = l;
			cap = n;
		}
		n = 0;
		for (struct vnode *vn = v->table[b]; vn; vn = vn->next)
			if (vn->nblk) {
				vn->refs++;
				list[n++] = vn;
			}
		pthread_mutex_unlock(&v->table_lock);
		for (size_t i = 0; i < n; i++) {
			int e = flush_vnode(v, list[i]);
			if (e < 0)
				r = e;
			vnode_put(v, list[i]);
		}
	}
	free(list);
	return r;
}

static struct dblock *find_block(struct vnode *vn, uint64_t idx)
{
	/* Writes are mostly sequential: look from the end. */
	for (size_t i = vn->nblk; i-- > 0;)
		if (vn->blk[i].idx == idx)
			return &vn->blk[i];
	return NULL;
}

struct read_block_args {
	struct vfs *v;
	uint64_t ino, idx;
	uint8_t *dst;
	uint32_t len;
};

static int read_block_txn(struct store_txn *t, void *arg)
{
	struct read_block_args *a = arg;
	const void *d;
	size_t len;
	int r = get_block(t, a->v, a->ino, a->idx, &d, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	memcpy(a->dst, d, len);
	a->len = (uint32_t)len;
	return 0;
}

/* Add a zeroed (or, if it exists in the store, loaded) buffered block. */
static int add_block(struct vfs *v, struct vnode *vn, uint64_t idx,
		     int load, struct dblock **out)
{
	if (vn->nblk == vn->capblk) {
		size_t cap = vn->capblk ? vn->capblk * 2 : 16;
		struct dblock *b = realloc(vn->blk, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		vn->blk = b;
		vn->capblk = cap;
	}
	/* With a data tier only the bytes the mask marks are ever read (by
	 * reads over the buffer and by the flush), so the block is not
	 * zeroed: a 4 KiB write no longer clears 64 KiB.  Format 1 writes
	 * whole blocks: zeros where nothing was written. */
	uint8_t *data = v->layout ? malloc(v->bs) : calloc(1, v->bs);
	uint8_t *mask = calloc(1, v->bs / 8);
	if (!data || !mask) {
		free(data);
		free(mask);
		return -ENOMEM;
	}
	struct read_block_args a = {v, vn->ino, idx, data, 0};
	if (load) {
		int r = meta_read(v->meta, read_block_txn, &a);
		if (r < 0) {
			free(data);
			free(mask);
			return r;
		}
	}
	struct dblock *b = &vn->blk[vn->nblk++];
	b->idx = idx;
	b->len = a.len;
	b->data = data;
	b->mask = mask;
	dirty_account(v, v->bs);
	*out = b;
	return 0;
}

/* ---- open files ---- */

static void close_vnode(struct vfs *v, struct vnode *vn);
static int hold_locked(struct vfs *v, struct vnode *vn);

static struct vfs_file *file_new(struct vfs *v, uint64_t ino, int flags)
{
	struct vfs_file *f = malloc(sizeof(*f));
	if (!f)
		return NULL;
	f->vn = vnode_get(v, ino);
	if (!f->vn) {
		free(f);
		return NULL;
	}
	f->flags = flags;
	pthread_mutex_lock(&v->table_lock);
	f->vn->nopen++;
	pthread_mutex_unlock(&v->table_lock);
	metrics_gauge_add(MG_OPEN_HANDLES, 1);
	return f;
}

/*
 * Open a regular file (or one just made: held already in its creating
 * transaction).  With shared mounts the first open here notes a hold in
 * the store, so that an unlink elsewhere keeps the inode until we close
 * it; an inode that is gone answers ESTALE (the kernel looks up again).
 */
static int open_file(struct vfs *v, uint64_t ino, int flags, int held,
		     struct vfs_file **out)
{
	struct vnode *vn = vnode_get(v, ino);
	if (!vn)
		return -ENOMEM;
	pthread_mutex_lock(&vn->hold_lock);
	int r = 0;
	if (held && v->shared)
		vn->held = 1; /* by the creating transaction */
	else
		r = hold_locked(v, vn);
	struct vfs_file *f = r == 0 ? file_new(v, ino, flags) : NULL;
	if (r == 0 && !f)
		r = -ENOMEM;
	pthread_mutex_unlock(&vn->hold_lock);
	vnode_put(v, vn);
	*out = f;
	return r;
}

struct purge_args {
	uint64_t ino;
};

/*
 * Reclaim an orphan unless a mount still holds it open (then its last
 * close there, or the end of its session, reclaims it).
 */
static int purge_txn(struct store_txn *t, void *arg)
{
	struct purge_args *a = arg;
	struct meta_inode in;
	uint64_t holders = 0;
	int r = meta_inode_get(t, a->ino, &in);
	if (r == -ENOENT)
		return meta_orphan_del(t, a->ino);
	if (r < 0 || in.nlink != 0)
		return r < 0 ? r : meta_orphan_del(t, a->ino);
	if ((r = meta_holders(t, a->ino, 0, &holders)) < 0)
		return r;
	if (holders)
		return 0;
	if ((r = meta_inode_purge(t, &in)) < 0 ||
	    (r = meta_orphan_del(t, a->ino)) < 0)
		return r;
	return 1;
}

/* The last reference to an unlinked inode is gone: reclaim it. */
/*
 * The inode went (no link, nobody holds it): what is still buffered for it
 * (a write that failed, e.g. on a full disk) can never be read; drop it.
 */
static void discard_buffer(struct vfs *v, uint64_t ino)
{
	pthread_mutex_lock(&v->table_lock);
	struct vnode *vn = find_locked(v, ino);
	if (vn)
		vn->refs++;
	pthread_mutex_unlock(&v->table_lock);
	if (!vn)
		return;
	pthread_mutex_lock(&vn->io_lock);
	drop_blocks_locked(v, vn);
	pthread_mutex_unlock(&vn->io_lock);
	vnode_put(v, vn);
}

static void purge_unlinked(struct vfs *v, uint64_t ino)
{
	struct purge_args a = {ino};
	int e = meta_write(v->meta, purge_txn, &a);
	if (e < 0)
		log_error("cannot reclaim unlinked inode %llu: %s (fsck or the "
			  "next mount will)", (unsigned long long)ino, strerror(-e));
	else if (e == 1)
		discard_buffer(v, ino);
	if (e == 1 && v->layout)
		layout_kick_gc(v->layout);
}

/* ---- holds: inodes open on this mount, noted in the store ---- */

struct hold_args {
	uint64_t ino, id;
};

/*
 * Note that this mount holds ino open; ESTALE if it is gone, or unlinked
 * (kept only for the mounts that hold it open): a dentry that leads here
 * is stale — the name now names another inode or nothing — and the kernel
 * looks it up again.
 */
static int hold_txn(struct store_txn *t, void *arg)
{
	struct hold_args *a = arg;
	struct meta_inode in;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	if (in.nlink == 0)
		return -ESTALE;
	return meta_hold(t, a->ino, a->id);
}

/*
 * Give up a hold (ours at the last close, or a dead mount's); the inode
 * goes if it has no link and nobody else holds it.  Returns 1 if purged.
 */
static int unhold_txn(struct store_txn *t, void *arg)
{
	struct hold_args *a = arg;
	struct meta_inode in;
	uint64_t holders;
	int r = meta_unhold(t, a->ino, a->id);
	if (r < 0)
		return r;
	if ((r = meta_inode_get(t, a->ino, &in)) < 0)
		return r == -ENOENT ? 0 : r;
	if (in.nlink != 0)
		return 0;
	if ((r = meta_holders(t, a->ino, a->id, &holders)) < 0 || holders)
		return r;
	if ((r = meta_inode_purge(t, &in)) < 0 ||
	    (r = meta_orphan_del(t, a->ino)) < 0)
		return r;
	return 1;
}

/* Hold vn's inode for an open file (shared mounts); hold_lock held. */
static int hold_locked(struct vfs *v, struct vnode *vn)
{
	if (!v->shared)
		return 0;
	if (vn->held) {
		/* open by a name while this mount holds the inode: the name
		 * may have moved on to another inode meanwhile */
		struct meta_inode in;
		int r = load_inode(v, vn->ino, &in);
		return r < 0 ? r : in.nlink == 0 ? -ESTALE : 0;
	}
	struct hold_args a = {vn->ino, v->session_id};
	int r = meta_write(v->meta, hold_txn, &a);
	if (r == 0)
		vn->held = 1;
	return r;
}

/* Drop one open reference (file or directory handle). */
static void close_vnode(struct vfs *v, struct vnode *vn)
{
	metrics_gauge_add(MG_OPEN_HANDLES, -1);
	pthread_mutex_lock(&vn->hold_lock);
	pthread_mutex_lock(&v->table_lock);
	vn->nopen--;
	int last = vn->nopen == 0;
	int purge = last && vn->nlookup == 0 && vn->unlinked;
	if (purge)
		vn->unlinked = 0;
	pthread_mutex_unlock(&v->table_lock);
	if (last && vn->held) {
		/* after the flush in vfs_release: nothing buffered is lost */
		struct hold_args a = {vn->ino, v->session_id};
		int r = meta_write(v->meta, unhold_txn, &a);
		if (r < 0)
			log_error("cannot give up inode %llu held open: %s (the "
				  "session's end or fsck will)",
				  (unsigned long long)vn->ino, strerror(-r));
		else if (r == 1)
			discard_buffer(v, vn->ino);
		vn->held = 0;
	}
	pthread_mutex_unlock(&vn->hold_lock);
	if (purge)
		purge_unlinked(v, vn->ino);
	vnode_put(v, vn);
}

static void unlock_owner(struct vfs *v, uint64_t ino, uint64_t owner,
			 int flock);

int vfs_release(struct vfs *v, struct vfs_file *f, uint64_t flock_owner)
{
	if (flock_owner && vfs_has_locks(v))
		unlock_owner(v, f->vn->ino, flock_owner, 1);
	int r = flush_vnode(v, f->vn);
	close_vnode(v, f->vn);
	free(f);
	return r;
}

/* ---- setattr / truncate ---- */

struct setattr_args {
	struct vfs *v;
	const struct vfs_ctx *c;
	uint64_t ino;
	const struct stat *attr;
	int to_set;
	struct stat *out;
};

static int setattr_txn(struct store_txn *t, void *arg)
{
	struct setattr_args *a = arg;
	struct meta_inode in;
	struct timespec now = now_ts();
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	int set = a->to_set;
	if (set & VFS_SET_MODE)
		in.mode = (in.mode & S_IFMT) | (a->attr->st_mode & 07777);
	if ((set & VFS_SET_MODE) && (r = acl_follow_mode(t, &in)) < 0)
		return r;
	if (set & (VFS_SET_UID | VFS_SET_GID)) {
		uid_t uid = (set & VFS_SET_UID) ? a->attr->st_uid : in.uid;
		gid_t gid = (set & VFS_SET_GID) ? a->attr->st_gid : in.gid;
		/* chown of a non-directory clears set-user-ID, and
		 * set-group-ID when it means "group execute" (as Linux). */
		if (!S_ISDIR(in.mode) && (uid != in.uid || gid != in.gid ||
					  a->c->uid != 0)) {
			in.mode &= ~S_ISUID;
			if (in.mode & S_IXGRP)
				in.mode &= ~S_ISGID;
		}
		in.uid = uid;
		in.gid = gid;
	}
	if (set & VFS_SET_SIZE) {
		if (S_ISDIR(in.mode))
			return -EISDIR;
		if (!S_ISREG(in.mode))
			return -EINVAL;
		uint64_t size = (uint64_t)a->attr->st_size;
		if (size > META_MAX_FILE_SIZE)
			return -EFBIG;
		if (size < in.size &&
		    (r = a->v->layout
			     ? layout_truncate_txn(t, a->v->layout, &in, size)
			     : meta_blocks_truncate(t, &in, size, a->v->bs)) < 0)
			return r;
		/* with a mode too, that mode is the kernel's own kill of
		 * set-user-ID for this truncate */
		if (drops_sgid(a->c, &in))
			in.mode &= ~S_ISGID;
		in.size = size;
		/* A size change always moves mtime and ctime. */
		in.mtime = now;
	}
	if (set & VFS_SET_ATIME)
		in.atime = a->attr->st_atim;
	else if (set & VFS_SET_ATIME_NOW)
		in.atime = now;
	if (set & VFS_SET_MTIME)
		in.mtime = a->attr->st_mtim;
	else if (set & VFS_SET_MTIME_NOW)
		in.mtime = now;
	in.ctime = (set & VFS_SET_CTIME) ? a->attr->st_ctim : now;
	if ((r = meta_inode_put(t, &in)) < 0)
		return r;
	if (a->out)
		to_stat(a->v, &in, a->out);
	return 0;
}

int vfs_setattr(struct vfs *v, const struct vfs_ctx *c, uint64_t ino,
		const struct stat *attr, int to_set, struct stat *out)
{
	struct setattr_args a = {v, c, ino, attr, to_set, out};
	struct vnode *vn = vnode_get(v, ino);
	if (!vn)
		return -ENOMEM;
	/* Buffered data must reach the store before a size change. */
	pthread_mutex_lock(&vn->io_lock);
	int r = flush_locked(v, vn);
	if (r == 0)
		r = meta_write(v->meta, setattr_txn, &a);
	pthread_mutex_unlock(&vn->io_lock);
	vnode_put(v, vn);
	if (r == 0 && (to_set & VFS_SET_SIZE)) {
		notice(v, ino, 0, NULL); /* cached pages past the new end */
		if (v->layout)
			layout_kick_gc(v->layout);
	}
	return r;
}

/* ---- creating entries ---- */

struct mknode_args {
	struct vfs *v;
	const struct vfs_ctx *c;
	uint64_t parent;
	const char *name;
	mode_t mode;
	dev_t rdev;
	const char *target;
	uint64_t ino;
	struct vfs_entry *e;
	int hold; /* create: note this mount's hold in the same transaction */
};

/* Load a parent directory that may receive or lose entries. */
/* entry_only: the operation adds or removes an entry, and changes the
 * parent only with meta_dir_touch and meta_dir_link_count (commutative
 * updates: concurrent ones in one directory do not conflict). */
static int load_parent(struct store_txn *t, uint64_t ino, int entry_only,
		       struct meta_inode *p)
{
	int r = entry_only ? meta_dir_get_for_entry(t, ino, p) : meta_inode_get(t, ino, p);
	if (r == -ENOENT)
		r = -ESTALE;
	if (r < 0)
		return r;
	if (!S_ISDIR(p->mode))
		return -ENOTDIR;
	if (p->nlink == 0)
		return -ENOENT; /* removed while we held it */
	return 0;
}

/* 0 if parent has no entry called name, -EEXIST if it has. */
static int check_free_name(struct store_txn *t, uint64_t parent,
			   const char *name, size_t len)
{
	uint64_t other;
	int r = meta_dentry_get(t, parent, name, len, &other, NULL);
	if (r == 0)
		return -EEXIST;
	return r == -ENOENT ? 0 : r;
}

static int mknode_txn(struct store_txn *t, void *arg)
{
	struct mknode_args *a = arg;
	struct meta_inode p, in;
	struct timespec now = now_ts();
	size_t len = strlen(a->name);
	int r = load_parent(t, a->parent, 1, &p);
	if (r < 0)
		return r;
	if ((r = check_free_name(t, a->parent, a->name, len)) < 0)
		return r;
	memset(&in, 0, sizeof(in));
	in.ino = a->ino;
	in.mode = a->mode;
	if ((r = acl_inherit(t, a->v, a->parent, a->c, &in)) < 0)
		return r;
	in.uid = a->c->uid;
	in.gid = a->c->gid;
	in.nlink = S_ISDIR(a->mode) ? 2 : 1;
	in.rdev = (S_ISCHR(a->mode) || S_ISBLK(a->mode)) ? a->rdev : 0;
	in.atime = in.mtime = in.ctime = in.btime = now;
	/* A set-group-ID directory passes its group on, and its flag to
	 * subdirectories. */
	if (p.mode & S_ISGID) {
		in.gid = p.gid;
		if (S_ISDIR(a->mode))
			in.mode |= S_ISGID;
	}
	/* Like Linux's inode_init_owner: an unprivileged creator outside the
	 * group cannot make a set-group-ID executable. */
	if (!S_ISDIR(in.mode) && (in.mode & S_ISGID) && (in.mode & S_IXGRP) &&
	    a->c->uid != 0 && !in_group(a->c, in.gid))
		in.mode &= ~S_ISGID;
	if (S_ISDIR(in.mode))
		in.parent = a->parent;
	if (a->target) {
		in.size = strlen(a->target);
		if ((r = meta_symlink_put(t, in.ino, a->target, in.size)) < 0)
			return r;
	}
	if ((r = meta_inode_new_rows(t, &in)) < 0 ||
	    (r = meta_inode_put(t, &in)) < 0 ||
	    (r = meta_dentry_put(t, a->parent, a->name, len, in.ino,
				 (uint8_t)(in.mode >> 12))) < 0)
		return r;
	if ((S_ISDIR(in.mode) && (r = meta_dir_link_count(t, a->parent, 1)) < 0) ||
	    (r = meta_dir_touch(t, a->parent, &now)) < 0 ||
	    (r = meta_count_inodes(t, 1)) < 0)
		return r;
	/* a file made to be opened is held from its first instant */
	if (a->hold && (r = meta_hold(t, in.ino, a->v->session_id)) < 0)
		return r;
	a->e->ino = in.ino;
	to_stat(a->v, &in, &a->e->attr);
	return 0;
}

static int make_node(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, dev_t rdev,
		     const char *target, int hold, struct vfs_entry *e)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	if (target && strlen(target) > META_SYMLINK_MAX)
		return -ENAMETOOLONG;
	struct mknode_args a = {v, c, parent, name, mode, rdev, target, 0, e,
				hold && v->shared};
	if ((r = meta_alloc_ino(v->meta, &a.ino)) < 0)
		return r;
	r = meta_write(v->meta, mknode_txn, &a);
	if (r == 0)
		add_lookup(v, e->ino);
	return r;
}

int vfs_mknod(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	      const char *name, mode_t mode, dev_t rdev, struct vfs_entry *e)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	return make_node(v, c, parent, name, mode, rdev, NULL, 0, e);
}

int vfs_mkdir(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	      const char *name, mode_t mode, struct vfs_entry *e)
{
	return make_node(v, c, parent, name, S_IFDIR | (mode & 07777), 0, NULL, 0,
			 e);
}

int vfs_symlink(struct vfs *v, const struct vfs_ctx *c, const char *target,
		uint64_t parent, const char *name, struct vfs_entry *e)
{
	return make_node(v, c, parent, name, S_IFLNK | 0777, 0, target, 0, e);
}

int vfs_create(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	       const char *name, mode_t mode, int flags, struct vfs_entry *e,
	       struct vfs_file **f)
{
	int r = make_node(v, c, parent, name, S_IFREG | (mode & 07777), 0,
			  NULL, 1, e);
	if (r < 0)
		return r;
	if ((r = open_file(v, e->ino, flags, 1, f)) < 0)
		vfs_forget(v, e->ino, 1);
	return r;
}

struct readlink_args {
	uint64_t ino;
	char *buf;
	size_t len;
};

static int readlink_txn(struct store_txn *t, void *arg)
{
	struct readlink_args *a = arg;
	struct meta_inode in;
	size_t n;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISLNK(in.mode))
		return -EINVAL;
	return meta_symlink_get(t, a->ino, a->buf, a->len, &n);
}

int vfs_readlink(struct vfs *v, uint64_t ino, char *buf, size_t len)
{
	struct readlink_args a = {ino, buf, len};
	return meta_read_cached(v->meta, readlink_txn, &a);
}

/* ---- removing entries ---- */

/*
 * The entry pointing at *victim is gone: drop a link, and free the inode
 * when no link is left (or keep it as an orphan while it is open here or,
 * with shared mounts, held open by any mount).
 * Returns 1 if the inode became an orphan.
 */
static int drop_link(struct vfs *v, struct store_txn *t,
		     struct meta_inode *victim, struct timespec now)
{
	int r;
	if (S_ISDIR(victim->mode))
		victim->nlink = 0;
	else
		victim->nlink--;
	victim->ctime = now;
	if (victim->nlink > 0)
		return meta_inode_put(t, victim);
	uint64_t holders = 0;
	if (v->shared && (r = meta_holders(t, victim->ino, 0, &holders)) < 0)
		return r;
	if (holders || is_referenced(v, victim->ino)) {
		if ((r = meta_inode_put(t, victim)) < 0)
			return r;
		r = meta_orphan_add(t, victim->ino);
		return r < 0 ? r : 1;
	}
	return meta_inode_purge(t, victim);
}

struct remove_args {
	struct vfs *v;
	uint64_t parent;
	const char *name;
	int dir;
	uint64_t orphan; /* set when the victim became an orphan */
};

static int remove_txn(struct store_txn *t, void *arg)
{
	struct remove_args *a = arg;
	struct meta_inode p, victim;
	struct timespec now = now_ts();
	size_t len = strlen(a->name);
	uint64_t ino;
	int r = load_parent(t, a->parent, 1, &p);
	if (r < 0)
		return r;
	a->orphan = 0;
	if ((r = meta_dentry_get(t, a->parent, a->name, len, &ino, NULL)) < 0)
		return r;
	if ((r = meta_inode_get(t, ino, &victim)) < 0)
		return r == -ENOENT ? entry_moved(t, a->parent, a->name, ino) : r;
	if (a->dir) {
		if (!S_ISDIR(victim.mode))
			return -ENOTDIR;
		if ((r = meta_dir_is_empty(t, ino)) <= 0)
			return r < 0 ? r : -ENOTEMPTY;
	} else if (S_ISDIR(victim.mode)) {
		return -EISDIR;
	}
	if ((r = meta_dentry_del(t, a->parent, a->name, len)) < 0 ||
	    (r = drop_link(a->v, t, &victim, now)) < 0)
		return r;
	if (r == 1)
		a->orphan = ino;
	if (a->dir && (r = meta_dir_link_count(t, a->parent, -1)) < 0)
		return r;
	return meta_dir_touch(t, a->parent, &now);
}

static int remove_entry(struct vfs *v, uint64_t parent, const char *name,
			int dir)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	struct remove_args a = {v, parent, name, dir, 0};
	r = meta_write(v->meta, remove_txn, &a);
	if (r == 0 && a.orphan)
		mark_unlinked(v, a.orphan);
	if (r == 0)
		notice(v, parent, parent, name);
	return r;
}

int vfs_unlink(struct vfs *v, uint64_t parent, const char *name)
{
	return remove_entry(v, parent, name, 0);
}

int vfs_rmdir(struct vfs *v, uint64_t parent, const char *name)
{
	return remove_entry(v, parent, name, 1);
}

/* ---- link ---- */

struct link_args {
	struct vfs *v;
	uint64_t ino, parent;
	const char *name;
	struct vfs_entry *e;
};

static int link_txn(struct store_txn *t, void *arg)
{
	struct link_args *a = arg;
	struct meta_inode p, in;
	struct timespec now = now_ts();
	size_t len = strlen(a->name);
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	if (S_ISDIR(in.mode))
		return -EPERM;
	if (in.nlink == 0)
		return -ENOENT;
	if (in.nlink >= LINK_MAX_COUNT)
		return -EMLINK;
	if ((r = load_parent(t, a->parent, 1, &p)) < 0)
		return r;
	if ((r = check_free_name(t, a->parent, a->name, len)) < 0)
		return r;
	in.nlink++;
	in.ctime = now;
	if ((r = meta_dentry_put(t, a->parent, a->name, len, in.ino,
				 (uint8_t)(in.mode >> 12))) < 0 ||
	    (r = meta_inode_put(t, &in)) < 0 ||
	    (r = meta_dir_touch(t, a->parent, &now)) < 0)
		return r;
	a->e->ino = in.ino;
	to_stat(a->v, &in, &a->e->attr);
	return 0;
}

int vfs_link(struct vfs *v, uint64_t ino, uint64_t parent, const char *name,
	     struct vfs_entry *e)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	struct link_args a = {v, ino, parent, name, e};
	r = meta_write(v->meta, link_txn, &a);
	if (r == 0)
		add_lookup(v, ino);
	return r;
}

/* ---- rename ---- */

/* 1 if dir is anc or lies below it. */
static int is_within(struct store_txn *t, uint64_t anc, uint64_t dir)
{
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (dir == anc)
			return 1;
		if (dir == META_ROOT_INO)
			return 0;
		struct meta_inode in;
		int r = meta_inode_get(t, dir, &in);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
		dir = in.parent;
	}
	return -ELOOP;
}

struct rename_args {
	struct vfs *v;
	uint64_t p1, p2;
	const char *n1, *n2;
	unsigned flags;
	uint64_t orphan;
};

static int rename_txn(struct store_txn *t, void *arg)
{
	struct rename_args *a = arg;
	struct meta_inode pa, pb_store, *pb = &pb_store, src, dst;
	struct timespec now = now_ts();
	size_t l1 = strlen(a->n1), l2 = strlen(a->n2);
	uint64_t sino, dino;
	uint8_t stype, dtype;
	int r, have_dst;

	a->orphan = 0;
	if ((r = load_parent(t, a->p1, 0, &pa)) < 0)
		return r;
	if (a->p2 == a->p1)
		pb = &pa;
	else if ((r = load_parent(t, a->p2, 0, pb)) < 0)
		return r;
	if ((r = meta_dentry_get(t, a->p1, a->n1, l1, &sino, &stype)) < 0)
		return r;
	r = meta_dentry_get(t, a->p2, a->n2, l2, &dino, &dtype);
	if (r < 0 && r != -ENOENT)
		return r;
	have_dst = r == 0;
	if ((a->flags & RENAME_EXCHANGE) && !have_dst)
		return -ENOENT;
	if ((a->flags & RENAME_NOREPLACE) && have_dst)
		return -EEXIST;
	if ((r = meta_inode_get(t, sino, &src)) < 0)
		return r == -ENOENT ? entry_moved(t, a->p1, a->n1, sino) : r;
	if (have_dst && dino == sino)
		return 0; /* the same file: POSIX says do nothing */
	if (have_dst && (r = meta_inode_get(t, dino, &dst)) < 0)
		return r == -ENOENT ? entry_moved(t, a->p2, a->n2, dino) : r;

	/* A directory cannot move below itself. */
	if (S_ISDIR(src.mode) && a->p1 != a->p2) {
		if ((r = is_within(t, sino, a->p2)) != 0)
			return r < 0 ? r : -EINVAL;
	}
	if ((a->flags & RENAME_EXCHANGE) && S_ISDIR(dst.mode) && a->p1 != a->p2) {
		if ((r = is_within(t, dino, a->p1)) != 0)
			return r < 0 ? r : -EINVAL;
	}

	if (a->flags & RENAME_EXCHANGE) {
		if ((r = meta_dentry_put(t, a->p1, a->n1, l1, dino, dtype)) < 0 ||
		    (r = meta_dentry_put(t, a->p2, a->n2, l2, sino, stype)) < 0)
			return r;
		if (a->p1 != a->p2) {
			if (S_ISDIR(src.mode)) {
				src.parent = a->p2;
				pa.nlink--;
				pb->nlink++;
			}
			if (S_ISDIR(dst.mode)) {
				dst.parent = a->p1;
				pb->nlink--;
				pa.nlink++;
			}
		}
		src.ctime = dst.ctime = now;
		if ((r = meta_inode_put(t, &dst)) < 0)
			return r;
	} else {
		if (have_dst) {
			if (S_ISDIR(src.mode) && !S_ISDIR(dst.mode))
				return -ENOTDIR;
			if (!S_ISDIR(src.mode) && S_ISDIR(dst.mode))
				return -EISDIR;
			if (S_ISDIR(dst.mode)) {
				if ((r = meta_dir_is_empty(t, dino)) <= 0)
					return r < 0 ? r : -ENOTEMPTY;
				pb->nlink--;
			}
			if ((r = drop_link(a->v, t, &dst, now)) < 0)
				return r;
			if (r == 1)
				a->orphan = dino;
		}
		if ((r = meta_dentry_del(t, a->p1, a->n1, l1)) < 0 ||
		    (r = meta_dentry_put(t, a->p2, a->n2, l2, sino, stype)) < 0)
			return r;
		if (S_ISDIR(src.mode) && a->p1 != a->p2) {
			src.parent = a->p2;
			pa.nlink--;
			pb->nlink++;
		}
		src.ctime = now;
	}
	pa.mtime = pa.ctime = now;
	pb->mtime = pb->ctime = now;
	if ((r = meta_inode_put(t, &src)) < 0 || (r = meta_inode_put(t, &pa)) < 0)
		return r;
	if (pb != &pa && (r = meta_inode_put(t, pb)) < 0)
		return r;
	return 0;
}

int vfs_rename(struct vfs *v, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags)
{
	int r;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if ((r = check_name(name)) < 0 || (r = check_name(newname)) < 0)
		return r;
	struct rename_args a = {v, parent, newparent, name, newname, flags, 0};
	r = meta_write(v->meta, rename_txn, &a);
	if (r == 0 && a.orphan)
		mark_unlinked(v, a.orphan);
	if (r == 0) {
		notice(v, parent, parent, name);
		notice(v, newparent, newparent, newname);
	}
	return r;
}

/* ---- open, read, write ---- */

int vfs_open(struct vfs *v, const struct vfs_ctx *c, uint64_t ino, int flags,
	     struct vfs_file **f)
{
	/* The kernel has resolved ino and refused writes to directories;
	 * only O_TRUNC needs the store. */
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		struct meta_inode in;
		int r = load_inode(v, ino, &in);
		if (r < 0)
			return r;
		if (S_ISREG(in.mode)) {
			struct stat attr = {.st_size = 0};
			r = vfs_setattr(v, c, ino, &attr, VFS_SET_SIZE, NULL);
			if (r < 0)
				return r;
		}
	}
	int r = open_file(v, ino, flags, 0, f);
	if (r == 0 && v->attr_cached) {
		/*
		 * Close-to-open with attributes cached: the size the kernel
		 * holds may predate another mount's close that the
		 * invalidation has not reached yet; dropping it makes the
		 * next read past it ask (GETATTR), and the store's cache has
		 * the change by then (store_redis_track.c).  Attributes only:
		 * safe inside a request handler.
		 */
		pthread_rwlock_rdlock(&v->kernel_lock);
		if (v->kernel_set && v->kernel.inval_attr)
			v->kernel.inval_attr(v->kernel.arg, ino);
		pthread_rwlock_unlock(&v->kernel_lock);
	}
	return r;
}

/* relatime: an access older than the last change, or than a day, moves */
static int needs_atime(const struct vfs *v, const struct meta_inode *in)
{
	if (v->opt.atime != VFS_ATIME_RELATIME)
		return v->opt.atime == VFS_ATIME_STRICT;
	return in->atime.tv_sec < in->mtime.tv_sec ||
	       (in->atime.tv_sec == in->mtime.tv_sec &&
		in->atime.tv_nsec <= in->mtime.tv_nsec) ||
	       in->atime.tv_sec < in->ctime.tv_sec ||
	       in->atime.tv_sec + 86400 < now_ts().tv_sec;
}

struct read_args {
	struct vfs *v;
	struct vnode *vn;
	char *buf;
	size_t size;
	uint64_t off;
	int dirty;        /* read the buffer too (io_lock held) */
	uint64_t dsize;   /* file size while dirty */
	size_t done;
	int touch_atime;
};

static int read_txn(struct store_txn *t, void *arg)
{
	struct read_args *a = arg;
	struct meta_inode in;
	uint32_t bs = a->v->bs;
	int r = get_node(t, a->vn->ino, &in);
	if (r < 0)
		return r;
	uint64_t size = a->dirty ? a->dsize : in.size;
	a->done = 0;
	if (a->off >= size)
		return 0;
	size_t want = a->size;
	if (a->off + want > size)
		want = (size_t)(size - a->off);
	for (size_t pos = 0; pos < want;) {
		uint64_t off = a->off + pos;
		uint64_t idx = off / bs;
		uint32_t in_blk = (uint32_t)(off % bs);
		size_t n = bs - in_blk;
		if (n > want - pos)
			n = want - pos;
		struct dblock *db = a->dirty ? find_block(a->vn, idx) : NULL;
		const uint8_t *src = NULL;
		size_t len = 0;
		if (db) {
			src = db->data;
			len = db->len;
		} else {
			const void *d;
			r = get_block(t, a->v, in.ino, idx, &d, &len);
			if (r == 0)
				src = d;
			else if (r != -ENOENT)
				return r;
		}
		size_t have = len > in_blk ? len - in_blk : 0;
		if (have > n)
			have = n;
		if (have)
			memcpy(a->buf + pos, src + in_blk, have);
		memset(a->buf + pos + have, 0, n - have);
		pos += n;
	}
	a->done = want;
	a->touch_atime = needs_atime(a->v, &in);
	return 0;
}

/* With a data tier: the size and atime rule from meta, then the bytes
 * from the layout (outside the transaction), then buffered bytes over
 * them.  The inode and the layout records come from the store's client
 * cache where the server keeps it honest (0 round trips): close-to-open
 * holds as for getattr, since another mount's close is known to the
 * cache, or waiting to be, before its reply (store_redis_track.c). */
static int read_attr_txn(struct store_txn *t, void *arg)
{
	struct read_args *a = arg;
	struct meta_inode in;
	int r = get_node(t, a->vn->ino, &in);
	if (r < 0)
		return r;
	uint64_t size = a->dirty ? a->dsize : in.size;
	a->done = 0;
	if (a->off < size)
		a->done = a->off + a->size > size ? (size_t)(size - a->off)
						  : a->size;
	a->touch_atime = needs_atime(a->v, &in);
	return 0;
}

static int read_layout(struct vfs *v, struct read_args *a)
{
	int r = meta_read_cached(v->meta, read_attr_txn, a);
	if (r < 0 || !a->done)
		return r;
	if ((r = layout_read_cached(v->layout, a->vn->ino, a->off,
				    (uint8_t *)a->buf, a->done)) < 0)
		return r;
	if (!a->dirty)
		return 0;
	uint32_t bs = v->bs;
	for (uint64_t o = a->off; o < a->off + a->done;) {
		uint64_t idx = o / bs;
		uint32_t lo = (uint32_t)(o % bs);
		uint32_t hi = a->off + a->done - idx * bs < bs
				      ? (uint32_t)(a->off + a->done - idx * bs)
				      : bs;
		const struct dblock *db = find_block(a->vn, idx);
		uint32_t end = db && db->len < hi ? db->len : hi;
		for (uint32_t k = lo; db && k < end;) {
			k = mask_next(db->mask, k, end, 1);
			uint32_t j = mask_next(db->mask, k, end, 0);
			memcpy(a->buf + (idx * bs + k - a->off), db->data + k, j - k);
			k = j;
		}
		o = idx * bs + hi;
	}
	return 0;
}

static int touch_atime_txn(struct store_txn *t, void *arg)
{
	uint64_t *ino = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, *ino, &in);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	in.atime = now_ts();
	return meta_inode_put(t, &in);
}

ssize_t vfs_read(struct vfs *v, struct vfs_file *f, char *buf, size_t size,
		 off_t off)
{
	struct vnode *vn = f->vn;
	struct read_args a = {v, vn, buf, size, (uint64_t)off};
	int locked = 0;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&vn->attr_lock);
	int dirty = vn->dirty;
	pthread_mutex_unlock(&vn->attr_lock);
	if (dirty) {
		/* Buffered data must be read under the io lock. */
		pthread_mutex_lock(&vn->io_lock);
		locked = 1;
		pthread_mutex_lock(&vn->attr_lock);
		a.dirty = vn->dirty;
		a.dsize = vn->size;
		pthread_mutex_unlock(&vn->attr_lock);
	}
	int r = v->layout ? read_layout(v, &a) : meta_read(v->meta, read_txn, &a);
	if (locked)
		pthread_mutex_unlock(&vn->io_lock);
	if (r < 0)
		return r;
	if (a.touch_atime && !(f->flags & O_NOATIME)) {
		uint64_t ino = vn->ino;
		meta_write(v->meta, touch_atime_txn, &ino);
	}
	return (ssize_t)a.done;
}

ssize_t vfs_write(struct vfs *v, const struct vfs_ctx *c, struct vfs_file *f,
		  const char *buf, size_t size, off_t off)
{
	struct vnode *vn = f->vn;
	uint32_t bs = v->bs;
	int r = 0;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&vn->io_lock);
	pthread_mutex_lock(&vn->attr_lock);
	int dirty = vn->dirty;
	uint64_t fsize = vn->size;
	pthread_mutex_unlock(&vn->attr_lock);
	if (!dirty) {
		struct meta_inode in;
		if ((r = load_inode(v, vn->ino, &in)) < 0 ||
		    (r = drop_sgid(v, c, &in)) < 0)
			goto out;
		fsize = in.size;
	}
	if (f->flags & O_APPEND)
		off = (off_t)fsize; /* append at our end of file, not the kernel's */
	if ((uint64_t)off + size > META_MAX_FILE_SIZE) {
		if ((uint64_t)off >= META_MAX_FILE_SIZE) {
			r = -EFBIG;
			goto out;
		}
		size = META_MAX_FILE_SIZE - (uint64_t)off;
	}
	for (size_t pos = 0; pos < size;) {
		uint64_t o = (uint64_t)off + pos;
		uint64_t idx = o / bs;
		uint32_t in_blk = (uint32_t)(o % bs);
		size_t n = bs - in_blk;
		if (n > size - pos)
			n = size - pos;
		struct dblock *db = find_block(vn, idx);
		if (!db) {
			/* A partly written block that exists must be read. */
			int load = !v->layout && n < bs &&
				   idx * (uint64_t)bs < fsize;
			if ((r = add_block(v, vn, idx, load, &db)) < 0)
				goto out;
		}
		memcpy(db->data + in_blk, buf + pos, n);
		mark_written(db->mask, in_blk, (uint32_t)(in_blk + n));
		if (in_blk + n > db->len)
			db->len = (uint32_t)(in_blk + n);
		pos += n;
	}
	pthread_mutex_lock(&vn->attr_lock);
	vn->dirty = 1;
	if ((uint64_t)off + size > fsize)
		fsize = (uint64_t)off + size;
	vn->size = fsize;
	vn->mtime = now_ts();
	pthread_mutex_unlock(&vn->attr_lock);
	r = (int)size;
	if (vn->nblk * bs >= v->opt.max_dirty_per_file ||
	    dirty_total(v) >= v->opt.max_dirty_total) {
		int e = flush_locked(v, vn);
		if (e < 0)
			r = e;
	}
out:
	pthread_mutex_unlock(&vn->io_lock);
	return r < 0 ? r : (ssize_t)size;
}

int vfs_flush(struct vfs *v, struct vfs_file *f, uint64_t lock_owner)
{
	/* close(2) drops the process's record locks on the file */
	if (vfs_has_locks(v))
		unlock_owner(v, f->vn->ino, lock_owner, 0);
	return flush_vnode(v, f->vn);
}

int vfs_fsync(struct vfs *v, struct vfs_file *f, int datasync)
{
	int r = f ? flush_vnode(v, f->vn) : 0;
	if (r == 0)
		r = store_sync(meta_store(v->meta));
	return r;
}

int vfs_fsyncdir(struct vfs *v, uint64_t ino)
{
	return store_sync(meta_store(v->meta));
}

/* ---- fallocate ---- */

struct falloc_args {
	struct vfs *v;
	uint64_t ino;
	int mode;
	uint64_t off, len;
	uint64_t lo, hi; /* allocate block indices [lo, hi) (alloc_txn) */
	struct u64vec idx;
};

static int collect_block_idx(void *arg, uint64_t idx, const void *d, size_t len)
{
	struct falloc_args *a = arg;
	if (idx >= a->hi)
		return 1;
	return u64vec_push(&a->idx, idx);
}

/* The stored blocks of in with index in [lo, hi), into a->idx. */
static int stored_blocks(struct store_txn *t, struct falloc_args *a,
			 uint64_t ino, uint64_t lo, uint64_t hi)
{
	a->idx.n = 0; /* the transaction may run again */
	a->hi = hi;
	int r = meta_block_scan(t, ino, lo, collect_block_idx, a);
	return r < 0 ? r : 0;
}

/*
 * Zero the bytes [off, end) of in: blocks wholly inside become holes
 * (keep_alloc: allocation marks, for ZERO_RANGE), blocks partly inside
 * get their bytes there zeroed.  Past the end of file too, where only
 * fallocate's marks can be.
 */
static int zero_range(struct store_txn *t, struct falloc_args *a,
		      struct meta_inode *in, uint64_t off, uint64_t end,
		      int keep_alloc)
{
	uint32_t bs = a->v->bs;
	int r = stored_blocks(t, a, in->ino, off / bs, (end + bs - 1) / bs);
	for (size_t i = 0; r == 0 && i < a->idx.n; i++) {
		uint64_t idx = a->idx.v[i];
		const void *d;
		size_t len;
		r = get_block(t, a->v, in->ino, idx, &d, &len);
		if (r == -ENOENT) { /* gone since the scan */
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		uint64_t bstart = idx * bs;
		uint64_t zs = off > bstart ? off - bstart : 0;
		uint64_t ze = end - bstart < bs ? end - bstart : bs;
		if (zs == 0 && ze >= len) {
			r = keep_alloc ? meta_block_alloc(t, in, idx, 1)
				       : meta_block_put(t, in, idx, NULL, 0);
		} else if (zs < len) {
			uint8_t *copy = malloc(len);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, d, len);
			memset(copy + zs, 0, (ze < len ? ze : len) - zs);
			r = meta_block_put(t, in, idx, copy, len);
			free(copy);
			/* zeroed whole: keep it allocated */
			if (r == 0 && keep_alloc)
				r = meta_block_alloc(t, in, idx, 0);
		}
	}
	return r;
}

/* Count the holes among blocks [lo, hi): what fallocate must allocate. */
static int holes_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	int r = stored_blocks(t, a, a->ino, a->lo, a->hi);
	return r;
}

/* Mark the holes among blocks [lo, hi) allocated (one bounded chunk). */
static int alloc_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISREG(in.mode))
		return -ENODEV;
	uint64_t blocks = in.blocks;
	for (uint64_t idx = a->lo; r == 0 && idx < a->hi; idx++)
		r = meta_block_alloc(t, &in, idx, 0);
	if (r == 0 && in.blocks != blocks)
		r = meta_inode_put(t, &in);
	return r;
}

static int falloc_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	struct meta_inode in;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISREG(in.mode))
		return -ENODEV;
	uint64_t end = a->off + a->len;
	if (end > META_MAX_FILE_SIZE || end < a->off)
		return -EFBIG;
	int changed = 0;
	if (a->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		int keep = (a->mode & FALLOC_FL_ZERO_RANGE) != 0;
		if ((r = zero_range(t, a, &in, a->off, end, keep)) < 0)
			return r;
		changed = 1;
	}
	if (!(a->mode & FALLOC_FL_KEEP_SIZE) && end > in.size) {
		in.size = end;
		changed = 1;
	}
	if (changed)
		in.mtime = in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

/* Blocks allocated per transaction: bounds a transaction's size. */
#define FALLOC_CHUNK 1024

/* With a data tier: one transaction adds zero or hole slices (no object
 * is written); allocation covers only the holes, so data stays. */
static int lholes_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	return layout_holes_txn(t, a->v->layout, a->ino, a->off, a->len, &a->lo);
}

static int lfalloc_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	struct meta_inode in;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISREG(in.mode))
		return -ENODEV;
	enum layout_alloc how = (a->mode & FALLOC_FL_PUNCH_HOLE) ? LAYOUT_ALLOC_PUNCH
				: (a->mode & FALLOC_FL_ZERO_RANGE) ? LAYOUT_ALLOC_ZERO
								   : LAYOUT_ALLOC_HOLES;
	if ((r = layout_alloc_txn(t, a->v->layout, &in, a->off, a->len, how)) < 0)
		return r;
	int changed = how != LAYOUT_ALLOC_HOLES;
	if (!(a->mode & FALLOC_FL_KEEP_SIZE) && a->off + a->len > in.size) {
		in.size = a->off + a->len;
		changed = 1;
	}
	if (changed)
		in.mtime = in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

static int fallocate_layout(struct vfs *v, const struct vfs_ctx *c,
			    struct vfs_file *f, int mode, uint64_t off,
			    uint64_t len)
{
	struct falloc_args a = {v, f->vn->ino, mode, off, len};
	pthread_mutex_lock(&f->vn->io_lock);
	int r = flush_locked(v, f->vn);
	struct meta_inode in;
	if (r == 0 && c && c->uid != 0 && (r = load_inode(v, f->vn->ino, &in)) == 0)
		r = drop_sgid(v, c, &in);
	if (r == 0 && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		uint64_t total, avail;
		if ((r = meta_read(v->meta, lholes_txn, &a)) == 0 &&
		    store_space(meta_store(v->meta), &total, &avail) == 0 &&
		    a.lo * (uint64_t)v->bs > avail)
			r = -ENOSPC;
	}
	if (r == 0)
		r = meta_write(v->meta, lfalloc_txn, &a);
	pthread_mutex_unlock(&f->vn->io_lock);
	if (r == 0)
		notice(v, f->vn->ino, 0, NULL);
	if (r == 0 && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		layout_kick_gc(v->layout);
	return r;
}

/*
 * Allocation (mode 0, KEEP_SIZE, ZERO_RANGE) marks every hole in the
 * range as allocated, so st_blocks and statfs count the space once and a
 * later write into it does not grow them; a range larger than the free
 * space answers ENOSPC before anything changes.  The store reserves no
 * disk for the marks: they say "allocated", the space check is made now.
 * COLLAPSE_RANGE, INSERT_RANGE and UNSHARE_RANGE never reach a FUSE
 * filesystem (the kernel answers EOPNOTSUPP itself).
 */
int vfs_fallocate(struct vfs *v, const struct vfs_ctx *c, struct vfs_file *f,
		  int mode, off_t off, off_t len)
{
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
		     FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EINVAL;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	if (end > META_MAX_FILE_SIZE || end < (uint64_t)off)
		return -EFBIG;
	if (v->layout)
		return fallocate_layout(v, c, f, mode, (uint64_t)off, (uint64_t)len);
	struct falloc_args a = {v, f->vn->ino, mode, (uint64_t)off, (uint64_t)len};
	pthread_mutex_lock(&f->vn->io_lock);
	int r = flush_locked(v, f->vn);
	struct meta_inode in;
	if (r == 0 && c && c->uid != 0 && (r = load_inode(v, f->vn->ino, &in)) == 0)
		r = drop_sgid(v, c, &in);
	if (r == 0 && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		uint64_t lo = (uint64_t)off / v->bs, hi = (end + v->bs - 1) / v->bs;
		uint64_t total, avail;
		a.lo = lo;
		a.hi = hi;
		if ((r = meta_read(v->meta, holes_txn, &a)) == 0 &&
		    store_space(meta_store(v->meta), &total, &avail) == 0 &&
		    (hi - lo - a.idx.n) * (uint64_t)v->bs > avail)
			r = -ENOSPC;
		for (uint64_t c = lo; r == 0 && c < hi; c += FALLOC_CHUNK) {
			a.lo = c;
			a.hi = hi - c > FALLOC_CHUNK ? c + FALLOC_CHUNK : hi;
			r = meta_write(v->meta, alloc_txn, &a);
		}
	}
	if (r == 0)
		r = meta_write(v->meta, falloc_txn, &a);
	pthread_mutex_unlock(&f->vn->io_lock);
	u64vec_free(&a.idx);
	if (r == 0)
		notice(v, f->vn->ino, 0, NULL);
	return r;
}

/* ---- copy_file_range: the bytes stay in the daemon ---- */

struct copy_args {
	struct vfs *v;
	uint64_t in_ino, out_ino;
	uint64_t off_in, off_out, len; /* this chunk */
	uint8_t *blk;                  /* block_size scratch */
};

/* Bytes [off, off + n) of ino (n <= 2 blocks' worth) into dst; holes and
 * the ends of short blocks read as zeros. */
static int read_bytes(struct store_txn *t, uint32_t bs, uint64_t ino,
		      uint64_t off, uint8_t *dst, size_t n)
{
	for (size_t pos = 0; pos < n;) {
		uint64_t o = off + pos, idx = o / bs;
		uint32_t in_blk = (uint32_t)(o % bs);
		size_t k = bs - in_blk < n - pos ? bs - in_blk : n - pos;
		const void *d = NULL;
		size_t len = 0;
		int r = meta_block_get(t, ino, idx, &d, &len);
		if (r < 0 && r != -ENOENT)
			return r;
		size_t have = r == 0 && len > in_blk ? len - in_blk : 0;
		if (have > k)
			have = k;
		if (have)
			memcpy(dst + pos, (const uint8_t *)d + in_blk, have);
		memset(dst + pos + have, 0, k - have);
		pos += k;
	}
	return 0;
}

static int copy_txn(struct store_txn *t, void *arg)
{
	struct copy_args *a = arg;
	struct meta_inode out;
	uint32_t bs = a->v->bs;
	int r = meta_inode_get(t, a->out_ino, &out);
	if (r < 0)
		return r;
	for (uint64_t pos = 0; pos < a->len;) {
		uint64_t o = a->off_out + pos, idx = o / bs;
		uint32_t in_blk = (uint32_t)(o % bs);
		size_t k = bs - in_blk < a->len - pos ? bs - in_blk : (size_t)(a->len - pos);
		/* the destination block as it is, the source bytes over it */
		if (k < bs && (r = read_bytes(t, bs, out.ino, idx * bs, a->blk, bs)) < 0)
			return r;
		if ((r = read_bytes(t, bs, a->in_ino, a->off_in + pos, a->blk + in_blk, k)) < 0 ||
		    (r = meta_block_put(t, &out, idx, a->blk, bs)) < 0)
			return r;
		pos += k;
	}
	if (a->off_out + a->len > out.size)
		out.size = a->off_out + a->len;
	out.mtime = out.ctime = now_ts();
	return meta_inode_put(t, &out);
}

/* Bytes copied per transaction, and per request at most. */
#define COPY_CHUNK_BLOCKS 64
#define COPY_MAX (1ll << 30)

/* With a data tier: the destination's slices point at the source's
 * objects (their references counted); no byte is read or written. */
static int lcopy_txn(struct store_txn *t, void *arg)
{
	struct copy_args *a = arg;
	struct meta_inode src, out;
	int r = get_node(t, a->in_ino, &src);
	if (r < 0 || (r = get_node(t, a->out_ino, &out)) < 0)
		return r;
	if ((r = layout_copy_txn(t, a->v->layout, &src, a->off_in, &out,
				 a->off_out, a->len)) < 0)
		return r;
	if (a->off_out + a->len > out.size)
		out.size = a->off_out + a->len;
	out.mtime = out.ctime = now_ts();
	return meta_inode_put(t, &out);
}

ssize_t vfs_copy_range(struct vfs *v, const struct vfs_ctx *ctx,
		       struct vfs_file *fin, off_t off_in, struct vfs_file *fout,
		       off_t off_out, size_t len)
{
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	struct vnode *a = fin->vn, *b = fout->vn;
	if (a == b && (uint64_t)off_in < (uint64_t)off_out + len &&
	    (uint64_t)off_out < (uint64_t)off_in + len)
		return -EINVAL; /* overlapping ranges of one file */
	if (len > COPY_MAX)
		len = COPY_MAX;
	/* both io_locks, in inode order: no new writes meanwhile */
	struct vnode *first = a->ino <= b->ino ? a : b, *second = first == a ? b : a;
	pthread_mutex_lock(&first->io_lock);
	if (second != first)
		pthread_mutex_lock(&second->io_lock);
	struct meta_inode src;
	ssize_t done = 0;
	int r = flush_locked(v, a);
	if (r == 0 && b != a)
		r = flush_locked(v, b);
	struct meta_inode dst;
	if (r == 0 && ctx && ctx->uid != 0 && (r = load_inode(v, b->ino, &dst)) == 0)
		r = drop_sgid(v, ctx, &dst);
	if (r == 0)
		r = load_inode(v, a->ino, &src);
	uint64_t n = 0;
	if (r == 0 && (uint64_t)off_in < src.size)
		n = src.size - (uint64_t)off_in < len ? src.size - (uint64_t)off_in : len;
	if (r == 0 && (uint64_t)off_out + n > META_MAX_FILE_SIZE)
		r = -EFBIG;
	struct copy_args c = {v, a->ino, b->ino};
	if (v->layout && r == 0 && n) {
		c.off_in = (uint64_t)off_in;
		c.off_out = (uint64_t)off_out;
		c.len = n;
		if ((r = meta_write(v->meta, lcopy_txn, &c)) == 0)
			done = (ssize_t)n;
	}
	if (!v->layout && r == 0 && n && !(c.blk = malloc(v->bs)))
		r = -ENOMEM;
	while (r == 0 && (uint64_t)done < n) {
		/* end each chunk on a destination block boundary */
		uint64_t o = (uint64_t)off_out + (uint64_t)done;
		uint64_t room = (uint64_t)COPY_CHUNK_BLOCKS * v->bs - o % v->bs;
		c.off_in = (uint64_t)off_in + (uint64_t)done;
		c.off_out = o;
		c.len = n - (uint64_t)done < room ? n - (uint64_t)done : room;
		if ((r = meta_write(v->meta, copy_txn, &c)) == 0)
			done += (ssize_t)c.len;
	}
	free(c.blk);
	if (second != first)
		pthread_mutex_unlock(&second->io_lock);
	pthread_mutex_unlock(&first->io_lock);
	if (done)
		notice(v, b->ino, 0, NULL);
	log_debug("copy_file_range: %zd bytes from inode %llu to inode %llu in the store",
		  done, (unsigned long long)a->ino, (unsigned long long)b->ino);
	return done > 0 ? done : r;
}

/* ---- directories ---- */

/*
 * A listing is gathered inside the read transaction and handed to fill()
 * only after it: the store may run the transaction body again (a conflict
 * with another mount's change of the directory), and everything gathered
 * by an earlier run is then thrown away.  Handing entries to the caller
 * from inside the body would repeat them in the reply.
 */
struct dirent_rec {
	struct vfs_entry e;
	off_t next_off;
	uint8_t name_len;
	char name[META_NAME_MAX + 1];
};

struct readdir_args {
	struct vfs *v;
	uint64_t ino;
	uint64_t off;
	int plus;
	size_t max;             /* entries the reply can hold at most */
	struct store_txn *t;
	struct dirent_rec *ents; /* gathered by the current run */
	size_t n;
	int touch_atime;
};

static struct dirent_rec *readdir_add(struct readdir_args *a, const char *name,
				      size_t len, off_t next_off)
{
	if (a->n >= a->max)
		return NULL;
	struct dirent_rec *d = &a->ents[a->n++];
	memset(&d->e, 0, sizeof(d->e));
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->name_len = (uint8_t)len;
	d->next_off = next_off;
	return d;
}

static int readdir_entry(void *arg, const char *name, size_t len, uint64_t ino,
			 uint8_t type, uint64_t cookie)
{
	struct readdir_args *a = arg;
	if (a->n >= a->max)
		return 1;
	struct dirent_rec *d = readdir_add(a, name, len, (off_t)(cookie + 1));
	d->e.ino = ino;
	d->e.attr.st_ino = ino;
	d->e.attr.st_mode = (mode_t)type << 12;
	return 0;
}

/* readdirplus: the attributes of entries [from, a->n) in one batched
 * read; an entry whose inode is gone (removed by a concurrent change, or
 * dangling) is dropped. */
static int readdir_attrs(struct readdir_args *a, size_t from)
{
	size_t n = a->n - from, m = from;
	uint64_t *inos = malloc(n * sizeof(*inos));
	struct meta_inode *in = malloc(n * sizeof(*in));
	int *res = malloc(n * sizeof(*res));
	int r = inos && in && res ? 0 : -ENOMEM;
	for (size_t i = 0; !r && i < n; i++)
		inos[i] = a->ents[from + i].e.ino;
	if (!r)
		r = meta_inode_get_many(a->t, n, inos, in, res);
	for (size_t i = 0; !r && i < n; i++) {
		if (res[i])
			continue;
		if (m != from + i)
			a->ents[m] = a->ents[from + i];
		to_stat(a->v, &in[i], &a->ents[m++].e.attr);
	}
	if (!r)
		a->n = m;
	free(inos);
	free(in);
	free(res);
	return r;
}

static int readdir_txn(struct store_txn *t, void *arg)
{
	struct readdir_args *a = arg;
	struct meta_inode dir;
	int r = get_node(t, a->ino, &dir);
	if (r < 0)
		return r;
	if (!S_ISDIR(dir.mode))
		return -ENOTDIR;
	a->touch_atime = needs_atime(a->v, &dir);
	a->t = t;
	a->n = 0; /* a run after a conflict starts over */
	uint64_t off = a->off;
	/* "." and ".." come first, at offsets 0 and 1 (ino 0: no lookup). */
	if (off == 0) {
		struct dirent_rec *d = readdir_add(a, ".", 1, 1);
		if (!d)
			return 0;
		d->e.attr.st_ino = a->ino;
		d->e.attr.st_mode = S_IFDIR;
		off = 1;
	}
	if (off == 1) {
		struct dirent_rec *d = readdir_add(a, "..", 2, 2);
		if (!d)
			return 0;
		d->e.attr.st_ino = dir.parent ? dir.parent : a->ino;
		d->e.attr.st_mode = S_IFDIR;
		off = 2;
	}
	if (dir.nlink == 0)
		return 0;
	for (off = off < 3 ? 3 : off;;) {
		size_t from = a->n;
		if ((r = meta_dir_scan(t, a->ino, off, readdir_entry, a)) < 0)
			return r;
		if (!a->plus || a->n == from)
			return 0;
		int full = a->n >= a->max;
		off = (uint64_t)a->ents[a->n - 1].next_off;
		if ((r = readdir_attrs(a, from)) < 0)
			return r;
		/* entries were dropped from a full reply: fill it up */
		if (!full || a->n >= a->max)
			return 0;
	}
}

int vfs_readdir(struct vfs *v, uint64_t ino, off_t off, int plus,
		size_t max_entries, vfs_fill_fn fill, void *arg)
{
	if (max_entries == 0)
		return 0;
	if (max_entries > 4096)
		max_entries = 4096;
	struct readdir_args a = {v, ino, (uint64_t)off, plus, max_entries};
	a.ents = malloc(max_entries * sizeof(*a.ents));
	if (!a.ents)
		return -ENOMEM;
	/* Entries added or removed during a listing may or may not show
	 * (POSIX); each entry and its attributes are read atomically, and
	 * the hash cookies keep offsets valid, so the listing need not be
	 * validated: it never conflicts with changes elsewhere. */
	int r = meta_read_live(v->meta, readdir_txn, &a);
	if (r == 0 && off == 0 && a.touch_atime)
		meta_write(v->meta, touch_atime_txn, &ino);
	for (size_t i = 0; r == 0 && i < a.n; i++) {
		struct dirent_rec *d = &a.ents[i];
		if (fill(arg, d->name, &d->e, d->next_off))
			break;
		/* a readdirplus entry taken by the reply counts as a lookup */
		if (plus && d->e.ino)
			add_lookup(v, d->e.ino);
	}
	free(a.ents);
	return r;
}

int vfs_opendir(struct vfs *v, uint64_t ino, struct vfs_file **f)
{
	struct meta_inode in;
	int r = load_inode(v, ino, &in);
	if (r < 0)
		return r;
	if (!S_ISDIR(in.mode))
		return -ENOTDIR;
	*f = file_new(v, ino, O_RDONLY);
	return *f ? 0 : -ENOMEM;
}

int vfs_releasedir(struct vfs *v, struct vfs_file *f)
{
	close_vnode(v, f->vn);
	free(f);
	return 0;
}

/* ---- statfs, access ---- */

struct usage_args {
	uint64_t inodes, blocks;
};

static int usage_txn(struct store_txn *t, void *arg)
{
	struct usage_args *a = arg;
	return meta_usage(t, &a->inodes, &a->blocks, NULL);
}

int vfs_statfs(struct vfs *v, struct statvfs *st)
{
	struct usage_args u;
	uint64_t total, avail;
	int r = meta_read(v->meta, usage_txn, &u);
	if (r < 0)
		return r;
	if (store_space(meta_store(v->meta), &total, &avail) < 0) {
		total = 1ull << 50; /* the engine cannot tell: a large figure */
		avail = total - u.blocks * v->bs;
	}
	memset(st, 0, sizeof(*st));
	st->f_bsize = v->bs;
	st->f_frsize = v->bs;
	uint64_t used = u.blocks;
	st->f_bfree = st->f_bavail = avail / v->bs;
	st->f_blocks = total / v->bs;
	if (st->f_blocks < used + st->f_bfree)
		st->f_blocks = used + st->f_bfree;
	/* Inodes cost a few hundred bytes: estimate what still fits. */
	st->f_ffree = st->f_favail = avail / 512;
	st->f_files = u.inodes + st->f_ffree;
	st->f_namemax = META_NAME_MAX;
	const char *uuid = meta_super(v->meta)->uuid;
	st->f_fsid = meta_name_cookie(uuid, strlen(uuid));
	return 0;
}

int vfs_access(struct vfs *v, const struct vfs_ctx *c, uint64_t ino, int mask)
{
	struct meta_inode in;
	int r = load_inode(v, ino, &in);
	if (r < 0 || mask == F_OK)
		return r;
	if (c->uid == 0) {
		if ((mask & X_OK) && !S_ISDIR(in.mode) && !(in.mode & 0111))
			return -EACCES;
		return 0;
	}
	int bits;
	if (c->uid == in.uid)
		bits = (in.mode >> 6) & 7;
	else if (in_group(c, in.gid))
		bits = (in.mode >> 3) & 7;
	else
		bits = in.mode & 7;
	return (bits & mask) == mask ? 0 : -EACCES;
}

/* ---- extended attributes ---- */

static int check_xattr_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -EINVAL;
	if (n > META_XATTR_NAME_MAX)
		return -ERANGE;
	/* The kernel passes every name through: enforce the namespaces. */
	static const char *const spaces[] = {"user.", "trusted.", "security."};
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(spaces[i]);
		if (!strncmp(name, spaces[i], l))
			return n == l ? -EINVAL : 0;
	}
	if (acl_is_name(name))
		return 0;
	/* other system.* names and unknown spaces are not supported */
	return -EOPNOTSUPP;
}

struct xattr_args {
	uint64_t ino;
	const char *name;
	const void *val;
	size_t size;
	int flags;
	void *buf;
	size_t got;
};

static int setxattr_txn(struct store_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_inode in;
	const void *old;
	size_t len;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	r = meta_xattr_get(t, a->ino, a->name, &old, &len);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && (a->flags & XATTR_CREATE))
		return -EEXIST;
	if (r == -ENOENT && (a->flags & XATTR_REPLACE))
		return -ENODATA;
	if ((r = meta_xattr_put(t, a->ino, a->name, a->val, a->size)) < 0)
		return r;
	in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

int vfs_setxattr(struct vfs *v, uint64_t ino, const char *name,
		 const void *val, size_t size, int flags)
{
	int r = check_xattr_name(name);
	if (r < 0)
		return r;
	if (size > META_XATTR_SIZE_MAX)
		return -E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (acl_is_name(name)) {
		if (!v->acl)
			return -EOPNOTSUPP; /* -o noacl, or a kernel without them */
		/* an empty default ACL is a removal; an access ACL never is */
		if ((r = acl_check(val, size, strcmp(name, ACL_XATTR_ACCESS) != 0)) < 0)
			return r;
		struct setacl_args sa = {ino, name, val, size, flags};
		return meta_write(v->meta, setacl_txn, &sa);
	}
	struct xattr_args a = {ino, name, val, size, flags};
	return meta_write(v->meta, setxattr_txn, &a);
}

static int getxattr_txn(struct store_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	const void *val;
	size_t len;
	int r = meta_xattr_get(t, a->ino, a->name, &val, &len);
	if (r == -ENOENT) {
		struct meta_inode in;
		r = get_node(t, a->ino, &in);
		return r < 0 ? r : -ENODATA;
	}
	if (r < 0)
		return r;
	a->got = len;
	if (a->size == 0)
		return 0;
	if (len > a->size)
		return -ERANGE;
	memcpy(a->buf, val, len);
	return 0;
}

ssize_t vfs_getxattr(struct vfs *v, uint64_t ino, const char *name, void *buf,
		     size_t size)
{
	int r = check_xattr_name(name);
	if ((r == -EOPNOTSUPP && !strncmp(name, "system.", 7)) ||
	    (!v->acl && acl_is_name(name)))
		return -ENODATA; /* no ACL: tools then fall back to the mode */
	if (r < 0)
		return r;
	struct xattr_args a = {ino, name, NULL, size, 0, buf};
	r = meta_read_cached(v->meta, getxattr_txn, &a);
	return r < 0 ? r : (ssize_t)a.got;
}

static int listxattr_txn(struct store_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_inode in;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	return meta_xattr_list(t, a->ino, a->buf, a->size, &a->got);
}

ssize_t vfs_listxattr(struct vfs *v, uint64_t ino, char *buf, size_t size)
{
	struct xattr_args a = {ino, NULL, NULL, size, 0, buf};
	int r = meta_read(v->meta, listxattr_txn, &a);
	return r < 0 ? r : (ssize_t)a.got;
}

static int removexattr_txn(struct store_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_inode in;
	const void *old;
	size_t len;
	int r = get_node(t, a->ino, &in);
	if (r < 0)
		return r;
	r = meta_xattr_get(t, a->ino, a->name, &old, &len);
	if (r == -ENOENT)
		return -ENODATA;
	if (r < 0 || (r = meta_xattr_del(t, a->ino, a->name)) < 0)
		return r;
	in.ctime = now_ts();
	return meta_inode_put(t, &in);
}

int vfs_removexattr(struct vfs *v, uint64_t ino, const char *name)
{
	int r = check_xattr_name(name);
	if ((r == -EOPNOTSUPP && !strncmp(name, "system.", 7)) ||
	    (!v->acl && acl_is_name(name)))
		return -ENODATA;
	if (r < 0)
		return r;
	struct xattr_args a = {ino, name};
	return meta_write(v->meta, removexattr_txn, &a);
}

/* ---- what the kernel caches; change notices ---- */

void vfs_cache_policy(struct vfs *v, const struct vfs_cache *asked,
		      struct vfs_cache *out)
{
	static const char *const what[] = {"attr_timeout", "entry_timeout",
					   "negative_timeout"};
	double def[3] = {60, 60, 60}, cap[3] = {-1, -1, -1};
	const double in[3] = {asked->attr_timeout, asked->entry_timeout,
			      asked->negative_timeout};
	double res[3];
	int tracked = v->shared &&
		      store_tracking(meta_store(v->meta)) != STORE_TRACK_NONE;
	if (v->shared) {
		/*
		 * Attributes are not cached by default, so a file closed on
		 * another host is read whole here at once (reading past a
		 * cached size would end early); names live 1 s and are
		 * dropped sooner by change notices; "no such name" is not
		 * cached, so a file created elsewhere is found at once.
		 * A store whose cache the server keeps up to date tells of
		 * every inode anyone changes (server-side adds to a parent's
		 * link count and times included): then attributes may be
		 * cached as long as asked, each change dropping them here
		 * (on_store_change), and open drops them too (close-to-open).
		 */
		def[0] = 0, def[1] = 1, def[2] = 0;
		cap[0] = tracked ? -1 : 0, cap[1] = 1, cap[2] = 0;
	}
	for (int i = 0; i < 3; i++) {
		res[i] = in[i] < 0 ? def[i] : in[i];
		if (cap[i] >= 0 && res[i] > cap[i]) {
			log_warn("%s=%g refused: other mounts share this "
				 "filesystem, so the kernel may cache this for "
				 "%g s at most (coherence between mounts)",
				 what[i], res[i], cap[i]);
			res[i] = cap[i];
		}
	}
	out->attr_timeout = res[0];
	out->entry_timeout = res[1];
	out->negative_timeout = res[2];
	out->keep_cache = !v->shared;
	v->attr_cached = v->shared && res[0] > 0;
	if (v->attr_cached)
		log_info("attributes cached for %g s; changes made by other mounts "
			 "drop them as the store tells of them", res[0]);
}

double vfs_attr_timeout(struct vfs *v, const struct vfs_cache *c)
{
	/* while changes may be missed, nothing new is cached */
	if (v->attr_cached &&
	    store_tracking(meta_store(v->meta)) != STORE_TRACK_UP)
		return 0;
	return c->attr_timeout;
}

/* Drop the kernel's attributes of every inode it may hold. */
static void inval_all_attrs(struct vfs *v, const struct vfs_kernel *k)
{
	size_t n = 0, cap = 64;
	uint64_t *inos = malloc(cap * sizeof(*inos));
	if (!inos)
		return;
	inos[n++] = META_ROOT_INO;
	pthread_mutex_lock(&v->table_lock);
	for (size_t b = 0; b < TABLE_SIZE; b++)
		for (struct vnode *vn = v->table[b]; vn; vn = vn->next) {
			if (vn->ino == META_ROOT_INO)
				continue;
			if (n == cap) {
				uint64_t *m = realloc(inos, 2 * cap * sizeof(*inos));
				if (!m)
					goto full;
				inos = m;
				cap *= 2;
			}
			inos[n++] = vn->ino;
		}
full:
	pthread_mutex_unlock(&v->table_lock);
	for (size_t i = 0; i < n; i++)
		k->inval_attr(k->arg, inos[i]);
	free(inos);
}

/*
 * The store tells of a row that changed (on its own thread, not a request
 * handler): the kernel's attributes of that inode go, wherever the change
 * came from — another mount's commit or the commit function's own adds
 * to a directory's link count and times.  fam < 0: changes may have been
 * missed; every inode's attributes go.
 */
static void on_store_change(void *arg, int fam, uint64_t row)
{
	struct vfs *v = arg;
	if (!v->attr_cached || (fam >= 0 && fam != STORE_INODE))
		return;
	pthread_rwlock_rdlock(&v->kernel_lock);
	const struct vfs_kernel *k =
		v->kernel_set && v->kernel.inval_attr ? &v->kernel : NULL;
	if (k && fam < 0) {
		inval_all_attrs(v, k);
	} else if (k) {
		pthread_mutex_lock(&v->table_lock);
		int known = row == META_ROOT_INO || find_locked(v, row);
		pthread_mutex_unlock(&v->table_lock);
		if (known)
			k->inval_attr(k->arg, row);
	}
	pthread_rwlock_unlock(&v->kernel_lock);
}

/*
 * A notice from another mount, on the coordinator's thread (never a
 * request handler: invalidating from one can deadlock the mount).
 */
static void on_notice(void *arg, uint64_t ino, uint64_t parent,
		      const char *name, size_t name_len)
{
	struct vfs *v = arg;
	pthread_rwlock_rdlock(&v->kernel_lock);
	const struct vfs_kernel *k = v->kernel_set ? &v->kernel : NULL;
	if (!k) {
		/* unmounting: nothing is cached any more */
	} else if (!ino && !parent) {
		log_info("change notices were lost; cached names expire within "
			 "1 s");
	} else {
		if (ino)
			k->inval_inode(k->arg, ino);
		if (parent && name && name_len)
			k->inval_entry(k->arg, parent, name, name_len);
	}
	pthread_rwlock_unlock(&v->kernel_lock);
}

int vfs_watch(struct vfs *v, const struct vfs_kernel *k)
{
	pthread_rwlock_wrlock(&v->kernel_lock);
	int first = !v->watching && k;
	if (k)
		v->kernel = *k;
	v->kernel_set = k != NULL;
	pthread_rwlock_unlock(&v->kernel_lock);
	if (first && v->attr_cached &&
	    store_watch(meta_store(v->meta), on_store_change, v) == 0)
		v->store_watching = 1;
	if (!first || !v->coord || !coord_has_notices(v->coord))
		return 0;
	v->watching = 1;
	int r = coord_watch(v->coord, on_notice, v);
	if (r < 0)
		log_warn("cannot watch for changes made by other mounts (%s); "
			 "cached names expire within 1 s", strerror(-r));
	return r;
}

/* ---- record locks and flock across mounts ---- */

int vfs_has_locks(const struct vfs *v)
{
	return v->coord && coord_has_plocks(v->coord);
}

static void to_plock(uint64_t ino, const struct vfs_lock *l,
		     struct coord_plock *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->ino = ino;
	pl->owner = l->owner;
	pl->start = l->start;
	pl->end = l->end;
	pl->type = l->type;
	pl->pid = l->pid;
	pl->flock = l->flock;
}

/* Drop every lock of owner on ino (close drops POSIX locks, the last
 * release of an open file drops its flock). */
static void unlock_owner(struct vfs *v, uint64_t ino, uint64_t owner,
			 int flock)
{
	struct coord_plock pl = {.ino = ino, .owner = owner, .start = 0,
				 .end = UINT64_MAX, .type = F_UNLCK,
				 .flock = flock};
	int r = coord_plock_set(v->coord, &pl, 0);
	if (r < 0)
		log_warn("cannot release locks on inode %llu: %s",
			 (unsigned long long)ino, strerror(-r));
}

int vfs_getlk(struct vfs *v, uint64_t ino, struct vfs_lock *l)
{
	struct coord_plock pl;
	to_plock(ino, l, &pl);
	int r = coord_plock_get(v->coord, &pl);
	if (r < 0)
		return r;
	l->type = pl.type;
	if (pl.type != F_UNLCK) {
		l->start = pl.start;
		l->end = pl.end;
		l->pid = pl.pid;
	}
	return 0;
}

/*
 * A lock wait runs on a thread of its own, so that any number of
 * F_SETLKW / flock waiters never occupy the adapter's request threads
 * (with as many waiters as request threads the mount would hang).
 */
#define VFS_MAX_LOCK_WAITS 4096

struct lock_wait {
	struct vfs *v;
	struct coord_plock pl;
	vfs_lock_done_fn done;
	void *arg;
	int cancelled; /* v->waits_lock */
	struct lock_wait *next;
};

static void *lock_wait_main(void *arg)
{
	struct lock_wait *w = arg;
	struct vfs *v = w->v;
	pthread_mutex_lock(&v->waits_lock);
	int early = w->cancelled;
	pthread_mutex_unlock(&v->waits_lock);
	int r = early ? -EINTR : coord_plock_set(v->coord, &w->pl, 1);
	pthread_mutex_lock(&v->waits_lock);
	int cancelled = w->cancelled;
	pthread_mutex_unlock(&v->waits_lock);
	if (cancelled) {
		if (r == 0) { /* granted as the waiter gave up: give it back */
			w->pl.type = F_UNLCK;
			coord_plock_set(v->coord, &w->pl, 0);
		}
		r = -EINTR;
	}
	w->done(w->arg, r);
	pthread_mutex_lock(&v->waits_lock);
	for (struct lock_wait **p = &v->waits; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	v->nwaits--;
	pthread_cond_broadcast(&v->waits_cond);
	pthread_mutex_unlock(&v->waits_lock);
	free(w);
	return NULL;
}

int vfs_setlk(struct vfs *v, uint64_t ino, const struct vfs_lock *l, int wait,
	      vfs_lock_done_fn done, void *arg)
{
	struct coord_plock pl;
	to_plock(ino, l, &pl);
	int r = coord_plock_set(v->coord, &pl, 0);
	if (r != -EAGAIN || !wait || pl.type == F_UNLCK)
		return r;
	struct lock_wait *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOLCK;
	*w = (struct lock_wait){v, pl, done, arg};
	pthread_mutex_lock(&v->waits_lock);
	if (v->nwaits >= VFS_MAX_LOCK_WAITS || v->waits_closed) {
		pthread_mutex_unlock(&v->waits_lock);
		free(w);
		return -ENOLCK;
	}
	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	w->next = v->waits;
	v->waits = w;
	v->nwaits++;
	r = pthread_create(&th, &attr, lock_wait_main, w);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		v->waits = w->next;
		v->nwaits--;
		pthread_mutex_unlock(&v->waits_lock);
		free(w);
		return -ENOLCK;
	}
	pthread_mutex_unlock(&v->waits_lock);
	return VFS_PENDING;
}

static int mark_cancelled(struct vfs *v, uint64_t ino, uint64_t owner)
{
	int found = 0;
	pthread_mutex_lock(&v->waits_lock);
	for (struct lock_wait *w = v->waits; w; w = w->next)
		if (w->pl.ino == ino && w->pl.owner == owner) {
			w->cancelled = 1;
			found = 1;
		}
	pthread_mutex_unlock(&v->waits_lock);
	return found;
}

void vfs_lock_cancel(struct vfs *v, uint64_t ino, uint64_t owner)
{
	/* The waiter may not have reached the coordinator yet (the
	 * coordinator then knows no wait to end): try again for a while. */
	for (int i = 0; i < 200 && mark_cancelled(v, ino, owner); i++) {
		if (coord_plock_cancel(v->coord, ino, owner) == 0)
			break;
		usleep(5000);
	}
}

void vfs_end_lock_waits(struct vfs *v)
{
	pthread_mutex_lock(&v->waits_lock);
	v->waits_closed = 1;
	while (v->nwaits) {
		struct u64vec ids = {0};
		for (struct lock_wait *w = v->waits; w; w = w->next) {
			w->cancelled = 1;
			if (u64vec_push(&ids, w->pl.ino) < 0 ||
			    u64vec_push(&ids, w->pl.owner) < 0)
				break;
		}
		pthread_mutex_unlock(&v->waits_lock);
		for (size_t i = 0; i + 1 < ids.n; i += 2)
			coord_plock_cancel(v->coord, ids.v[i], ids.v[i + 1]);
		u64vec_free(&ids);
		pthread_mutex_lock(&v->waits_lock);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (v->nwaits)
			pthread_cond_timedwait(&v->waits_cond, &v->waits_lock,
					       &until);
	}
	pthread_mutex_unlock(&v->waits_lock);
}

/* ---- mount sessions ---- */

/*
 * Every mount has a record in the store (STORE_SESSION) under a random
 * session id that its coordinator registration carries too.  The record is
 * refreshed every VFS_KEEPER_PERIOD seconds, so that tools that see only the
 * store (mkfs --force, status) know a live mount; and each live mount's
 * keeper compares the records with the coordinator's list of live
 * sessions: a record whose session has ended (a mount that crashed or lost
 * its coordination session) has its holds dropped, and the inodes that
 * only it held open, unlinked meanwhile, are reclaimed.
 */
#define VFS_KEEPER_PERIOD 5

static int session_record_txn(struct store_txn *t, void *arg)
{
	struct vfs *v = arg;
	char rec[2048];
	v->mount.seen = (int64_t)time(NULL);
	/* the fence an online `cassafs gc` sweeps below */
	if (v->layout) {
		int r = layout_floor_txn(t, v->layout, &v->mount.floor);
		if (r < 0)
			return r;
	}
	int n = coord_format_mount_info(rec, sizeof(rec), &v->mount);
	if (n < 0 || (size_t)n >= sizeof(rec))
		return -ENAMETOOLONG;
	return meta_session_put(t, v->session_id, rec, (size_t)n);
}

static int session_del_txn(struct store_txn *t, void *arg)
{
	return meta_session_del(t, *(uint64_t *)arg);
}

static int collect_session(void *arg, uint64_t id, const char *rec, size_t len)
{
	return u64vec_push(arg, id);
}

static int list_sessions_txn(struct store_txn *t, void *arg)
{
	struct u64vec *ids = arg;
	ids->n = 0; /* the body may run again */
	return meta_session_scan(t, collect_session, ids);
}

static int collect_live(void *arg, const struct coord_mount_info *mi)
{
	return mi->id ? u64vec_push(arg, mi->id) : 0;
}

static int collect_ino(void *arg, uint64_t ino)
{
	return u64vec_push(arg, ino);
}

struct held_args {
	uint64_t id;
	struct u64vec inos;
};

static int list_held_txn(struct store_txn *t, void *arg)
{
	struct held_args *a = arg;
	a->inos.n = 0;
	return meta_session_held_scan(t, a->id, collect_ino, &a->inos);
}

/* Drop every hold of the ended session id and then its record. */
static int reap_session(struct vfs *v, uint64_t id, uint64_t *purged)
{
	struct held_args h = {id};
	int r = meta_read(v->meta, list_held_txn, &h);
	for (size_t i = 0; r >= 0 && i < h.inos.n; i++) {
		struct hold_args a = {h.inos.v[i], id};
		if ((r = meta_write(v->meta, unhold_txn, &a)) == 1)
			(*purged)++;
	}
	u64vec_free(&h.inos);
	if (r >= 0)
		r = meta_write(v->meta, session_del_txn, &id);
	return r < 0 ? r : 0;
}

static int has_id(const struct u64vec *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return 1;
	return 0;
}

/*
 * Reap the records of sessions that the coordinator no longer lists.  The
 * records are read before the coordinator is asked: a mount registers with
 * the coordinator before it writes its record, so a record read here
 * belongs to a session that the later listing shows if it is alive.  If
 * the coordinator cannot list its mounts, nothing is reaped.
 */
int vfs_reap_sessions(struct vfs *v, uint64_t *sessions, uint64_t *purged)
{
	struct u64vec recs = {0}, live = {0};
	*sessions = *purged = 0;
	int r = meta_read(v->meta, list_sessions_txn, &recs);
	if (r == 0 && recs.n)
		r = coord_list_mounts(v->coord, collect_live, &live);
	for (size_t i = 0; r == 0 && i < recs.n; i++) {
		uint64_t id = recs.v[i];
		if (id == v->session_id || has_id(&live, id))
			continue;
		if ((r = reap_session(v, id, purged)) == 0)
			(*sessions)++;
	}
	u64vec_free(&recs);
	u64vec_free(&live);
	return r;
}

static void keeper_round(struct vfs *v)
{
	uint64_t sessions, purged;
	int r = meta_write(v->meta, session_record_txn, v);
	if (r < 0)
		log_warn("cannot refresh this mount's record in the store: %s",
			 strerror(-r));
	if ((r = vfs_reap_sessions(v, &sessions, &purged)) < 0)
		log_warn("cannot check for mounts that ended: %s", strerror(-r));
	else if (sessions)
		log_info("%llu mount(s) ended without unmounting: their open "
			 "files released, %llu unlinked inode(s) reclaimed",
			 (unsigned long long)sessions, (unsigned long long)purged);
}

static void *keeper_main(void *arg)
{
	struct vfs *v = arg;
	pthread_mutex_lock(&v->keeper_lock);
	while (!v->keeper_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += VFS_KEEPER_PERIOD;
		while (!v->keeper_stop &&
		       pthread_cond_timedwait(&v->keeper_cond, &v->keeper_lock,
					      &until) != ETIMEDOUT)
			;
		if (v->keeper_stop)
			break;
		pthread_mutex_unlock(&v->keeper_lock);
		keeper_round(v);
		pthread_mutex_lock(&v->keeper_lock);
	}
	pthread_mutex_unlock(&v->keeper_lock);
	return NULL;
}

static uint64_t new_session_id(void)
{
	uint64_t id = 0;
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
			     (uint64_t)(uintptr_t)&id;
	return id;
}

int vfs_mount(struct vfs *v, const char *mountpoint, char *err, size_t err_len)
{
	coord_fill_mount_info(&v->mount, mountpoint);
	v->session_id = v->mount.id = new_session_id();
	int r = coord_register_mount(v->coord, &v->mount, err, err_len);
	if (r < 0)
		return r;
	if ((r = meta_write(v->meta, session_record_txn, v)) < 0) {
		snprintf(err, err_len, "cannot record the mount in the store: %s",
			 strerror(-r));
		return r;
	}
	uint64_t sessions, purged = 0, orphans = 0;
	if ((r = vfs_reap_sessions(v, &sessions, &purged)) < 0)
		log_warn("cannot check for mounts that ended (%s): unlinked "
			 "inodes they held stay until a later check",
			 strerror(-r));
	else if ((r = vfs_purge_orphans(v, &orphans)) < 0)
		log_warn("could not reclaim unlinked inodes: %s", strerror(-r));
	if (purged + orphans)
		log_info("reclaimed %llu inodes unlinked while open on mounts "
			 "that ended", (unsigned long long)(purged + orphans));
	pthread_mutex_lock(&v->keeper_lock);
	v->keeper_running = pthread_create(&v->keeper, NULL, keeper_main, v) == 0;
	pthread_mutex_unlock(&v->keeper_lock);
	if (v->layout && layout_start_gc(v->layout) < 0)
		log_warn("cannot start the data gc thread: unreferenced objects "
			 "stay until 'cassafs gc'");
	if (!v->keeper_running)
		log_warn("cannot start the mount keeper thread: this mount's "
			 "record is not refreshed");
	return 0;
}

/* Stop the keeper and remove this mount's record (every file is closed). */
static void session_end(struct vfs *v)
{
	pthread_mutex_lock(&v->keeper_lock);
	int running = v->keeper_running;
	v->keeper_stop = 1;
	v->keeper_running = 0;
	pthread_cond_broadcast(&v->keeper_cond);
	pthread_mutex_unlock(&v->keeper_lock);
	if (running)
		pthread_join(v->keeper, NULL);
	if (!v->session_id)
		return;
	/* holds left (files the kernel never released) go with the record */
	uint64_t purged = 0;
	int r = reap_session(v, v->session_id, &purged);
	if (r < 0)
		log_warn("cannot remove this mount's record from the store: %s "
			 "(the next mount removes it)", strerror(-r));
	v->session_id = 0;
}

/* ---- life cycle ---- */

static int list_orphans_txn(struct store_txn *t, void *arg)
{
	((struct u64vec *)arg)->n = 0; /* the body may run again */
	return meta_orphan_scan(t, collect_ino, arg);
}

int vfs_purge_orphans(struct vfs *v, uint64_t *purged)
{
	struct u64vec l = {0};
	int r = meta_read(v->meta, list_orphans_txn, &l);
	*purged = 0;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct purge_args a = {l.v[i]};
		r = meta_write(v->meta, purge_txn, &a);
		if (r == 1) /* else held open by a live mount, or linked */
			(*purged)++;
		if (r > 0)
			r = 0;
	}
	u64vec_free(&l);
	return r;
}

int vfs_new(struct meta *m, struct coord *c, const struct vfs_options *o,
	    struct vfs **out)
{
	char err[512];
	int r = vfs_new_why(m, c, o, out, err, sizeof(err));
	if (r < 0)
		log_error("%s", err);
	return r;
}

int vfs_new_why(struct meta *m, struct coord *c, const struct vfs_options *o,
		 struct vfs **out, char *why, size_t why_len)
{
	snprintf(why, why_len, "%s", strerror(ENOMEM));
	struct vfs *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->meta = m;
	v->coord = c;
	v->bs = meta_super(m)->block_size;
	v->opt = *o;
	/* Inode numbers are never reused, so one generation per filesystem
	 * keeps file handles valid for an inode's life; deriving it from the
	 * uuid makes a handle from an older filesystem at the same place
	 * stale instead of naming another file.  (The kernel knows the root
	 * as generation 0.) */
	const char *uuid = meta_super(m)->uuid;
	v->generation = (uint32_t)meta_name_cookie(uuid, strlen(uuid)) | 1;
	if (v->opt.max_dirty_per_file < v->bs)
		v->opt.max_dirty_per_file = v->bs;
	v->shared = c && coord_has_notices(c);
	if (meta_super(m)->migrating) {
		snprintf(why, why_len, "%s is being moved into the data tier %s: "
			 "run 'cassafs migrate-data' again to finish before "
			 "mounting", meta_store(m)->url, meta_super(m)->data_url);
		free(v);
		return -EBUSY;
	}
	if (o->cache_dir && !meta_super(m)->data_url[0]) {
		snprintf(why, why_len, "cache_dir: %s keeps file data in its "
			 "store (format 1, no data tier): a local read cache is "
			 "for the file, swift, s3 and ring tiers",
			 meta_store(m)->url);
		free(v);
		return -EINVAL;
	}
	if (meta_super(m)->data_url[0]) {
		char err[512];
		struct data_opts dopt = {.store = meta_store(m),
					 .secrets_file = o->data_secrets,
					 .cache_dir = o->cache_dir,
					 .cache_size = o->cache_size};
		int r = layout_open(m, meta_super(m)->data_url, &dopt, &v->layout,
				    err, sizeof(err));
		if (r < 0) {
			snprintf(why, why_len, "cannot open the data tier: %s", err);
			free(v);
			return r;
		}
	}
	pthread_mutex_init(&v->table_lock, NULL);
	pthread_mutex_init(&v->dirty_lock, NULL);
	pthread_mutex_init(&v->keeper_lock, NULL);
	pthread_cond_init(&v->keeper_cond, NULL);
	pthread_rwlock_init(&v->kernel_lock, NULL);
	pthread_mutex_init(&v->waits_lock, NULL);
	pthread_cond_init(&v->waits_cond, NULL);
	*out = v;
	return 0;
}

void vfs_free(struct vfs *v)
{
	if (!v)
		return;
	vfs_flush_all(v);
	session_end(v);
	if (v->store_watching) /* no call of on_store_change after this */
		store_watch(meta_store(v->meta), NULL, NULL);
	for (size_t b = 0; b < TABLE_SIZE; b++) {
		struct vnode *vn = v->table[b];
		while (vn) {
			struct vnode *next = vn->next;
			/* unmounted: the kernel's references are gone */
			if (vn->unlinked)
				purge_unlinked(v, vn->ino);
			for (size_t i = 0; i < vn->nblk; i++) {
				free(vn->blk[i].data);
				free(vn->blk[i].mask);
			}
			free(vn->blk);
			pthread_mutex_destroy(&vn->hold_lock);
			pthread_mutex_destroy(&vn->io_lock);
			pthread_mutex_destroy(&vn->attr_lock);
			free(vn);
			vn = next;
		}
	}
	layout_close(v->layout);
	pthread_mutex_destroy(&v->table_lock);
	pthread_mutex_destroy(&v->dirty_lock);
	pthread_mutex_destroy(&v->keeper_lock);
	pthread_cond_destroy(&v->keeper_cond);
	pthread_rwlock_destroy(&v->kernel_lock);
	pthread_mutex_destroy(&v->waits_lock);
	pthread_cond_destroy(&v->waits_cond);
	free(v);
}
