/*
 * fsck.c — structural check of a filesystem, with optional repair.
 *
 * One transaction (read-only for a check, read-write for a repair):
 *   0. with repair (nothing is mounted then): the records of mounts that
 *      ended without unmounting, and the open-file holds they left;
 *   1. load every inode 1..next_ino;
 *   2. walk every directory's entries: dangling entries, wrong types,
 *      wrong parent pointers, directories linked twice; count references;
 *   3. per inode: unreferenced inodes (attached to /lost+found on repair),
 *      orphans (unlinked while open, reclaimed on repair), link counts,
 *      stored block counts and blocks past end of file;
 *   4. rows of inodes that no longer exist (blocks, xattrs, entries,
 *      holds);
 *   5. the usage counters.
 * "Reachable" means referenced by some entry: a detached directory is
 * found as unreferenced, and re-attaching it makes its subtree reachable.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck.h"
#include "layout.h"
#include "u64vec.h"

#define MAX_CHECKED_INODES (1ull << 28)

struct ientry {
	uint32_t mode, nlink;
	uint32_t refs, subdirs;
	uint64_t parent;     /* recorded parent pointer (dirs) */
	uint64_t seen_parent; /* first directory found holding it */
	uint8_t exists, orphan;
};

struct dentry_rec {
	char name[META_NAME_MAX + 1];
	size_t len;
	uint64_t ino;
	uint8_t type;
};

struct fsck {
	struct meta *m;
	struct store_txn *t;
	int repair;
	FILE *out;
	struct fsck_report *rep;
	uint64_t max_ino;
	struct ientry *in;
	struct dentry_rec *ents;
	size_t nents, capents;
};

static int show_progress;

void fsck_set_progress(int on)
{
	show_progress = on;
}

/* "\rfsck: PASS, inode I of N" on stderr, at most four times a second;
 * done = 1 ends the line. */
static void progress(const char *pass, uint64_t i, uint64_t n, int done)
{
	static struct timespec last;
	struct timespec now;
	if (!show_progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!done && (now.tv_sec - last.tv_sec) * 1000 +
			     (now.tv_nsec - last.tv_nsec) / 1000000 < 250)
		return;
	last = now;
	fprintf(stderr, "\rfsck: %s, inode %" PRIu64 " of %" PRIu64 "%s", pass,
		i, n, done ? "\n" : "   ");
	fflush(stderr);
}

static void problem(struct fsck *f, int fixed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct fsck *f, int fixed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(f->out, "%s", fixed ? "fixed: " : "problem: ");
	vfprintf(f->out, fmt, ap);
	fputc('\n', f->out);
	va_end(ap);
	f->rep->problems++;
	if (fixed)
		f->rep->repaired++;
}

static int load_inode(void *arg, uint64_t ino)
{
	struct fsck *f = arg;
	struct meta_inode mi;
	int r = meta_inode_get(f->t, ino, &mi);
	if (r < 0)
		return r;
	struct ientry *e = &f->in[ino];
	progress("reading inodes", ino, f->max_ino, 0);
	e->exists = 1;
	e->mode = mi.mode;
	e->nlink = mi.nlink;
	e->parent = mi.parent;
	return 0;
}

static int mark_orphan(void *arg, uint64_t ino)
{
	struct fsck *f = arg;
	if (ino <= f->max_ino)
		f->in[ino].orphan = 1;
	else
		problem(f, 0, "orphan record for inode %" PRIu64
			" beyond the last allocated number", ino);
	return 0;
}

