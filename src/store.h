/*
 * store.h — the wide-row store interface (families → rows → columns).
 *
 * Every engine (store_lmdb.c, store_redis.c, …) fills a struct store_ops;
 * store_open() picks the engine once from the URL scheme and nothing above
 * this header ever asks which engine it is talking to.
 *
 * Model: a family holds rows keyed by a u64; a row holds columns keyed by
 * byte strings (1..STORE_MAX_COLUMN bytes) compared with memcmp order
 * (shorter first on a common prefix); a column holds a byte value of up to
 * STORE_MAX_VALUE bytes.
 *
 * All access goes through transactions.  A read-write transaction sees its
 * own writes; its commit is atomic and either applies every put/delete/add
 * or none.  Commit may answer -EAGAIN ("conflict, run the whole operation
 * again"); callers loop.
 *
 * The transaction contract, which every engine keeps and every caller
 * relies on:
 *   - Reads are live, not a snapshot: a get or scan returns what the store
 *     holds at that moment (plus the transaction's own writes), and every
 *     row read is validated at commit.  If another client changed any of
 *     them meanwhile, commit answers -EAGAIN and applies nothing, so a
 *     committed transaction saw one consistent state.  Two reads inside
 *     one transaction may disagree (a change landed between them); the
 *     body must tolerate that and will be retried.
 *   - Read-only transactions are validated too: meta_read() retries them;
 *     STORE_LIVE transactions (meta_read_live) are not.
 *   - A value may come from a client cache (Redis engine) and be stale;
 *     commit and store_validate check it, so only a body that ends
 *     without either may act on a stale value.
 *   - Therefore a transaction body may run several times.  It must have
 *     no effect outside the transaction: everything it gathers (a reply
 *     buffer, a list of inodes, a lookup count, a log line) is reset at
 *     its start or applied only after the commit succeeded.
 * Errors are negative errno values:
 *   -ENOENT  no such column        -EAGAIN  conflict, retry
 *   -ENOSPC  store full            -EIO     engine or server failure
 *   -EINVAL  bad argument          -ENOMEM  out of memory
 */
#ifndef CASSAFS_STORE_H
#define CASSAFS_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_family {
	STORE_SUPER = 0,  /* row 0: superblock columns; counters */
	STORE_INODE = 1,  /* row ino: column "a" = packed attributes */
	STORE_DIR = 2,    /* row parent ino: column name = child entry */
	STORE_BLOCK = 3,  /* row ino: column be64(index) = block data */
	STORE_XATTR = 4,  /* row ino: column name = value */
	STORE_ORPHAN = 5, /* row 0: column be64(ino) = unlinked but open */
	STORE_SESSION = 6, /* row 0: column be64(id) = a mount's record;
			      row id: column be64(ino) = held open there */
	STORE_HOLDER = 7,  /* row ino: column be64(mount id) = holds it open */
	STORE_LAYOUT = 8,  /* row ino: column be64(chunk) = the chunk's slices */
	STORE_OBJREF = 9,  /* row 0: be64(object id) = references, size;
			      row 1: be64(ino) ‖ be64(chunk) = released slices;
			      row 2: be64(object id) = unreferenced, to delete */
	STORE_OBJECT = 10, /* row 0: key ‖ 0 ‖ be32(part) = an object of the
			      `store` data engine (src/data_store.c) */
	STORE_FAMILIES
};

#define STORE_MAX_COLUMN 320      /* bytes of a column key (a name + 8) */
#define STORE_MAX_VALUE (1u << 20) /* bytes of one value */

/* store_open flags */
#define STORE_CREATE 0x1 /* create the store if it does not exist (mkfs) */

/* store_txn_begin flags */
#define STORE_RDONLY 0x1
/* Read-only and not validated: each get and each scanned value is read
 * atomically, but the transaction as a whole may see several states (a
 * listing of a directory that other mounts change).  Never conflicts. */
#define STORE_LIVE 0x2
/* Read-only, and values may come without a check from a client cache that
 * the server keeps up to date (it tells the engine of every change; see
 * store_tracking): each value read is one the store held a short, bounded
 * time ago, or is checked as under STORE_RDONLY.  Two reads may come from
 * different instants; the transaction never conflicts on a value taken
 * that way.  An engine without such a cache treats it as STORE_RDONLY. */
#define STORE_CACHED 0x4

/* store_tracking: is the engine's cache kept up to date by the server? */
enum {
	STORE_TRACK_NONE = 0, /* no such cache: STORE_CACHED = STORE_RDONLY */
	STORE_TRACK_DOWN = 1, /* there is, but changes may be missed now */
	STORE_TRACK_UP = 2,   /* every change reaches the engine */
};

