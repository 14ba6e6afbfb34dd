/*
 * vfs.h — POSIX semantics over meta: permissions and ownership of new
 * files, timestamps, link counts, rename rules, open files and their write
 * buffers, unlinked-but-open files, lookup counts.
 *
 * The FUSE adapter (fuse_ll.c) decodes requests into these calls and
 * encodes the results; nothing here knows about FUSE.  Every function
 * returns 0 (or a byte count) on success and a negative errno on failure.
 *
 * Several mounts: the coherence policy lives here too — what the kernel
 * may cache (vfs_cache_policy), which inodes this mount holds open in the
 * store so that an unlink elsewhere keeps them (vfs_open/vfs_release), the
 * mount's session record (vfs_mount), record locks across mounts
 * (vfs_getlk/vfs_setlk) and the change notices that drop kernel caches
 * (vfs_watch).  An operation on an inode that another mount removed
 * answers -ESTALE, so the kernel looks the name up again.
 */
#ifndef CASSAFS_VFS_H
#define CASSAFS_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "coord.h"
#include "meta.h"

/* Who is asking. */
struct vfs_ctx {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int ngroups; /* supplementary groups filled in (0 if not needed;
		      * < 0: ask fetch_groups when a rule needs them) */
	gid_t groups[64];
	int (*fetch_groups)(const struct vfs_ctx *c, gid_t *out, int max);
	void *fetch_arg;
	mode_t umask; /* to apply at create unless a default ACL rules (0:
		       * the kernel applied it already) */
};

struct vfs_entry {
	uint64_t ino;
	struct stat attr;
};

/* setattr field mask (same meaning as FUSE's FUSE_SET_ATTR_*) */
enum {
	VFS_SET_MODE = 1 << 0,
	VFS_SET_UID = 1 << 1,
	VFS_SET_GID = 1 << 2,
	VFS_SET_SIZE = 1 << 3,
	VFS_SET_ATIME = 1 << 4,
	VFS_SET_MTIME = 1 << 5,
	VFS_SET_ATIME_NOW = 1 << 7,
	VFS_SET_MTIME_NOW = 1 << 8,
	VFS_SET_CTIME = 1 << 10,
};

/* When a read updates atime (mount -o relatime, noatime, strictatime). */
enum vfs_atime {
	VFS_ATIME_RELATIME, /* if atime <= mtime or ctime, or a day old */
	VFS_ATIME_NOATIME,  /* never */
	VFS_ATIME_STRICT,   /* on every read */
};

struct vfs_options {
	size_t max_dirty_per_file; /* bytes buffered per file before a flush */
	size_t max_dirty_total;    /* bytes buffered in all files */
	enum vfs_atime atime;
	/* file of KEY=VALUE credentials of the data tier (NULL: environment) */
	const char *data_secrets;
	/* the local read cache of a remote data tier (data_opts) */
	const char *cache_dir;
	uint64_t cache_size;
};

struct vfs;
struct vfs_file;

int vfs_new(struct meta *m, struct coord *c, const struct vfs_options *o,
	    struct vfs **out);
/* The same, with the reason of a failure in why (vfs_new logs it). */
int vfs_new_why(struct meta *m, struct coord *c, const struct vfs_options *o,
		 struct vfs **out, char *why, size_t why_len);
/*
 * Join the filesystem as a mount at mountpoint: register with the
 * coordinator (an error names the holder if it allows one mount only),
 * record this mount's session in the store, release what mounts that
 * ended without unmounting held open, reclaim the unlinked inodes nobody
 * holds, and keep the record fresh until vfs_free().
 */
int vfs_mount(struct vfs *v, const char *mountpoint, char *err,
	      size_t err_len);
/* Drop the holds and records of sessions the coordinator no longer lists
 * (run by every mount now and then); counts what it did. */
int vfs_reap_sessions(struct vfs *v, uint64_t *sessions, uint64_t *purged);

/*
 * What the kernel may cache.  asked: what the user asked for (a negative
 * timeout = not given).  A single mount caches for 60 s by default; where
 * several mounts share the filesystem, attributes and "no such name" are
 * not cached by default (close-to-open), names for 1 s at most (change
 * notices drop them sooner), the page cache is dropped at open, and a
 * longer timeout asked for is refused with a warning in the log — except
 * attr_timeout when the store's cache is tracked (store_tracking): every
 * inode change the store tells of then drops the kernel's attributes, and
 * open drops them too.
 */
