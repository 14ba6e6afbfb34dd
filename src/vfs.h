/*
 * vfs.h — POSIX semantics over meta: permissions and ownership of new
 * files, timestamps, link counts, rename rules, open files and their write
 * buffers, unlinked-but-open files, lookup counts.
 *
 * The FUSE adapter (fuse_ll.c) decodes requests into these calls and
 * encodes the results; nothing here knows about FUSE.  Every function
 * returns 0 (or a byte count) on success and a negative errno on failure.
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
	int ngroups; /* supplementary groups filled in (0 if not needed) */
	gid_t groups[64];
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

struct vfs_options {
	size_t max_dirty_per_file; /* bytes buffered per file before a flush */
	size_t max_dirty_total;    /* bytes buffered in all files */
};

struct vfs;
struct vfs_file;

int vfs_new(struct meta *m, struct coord *c, const struct vfs_options *o,
	    struct vfs **out);
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
ssize_t vfs_write(struct vfs *v, struct vfs_file *f, const char *buf,
		  size_t size, off_t off);
int vfs_flush(struct vfs *v, struct vfs_file *f);
int vfs_release(struct vfs *v, struct vfs_file *f);
int vfs_fsync(struct vfs *v, struct vfs_file *f, int datasync);
int vfs_fallocate(struct vfs *v, struct vfs_file *f, int mode, off_t off,
		  off_t len);
/* copy_file_range: copy up to len bytes (fewer at the source's end of
 * file; at most 1 GiB a call) inside the store, no data through FUSE.
 * Returns the bytes copied. */
ssize_t vfs_copy_range(struct vfs *v, struct vfs_file *fin, off_t off_in,
		       struct vfs_file *fout, off_t off_out, size_t len);

/*
 * Directory listing from offset off (0 = start).  fill() is called per
 * entry with the offset of the entry after it; it returns 0 if the entry
 * was taken, 1 if the buffer is full.  With plus, attr is filled and a
 * taken entry counts as a lookup (except "." and "..", given with ino 0).
 */
typedef int (*vfs_fill_fn)(void *arg, const char *name,
			   const struct vfs_entry *e, off_t next_off);
int vfs_readdir(struct vfs *v, uint64_t ino, off_t off, int plus,
		vfs_fill_fn fill, void *arg);
int vfs_opendir(struct vfs *v, uint64_t ino, struct vfs_file **f);
int vfs_releasedir(struct vfs *v, struct vfs_file *f);
int vfs_fsyncdir(struct vfs *v, uint64_t ino);
int vfs_statfs(struct vfs *v, struct statvfs *st);
int vfs_access(struct vfs *v, const struct vfs_ctx *c, uint64_t ino, int mask);

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
