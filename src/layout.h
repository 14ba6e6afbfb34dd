/*
 * layout.h — file byte ranges ↔ immutable objects of the data tier.
 *
 * A file is cut into chunks of LAYOUT_CHUNK bytes.  Each chunk that holds
 * anything has one record in meta (family STORE_LAYOUT, row ino, column
 * be64(chunk)): the list of its slices in the order they were written.  A
 * slice says "bytes [pos, pos+len) of this chunk are bytes [off, off+len)
 * of object ID" (DATA), "read as zeros and count as allocated" (ZERO:
 * fallocate), or "read as zeros" (HOLE: punched).  A later slice covers
 * earlier ones, so a write never changes what is stored: it uploads its
 * bytes as new objects and appends slices.
 *
 * Objects are written first; then ONE meta transaction (the caller's:
 * flush, truncate, fallocate, copy) appends the slices, the inode's size
 * and block count, and the objects' reference counts (family STORE_OBJREF
 * row 0).  A crash between the two leaves at worst objects nothing refers
 * to: `cassafs gc` finds them by listing the tier.  An object whose count
 * drops to 0 (overwritten and compacted, truncated, its file purged, a
 * failed commit) moves to the dead list (row 2), and gc deletes it from
 * the tier in the background.  Counting references, not owners, lets two
 * files share objects: copy_file_range copies slices, not bytes.
 *
 * One flush packs every dirty range of the file into objects of up to
 * LAYOUT_OBJECT_MAX bytes: a 4 KiB random write costs 4 KiB in a shared
 * object, a long sequential write becomes few large objects.  A chunk that
 * gained LAYOUT_COMPACT_SLICES slices since its last compaction is
 * compacted: its visible bytes are read, packed into new objects, and the
 * record replaced by one slice per run (only if nobody changed it
 * meanwhile).  A sequential reader's pieces are fetched ahead (1 MiB, to
 * the end of the slice) into a few buffers shared by the mount.
 *
 * Sizes and their reasons: docs/data.md.
 */
#ifndef CASSAFS_LAYOUT_H
#define CASSAFS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "meta.h"

/* Compile-time sizes (bench/data_tier.sh --sizes builds variants). */
#ifndef LAYOUT_CHUNK
#define LAYOUT_CHUNK (16u << 20)
#endif
#ifndef LAYOUT_OBJECT_MAX
#define LAYOUT_OBJECT_MAX (4u << 20)
#endif
#ifndef LAYOUT_COMPACT_SLICES
#define LAYOUT_COMPACT_SLICES 1024
#endif

struct layout;

int layout_open(struct meta *m, const char *data_url,
		const struct data_opts *o, struct layout **out, char *err,
		size_t err_len);
/* Stop the background gc (after one last pass) and close the tier. */
void layout_close(struct layout *l);
struct data *layout_data(const struct layout *l);
struct meta *layout_meta(const struct layout *l);
/* Start the background gc thread (a mount does; the CLI does not). */
int layout_start_gc(struct layout *l);
/* Ask the background gc to run soon. */
void layout_kick_gc(struct layout *l);

/* ---- writes: upload, then commit in the caller's transaction ---- */

/* A range of new file contents; pieces of one batch do not overlap. */
struct layout_piece {
	uint64_t off;
	const uint8_t *buf;
	size_t len;
};
struct layout_batch;

/* Upload the pieces as objects (outside any transaction). */
int layout_upload(struct layout *l, uint64_t ino,
		  const struct layout_piece *p, size_t n,
		  struct layout_batch **out);
/* In the caller's transaction: add the batch's slices to in's chunks,
 * the reference counts, in->blocks and the block counter (in is written
 * by the caller).  Safe to run again on a retry. */
int layout_commit_txn(struct store_txn *t, struct layout *l,
		      struct layout_batch *b, struct meta_inode *in);
/* After the transaction, with its result: 0 (committed: compacts the
 * chunks that need it), -EIO (the engine failed: the commit may have been
 * applied, so the objects stay; an unreferenced one is left to gc's sweep)
 * or another error (not applied: the objects are deleted).  Frees b. */
void layout_batch_done(struct layout *l, struct layout_batch *b,
		       int result);

/* ---- reads ---- */

/* Read [off, off+len) of ino's stored contents into buf (holes and
 * ranges past the records read as zeros); the caller clamps to the size. */
int layout_read(struct layout *l, uint64_t ino, uint64_t off, uint8_t *buf,
		size_t len);
/*
 * The same, the records taken from the store's client cache where the
 * server keeps it honest (meta_read_cached): each record one the store
 * held a moment ago, so a read after another mount's close sees that
 * close (its invalidation arrives before its reply; store_redis_track.c).
 * An object missing (the record was a moment old and gc ran) makes it
 * read the records again, checked.  For the read path (vfs_read).
 */