static int collect_entry(void *arg, const char *name, size_t len, uint64_t ino,
			 uint8_t type, uint64_t cookie)
{
	struct fsck *f = arg;
	if (f->nents == f->capents) {
		size_t cap = f->capents ? f->capents * 2 : 256;
		struct dentry_rec *p = realloc(f->ents, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->ents = p;
		f->capents = cap;
	}
	struct dentry_rec *d = &f->ents[f->nents++];
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->len = len;
	d->ino = ino;
	d->type = type;
	return 0;
}

static int check_dir(struct fsck *f, uint64_t dir)
{
	f->nents = 0;
	int r = meta_dir_scan(f->t, dir, 0, collect_entry, f);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->nents; i++) {
		struct dentry_rec *d = &f->ents[i];
		struct ientry *c = d->ino <= f->max_ino ? &f->in[d->ino] : NULL;
		if (!c || !c->exists) {
			if (f->repair &&
			    (r = meta_dentry_del(f->t, dir, d->name, d->len)) < 0)
				return r;
			problem(f, f->repair, "entry '%s' in directory %" PRIu64
				" points to missing inode %" PRIu64,
				d->name, dir, d->ino);
			continue;
		}
		if (d->type != (uint8_t)(c->mode >> 12)) {
			if (f->repair &&
			    (r = meta_dentry_put(f->t, dir, d->name, d->len, d->ino,
						 (uint8_t)(c->mode >> 12))) < 0)
				return r;
			problem(f, f->repair, "entry '%s' in directory %" PRIu64
				" has the wrong file type", d->name, dir);
		}
		if (S_ISDIR(c->mode)) {
			if (c->seen_parent) {
				problem(f, 0, "directory %" PRIu64 " is linked from "
					"directories %" PRIu64 " and %" PRIu64,
					d->ino, c->seen_parent, dir);
				continue;
			}
			c->seen_parent = dir;
			f->in[dir].subdirs++;
		}
		c->refs++;
	}
	return 0;
}

struct block_count {
	uint64_t n, past_eof, first_past;
	uint64_t eof_idx;
	uint32_t bs;
	int oversize;
};

static int count_block(void *arg, uint64_t idx, const void *data, size_t len)
{
	struct block_count *b = arg;
	b->n++;
	if (len > b->bs)
		b->oversize = 1;
	/* fallocate KEEP_SIZE may allocate past the end of file */
	if (idx >= b->eof_idx && !meta_block_is_mark(data, len)) {
		if (!b->past_eof)
			b->first_past = idx;
		b->past_eof++;
	}
	return 0;
}

static int attach_lost(struct fsck *f, uint64_t ino, uint64_t *lost)
{
	int r;
	struct meta_inode root, dir;
	if (!*lost) {
		uint8_t type;
		r = meta_dentry_get(f->t, META_ROOT_INO, "lost+found", 10, lost, &type);
		if (r == -ENOENT) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			if ((r = meta_alloc_ino_txn(f->t, lost)) < 0)
				return r;
			memset(&dir, 0, sizeof(dir));
			dir.ino = *lost;
			dir.mode = S_IFDIR | 0700;
			dir.nlink = 2;
			dir.parent = META_ROOT_INO;
			dir.atime = dir.mtime = dir.ctime = dir.btime = now;
			if ((r = meta_inode_put(f->t, &dir)) < 0 ||
			    (r = meta_dentry_put(f->t, META_ROOT_INO, "lost+found",
						 10, *lost, S_IFDIR >> 12)) < 0 ||
			    (r = meta_inode_get(f->t, META_ROOT_INO, &root)) < 0)
				return r;
			root.nlink++;
			if ((r = meta_inode_put(f->t, &root)) < 0 ||
			    (r = meta_count_inodes(f->t, 1)) < 0)
				return r;
		} else if (r < 0) {
			return r;
		}
	}
	char name[32];
	struct meta_inode in;
	snprintf(name, sizeof(name), "#%" PRIu64, ino);
	if ((r = meta_inode_get(f->t, ino, &in)) < 0)
		return r;
	if ((r = meta_dentry_put(f->t, *lost, name, strlen(name), ino,
				 (uint8_t)(in.mode >> 12))) < 0)
		return r;
	f->in[ino].refs = 1;
	if (S_ISDIR(in.mode)) {
		in.parent = *lost;
		f->in[ino].parent = *lost;
		if ((r = meta_inode_put(f->t, &in)) < 0 ||
		    (r = meta_inode_get(f->t, *lost, &dir)) < 0)
			return r;
		dir.nlink++;
		return meta_inode_put(f->t, &dir);
	}
	return 0;
}

static int first_column(void *arg, const void *col, size_t col_len,
			const void *val, size_t val_len)
{
	return 1;
}

static int drop_ended_mounts(struct fsck *f);

