/*
 * meta.h — the filesystem schema on top of the store.
 *
 * meta knows how a superblock, an inode, a directory entry, a block, an
 * extended attribute and an orphan record are encoded in the store's
 * families/rows/columns, and runs transactions with retry on conflict.
 * It knows nothing of POSIX rules: vfs composes these primitives into
 * filesystem operations, each one a single meta_write() transaction.
 *
 * Layout (families from store.h):
 *   SUPER  row 0  "sb"        struct meta_super_disk
 *                 "next_ino"  counter: inode numbers handed out so far
 *                 "inodes"    counter: live inodes
 *                 "blocks"    counter: stored blocks
 *   INODE  row ino "a"        packed attributes;  "l" symlink target
 *   DIR    row parent, column be64(cookie) | name  →  be64 child | u8 type
 *          The cookie is a 63-bit hash of the name (≥ 3): it orders the
 *          entries and is the readdir offset, so an offset stays valid
 *          while other entries come and go (like ext4's hash cookies).
 *   BLOCK  row ino, column be64(index) → data (shorter than a block =
 *          zeros after it; absent = hole; one zero byte = allocated by
 *          fallocate but unwritten: reads zeros, counts as stored, may
 *          lie past the end of file)
 *   XATTR  row ino, column name → value
 *   ORPHAN row 0, column be64(ino): unlinked while still open
 */
#ifndef CASSAFS_META_H
#define CASSAFS_META_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

/* Format 2: file contents in a data tier, laid out by src/layout.c; the
 * superblock's "data" column names the tier.  Format 1 (before the data
 * tier): contents in the BLOCK family; still read and written as before
 * (`cassafs migrate-data` moves it to format 2). */
#define META_FORMAT 2
#define META_FORMAT_BLOCKS 1
#define META_DATA_URL_MAX 1024
#define META_MAGIC "CASSAFS\0"
#define META_ROOT_INO 1
#define META_NAME_MAX 255
#define META_SYMLINK_MAX 4095
#define META_XATTR_NAME_MAX 255
#define META_XATTR_SIZE_MAX 65536
#define META_XATTR_LIST_MAX 65536
#define META_DEFAULT_BLOCK_SIZE (64 * 1024)
#define META_MIN_BLOCK_SIZE 4096
#define META_MAX_BLOCK_SIZE (1024 * 1024)
#define META_MAX_FILE_SIZE (1ull << 50) /* 1 PiB: EFBIG beyond */

struct meta_super {
	uint32_t format;
	uint32_t block_size;
	char uuid[37];
	int64_t created;
	char data_url[META_DATA_URL_MAX]; /* "" in format 1 */
	/* format 1 with a data URL: `cassafs migrate-data` is moving its
	 * blocks into that tier (not mountable until it ends) */
	int migrating;
};

struct meta_inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	uint64_t rdev;
	uint64_t blocks; /* stored blocks (for st_blocks) */
	uint64_t parent; /* directories: the parent directory (for "..") */
	struct timespec atime, mtime, ctime, btime;
};

struct meta;

/* Create a new filesystem in an empty store. */
int meta_mkfs(struct store *s, uint32_t block_size, uint32_t root_uid,
	      uint32_t root_gid, char *err, size_t err_len);
/* The same, with file contents in the data tier data_url (format 2);
 * data_url NULL makes a format-1 filesystem (contents in BLOCK rows). */
int meta_mkfs_data(struct store *s, uint32_t block_size, uint32_t root_uid,
		   uint32_t root_gid, const char *data_url, char *err,
		   size_t err_len);
/* Check the superblock and return a handle (store stays owned by caller). */
int meta_open(struct store *s, struct meta **out, char *err, size_t err_len);
void meta_close(struct meta *m);
const struct meta_super *meta_super(const struct meta *m);
struct store *meta_store(const struct meta *m);

/*
 * Run fn inside a read-write transaction, retrying the whole function
 * while commit reports a conflict.  fn returns 0 to commit, < 0 to abort
 * with that error, > 0 to commit and return that value.
 */
typedef int (*meta_txn_fn)(struct store_txn *t, void *arg);
int meta_write(struct meta *m, meta_txn_fn fn, void *arg);
/* Run fn inside a read-only transaction. */
int meta_read(struct meta *m, meta_txn_fn fn, void *arg);
/* Run fn inside a read-only transaction that is not validated (STORE_LIVE):
 * for listings, whose entries need not come from one instant. */
