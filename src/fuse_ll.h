/*
 * fuse_ll.h — the FUSE low-level adapter: mounts a vfs and serves it.
 */
#ifndef CASSAFS_FUSE_LL_H
#define CASSAFS_FUSE_LL_H

#include "vfs.h"

struct fuse_ll_options {
	/* what the user asked the kernel to cache (negative: not given);
	 * vfs_cache_policy() decides */
	double attr_timeout, entry_timeout, negative_timeout;
	int max_threads;
	const char *fsname; /* shown as the mount's source */
	char *fuse_opts;    /* comma-separated options for the kernel mount */
	int debug;
	int no_acl;          /* -o noacl: no POSIX ACLs (kernel mode checks only) */
};

struct fuse_ll;

/* Create the session and mount it at mountpoint. */
int fuse_ll_mount(struct vfs *v, const char *mountpoint,
		  const struct fuse_ll_options *o, struct fuse_ll **out,
		  char *err, size_t err_len);
/* Serve requests until unmounted or signalled; then unmount.  The vfs
 * gets no further call from the kernel: the caller flushes it. */
int fuse_ll_run(struct fuse_ll *f);
/* Never calls into the vfs, so it may (and, while the coordinator may
 * still deliver change notices to the adapter, must) come after vfs_free
 * and coord_close. */
void fuse_ll_free(struct fuse_ll *f);

#endif