struct vfs_cache {
	double attr_timeout, entry_timeout, negative_timeout;
	int keep_cache; /* keep the page cache across opens */
};
void vfs_cache_policy(struct vfs *v, const struct vfs_cache *asked,
		      struct vfs_cache *out);
/* The attribute timeout of a reply made now: c's, or 0 on a shared mount
 * while the store may miss changes (its invalidation link is down). */
double vfs_attr_timeout(struct vfs *v, const struct vfs_cache *c);

/* The kernel's caches, as the adapter lets the vfs drop entries of them. */
struct vfs_kernel {
	void (*inval_inode)(void *arg, uint64_t ino);
	/* attributes only: safe inside a request handler (no page locks) */
	void (*inval_attr)(void *arg, uint64_t ino);
	void (*inval_entry)(void *arg, uint64_t parent, const char *name,
			    size_t len);
	void *arg;
};
/* Drop kernel caches when other mounts change things (k NULL: stop; after
 * vfs_watch(v, NULL) returns, no callback of the old k runs). */
int vfs_watch(struct vfs *v, const struct vfs_kernel *k);
/* Flush every buffer; the vfs stays usable. */
int vfs_flush_all(struct vfs *v);
void vfs_free(struct vfs *v);
/* Reclaim inodes left unlinked-but-open by an earlier mount (crash). */
int vfs_purge_orphans(struct vfs *v, uint64_t *purged);
uint32_t vfs_block_size(const struct vfs *v);

/* name "." or "..": the inode parent itself or its parent directory
 * (decoding file handles); -ESTALE if that inode is gone. */
int vfs_lookup(struct vfs *v, uint64_t parent, const char *name,
	       struct vfs_entry *e);
/* Generation number of ino for file handles (ino + generation name an
 * inode for the filesystem's whole life). */
uint64_t vfs_generation(const struct vfs *v, uint64_t ino);
/* Undo nlookup lookups of ino (FUSE forget). */
void vfs_forget(struct vfs *v, uint64_t ino, uint64_t nlookup);
int vfs_getattr(struct vfs *v, uint64_t ino, struct stat *st);
int vfs_setattr(struct vfs *v, const struct vfs_ctx *c, uint64_t ino,
		const struct stat *attr, int to_set, struct stat *out);
int vfs_readlink(struct vfs *v, uint64_t ino, char *buf, size_t len);
int vfs_mknod(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	      const char *name, mode_t mode, dev_t rdev, struct vfs_entry *e);
int vfs_mkdir(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	      const char *name, mode_t mode, struct vfs_entry *e);
int vfs_symlink(struct vfs *v, const struct vfs_ctx *c, const char *target,
		uint64_t parent, const char *name, struct vfs_entry *e);
int vfs_link(struct vfs *v, uint64_t ino, uint64_t parent, const char *name,
	     struct vfs_entry *e);
