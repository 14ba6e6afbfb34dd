/*
 * fuse_ll.h — the FUSE low-level adapter: mounts a vfs and serves it.
 */
#ifndef CASSAFS_FUSE_LL_H
#define CASSAFS_FUSE_LL_H

#include "vfs.h"

struct fuse_ll_options {
	double attr_timeout, entry_timeout, negative_timeout;
	int keep_cache;    /* keep page cache across opens (single mount) */
	int max_threads;
	const char *fsname; /* shown as the mount's source */
	char *fuse_opts;    /* comma-separated options for the kernel mount */
	int debug;
	struct coord *coord; /* record locks and change notices, if it has them */
};

struct fuse_ll;

/* Create the session and mount it at mountpoint. */
int fuse_ll_mount(struct vfs *v, const char *mountpoint,
		  const struct fuse_ll_options *o, struct fuse_ll **out,
		  char *err, size_t err_len);
/* Serve requests until unmounted or signalled; then unmount.  Afterwards
 * the caller flushes the vfs itself (fuse_ll_free no longer touches it). */
int fuse_ll_run(struct fuse_ll *f);
void fuse_ll_free(struct fuse_ll *f);

#endif