int meta_read_live(struct meta *m, meta_txn_fn fn, void *arg);

/*
 * Run fn read-only, taking values the store's client cache holds under the
 * server's invalidation without a round trip (STORE_CACHED): each value is
 * one the store held a moment ago, and two may be from different moments.
 * When fn fails with -ESTALE or -EIO (an inode gone, an entry naming one
 * that is: values from different moments), it runs again as meta_read.
 */
int meta_read_cached(struct meta *m, meta_txn_fn fn, void *arg);

/* Take a fresh inode number (never reused); call outside transactions. */
int meta_alloc_ino(struct meta *m, uint64_t *ino);

/* Never hand out inode numbers <= upto (load keeps the dump's numbers). */
int meta_reserve_inos(struct store_txn *t, uint64_t upto);

/* Take one inode number inside a read-write transaction (fsck). */
int meta_alloc_ino_txn(struct store_txn *t, uint64_t *ino);

/* Inodes */
int meta_inode_get(struct store_txn *t, uint64_t ino, struct meta_inode *out);
/* n inodes at once (store_get_many): res[i] 0 (out[i] set) or -ENOENT. */
int meta_inode_get_many(struct store_txn *t, size_t n, const uint64_t *inos,
			struct meta_inode *out, int *res);
int meta_inode_put(struct store_txn *t, const struct meta_inode *in);
/*
 * A directory that gets or loses an entry: read it without depending on
 * its link count, size, atime, mtime and ctime (their values in *out may
 * be old), set mtime and ctime to now with meta_dir_touch — a later time
 * wins, in the store — and, for a subdirectory made or removed, change
 * its link count with meta_dir_link_count (an add in the store), instead
 * of meta_inode_put.  So creates, unlinks, mkdirs and rmdirs by several
 * mounts in one directory do not conflict on it.  The directory's removal
 * (nlink 0) still conflicts: meta_inode_put marks it outside those bytes.
 */
int meta_dir_get_for_entry(struct store_txn *t, uint64_t ino,
			   struct meta_inode *out);
int meta_dir_touch(struct store_txn *t, uint64_t ino, const struct timespec *now);
int meta_dir_link_count(struct store_txn *t, uint64_t ino, int delta);
/* in is new: tell the store that its entry and holder rows are empty
 * (store_hint_empty), before anything is put there. */
int meta_inode_new_rows(struct store_txn *t, const struct meta_inode *in);
/* Remove the inode row, its symlink target, xattrs and blocks. */
int meta_inode_purge(struct store_txn *t, const struct meta_inode *in);
int meta_symlink_get(struct store_txn *t, uint64_t ino, char *buf,
		     size_t buf_len, size_t *len);
int meta_symlink_put(struct store_txn *t, uint64_t ino, const char *target,
		     size_t len);

/* Directory entries */
uint64_t meta_name_cookie(const char *name, size_t len);
int meta_dentry_get(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len, uint64_t *ino, uint8_t *type);
int meta_dentry_put(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len, uint64_t ino, uint8_t type);
int meta_dentry_del(struct store_txn *t, uint64_t parent, const char *name,
		    size_t len);
/* fn returns 0 to go on, > 0 to stop; cookie is the entry's own cookie. */
typedef int (*meta_dentry_fn)(void *arg, const char *name, size_t len,
			      uint64_t ino, uint8_t type, uint64_t cookie);
/* Walk entries whose cookie is >= from_cookie. */
int meta_dir_scan(struct store_txn *t, uint64_t parent, uint64_t from_cookie,
		  meta_dentry_fn fn, void *arg);
/* 1 if the directory has no entries, 0 if it has, < 0 on error. */
int meta_dir_is_empty(struct store_txn *t, uint64_t parent);

/* Blocks: *data is valid until the next write in the transaction. */
int meta_block_get(struct store_txn *t, uint64_t ino, uint64_t idx,
		   const void **data, size_t *len);
/* Store a block; trailing zeros are trimmed; an all-zero block becomes a
 * hole.  Keeps in->blocks and the global block counter right. */