int layout_read_cached(struct layout *l, uint64_t ino, uint64_t off,
		       uint8_t *buf, size_t len);

/* ---- changes made inside the caller's transaction ---- */

/* Drop everything at and past new_size (also allocation past the end). */
int layout_truncate_txn(struct store_txn *t, struct layout *l,
			struct meta_inode *in, uint64_t new_size);

enum layout_alloc {
	LAYOUT_ALLOC_HOLES, /* fallocate 0 / KEEP_SIZE: holes become allocated */
	LAYOUT_ALLOC_ZERO,  /* ZERO_RANGE: zeros, allocated */
	LAYOUT_ALLOC_PUNCH, /* PUNCH_HOLE: zeros, not allocated */
};
int layout_alloc_txn(struct store_txn *t, struct layout *l,
		     struct meta_inode *in, uint64_t off, uint64_t len,
		     enum layout_alloc how);
/* How many block-size blocks of [off, off+len) are holes now (the space
 * an allocation needs). */
int layout_holes_txn(struct store_txn *t, struct layout *l, uint64_t ino,
		     uint64_t off, uint64_t len, uint64_t *holes);

/* Make [off_out, off_out+len) of out the same contents as [off_in, …) of
 * src by sharing src's objects (no byte is copied). */
int layout_copy_txn(struct store_txn *t, struct layout *l,
		    const struct meta_inode *src, uint64_t off_in,
		    struct meta_inode *out, uint64_t off_out, uint64_t len);

/* ---- garbage and checks ---- */

struct layout_gc_report {
	uint64_t released;   /* slice records of purged files processed */
	uint64_t deleted;    /* dead objects deleted from the tier */
	uint64_t leaked;     /* objects in the tier nothing refers to */
	uint64_t leaked_bytes;
	uint64_t missing;    /* referenced objects not in the tier */
	uint64_t objects, bytes; /* referenced objects */
	uint64_t bad_refs;   /* reference counts that differ from the slices */
	uint64_t fenced;     /* unreferenced, but at or above the fence: kept */
	uint64_t fenced_bytes;
};
/* One gc pass: released records, then dead objects.  With sweep, also
 * list the tier and delete objects nothing refers to (only safe when no
 * other mount is uploading: the caller checks) — or, with dry_run, only
 * count what would go. */
int layout_gc(struct layout *l, int sweep, int dry_run,
	      struct layout_gc_report *rep);
/*
 * The same, sweeping only unreferenced objects whose id is below fence
 * (UINT64_MAX: all, when no mount is live).  With mounts live, the fence
 * is layout_sweep_fence's: below it no live mount has an upload in flight
 * or will ever make one, so an unreferenced object there is a leak.
 */
int layout_gc_fenced(struct layout *l, int sweep, uint64_t fence, int dry_run,
		     struct layout_gc_report *rep);
/*
 * The fence for an online sweep: the lowest upload floor among the mount
 * records refreshed in the last stale_s seconds, and the id counter.  0
 * (nothing may go) if a live mount publishes no floor, or if one of the
 * coordinator's live sessions (live, nlive) has no fresh record with one.
 */
int layout_sweep_fence(struct layout *l, const uint64_t *live, size_t nlive,
		       int stale_s, uint64_t *fence);
/* This mount's upload floor (in its mount record's transaction): no
 * upload of it in flight, and none it makes later, has a lower id. */
int layout_floor_txn(struct store_txn *t, struct layout *l, uint64_t *floor);
/* How long an upload whose commit outcome is unknown keeps the floor
 * (default 120 s; tests shorten it). */
void layout_set_grace(struct layout *l, int seconds);

/* fsck: compare references with the tier and the slice records; with
 * repair, fix reference counts and drop references to missing objects'
 * counts (the bytes are lost: those ranges read as zeros). */
int layout_check(struct layout *l, int repair, struct layout_gc_report *rep);

/* Delete every object of the filesystem from the tier: all the tier lists
 * under the filesystem's prefix and all the metadata refers to (mkfs
 * --force, before the metadata goes).  deleted counts the deletes sent
 * (a missing object is not an error).  Stops at the first failure. */
int layout_destroy(struct layout *l, uint64_t *deleted);

/* Blocks ino's layout records count (fsck). */
int layout_blocks_txn(struct store_txn *t, uint64_t ino, uint64_t *blocks);

/* Referenced objects and their bytes (the counters). */
int layout_usage_txn(struct store_txn *t, uint64_t *objects,
		     uint64_t *bytes);

/* Apply fn to each block-size block of ino's contents that holds data
 * (dump): idx, bytes (trailing zeros trimmed).  Reads outside any
 * transaction. */
typedef int (*layout_block_fn)(void *arg, uint64_t idx, const void *data,
			       size_t len);
int layout_scan_blocks(struct layout *l, uint64_t ino, uint64_t size,
		       layout_block_fn fn, void *arg);

#endif