static int fsck_txn(struct store_txn *t, void *arg)
{
	struct fsck *f = arg;
	struct fsck_report *rep = f->rep;
	uint64_t inodes_ctr, blocks_ctr, next_ino, lost = 0;
	uint32_t bs = meta_super(f->m)->block_size;
	int r;

	memset(rep, 0, sizeof(*rep));
	f->t = t;
	if (f->repair && (r = drop_ended_mounts(f)) < 0)
		return r;
	if ((r = meta_usage(t, &inodes_ctr, &blocks_ctr, &next_ino)) < 0)
		return r;
	/* Numbers handed out but never used still need checking up to the
	 * allocation mark: ranges may have been taken past next_ino. */
	f->max_ino = next_ino;
	if (f->max_ino > MAX_CHECKED_INODES)
		return -EFBIG;
	free(f->in);
	f->in = calloc(f->max_ino + 1, sizeof(*f->in));
	if (!f->in)
		return -ENOMEM;
	if ((r = meta_inode_scan_all(t, f->max_ino, load_inode, f)) < 0)
		return r;
	if (!f->in[META_ROOT_INO].exists || !S_ISDIR(f->in[META_ROOT_INO].mode)) {
		problem(f, 0, "the root directory is missing or not a directory");
		return 0;
	}
	if ((r = meta_orphan_scan(t, mark_orphan, f)) < 0)
		return r;

	for (uint64_t ino = 1; ino <= f->max_ino; ino++) {
		progress("checking directories", ino, f->max_ino, 0);
		if (f->in[ino].exists && S_ISDIR(f->in[ino].mode) &&
		    (r = check_dir(f, ino)) < 0)
			return r;
	}

	uint64_t live = 0, blocks = 0;
	for (uint64_t ino = 1; ino <= f->max_ino; ino++) {
		struct ientry *e = &f->in[ino];
		progress("checking inodes", ino, f->max_ino, 0);
		if (!e->exists) {
			/* rows left behind by an inode that is gone */
			static const int fams[] = {STORE_BLOCK, STORE_XATTR, STORE_DIR,
						   STORE_HOLDER, STORE_LAYOUT};
			static const char *const what[] = {"data blocks",
							   "extended attributes",
							   "directory entries",
							   "open-file holds",
							   "layout records"};
			for (int i = 0; i < 5; i++) {
				r = store_scan(t, fams[i], ino, NULL, 0, first_column, NULL);
				if (r < 0)
					return r;
				if (r == 0)
					continue;
				/* layout records go to gc (their objects'
				 * references are released there) */
				if (f->repair &&
				    (r = fams[i] == STORE_LAYOUT
						 ? meta_layout_release(t, ino)
						 : store_del_row(t, fams[i], ino)) < 0)
					return r;
				problem(f, f->repair, "%s of deleted inode %" PRIu64
					" remain", what[i], ino);
			}
			if (e->orphan) {
				if (f->repair && (r = meta_orphan_del(t, ino)) < 0)
					return r;
				problem(f, f->repair, "orphan record for missing inode %"
					PRIu64, ino);
			}
			continue;
		}
		struct meta_inode in;
		if ((r = meta_inode_get(t, ino, &in)) < 0)
			return r;
		if (ino != META_ROOT_INO && e->refs == 0) {
			if (e->orphan && in.nlink == 0) {
				rep->orphans++;
				if (f->repair) {
					if ((r = meta_inode_purge(t, &in)) < 0 ||
					    (r = meta_orphan_del(t, ino)) < 0)
						return r;
					continue;
				}
			} else {
				if (f->repair && (r = attach_lost(f, ino, &lost)) < 0)
					return r;
				problem(f, f->repair, "inode %" PRIu64 " is not in any "
					"directory%s", ino,
					f->repair ? " (now in /lost+found)" : "");
				if (f->repair && (r = meta_inode_get(t, ino, &in)) < 0)
					return r;
			}
		} else if (e->orphan) {
			if (f->repair && (r = meta_orphan_del(t, ino)) < 0)
				return r;
			problem(f, f->repair, "inode %" PRIu64 " is both linked and "
				"recorded as an orphan", ino);
		}
		live++;
		int dirty = 0;
		if (S_ISDIR(in.mode)) {
			rep->dirs++;
			uint32_t want = 2 + e->subdirs;
			if (in.nlink != want) {
				problem(f, f->repair, "directory %" PRIu64 " has link "
					"count %u, should be %u", ino, in.nlink, want);
				in.nlink = want;
				dirty = 1;
			}
			uint64_t parent = ino == META_ROOT_INO ? META_ROOT_INO
							       : e->seen_parent;
			if (parent && in.parent != parent) {
				problem(f, f->repair, "directory %" PRIu64 " records "
					"parent %" PRIu64 ", is in %" PRIu64,
					ino, in.parent, parent);
				in.parent = parent;
				dirty = 1;
			}
		} else {
			rep->files++;
			if (!(e->orphan && in.nlink == 0) && in.nlink != e->refs) {
				problem(f, f->repair, "inode %" PRIu64 " has link count "
					"%u, is in %u directories", ino, in.nlink,
					e->refs);
				in.nlink = e->refs;
				dirty = 1;
			}
		}
		struct block_count bc = {0, 0, 0, (in.size + bs - 1) / bs, bs, 0};
		if ((r = meta_block_scan(t, ino, 0, count_block, &bc)) < 0)
			return r;
		/* with a data tier the layout records count blocks too (all
		 * of them in format 2; the moved ones during migrate-data) */
		uint64_t lblocks = 0;
		if (meta_super(f->m)->data_url[0] &&
		    (r = layout_blocks_txn(t, ino, &lblocks)) < 0)
			return r;
		bc.n += lblocks;
		if (bc.oversize)
			problem(f, 0, "inode %" PRIu64 " has blocks larger than the "
				"block size", ino);
		if (bc.past_eof && (!S_ISREG(in.mode) || bc.past_eof)) {
			problem(f, f->repair, "inode %" PRIu64 " has %" PRIu64
				" blocks past its end of file (size %" PRIu64 ")",
				ino, bc.past_eof, in.size);
			if (f->repair) {
				in.blocks = bc.n;
				if ((r = meta_blocks_truncate(t, &in, in.size, bs)) < 0)
					return r;
				bc.n = in.blocks;
				dirty = 1;
			}
		}
		if (in.blocks != bc.n) {
			problem(f, f->repair, "inode %" PRIu64 " counts %" PRIu64
				" blocks, has %" PRIu64, ino, in.blocks, bc.n);
			in.blocks = bc.n;
			dirty = 1;
		}
		blocks += bc.n;
		if (dirty && f->repair && (r = meta_inode_put(t, &in)) < 0)
			return r;
	}
	rep->inodes = live;
	rep->blocks = blocks;
	/* With repair, purges and meta_block_put above moved the counters;
	 * compare against the truth and set it. */
	if (f->repair) {
		if ((r = meta_usage(t, &inodes_ctr, &blocks_ctr, NULL)) < 0)
			return r;
	}
	if (inodes_ctr != live || blocks_ctr != blocks) {
		problem(f, f->repair, "usage counters say %" PRIu64 " inodes and %"
			PRIu64 " blocks; found %" PRIu64 " and %" PRIu64,
			inodes_ctr, blocks_ctr, live, blocks);
		if (f->repair && (r = meta_set_usage(t, live, blocks)) < 0)
			return r;
	}
	return 0;
}