/*
 * A change someone (any client, this one included) made to row (fam, row),
 * told by the server; fam < 0: changes may have been missed, treat every
 * row as changed.  Called on an engine thread, never inside a transaction
 * of the caller's; it must not call back into the store.
 */
typedef void (*store_change_fn)(void *arg, int fam, uint64_t row);

struct store;
struct store_txn;

/* One column of a batched read (store_get_many) and its answer. */
struct store_key {
	uint64_t row;
	const void *col;
	size_t col_len;
};
struct store_val {
	int r; /* 0 or -ENOENT */
	const void *val;
	size_t len;
};

/*
 * Scan callback: called for each column >= start in ascending order.
 * Return 0 to continue, > 0 to stop (store_scan then returns that value),
 * < 0 to abort with that error.  col/val are valid only during the call.
 */
typedef int (*store_scan_fn)(void *arg, const void *col, size_t col_len,
			     const void *val, size_t val_len);

struct store_ops {
	const char *scheme; /* "lmdb", "redis", … */
	/* url is the full URL; on failure write a human message to err */
	int (*open)(const char *url, int flags, struct store **out, char *err,
		    size_t err_len);
	void (*close)(struct store *s);
	int (*txn_begin)(struct store *s, int flags, struct store_txn **out);
	int (*get)(struct store_txn *t, int fam, uint64_t row, const void *col,
		   size_t col_len, const void **val, size_t *val_len);
	int (*put)(struct store_txn *t, int fam, uint64_t row, const void *col,
		   size_t col_len, const void *val, size_t val_len);
	int (*del)(struct store_txn *t, int fam, uint64_t row, const void *col,
		   size_t col_len);
	int (*del_row)(struct store_txn *t, int fam, uint64_t row);
	int (*scan)(struct store_txn *t, int fam, uint64_t row,
		    const void *start, size_t start_len, store_scan_fn fn,
		    void *arg);
	int (*add)(struct store_txn *t, int fam, uint64_t row, const void *col,
		   size_t col_len, int64_t delta);
	int (*commit)(struct store_txn *t);
	/* optional (NULL: every read is current when made) */
	int (*validate)(struct store_txn *t);
	/* optional (NULL: nothing to remember) */
	int (*hint_empty)(struct store_txn *t, int fam, uint64_t row);
	/* optional (NULL: store.c does them with get and put) */
	int (*get_except)(struct store_txn *t, int fam, uint64_t row,
			  const void *col, size_t col_len, size_t skip_off,
			  size_t skip_len, const void **val, size_t *val_len);
	int (*put_max_time)(struct store_txn *t, int fam, uint64_t row,
			    const void *col, size_t col_len, size_t off,
			    const uint8_t time[12]);
	int (*add_le32)(struct store_txn *t, int fam, uint64_t row,
			const void *col, size_t col_len, size_t off,
			int32_t delta);
	int (*get_many)(struct store_txn *t, int fam, size_t n,
			const struct store_key *keys, struct store_val *out);
	void (*abort)(struct store_txn *t);
	/* optional (NULL: STORE_TRACK_NONE; no change is ever told) */
	int (*tracking)(struct store *s);
	int (*watch)(struct store *s, store_change_fn fn, void *arg);
	int (*sync)(struct store *s);
	/* optional: 1 and a warning in warn when acknowledged (synced)
	 * writes may not survive a server crash, else 0 */
	int (*durability)(struct store *s, char *warn, size_t len);
	/* optional: capacity and free bytes of the storage behind the store */
	int (*space)(struct store *s, uint64_t *total, uint64_t *avail);
	/* Release memory of a store file/database entirely (used by tests);
	 * may be NULL. */
	int (*destroy)(const char *url, char *err, size_t err_len);
};

/* The engine table behind every struct store; engines embed this first. */
struct store {
	const struct store_ops *ops;
	char *url;
};
struct store_txn {
	struct store *store;
};

/* Open the store named by url ("lmdb:///path", "redis://host:port/db", …). */
int store_open(const char *url, int flags, struct store **out, char *err,
	       size_t err_len);
void store_close(struct store *s);
/* Remove every byte of the store behind url (tests and `mkfs --force`). */
int store_destroy(const char *url, char *err, size_t err_len);

int store_txn_begin(struct store *s, int flags, struct store_txn **out);
/*
 * *val points into memory owned by the transaction; it stays valid until
 * the next put/del/add in this transaction or until the transaction ends.
 */
int store_get(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, const void **val, size_t *val_len);
/*
 * n gets of family fam at once, as if made one after the other with
 * store_get (the same validation, caching and own-write rules), but in
 * one round trip for all that need the server.  out[i].r is 0 (val, len
 * set; valid as store_get's) or -ENOENT; the call returns 0 or the first
 * other error (then out is undefined).
 */