int vfs_unlink(struct vfs *v, uint64_t parent, const char *name);
int vfs_rmdir(struct vfs *v, uint64_t parent, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE */
int vfs_rename(struct vfs *v, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags);

int vfs_open(struct vfs *v, const struct vfs_ctx *c, uint64_t ino, int flags,
	     struct vfs_file **f);
int vfs_create(struct vfs *v, const struct vfs_ctx *c, uint64_t parent,
	       const char *name, mode_t mode, int flags, struct vfs_entry *e,
	       struct vfs_file **f);
ssize_t vfs_read(struct vfs *v, struct vfs_file *f, char *buf, size_t size,
		 off_t off);
/* c is the writer (NULL: a trusted caller): a write by an unprivileged
 * caller outside the file's group clears set-group-ID (also at truncate,
 * fallocate and as a copy_file_range destination). */
ssize_t vfs_write(struct vfs *v, const struct vfs_ctx *c, struct vfs_file *f,
		  const char *buf, size_t size, off_t off);
/* close(2) of one descriptor: writes buffered data back and drops the
 * POSIX record locks of lock_owner on the file. */
int vfs_flush(struct vfs *v, struct vfs_file *f, uint64_t lock_owner);
/* The last descriptor of an open file is gone; flock_owner != 0 also drops
 * that owner's flock. */
int vfs_release(struct vfs *v, struct vfs_file *f, uint64_t flock_owner);
int vfs_fsync(struct vfs *v, struct vfs_file *f, int datasync);
int vfs_fallocate(struct vfs *v, const struct vfs_ctx *c, struct vfs_file *f,
		  int mode, off_t off, off_t len);
/* copy_file_range: copy up to len bytes (fewer at the source's end of
 * file; at most 1 GiB a call) inside the store, no data through FUSE.
 * Returns the bytes copied. */
ssize_t vfs_copy_range(struct vfs *v, const struct vfs_ctx *ctx,
		       struct vfs_file *fin, off_t off_in, struct vfs_file *fout,
		       off_t off_out, size_t len);

/*
 * Directory listing from offset off (0 = start), at most max_entries
 * entries (what the caller's buffer can hold at best).  fill() is called
 * per entry, after the store transaction, with the offset of the entry
 * after it; it returns 0 if the entry was taken, 1 if the buffer is full.
 * With plus, attr is filled and a taken entry counts as a lookup (except
 * "." and "..", given with ino 0).
 */
typedef int (*vfs_fill_fn)(void *arg, const char *name,
			   const struct vfs_entry *e, off_t next_off);
int vfs_readdir(struct vfs *v, uint64_t ino, off_t off, int plus,
		size_t max_entries, vfs_fill_fn fill, void *arg);
int vfs_opendir(struct vfs *v, uint64_t ino, struct vfs_file **f);
int vfs_releasedir(struct vfs *v, struct vfs_file *f);
int vfs_fsyncdir(struct vfs *v, uint64_t ino);
int vfs_statfs(struct vfs *v, struct statvfs *st);
int vfs_access(struct vfs *v, const struct vfs_ctx *c, uint64_t ino, int mask);

/*
 * Record locks (fcntl) and flock across mounts, where the coordinator
 * provides them (vfs_has_locks); the kernel handles them otherwise.  end
 * is inclusive (UINT64_MAX: to the end of the file).
 */
struct vfs_lock {
	uint64_t owner;
	uint64_t start, end;
	int type; /* F_RDLCK, F_WRLCK, F_UNLCK */
	pid_t pid;
	int flock;
};
int vfs_has_locks(const struct vfs *v);
/* In: the lock wanted.  Out: a conflicting lock, or type F_UNLCK. */
int vfs_getlk(struct vfs *v, uint64_t ino, struct vfs_lock *l);
/*
 * Take or release a lock.  Without wait, or when the lock is free, the
 * result is returned (0, -EAGAIN, …).  With wait and a busy lock, the wait
 * goes on on a thread of the vfs, not the caller's: vfs_setlk returns
 * VFS_PENDING, and done(arg, result) is called once, from that thread.
 * vfs_lock_cancel ends such a wait with -EINTR (a signal); a lock granted
 * as the wait was cancelled is given back and the result is -EINTR.
 */
#define VFS_PENDING 1
typedef void (*vfs_lock_done_fn)(void *arg, int result);
int vfs_setlk(struct vfs *v, uint64_t ino, const struct vfs_lock *l, int wait,
	      vfs_lock_done_fn done, void *arg);
void vfs_lock_cancel(struct vfs *v, uint64_t ino, uint64_t owner);
/* End every lock wait (-EINTR) and return when their done() calls are
 * over: before the adapter that gets those calls goes away. */
void vfs_end_lock_waits(struct vfs *v);

/* system.posix_acl_access / _default are POSIX ACLs (acl.h): setting the
 * access ACL sets the mode's permission bits, chmod updates the ACL, and
 * a directory's default ACL is inherited at create instead of the umask. */
void vfs_enable_acl(struct vfs *v, int on); /* off until the kernel agrees */
int vfs_setxattr(struct vfs *v, uint64_t ino, const char *name,
		 const void *val, size_t size, int flags);
/* size 0: return the value's size; -ERANGE if size is too small */
ssize_t vfs_getxattr(struct vfs *v, uint64_t ino, const char *name,
		     void *buf, size_t size);
ssize_t vfs_listxattr(struct vfs *v, uint64_t ino, char *buf, size_t size);
int vfs_removexattr(struct vfs *v, uint64_t ino, const char *name);

#endif
