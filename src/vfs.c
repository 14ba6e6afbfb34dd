/*
 * vfs.c — POSIX rules on top of meta.
 *
 * Locking (outer to inner):
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
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

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

struct vfs {
	struct meta *meta;
	struct coord *coord;
	uint32_t bs;
	struct vfs_options opt;
	pthread_mutex_t table_lock;
	struct vnode *table[TABLE_SIZE];
	pthread_mutex_t dirty_lock;
	size_t dirty_total; /* dirty_lock */
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
 * Distributed mounts cache no attributes and no "no such name", so only
 * what their kernels do cache needs a notice: names that went away or
 * moved (unlink, rmdir, rename) and file data (write, truncate,
 * fallocate).  Creating a name or changing attributes needs none.
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
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return 1;
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

/* ---- lookup / getattr ---- */

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

int vfs_lookup(struct vfs *v, uint64_t parent, const char *name,
	       struct vfs_entry *e)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	struct lookup_args a = {v, parent, name, e};
	r = meta_read(v->meta, lookup_txn, &a);
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
	int r = meta_inode_get(t, a->ino, &a->in);
	if (r == 0 && a->st)
		to_stat(a->v, &a->in, a->st);
	return r;
}

int vfs_getattr(struct vfs *v, uint64_t ino, struct stat *st)
{
	struct getattr_args a = {v, ino, st};
	return meta_read(v->meta, getattr_txn, &a);
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

/* Lay the bytes written here over the block as the store has it now. */
static int merge_block(struct store_txn *t, struct vfs *v, uint64_t ino,
		       const struct dblock *b, uint8_t *out, size_t *len)
{
	const void *cur = NULL;
	size_t cur_len = 0;
	int r = meta_block_get(t, ino, b->idx, &cur, &cur_len);
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
	int r = meta_inode_get(t, a->vn->ino, &in);
	if (r == -ENOENT)
		return 0; /* deleted meanwhile: the data goes with it */
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

/* Write the buffered blocks of vn to the store; io_lock held. */
static int flush_locked(struct vfs *v, struct vnode *vn)
{
	if (!vn->nblk)
		return 0;
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
	for (size_t i = 0; i < vn->nblk; i++) {
		free(vn->blk[i].data);
		free(vn->blk[i].mask);
	}
	dirty_account(v, -(ssize_t)(vn->nblk * v->bs));
	vn->nblk = 0;
	pthread_mutex_lock(&vn->attr_lock);
	vn->dirty = 0;
	pthread_mutex_unlock(&vn->attr_lock);
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
	for (size_t b = 0; b < TABLE_SIZE; b++) {
		pthread_mutex_lock(&v->table_lock);
		struct vnode *list[256];
		size_t n = 0;
		for (struct vnode *vn = v->table[b]; vn && n < 256; vn = vn->next)
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
	uint64_t ino, idx;
	uint8_t *dst;
	uint32_t len;
};

static int read_block_txn(struct store_txn *t, void *arg)
{
	struct read_block_args *a = arg;
	const void *d;
	size_t len;
	int r = meta_block_get(t, a->ino, a->idx, &d, &len);
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
	uint8_t *data = calloc(1, v->bs), *mask = calloc(1, v->bs / 8);
	if (!data || !mask) {
		free(data);
		free(mask);
		return -ENOMEM;
	}
	struct read_block_args a = {vn->ino, idx, data, 0};
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

struct purge_args {
	uint64_t ino;
};

static int purge_txn(struct store_txn *t, void *arg)
{
	struct purge_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
	if (r == 0 && in.nlink == 0)
		r = meta_inode_purge(t, &in);
	else if (r == -ENOENT)
		r = 0;
	if (r < 0)
		return r;
	return meta_orphan_del(t, a->ino);
}

/* The last reference to an unlinked inode is gone: reclaim it. */
static void purge_unlinked(struct vfs *v, uint64_t ino)
{
	struct purge_args a = {ino};
	int e = meta_write(v->meta, purge_txn, &a);
	if (e < 0)
		log_error("cannot reclaim unlinked inode %llu: %s (fsck or the "
			  "next mount will)", (unsigned long long)ino, strerror(-e));
}

/* Drop one open reference (file or directory handle). */
static void close_vnode(struct vfs *v, struct vnode *vn)
{
	metrics_gauge_add(MG_OPEN_HANDLES, -1);
	pthread_mutex_lock(&v->table_lock);
	vn->nopen--;
	int purge = vn->nopen == 0 && vn->nlookup == 0 && vn->unlinked;
	if (purge)
		vn->unlinked = 0;
	pthread_mutex_unlock(&v->table_lock);
	if (purge)
		purge_unlinked(v, vn->ino);
	vnode_put(v, vn);
}

int vfs_release(struct vfs *v, struct vfs_file *f)
{
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
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	int set = a->to_set;
	if (set & VFS_SET_MODE)
		in.mode = (in.mode & S_IFMT) | (a->attr->st_mode & 07777);
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
		    (r = meta_blocks_truncate(t, &in, size, a->v->bs)) < 0)
			return r;
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
	if (r == 0 && (to_set & VFS_SET_SIZE))
		notice(v, ino, 0, NULL); /* cached pages past the new end */
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
};

/* Load a parent directory that may receive or lose entries. */
static int load_parent(struct store_txn *t, uint64_t ino, struct meta_inode *p)
{
	int r = meta_inode_get(t, ino, p);
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
	int r = load_parent(t, a->parent, &p);
	if (r < 0)
		return r;
	if ((r = check_free_name(t, a->parent, a->name, len)) < 0)
		return r;
	memset(&in, 0, sizeof(in));
	in.ino = a->ino;
	in.mode = a->mode;
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
	if ((r = meta_inode_put(t, &in)) < 0 ||
	    (r = meta_dentry_put(t, a->parent, a->name, len, in.ino,
				 (uint8_t)(in.mode >> 12))) < 0)
		return r;
	p.mtime = p.ctime = now;
	if (S_ISDIR(in.mode))
		p.nlink++;
	if ((r = meta_inode_put(t, &p)) < 0 || (r = meta_count_inodes(t, 1)) < 0)
		return r;
	a->e->ino = in.ino;
	to_stat(a->v, &in, &a->e->attr);
	return 0;
}

static int make_node(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, dev_t rdev,
		     const char *target, struct vfs_entry *e)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	if (target && strlen(target) > META_SYMLINK_MAX)
		return -ENAMETOOLONG;
	struct mknode_args a = {v, c, parent, name, mode, rdev, target, 0, e};
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
	return make_node(v, c, parent, name, mode, rdev, NULL, e);
}

int vfs_mkdir(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	      const char *name, mode_t mode, struct vfs_entry *e)
{
	return make_node(v, c, parent, name, S_IFDIR | (mode & 07777), 0, NULL, e);
}

int vfs_symlink(struct vfs *v, const struct vfs_ctx *c, const char *target,
		uint64_t parent, const char *name, struct vfs_entry *e)
{
	return make_node(v, c, parent, name, S_IFLNK | 0777, 0, target, e);
}

int vfs_create(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	       const char *name, mode_t mode, int flags, struct vfs_entry *e,
	       struct vfs_file **f)
{
	int r = make_node(v, c, parent, name, S_IFREG | (mode & 07777), 0,
			  NULL, e);
	if (r < 0)
		return r;
	*f = file_new(v, e->ino, flags);
	if (!*f) {
		vfs_forget(v, e->ino, 1);
		return -ENOMEM;
	}
	return 0;
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
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISLNK(in.mode))
		return -EINVAL;
	return meta_symlink_get(t, a->ino, a->buf, a->len, &n);
}

int vfs_readlink(struct vfs *v, uint64_t ino, char *buf, size_t len)
{
	struct readlink_args a = {ino, buf, len};
	return meta_read(v->meta, readlink_txn, &a);
}

/* ---- removing entries ---- */

/*
 * The entry pointing at *victim is gone: drop a link, and free the inode
 * when no link is left (or keep it as an orphan while it is open).
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
	if (is_referenced(v, victim->ino)) {
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
	int r = load_parent(t, a->parent, &p);
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
		p.nlink--;
	} else if (S_ISDIR(victim.mode)) {
		return -EISDIR;
	}
	if ((r = meta_dentry_del(t, a->parent, a->name, len)) < 0 ||
	    (r = drop_link(a->v, t, &victim, now)) < 0)
		return r;
	if (r == 1)
		a->orphan = ino;
	p.mtime = p.ctime = now;
	return meta_inode_put(t, &p);
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
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	if (S_ISDIR(in.mode))
		return -EPERM;
	if (in.nlink == 0)
		return -ENOENT;
	if (in.nlink >= LINK_MAX_COUNT)
		return -EMLINK;
	if ((r = load_parent(t, a->parent, &p)) < 0)
		return r;
	if ((r = check_free_name(t, a->parent, a->name, len)) < 0)
		return r;
	in.nlink++;
	in.ctime = now;
	p.mtime = p.ctime = now;
	if ((r = meta_dentry_put(t, a->parent, a->name, len, in.ino,
				 (uint8_t)(in.mode >> 12))) < 0 ||
	    (r = meta_inode_put(t, &in)) < 0 || (r = meta_inode_put(t, &p)) < 0)
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
	if ((r = load_parent(t, a->p1, &pa)) < 0)
		return r;
	if (a->p2 == a->p1)
		pb = &pa;
	else if ((r = load_parent(t, a->p2, pb)) < 0)
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
	*f = file_new(v, ino, flags);
	return *f ? 0 : -ENOMEM;
}

/* relatime: an access older than the last change, or than a day, moves */
static int needs_atime(const struct meta_inode *in)
{
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
	int r = meta_inode_get(t, a->vn->ino, &in);
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
			r = meta_block_get(t, in.ino, idx, &d, &len);
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
	a->touch_atime = needs_atime(&in);
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
	int r = meta_read(v->meta, read_txn, &a);
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

ssize_t vfs_write(struct vfs *v, struct vfs_file *f, const char *buf,
		  size_t size, off_t off)
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
		if ((r = load_inode(v, vn->ino, &in)) < 0)
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
			int load = n < bs && idx * (uint64_t)bs < fsize;
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

int vfs_flush(struct vfs *v, struct vfs_file *f)
{
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
};

static int zero_range(struct store_txn *t, struct vfs *v, struct meta_inode *in,
		      uint64_t off, uint64_t end)
{
	uint32_t bs = v->bs;
	if (end > in->size)
		end = in->size;
	for (uint64_t idx = off / bs; idx * bs < end; idx++) {
		const void *d;
		size_t len;
		int r = meta_block_get(t, in->ino, idx, &d, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		uint64_t bstart = idx * bs;
		uint64_t zs = off > bstart ? off - bstart : 0;
		uint64_t ze = end - bstart < bs ? end - bstart : bs;
		if (zs == 0 && ze >= len) {
			r = meta_block_put(t, in, idx, NULL, 0);
		} else {
			uint8_t *copy = malloc(len);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, d, len);
			if (zs < len)
				memset(copy + zs, 0, (ze < len ? ze : len) - zs);
			r = meta_block_put(t, in, idx, copy, len);
			free(copy);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int falloc_txn(struct store_txn *t, void *arg)
{
	struct falloc_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
	if (r < 0)
		return r;
	if (!S_ISREG(in.mode))
		return -ENODEV;
	uint64_t end = a->off + a->len;
	if (end > META_MAX_FILE_SIZE || end < a->off)
		return -EFBIG;
	if (a->mode & FALLOC_FL_PUNCH_HOLE) {
		if ((r = zero_range(t, a->v, &in, a->off, end)) < 0)
			return r;
		in.mtime = in.ctime = now_ts();
	} else if (!(a->mode & FALLOC_FL_KEEP_SIZE) && end > in.size) {
		/* Blocks are allocated on write; only the size moves. */
		in.size = end;
		in.mtime = in.ctime = now_ts();
	} else {
		return 0;
	}
	return meta_inode_put(t, &in);
}

int vfs_fallocate(struct vfs *v, struct vfs_file *f, int mode, off_t off,
		  off_t len)
{
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EINVAL;
	struct falloc_args a = {v, f->vn->ino, mode, (uint64_t)off, (uint64_t)len};
	pthread_mutex_lock(&f->vn->io_lock);
	int r = flush_locked(v, f->vn);
	if (r == 0)
		r = meta_write(v->meta, falloc_txn, &a);
	pthread_mutex_unlock(&f->vn->io_lock);
	if (r == 0)
		notice(v, f->vn->ino, 0, NULL);
	return r;
}

/* ---- directories ---- */

struct readdir_args {
	struct vfs *v;
	uint64_t ino;
	uint64_t off;
	int plus;
	vfs_fill_fn fill;
	void *fill_arg;
	struct store_txn *t;
	int full;
	struct u64vec taken; /* inodes handed out with plus: lookups to count */
	int touch_atime;
};

static int readdir_entry(void *arg, const char *name, size_t len, uint64_t ino,
			 uint8_t type, uint64_t cookie)
{
	struct readdir_args *a = arg;
	char nbuf[META_NAME_MAX + 1];
	struct vfs_entry e = {.ino = ino};
	memcpy(nbuf, name, len);
	nbuf[len] = 0;
	if (a->plus) {
		struct meta_inode in;
		int r = meta_inode_get(a->t, ino, &in);
		if (r == -ENOENT)
			return 0; /* dangling: fsck will report it */
		if (r < 0)
			return r;
		to_stat(a->v, &in, &e.attr);
	} else {
		e.attr.st_ino = ino;
		e.attr.st_mode = (mode_t)type << 12;
	}
	if (a->fill(a->fill_arg, nbuf, &e, (off_t)(cookie + 1))) {
		a->full = 1;
		return 1;
	}
	return a->plus ? u64vec_push(&a->taken, ino) : 0;
}

static int readdir_txn(struct store_txn *t, void *arg)
{
	struct readdir_args *a = arg;
	struct meta_inode dir;
	int r = meta_inode_get(t, a->ino, &dir);
	if (r < 0)
		return r;
	if (!S_ISDIR(dir.mode))
		return -ENOTDIR;
	a->touch_atime = needs_atime(&dir);
	a->t = t;
	a->taken.n = 0;
	a->full = 0;
	uint64_t off = a->off;
	/* "." and ".." come first, at offsets 0 and 1. */
	if (off == 0) {
		struct vfs_entry e = {.ino = 0};
		e.attr.st_ino = a->ino;
		e.attr.st_mode = S_IFDIR;
		if (a->fill(a->fill_arg, ".", &e, 1))
			return 0;
		off = 1;
	}
	if (off == 1) {
		struct vfs_entry e = {.ino = 0};
		e.attr.st_ino = dir.parent ? dir.parent : a->ino;
		e.attr.st_mode = S_IFDIR;
		if (a->fill(a->fill_arg, "..", &e, 2))
			return 0;
		off = 2;
	}
	if (dir.nlink == 0)
		return 0;
	r = meta_dir_scan(t, a->ino, off < 3 ? 3 : off, readdir_entry, a);
	return r < 0 ? r : 0;
}

int vfs_readdir(struct vfs *v, uint64_t ino, off_t off, int plus,
		vfs_fill_fn fill, void *arg)
{
	struct readdir_args a = {v, ino, (uint64_t)off, plus, fill, arg};
	int r = meta_read(v->meta, readdir_txn, &a);
	if (r == 0 && off == 0 && a.touch_atime)
		meta_write(v->meta, touch_atime_txn, &ino);
	if (r == 0)
		for (size_t i = 0; i < a.taken.n; i++)
			add_lookup(v, a.taken.v[i]);
	u64vec_free(&a.taken);
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
	/* system.* (POSIX ACLs) is not supported; unknown spaces neither. */
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
	int r = meta_inode_get(t, a->ino, &in);
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
		r = meta_inode_get(t, a->ino, &in);
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
	if (r == -EOPNOTSUPP && !strncmp(name, "system.", 7))
		return -ENODATA; /* no ACL: tools then fall back to the mode */
	if (r < 0)
		return r;
	struct xattr_args a = {ino, name, NULL, size, 0, buf};
	r = meta_read(v->meta, getxattr_txn, &a);
	return r < 0 ? r : (ssize_t)a.got;
}

static int listxattr_txn(struct store_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, a->ino, &in);
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
	int r = meta_inode_get(t, a->ino, &in);
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
	if (r == -EOPNOTSUPP && !strncmp(name, "system.", 7))
		return -ENODATA;
	if (r < 0)
		return r;
	struct xattr_args a = {ino, name};
	return meta_write(v->meta, removexattr_txn, &a);
}

/* ---- life cycle ---- */

static int collect_orphan(void *arg, uint64_t ino)
{
	return u64vec_push(arg, ino);
}

static int list_orphans_txn(struct store_txn *t, void *arg)
{
	return meta_orphan_scan(t, collect_orphan, arg);
}

int vfs_purge_orphans(struct vfs *v, uint64_t *purged)
{
	struct u64vec l = {0};
	int r = meta_read(v->meta, list_orphans_txn, &l);
	*purged = 0;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct purge_args a = {l.v[i]};
		r = meta_write(v->meta, purge_txn, &a);
		if (r == 0)
			(*purged)++;
	}
	u64vec_free(&l);
	return r;
}

int vfs_new(struct meta *m, struct coord *c, const struct vfs_options *o,
	    struct vfs **out)
{
	struct vfs *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->meta = m;
	v->coord = c;
	v->bs = meta_super(m)->block_size;
	v->opt = *o;
	if (v->opt.max_dirty_per_file < v->bs)
		v->opt.max_dirty_per_file = v->bs;
	pthread_mutex_init(&v->table_lock, NULL);
	pthread_mutex_init(&v->dirty_lock, NULL);
	*out = v;
	return 0;
}

void vfs_free(struct vfs *v)
{
	if (!v)
		return;
	vfs_flush_all(v);
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
			pthread_mutex_destroy(&vn->io_lock);
			pthread_mutex_destroy(&vn->attr_lock);
			free(vn);
			vn = next;
		}
	}
	pthread_mutex_destroy(&v->table_lock);
	pthread_mutex_destroy(&v->dirty_lock);
	free(v);
}