int meta_block_put(struct store_txn *t, struct meta_inode *in, uint64_t idx,
		   const void *data, size_t len);
/* Mark block idx allocated (fallocate): stored as one zero byte if it is a
 * hole, or, with zero, also if it holds data.  Keeps the counters right. */
int meta_block_alloc(struct store_txn *t, struct meta_inode *in, uint64_t idx,
		     int zero);
/* 1 if a stored block value is such an allocation mark. */
static inline int meta_block_is_mark(const void *data, size_t len)
{
	return len == 1 && !*(const uint8_t *)data;
}
/* Drop blocks >= first_idx and zero bytes of block first_idx-1 from
 * keep_bytes on (keep_bytes 0 = keep that block whole). */
int meta_blocks_truncate(struct store_txn *t, struct meta_inode *in,
			 uint64_t new_size, uint32_t block_size);
typedef int (*meta_block_fn)(void *arg, uint64_t idx, const void *data,
			     size_t len);
int meta_block_scan(struct store_txn *t, uint64_t ino, uint64_t from_idx,
		    meta_block_fn fn, void *arg);

/* Record the data tier and the format in the superblock (migrate-data:
 * format 1 with a URL while moving, then format 2). */
int meta_super_set_data(struct store_txn *t, const char *data_url,
			uint32_t format);

/* Move ino's layout records (STORE_LAYOUT) to gc's released list. */
int meta_layout_release(struct store_txn *t, uint64_t ino);
/* Add delta to the stored-blocks counter. */
int meta_count_blocks(struct store_txn *t, int64_t delta);

/* Extended attributes */
int meta_xattr_get(struct store_txn *t, uint64_t ino, const char *name,
		   const void **val, size_t *len);
int meta_xattr_put(struct store_txn *t, uint64_t ino, const char *name,
		   const void *val, size_t len);
int meta_xattr_del(struct store_txn *t, uint64_t ino, const char *name);
/* Write the NUL-separated name list into buf (or just its size when
 * buf_len == 0); -ERANGE if it does not fit. */
int meta_xattr_list(struct store_txn *t, uint64_t ino, char *buf,
		    size_t buf_len, size_t *len);

/* Orphans: inodes with nlink 0 that were still open. */
int meta_orphan_add(struct store_txn *t, uint64_t ino);
int meta_orphan_del(struct store_txn *t, uint64_t ino);
typedef int (*meta_ino_fn)(void *arg, uint64_t ino);
int meta_orphan_scan(struct store_txn *t, meta_ino_fn fn, void *arg);

/*
 * Mount sessions.  Every mount keeps a record (text, key=value lines) under
 * a random 64-bit id, and notes each inode it holds open both under its
 * id and under the inode, so that an unlink anywhere knows whether another
 * mount still uses the inode, and a dead mount's holds can be dropped.
 */
int meta_session_put(struct store_txn *t, uint64_t id, const char *rec,
		     size_t len);
/* Remove a mount's record and its list of held inodes (not the holds). */
int meta_session_del(struct store_txn *t, uint64_t id);
typedef int (*meta_session_fn)(void *arg, uint64_t id, const char *rec,
			       size_t len);
int meta_session_scan(struct store_txn *t, meta_session_fn fn, void *arg);
int meta_session_held_scan(struct store_txn *t, uint64_t id, meta_ino_fn fn,
			   void *arg);
int meta_hold(struct store_txn *t, uint64_t ino, uint64_t id);
int meta_unhold(struct store_txn *t, uint64_t ino, uint64_t id);
/* How many mounts hold ino open, not counting mount `except` (0: none). */
int meta_holders(struct store_txn *t, uint64_t ino, uint64_t except,
		 uint64_t *count);

/* Usage counters */
int meta_count_inodes(struct store_txn *t, int64_t delta);
int meta_usage(struct store_txn *t, uint64_t *inodes, uint64_t *blocks,
	       uint64_t *next_ino);

/* Overwrite the usage counters (fsck --repair). */
int meta_set_usage(struct store_txn *t, uint64_t inodes, uint64_t blocks);

/* All inode numbers in use (fsck): walks the INODE family by row. */
int meta_inode_scan_all(struct store_txn *t, uint64_t max_ino,
			meta_ino_fn fn, void *arg);

#endif