int store_get_many(struct store_txn *t, int fam, size_t n,
		   const struct store_key *keys, struct store_val *out);
int store_put(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, const void *val, size_t val_len);
/* Deleting an absent column is not an error. */
int store_del(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len);
/* Delete every column of a row. */
int store_del_row(struct store_txn *t, int fam, uint64_t row);
/* Scan a row's columns starting at the first column >= start
 * (start_len 0 = from the beginning). */
int store_scan(struct store_txn *t, int fam, uint64_t row, const void *start,
	       size_t start_len, store_scan_fn fn, void *arg);
/*
 * Add delta to a counter column (8-byte big-endian signed value; absent
 * counts as 0).  Counter adds commute: engines apply them without making
 * the transaction conflict with other adders of the same counter.  A
 * counter read inside the same transaction may not reflect the add.
 */
int store_add(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, int64_t delta);
/* 0 on success, -EAGAIN on conflict (nothing applied), other -errno.
 * The transaction is freed in every case. */
int store_commit(struct store_txn *t);
/*
 * 0 if every read of the transaction still holds, -EAGAIN if one changed
 * (run the operation again), other -errno; applies nothing and leaves the
 * transaction open.  For an operation that fails on what it read (ENOENT,
 * EEXIST, ENOTEMPTY, …) and so ends in store_abort: an engine that serves
 * reads from a client cache checks them here, as commit would.
 */
int store_validate(struct store_txn *t);
/*
 * The caller knows row (fam, row) has no column (a row of an inode this
 * transaction creates): an engine with a client cache may note it so that
 * a later scan of the row costs nothing.  Only a hint: a cached "empty"
 * is checked at commit like every cached read, so a wrong one costs a
 * retry, never a wrong result.
 */
int store_hint_empty(struct store_txn *t, int fam, uint64_t row);
/*
 * A get whose transaction does not depend on the skip_len bytes at
 * skip_off of the value: another client changing only those does not make
 * it conflict (it does if it changes any other byte, the length, or
 * removes the column).  For a parent directory whose times concurrent
 * creates in it update with store_put_max_time.
 */
int store_get_except(struct store_txn *t, int fam, uint64_t row,
		     const void *col, size_t col_len, size_t skip_off,
		     size_t skip_len, const void **val, size_t *val_len);
/*
 * The 12 bytes at off of the column's value hold a time (le64 seconds,
 * le32 nanoseconds, seconds >= 0): make them time if that is later, in
 * the store at commit, without reading them first (so two transactions
 * doing this to one column commute and do not conflict).  Nothing happens
 * if the column is absent or too short.  A get in the same transaction
 * may not reflect it.
 */
int store_put_max_time(struct store_txn *t, int fam, uint64_t row,
		       const void *col, size_t col_len, size_t off,
		       const uint8_t time[12]);
/*
 * The 4 bytes at off of the column's value hold a le32 count: add delta
 * to it (modulo 2^32) in the store at commit, without reading it first,
 * so two transactions doing this to one column commute and do not
 * conflict (a directory's link count, changed by mkdir and rmdir of
 * subdirectories).  Nothing happens if the column is absent or too
 * short.  A get in the same transaction may not reflect it.
 */
int store_add_le32(struct store_txn *t, int fam, uint64_t row,
		   const void *col, size_t col_len, size_t off, int32_t delta);
/* Drop every change; the transaction is freed. */
void store_abort(struct store_txn *t);
/* STORE_TRACK_NONE, _DOWN or _UP (see STORE_CACHED). */
int store_tracking(struct store *s);
/*
 * Call fn for the rows changed from now on (fn NULL: stop; when it
 * returns, no call of the old fn runs any more).  0, or -EOPNOTSUPP when
 * the engine cannot tell (STORE_TRACK_NONE).
 */
int store_watch(struct store *s, store_change_fn fn, void *arg);
/* Make every committed transaction durable, as far as the engine can:
 * on disk (LMDB), on every connected replica (Redis; docs/redis.md). */
int store_sync(struct store *s);
/* 1 with a warning for the user when the server is set up so that a
 * synced write may still be lost in a crash; 0 when not. */
int store_durability(struct store *s, char *warn, size_t len);

/* Capacity and free bytes, or -EOPNOTSUPP if the engine cannot tell. */
int store_space(struct store *s, uint64_t *total, uint64_t *avail);

/* Helpers for the u64 big-endian encoding used in column keys. */
static inline void store_be64(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t store_get_be64(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

#endif
