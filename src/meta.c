/*
 * meta.c — encoding of the schema described in meta.h, transactions with
 * retry, inode number allocation.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "u64vec.h"

#define INO_RANGE 1024      /* numbers taken per allocation transaction */
#define MAX_ATTEMPTS 1000   /* conflicts before an operation gives up */
#define INODE_DISK_SIZE 120

struct meta {
	struct store *store;
	struct meta_super super;
	pthread_mutex_t ino_lock; /* protects next_ino/end_ino */
	uint64_t next_ino, end_ino;
};

/* On-disk superblock: magic, then little-endian fields. */
struct meta_super_disk {
	char magic[8];
	uint8_t format[4];
	uint8_t block_size[4];
	char uuid[37];
	uint8_t created[8];
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int put_counter(struct store_txn *t, const char *name, uint64_t v)
{
	uint8_t buf[8];
	store_be64(buf, v);
	return store_put(t, STORE_SUPER, 0, name, strlen(name), buf, 8);
}

static int get_counter(struct store_txn *t, const char *name, uint64_t *v)
{
	const void *val;
	size_t len;
	int r = store_get(t, STORE_SUPER, 0, name, strlen(name), &val, &len);
	if (r == -ENOENT) {
		*v = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (len != 8)
		return -EIO;
	*v = store_get_be64(val);
	return 0;
}

static void make_uuid(char out[37])
{
	uint8_t b[16];
	if (RAND_bytes(b, sizeof(b)) != 1) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		srandom((unsigned)(ts.tv_nsec ^ getpid()));
		for (int i = 0; i < 16; i++)
			b[i] = (uint8_t)random();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

struct mkfs_args {
	uint32_t block_size, uid, gid;
	const char *data_url;
};

static int mkfs_txn(struct store_txn *t, void *arg)
{
	struct mkfs_args *a = arg;
	const void *v;
	size_t len;
	int r = store_get(t, STORE_SUPER, 0, "sb", 2, &v, &len);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	struct meta_super_disk d;
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, META_MAGIC, 8);
	put_le(d.format, a->data_url ? META_FORMAT : META_FORMAT_BLOCKS, 4);
	put_le(d.block_size, a->block_size, 4);
	make_uuid(d.uuid);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	put_le(d.created, (uint64_t)now.tv_sec, 8);
	if ((r = store_put(t, STORE_SUPER, 0, "sb", 2, &d, sizeof(d))))
		return r;
	if (a->data_url &&
	    (r = store_put(t, STORE_SUPER, 0, "data", 4, a->data_url,
			   strlen(a->data_url))))
		return r;
	struct meta_inode root = {
		.ino = META_ROOT_INO,
		.mode = 040755,
		.uid = a->uid,
		.gid = a->gid,
		.nlink = 2,
		.parent = META_ROOT_INO,
		.atime = now, .mtime = now, .ctime = now, .btime = now,
	};
	if ((r = meta_inode_put(t, &root)) ||
	    (r = put_counter(t, "next_ino", META_ROOT_INO)) ||
	    (r = put_counter(t, "inodes", 1)))
		return r;
	return put_counter(t, "blocks", 0);
}

/*
 * Run fn in a transaction until it commits.  A conflict (-EAGAIN) from the
 * commit or from a read inside fn (an engine may detect it early) runs the
 * whole function again.  Read-only transactions are committed too: an
 * optimistic engine validates there that every read saw one state.
 */
static int run_txn(struct store *s, int flags, meta_txn_fn fn, void *arg)
{
	for (int attempt = 0;; attempt++) {
		struct store_txn *t;
		int r = store_txn_begin(s, flags, &t);
		if (r < 0)
			return r;
		metrics_add(flags & STORE_RDONLY ? MC_TXN_READ : MC_TXN_WRITE, 1);
		r = fn(t, arg);
		int c;
		if (r < 0) {
			/* the failure may rest on a stale cached value: check
			 * before reporting it (conflicts need no check; a
			 * failed store answers the check with its error).
			 * -EIO included: a body that finds its reads
			 * inconsistent (a dangling entry) says so. */
			c = r;
			if (r != -EAGAIN && r != -ENOMEM) {
				int v = store_validate(t);
				if (v < 0)
					c = v;
			}
			store_abort(t);
		} else {
			c = store_commit(t);
		}
		if (c == 0)
			return r;
		if (c != -EAGAIN) {
			if (r >= 0) /* the commit failed, not the operation */
				metrics_add(MC_TXN_FAILED, 1);
			return c;
		}
		metrics_add(MC_TXN_CONFLICT, 1);
		if (!(flags & STORE_RDONLY))
			metrics_add(MC_TXN_WRITE_CONFLICT, 1);
		if (attempt >= MAX_ATTEMPTS) {
			log_error("transaction still conflicting after %d attempts",
				  attempt);
			return -EIO;
		}
		/* Back off a little, growing with the attempts. */
		if (attempt > 2)
			usleep((useconds_t)(attempt < 50 ? attempt * 100 : 5000));
		else
			sched_yield();
	}
}

int meta_write(struct meta *m, meta_txn_fn fn, void *arg)
{
	return run_txn(m->store, 0, fn, arg);
}

int meta_read(struct meta *m, meta_txn_fn fn, void *arg)
{
	return run_txn(m->store, STORE_RDONLY, fn, arg);
}

int meta_read_cached(struct meta *m, meta_txn_fn fn, void *arg)
{
	int r = run_txn(m->store, STORE_RDONLY | STORE_CACHED, fn, arg);
	if (r == -ESTALE || r == -EIO)
		r = run_txn(m->store, STORE_RDONLY, fn, arg);
	return r;
}

int meta_read_live(struct meta *m, meta_txn_fn fn, void *arg)
{
	return run_txn(m->store, STORE_LIVE, fn, arg);
}

int meta_mkfs(struct store *s, uint32_t block_size, uint32_t root_uid,
	      uint32_t root_gid, char *err, size_t err_len)
{
	return meta_mkfs_data(s, block_size, root_uid, root_gid, "store", err,
			      err_len);
}

int meta_mkfs_data(struct store *s, uint32_t block_size, uint32_t root_uid,
		   uint32_t root_gid, const char *data_url, char *err,
		   size_t err_len)
{
	if (data_url && (!*data_url || strlen(data_url) >= META_DATA_URL_MAX)) {
		snprintf(err, err_len, "data URL too long (at most %d bytes)",
			 META_DATA_URL_MAX - 1);
		return -EINVAL;
	}
	if (block_size < META_MIN_BLOCK_SIZE || block_size > META_MAX_BLOCK_SIZE ||
	    (block_size & (block_size - 1))) {
		snprintf(err, err_len,
			 "block size %u is not a power of two between %d and %d",
			 block_size, META_MIN_BLOCK_SIZE, META_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	struct mkfs_args a = {block_size, root_uid, root_gid, data_url};
	int r = run_txn(s, 0, mkfs_txn, &a);
	if (r == -EEXIST)
		snprintf(err, err_len,
			 "%s already holds a filesystem (use --force to replace it)",
			 s->url);
	else if (r < 0)
		snprintf(err, err_len, "cannot write the new filesystem to %s: %s",
			 s->url, strerror(-r));
	else
		r = store_sync(s);
	return r;
}

static int read_super_txn(struct store_txn *t, void *arg)
{
	struct meta_super *sb = arg;
	const void *v;
	size_t len;
	int r = store_get(t, STORE_SUPER, 0, "sb", 2, &v, &len);
	if (r < 0)
		return r;
	const struct meta_super_disk *d = v;
	if (len < sizeof(*d) || memcmp(d->magic, META_MAGIC, 8))
		return -EINVAL;
	sb->format = (uint32_t)get_le(d->format, 4);
	sb->block_size = (uint32_t)get_le(d->block_size, 4);
	memcpy(sb->uuid, d->uuid, 36);
	sb->uuid[36] = 0;
	sb->created = (int64_t)get_le(d->created, 8);
	sb->data_url[0] = 0;
	r = store_get(t, STORE_SUPER, 0, "data", 4, &v, &len);
	if (r == 0) {
		if (len >= sizeof(sb->data_url))
			return -EINVAL;
		memcpy(sb->data_url, v, len);
		sb->data_url[len] = 0;
	} else if (r != -ENOENT) {
		return r;
	}
	return 0;
}

int meta_open(struct store *s, struct meta **out, char *err, size_t err_len)
{
	struct meta *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int r = run_txn(s, STORE_RDONLY, read_super_txn, &m->super);
	if (r == -ENOENT) {
		snprintf(err, err_len,
			 "%s holds no CassaFS filesystem (run 'cassafs mkfs %s')",
			 s->url, s->url);
		r = -ENOENT;
	} else if (r == -EINVAL) {
		snprintf(err, err_len,
			 "%s: superblock is not CassaFS's (foreign or corrupt data)",
			 s->url);
		r = -EUCLEAN;
	} else if (r < 0) {
		snprintf(err, err_len, "cannot read the superblock of %s: %s",
			 s->url, strerror(-r));
	} else if (m->super.format != META_FORMAT &&
		   m->super.format != META_FORMAT_BLOCKS) {
		snprintf(err, err_len,
			 "%s has format version %u; this cassafs reads versions "
			 "%d and %d", s->url, m->super.format,
			 META_FORMAT_BLOCKS, META_FORMAT);
		r = -EPROTONOSUPPORT;
	} else if (m->super.format == META_FORMAT && !m->super.data_url[0]) {
		snprintf(err, err_len, "%s: corrupt superblock (format %u "
			 "without a data tier)", s->url, m->super.format);
		r = -EUCLEAN;
	} else if (m->super.block_size < META_MIN_BLOCK_SIZE ||
		   m->super.block_size > META_MAX_BLOCK_SIZE ||
		   (m->super.block_size & (m->super.block_size - 1))) {
		snprintf(err, err_len, "%s: corrupt superblock (block size %u)",
			 s->url, m->super.block_size);
		r = -EUCLEAN;
	}
	if (r < 0) {
		free(m);
		return r;
	}
	m->super.migrating = m->super.format == META_FORMAT_BLOCKS &&
			     m->super.data_url[0];
	m->store = s;
	pthread_mutex_init(&m->ino_lock, NULL);
	*out = m;
	return 0;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->ino_lock);
	free(m);
}

const struct meta_super *meta_super(const struct meta *m)
{
	return &m->super;
}

struct store *meta_store(const struct meta *m)
{
	return m->store;
}

static int take_range_txn(struct store_txn *t, void *arg)
{
	uint64_t *first = arg, cur;
	int r = get_counter(t, "next_ino", &cur);
	if (r < 0)
		return r;
	if (cur > UINT64_MAX - INO_RANGE)
		return -ENOSPC;
	*first = cur + 1;
	return put_counter(t, "next_ino", cur + INO_RANGE);
}

/*
 * Numbers are taken INO_RANGE at a time so that allocation is not a hot
 * row for concurrent mounts; numbers left unused when a mount ends are
 * skipped, never reused.
 */
int meta_alloc_ino(struct meta *m, uint64_t *ino)
{
	int r = 0;
	pthread_mutex_lock(&m->ino_lock);
	if (m->next_ino >= m->end_ino) {
		uint64_t first;
		r = meta_write(m, take_range_txn, &first);
		if (r == 0) {
			m->next_ino = first;
			m->end_ino = first + INO_RANGE;
		}
	}
	if (r == 0)
		*ino = m->next_ino++;
	pthread_mutex_unlock(&m->ino_lock);
	return r;
}

int meta_reserve_inos(struct store_txn *t, uint64_t upto)
{
	uint64_t cur;
	int r = get_counter(t, "next_ino", &cur);
	if (r < 0 || cur >= upto)
		return r;
	return put_counter(t, "next_ino", upto);
}

int meta_alloc_ino_txn(struct store_txn *t, uint64_t *ino)
{
	uint64_t cur;
	int r = get_counter(t, "next_ino", &cur);
	if (r < 0)
		return r;
	*ino = cur + 1;
	return put_counter(t, "next_ino", cur + 1);
}

/* ---- inodes ---- */

static void put_ts(uint8_t *p, const struct timespec *ts)
{
	put_le(p, (uint64_t)ts->tv_sec, 8);
	put_le(p + 8, (uint64_t)ts->tv_nsec, 4);
}

static void get_ts(const uint8_t *p, struct timespec *ts)
{
	ts->tv_sec = (time_t)get_le(p, 8);
	ts->tv_nsec = (long)get_le(p + 8, 4);
}

/* mtime and ctime, side by side in the packed inode */
#define TIMES_OFF 52
#define NLINK_OFF 12
/* What a directory's creates, unlinks, mkdirs and rmdirs in it change by
 * commutative updates, and their read of it skips: nlink (12), size,
 * rdev, blocks, atime, mtime and ctime (up to 76). */
#define ENTRY_SKIP_OFF NLINK_OFF
#define ENTRY_SKIP_LEN (TIMES_OFF + 24 - NLINK_OFF)
/* 1 when nlink is 0: the skipped bytes hide a directory's removal, this
 * byte shows it (an entry made in a directory being removed conflicts) */
#define GONE_OFF 96

static int inode_decode(uint64_t ino, const void *v, size_t len,
			struct meta_inode *out)
{
	if (len < INODE_DISK_SIZE)
		return -EIO;
	const uint8_t *p = v;
	out->ino = ino;
	out->mode = (uint32_t)get_le(p, 4);
	out->uid = (uint32_t)get_le(p + 4, 4);
	out->gid = (uint32_t)get_le(p + 8, 4);
	out->nlink = (uint32_t)get_le(p + 12, 4);
	out->size = get_le(p + 16, 8);
	out->rdev = get_le(p + 24, 8);
	out->blocks = get_le(p + 32, 8);
	get_ts(p + 40, &out->atime);
	get_ts(p + 52, &out->mtime);
	get_ts(p + 64, &out->ctime);
	get_ts(p + 76, &out->btime);
	out->parent = get_le(p + 88, 8);
	return 0;
}

static int inode_read(struct store_txn *t, uint64_t ino, int except_entry,
		      struct meta_inode *out)
{
	const void *v;
	size_t len;
	int r = except_entry ? store_get_except(t, STORE_INODE, ino, "a", 1,
						ENTRY_SKIP_OFF, ENTRY_SKIP_LEN, &v, &len)
			     : store_get(t, STORE_INODE, ino, "a", 1, &v, &len);
	return r < 0 ? r : inode_decode(ino, v, len, out);
}

int meta_inode_get_many(struct store_txn *t, size_t n, const uint64_t *inos,
			struct meta_inode *out, int *res)
{
	if (!n)
		return 0;
	struct store_key *k = calloc(n, sizeof(*k));
	struct store_val *v = calloc(n, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (struct store_key){inos[i], "a", 1};
	int r = store_get_many(t, STORE_INODE, n, k, v);
	for (size_t i = 0; !r && i < n; i++)
		if ((res[i] = v[i].r) == 0)
			r = inode_decode(inos[i], v[i].val, v[i].len, &out[i]);
	free(k);
	free(v);
	return r;
}

int meta_inode_get(struct store_txn *t, uint64_t ino, struct meta_inode *out)
{
	return inode_read(t, ino, 0, out);
}

int meta_dir_get_for_entry(struct store_txn *t, uint64_t ino,
			   struct meta_inode *out)
{
	return inode_read(t, ino, 1, out);
}

int meta_dir_touch(struct store_txn *t, uint64_t ino, const struct timespec *now)
{
	uint8_t ts[12];
	put_ts(ts, now);
	int r = store_put_max_time(t, STORE_INODE, ino, "a", 1, TIMES_OFF, ts);
	return r < 0 ? r : store_put_max_time(t, STORE_INODE, ino, "a", 1,
					      TIMES_OFF + 12, ts);
}

int meta_dir_link_count(struct store_txn *t, uint64_t ino, int delta)
{
	return store_add_le32(t, STORE_INODE, ino, "a", 1, NLINK_OFF, delta);
}

int meta_inode_new_rows(struct store_txn *t, const struct meta_inode *in)
{
	int r = S_ISDIR(in->mode) ? store_hint_empty(t, STORE_DIR, in->ino) : 0;
	return r < 0 ? r : store_hint_empty(t, STORE_HOLDER, in->ino);
}

int meta_inode_put(struct store_txn *t, const struct meta_inode *in)
{
	uint8_t p[INODE_DISK_SIZE];
	memset(p, 0, sizeof(p));
	put_le(p, in->mode, 4);
	put_le(p + 4, in->uid, 4);
	put_le(p + 8, in->gid, 4);
	put_le(p + 12, in->nlink, 4);
	put_le(p + 16, in->size, 8);
	put_le(p + 24, in->rdev, 8);
	put_le(p + 32, in->blocks, 8);
	put_ts(p + 40, &in->atime);
	put_ts(p + 52, &in->mtime);
	put_ts(p + 64, &in->ctime);
	put_ts(p + 76, &in->btime);
	put_le(p + 88, in->parent, 8);
	p[GONE_OFF] = in->nlink == 0;
	return store_put(t, STORE_INODE, in->ino, "a", 1, p, sizeof(p));
}

int meta_inode_purge(struct store_txn *t, const struct meta_inode *in)
{
	int r;
	if ((r = store_del_row(t, STORE_INODE, in->ino)) ||
	    (r = store_del_row(t, STORE_XATTR, in->ino)))
		return r;
	if ((r = meta_layout_release(t, in->ino)) < 0)
		return r;
	if (in->blocks) {
		if ((r = store_del_row(t, STORE_BLOCK, in->ino)) ||
		    (r = store_add(t, STORE_SUPER, 0, "blocks", 6,
				   -(int64_t)in->blocks)))
			return r;
	}
	return meta_count_inodes(t, -1);
}

/*
 * The purge of an inode hands its layout records to gc unread: each moves
 * to the released list (STORE_OBJREF row 1) under be64(ino) ‖ be64(chunk)
 * ‖ a random nonce (a chunk truncated and rewritten before gc ran is
 * released twice), so an unlink needs no knowledge of objects.
 */
struct release_args {
	uint8_t *buf; /* (be64 chunk, be32 len, value)… gathered by the scan */
	size_t len, cap;
};

static int release_one(void *arg, const void *col, size_t col_len,
		       const void *val, size_t val_len)
{
	struct release_args *a = arg;
	if (col_len != 8)
		return 0;
	if (a->len + 12 + val_len > a->cap) {
		size_t cap = (a->cap ? a->cap * 2 : 4096) + val_len + 12;
		uint8_t *b = realloc(a->buf, cap);
		if (!b)
			return -ENOMEM;
		a->buf = b;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, col, 8);
	put_le(a->buf + a->len + 8, val_len, 4);
	memcpy(a->buf + a->len + 12, val, val_len);
	a->len += 12 + val_len;
	return 0;
}

int meta_layout_release(struct store_txn *t, uint64_t ino)
{
	struct release_args a = {0};
	int r = store_scan(t, STORE_LAYOUT, ino, NULL, 0, release_one, &a);
	for (size_t i = 0; r >= 0 && i < a.len;) {
		uint8_t key[24];
		uint64_t nonce;
		size_t vlen = (size_t)get_le(a.buf + i + 8, 4);
		store_be64(key, ino);
		memcpy(key + 8, a.buf + i, 8);
		if (RAND_bytes((unsigned char *)&nonce, sizeof(nonce)) != 1) {
			r = -EIO;
			break;
		}
		store_be64(key + 16, nonce);
		r = store_put(t, STORE_OBJREF, 1, key, sizeof(key),
			      a.buf + i + 12, vlen);
		i += 12 + vlen;
	}
	if (r >= 0 && a.len)
		r = store_del_row(t, STORE_LAYOUT, ino);
	free(a.buf);
	return r < 0 ? r : 0;
}

int meta_super_set_data(struct store_txn *t, const char *data_url,
			uint32_t format)
{
	const void *v;
	size_t len;
	int r = store_get(t, STORE_SUPER, 0, "sb", 2, &v, &len);
	if (r < 0)
		return r;
	struct meta_super_disk d;
	if (len < sizeof(d))
		return -EIO;
	memcpy(&d, v, sizeof(d));
	put_le(d.format, format, 4);
	if ((r = store_put(t, STORE_SUPER, 0, "sb", 2, &d, sizeof(d))) < 0)
		return r;
	return store_put(t, STORE_SUPER, 0, "data", 4, data_url,
			 strlen(data_url));
}

int meta_count_blocks(struct store_txn *t, int64_t delta)
{
	return delta ? store_add(t, STORE_SUPER, 0, "blocks", 6, delta) : 0;
}

int meta_symlink_get(struct store_txn *t, uint64_t ino, char *buf,
		     size_t buf_len, size_t *len)
{
	const void *v;
	size_t n;
	int r = store_get(t, STORE_INODE, ino, "l", 1, &v, &n);
	if (r < 0)
		return r == -ENOENT ? -EIO : r;
	if (n >= buf_len)
		return -ENAMETOOLONG;
	memcpy(buf, v, n);
	buf[n] = 0;
	*len = n;
	return 0;
}

int meta_symlink_put(struct store_txn *t, uint64_t ino, const char *target,
		     size_t len)
{
	return store_put(t, STORE_INODE, ino, "l", 1, target, len);
}

/* ---- directory entries ---- */

uint64_t meta_name_cookie(const char *name, size_t len)
{
	/* FNV-1a 64, folded to 63 bits; 0..2 are ".", ".." and the start. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	h >>= 1;
	return h < 3 ? h + 3 : h;
}

static size_t dentry_col(uint8_t *col, const char *name, size_t len)
{
	store_be64(col, meta_name_cookie(name, len));
	memcpy(col + 8, name, len);
	return 8 + len;
}

int meta_dentry_get(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len, uint64_t *ino, uint8_t *type)
{
	uint8_t col[8 + META_NAME_MAX];
	const void *v;
	size_t vlen;
	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	int r = store_get(t, STORE_DIR, parent, col, dentry_col(col, name, len),
			  &v, &vlen);
	if (r < 0)
		return r;
	if (vlen != 9)
		return -EIO;
	*ino = store_get_be64(v);
	if (type)
		*type = ((const uint8_t *)v)[8];
	return 0;
}

int meta_dentry_put(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len, uint64_t ino, uint8_t type)
{
	uint8_t col[8 + META_NAME_MAX], val[9];
	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	store_be64(val, ino);
	val[8] = type;
	return store_put(t, STORE_DIR, parent, col, dentry_col(col, name, len),
			 val, sizeof(val));
}

int meta_dentry_del(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len)
{
	uint8_t col[8 + META_NAME_MAX];
	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	return store_del(t, STORE_DIR, parent, col, dentry_col(col, name, len));
}

struct dir_scan_ctx {
	meta_dentry_fn fn;
	void *arg;
};

static int dir_scan_cb(void *arg, const void *col, size_t col_len,
		       const void *val, size_t val_len)
{
	struct dir_scan_ctx *c = arg;
	if (col_len < 9 || val_len != 9)
		return -EIO;
	return c->fn(c->arg, (const char *)col + 8, col_len - 8,
		     store_get_be64(val), ((const uint8_t *)val)[8],
		     store_get_be64(col));
}

int meta_dir_scan(struct store_txn *t, uint64_t parent, uint64_t from_cookie,
		  meta_dentry_fn fn, void *arg)
{
	uint8_t start[8];
	struct dir_scan_ctx c = {fn, arg};
	store_be64(start, from_cookie);
	return store_scan(t, STORE_DIR, parent, start, 8, dir_scan_cb, &c);
}

static int stop_at_first(void *arg, const void *col, size_t col_len,
			 const void *val, size_t val_len)
{
	return 1;
}

int meta_dir_is_empty(struct store_txn *t, uint64_t parent)
{
	int r = store_scan(t, STORE_DIR, parent, NULL, 0, stop_at_first, NULL);
	return r < 0 ? r : r == 0;
}

/* ---- blocks ---- */

int meta_block_get(struct store_txn *t, uint64_t ino, uint64_t idx,
		   const void **data, size_t *len)
{
	uint8_t col[8];
	store_be64(col, idx);
	return store_get(t, STORE_BLOCK, ino, col, 8, data, len);
}

int meta_block_put(struct store_txn *t, struct meta_inode *in, uint64_t idx,
		   const void *data, size_t len)
{
	uint8_t col[8];
	const uint8_t *p = data;
	const void *old;
	size_t old_len;
	store_be64(col, idx);
	while (len && !p[len - 1])
		len--;
	int r = store_get(t, STORE_BLOCK, in->ino, col, 8, &old, &old_len);
	if (r < 0 && r != -ENOENT)
		return r;
	int existed = r == 0;
	if (len == 0) {
		if (!existed)
			return 0;
		if ((r = store_del(t, STORE_BLOCK, in->ino, col, 8)))
			return r;
		in->blocks--;
		return store_add(t, STORE_SUPER, 0, "blocks", 6, -1);
	}
	if ((r = store_put(t, STORE_BLOCK, in->ino, col, 8, data, len)))
		return r;
	if (existed)
		return 0;
	in->blocks++;
	return store_add(t, STORE_SUPER, 0, "blocks", 6, 1);
}

int meta_block_alloc(struct store_txn *t, struct meta_inode *in, uint64_t idx,
		     int zero)
{
	static const uint8_t mark = 0;
	uint8_t col[8];
	const void *old;
	size_t old_len;
	store_be64(col, idx);
	int r = store_get(t, STORE_BLOCK, in->ino, col, 8, &old, &old_len);
	if (r < 0 && r != -ENOENT)
		return r;
	int existed = r == 0;
	if (existed && (!zero || meta_block_is_mark(old, old_len)))
		return 0;
	if ((r = store_put(t, STORE_BLOCK, in->ino, col, 8, &mark, 1)))
		return r;
	if (existed)
		return 0; /* data became a mark: still one block */
	in->blocks++;
	return store_add(t, STORE_SUPER, 0, "blocks", 6, 1);
}

static int collect_idx(void *arg, const void *col, size_t col_len,
		       const void *val, size_t val_len)
{
	if (col_len != 8)
		return -EIO;
	return u64vec_push(arg, store_get_be64(col));
}

int meta_blocks_truncate(struct store_txn *t, struct meta_inode *in,
			 uint64_t new_size, uint32_t block_size)
{
	int r;
	if (new_size == 0) {
		if (!in->blocks)
			return 0;
		if ((r = store_del_row(t, STORE_BLOCK, in->ino)) ||
		    (r = store_add(t, STORE_SUPER, 0, "blocks", 6,
				   -(int64_t)in->blocks)))
			return r;
		in->blocks = 0;
		return 0;
	}
	uint64_t first = (new_size + block_size - 1) / block_size;
	uint32_t tail = (uint32_t)(new_size % block_size);
	struct u64vec l = {0};
	uint8_t col[8];
	/* Zero the tail of the last kept block so a later extension reads
	 * zeros there. */
	if (tail) {
		const void *d;
		size_t len;
		r = meta_block_get(t, in->ino, first - 1, &d, &len);
		if (r == 0 && len > tail) {
			uint8_t *copy = malloc(tail);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, d, tail);
			r = meta_block_put(t, in, first - 1, copy, tail);
			free(copy);
		} else if (r == -ENOENT) {
			r = 0;
		}
		if (r < 0)
			return r;
	}
	store_be64(col, first);
	r = store_scan(t, STORE_BLOCK, in->ino, col, 8, collect_idx, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		store_be64(col, l.v[i]);
		r = store_del(t, STORE_BLOCK, in->ino, col, 8);
	}
	if (r == 0 && l.n) {
		in->blocks -= l.n;
		r = store_add(t, STORE_SUPER, 0, "blocks", 6, -(int64_t)l.n);
	}
	u64vec_free(&l);
	return r;
}

struct block_scan_ctx {
	meta_block_fn fn;
	void *arg;
};

static int block_scan_cb(void *arg, const void *col, size_t col_len,
			 const void *val, size_t val_len)
{
	struct block_scan_ctx *c = arg;
	if (col_len != 8)
		return -EIO;
	return c->fn(c->arg, store_get_be64(col), val, val_len);
}

int meta_block_scan(struct store_txn *t, uint64_t ino, uint64_t from_idx,
		    meta_block_fn fn, void *arg)
{
	uint8_t col[8];
	struct block_scan_ctx c = {fn, arg};
	store_be64(col, from_idx);
	return store_scan(t, STORE_BLOCK, ino, col, 8, block_scan_cb, &c);
}

/* ---- extended attributes ---- */

int meta_xattr_get(struct store_txn *t, uint64_t ino, const char *name,
		   const void **val, size_t *len)
{
	size_t n = strlen(name);
	if (n == 0 || n > META_XATTR_NAME_MAX)
		return n ? -ERANGE : -EINVAL;
	int r = store_get(t, STORE_XATTR, ino, name, n, val, len);
	if (r < 0)
		return r;
	if (*len < 1)
		return -EIO;
	*val = (const uint8_t *)*val + 1; /* skip the presence byte */
	(*len)--;
	return 0;
}

int meta_xattr_put(struct store_txn *t, uint64_t ino, const char *name,
		   const void *val, size_t len)
{
	size_t n = strlen(name);
	if (n == 0 || n > META_XATTR_NAME_MAX)
		return n ? -ERANGE : -EINVAL;
	if (len > META_XATTR_SIZE_MAX)
		return -E2BIG;
	/* The store needs a non-empty value to tell "set to empty" from
	 * absent in every engine: prefix one byte. */
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	buf[0] = 'v';
	memcpy(buf + 1, val, len);
	int r = store_put(t, STORE_XATTR, ino, name, n, buf, len + 1);
	free(buf);
	return r;
}

int meta_xattr_del(struct store_txn *t, uint64_t ino, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > META_XATTR_NAME_MAX)
		return n ? -ERANGE : -EINVAL;
	return store_del(t, STORE_XATTR, ino, name, n);
}

struct xattr_list_ctx {
	char *buf;
	size_t cap, len;
};

static int xattr_list_cb(void *arg, const void *col, size_t col_len,
			 const void *val, size_t val_len)
{
	struct xattr_list_ctx *c = arg;
	if (c->cap) {
		if (c->len + col_len + 1 > c->cap)
			return -ERANGE;
		memcpy(c->buf + c->len, col, col_len);
		c->buf[c->len + col_len] = 0;
	}
	c->len += col_len + 1;
	return 0;
}

int meta_xattr_list(struct store_txn *t, uint64_t ino, char *buf,
		    size_t buf_len, size_t *len)
{
	struct xattr_list_ctx c = {buf, buf_len, 0};
	int r = store_scan(t, STORE_XATTR, ino, NULL, 0, xattr_list_cb, &c);
	*len = c.len;
	return r;
}

/* ---- orphans ---- */

int meta_orphan_add(struct store_txn *t, uint64_t ino)
{
	uint8_t col[8];
	store_be64(col, ino);
	return store_put(t, STORE_ORPHAN, 0, col, 8, "o", 1);
}

int meta_orphan_del(struct store_txn *t, uint64_t ino)
{
	uint8_t col[8];
	store_be64(col, ino);
	return store_del(t, STORE_ORPHAN, 0, col, 8);
}

struct ino_scan_ctx {
	meta_ino_fn fn;
	void *arg;
};

static int orphan_scan_cb(void *arg, const void *col, size_t col_len,
			  const void *val, size_t val_len)
{
	struct ino_scan_ctx *c = arg;
	if (col_len != 8)
		return -EIO;
	return c->fn(c->arg, store_get_be64(col));
}

int meta_orphan_scan(struct store_txn *t, meta_ino_fn fn, void *arg)
{
	struct ino_scan_ctx c = {fn, arg};
	return store_scan(t, STORE_ORPHAN, 0, NULL, 0, orphan_scan_cb, &c);
}

/* ---- mount sessions and held inodes ---- */

int meta_session_put(struct store_txn *t, uint64_t id, const char *rec,
		     size_t len)
{
	uint8_t col[8];
	store_be64(col, id);
	return store_put(t, STORE_SESSION, 0, col, 8, rec, len);
}

int meta_session_del(struct store_txn *t, uint64_t id)
{
	uint8_t col[8];
	store_be64(col, id);
	int r = store_del(t, STORE_SESSION, 0, col, 8);
	return r < 0 ? r : store_del_row(t, STORE_SESSION, id);
}

struct session_scan_ctx {
	meta_session_fn fn;
	void *arg;
};

static int session_scan_cb(void *arg, const void *col, size_t col_len,
			   const void *val, size_t val_len)
{
	struct session_scan_ctx *c = arg;
	if (col_len != 8)
		return -EIO;
	return c->fn(c->arg, store_get_be64(col), val, val_len);
}

int meta_session_scan(struct store_txn *t, meta_session_fn fn, void *arg)
{
	struct session_scan_ctx c = {fn, arg};
	return store_scan(t, STORE_SESSION, 0, NULL, 0, session_scan_cb, &c);
}

int meta_session_held_scan(struct store_txn *t, uint64_t id, meta_ino_fn fn,
			   void *arg)
{
	struct ino_scan_ctx c = {fn, arg};
	if (id == 0)
		return -EINVAL; /* row 0 holds the records */
	return store_scan(t, STORE_SESSION, id, NULL, 0, orphan_scan_cb, &c);
}

int meta_hold(struct store_txn *t, uint64_t ino, uint64_t id)
{
	uint8_t ci[8], cm[8];
	store_be64(ci, ino);
	store_be64(cm, id);
	int r = store_put(t, STORE_SESSION, id, ci, 8, "h", 1);
	return r < 0 ? r : store_put(t, STORE_HOLDER, ino, cm, 8, "h", 1);
}

int meta_unhold(struct store_txn *t, uint64_t ino, uint64_t id)
{
	uint8_t ci[8], cm[8];
	store_be64(ci, ino);
	store_be64(cm, id);
	int r = store_del(t, STORE_SESSION, id, ci, 8);
	return r < 0 ? r : store_del(t, STORE_HOLDER, ino, cm, 8);
}

struct holders_ctx {
	uint64_t except, count;
};

static int holders_cb(void *arg, const void *col, size_t col_len,
		      const void *val, size_t val_len)
{
	struct holders_ctx *c = arg;
	if (col_len != 8)
		return -EIO;
	if (store_get_be64(col) != c->except)
		c->count++;
	return 0;
}

int meta_holders(struct store_txn *t, uint64_t ino, uint64_t except,
		 uint64_t *count)
{
	struct holders_ctx c = {except, 0};
	int r = store_scan(t, STORE_HOLDER, ino, NULL, 0, holders_cb, &c);
	*count = c.count;
	return r;
}

/* ---- counters ---- */

int meta_count_inodes(struct store_txn *t, int64_t delta)
{
	return store_add(t, STORE_SUPER, 0, "inodes", 6, delta);
}

int meta_usage(struct store_txn *t, uint64_t *inodes, uint64_t *blocks,
	       uint64_t *next_ino)
{
	int r;
	if ((r = get_counter(t, "inodes", inodes)) ||
	    (r = get_counter(t, "blocks", blocks)))
		return r;
	return next_ino ? get_counter(t, "next_ino", next_ino) : 0;
}

int meta_set_usage(struct store_txn *t, uint64_t inodes, uint64_t blocks)
{
	int r = put_counter(t, "inodes", inodes);
	return r < 0 ? r : put_counter(t, "blocks", blocks);
}

int meta_inode_scan_all(struct store_txn *t, uint64_t max_ino,
			meta_ino_fn fn, void *arg)
{
	for (uint64_t ino = 1; ino <= max_ino; ino++) {
		const void *v;
		size_t len;
		int r = store_get(t, STORE_INODE, ino, "a", 1, &v, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0 || (r = fn(arg, ino)))
			return r;
	}
	return 0;
}