struct ended_mount {
	struct fsck *f;
	struct u64vec ids;
};

static int collect_mount(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct ended_mount *e = arg;
	const char *mp = memmem(rec, len, "mountpoint=", 11);
	int n = mp ? (int)(len - (size_t)(mp - rec) - 11) : 0;
	while (n > 0 && mp[11 + n - 1] == '\n')
		n--;
	problem(e->f, 1, "record of a mount at %.*s that ended without "
		"unmounting", n, mp ? mp + 11 : "");
	return u64vec_push(&e->ids, id);
}

static int collect_held(void *arg, uint64_t ino)
{
	return u64vec_push(arg, ino);
}

/* Nothing is mounted (repair): every mount record and hold is left over. */
static int drop_ended_mounts(struct fsck *f)
{
	struct ended_mount e = {f};
	struct u64vec held = {0};
	int r = meta_session_scan(f->t, collect_mount, &e);
	for (size_t i = 0; r == 0 && i < e.ids.n; i++) {
		held.n = 0;
		r = meta_session_held_scan(f->t, e.ids.v[i], collect_held, &held);
		for (size_t j = 0; r == 0 && j < held.n; j++)
			r = meta_unhold(f->t, held.v[j], e.ids.v[i]);
		if (r == 0)
			r = meta_session_del(f->t, e.ids.v[i]);
	}
	u64vec_free(&e.ids);
	u64vec_free(&held);
	return r;
}

int fsck_run(struct meta *m, int repair, FILE *out, struct fsck_report *rep)
{
	struct fsck f = {m, NULL, repair, out, rep};
	int r = repair ? meta_write(m, fsck_txn, &f) : meta_read(m, fsck_txn, &f);
	progress(r < 0 ? "stopped" : "done", f.max_ino, f.max_ino, 1);
	if (r == 0 && repair)
		r = store_sync(meta_store(m));
	free(f.in);
	free(f.ents);
	return r;
}
