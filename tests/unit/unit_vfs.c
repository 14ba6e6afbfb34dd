/*
 * unit_vfs — POSIX rules of the vfs layer, called directly (no FUSE) on a
 * real LMDB store: link counts, rename rules, readdir offsets that survive
 * deletions, write buffering, unlinked-but-open files, and fsck afterwards.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/xattr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"
#include "test.h"
#include "vfs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif

static struct vfs *v;
static struct vfs_ctx root_ctx = {0, 0, 1, 0, {0}};

static uint64_t mk(uint64_t parent, const char *name, int dir)
{
	struct vfs_entry e;
	int r = dir ? vfs_mkdir(v, &root_ctx, parent, name, 0755, &e)
		    : vfs_mknod(v, &root_ctx, parent, name, S_IFREG | 0644, 0, &e);
	CHECK(r == 0, "create %s: %s", name, strerror(-r));
	return r == 0 ? e.ino : 0;
}

static nlink_t links(uint64_t ino)
{
	struct stat st;
	return vfs_getattr(v, ino, &st) == 0 ? st.st_nlink : 0;
}

struct listing {
	int max, got;
	char names[64][32];
	off_t last_off;
};

static int fill(void *arg, const char *name, const struct vfs_entry *e,
		off_t next)
{
	struct listing *l = arg;
	if (l->got == l->max)
		return 1;
	snprintf(l->names[l->got++], 32, "%s", name);
	l->last_off = next;
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/unit_vfs.XXXXXX", url[256], err[512];
	struct store *s;
	struct meta *m;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) ||
	    meta_mkfs(s, 4096, 0, 0, err, sizeof(err)) ||
	    meta_open(s, &m, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	struct vfs_options o = {1 << 20, 8 << 20};
	CHECK_EQ(vfs_new(m, NULL, &o, &v), 0);

	/* directory link counts */
	uint64_t a = mk(1, "a", 1), b = mk(a, "b", 1), f = mk(a, "f", 0);
	CHECK_EQ(links(1), 3);
	CHECK_EQ(links(a), 3);
	struct vfs_entry e;
	CHECK_EQ(vfs_link(v, f, 1, "f2", &e), 0);
	CHECK_EQ(links(f), 2);
	CHECK_EQ(vfs_link(v, a, 1, "alink", &e), -EPERM);
	CHECK_EQ(vfs_mkdir(v, &root_ctx, 1, "a", 0755, &e), -EEXIST);
	/* (the kernel never looks up names in a non-directory) */
	CHECK_EQ(vfs_lookup(v, f, "x", &e), -ENOENT);
	CHECK_EQ(vfs_lookup(v, 1, "nothere", &e), -ENOENT);
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	CHECK_EQ(vfs_mknod(v, &root_ctx, 1, longname, S_IFREG | 0644, 0, &e),
		 -ENAMETOOLONG);
	longname[255] = 0;
	CHECK_EQ(vfs_mknod(v, &root_ctx, 1, longname, S_IFREG | 0644, 0, &e), 0);

	/* rename rules */
	CHECK_EQ(vfs_rename(v, 1, "a", b, "a2", 0), -EINVAL);
	CHECK_EQ(vfs_rename(v, 1, "a", a, "x", 0), -EINVAL);
	CHECK_EQ(vfs_rename(v, a, "f", 1, "f2", 0), 0); /* same inode: no-op */
	CHECK_EQ(links(f), 2);
	mk(1, "empty", 1);
	CHECK_EQ(vfs_rename(v, 1, "empty", 1, "a", 0), -ENOTEMPTY);
	CHECK_EQ(vfs_rename(v, 1, "f2", 1, "a", 0), -EISDIR);
	CHECK_EQ(vfs_rename(v, 1, "empty", a, "f", 0), -ENOTDIR);
	CHECK_EQ(vfs_rename(v, a, "b", 1, "empty", RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(vfs_rename(v, a, "b", 1, "empty", 0), 0); /* onto empty dir */
	CHECK_EQ(links(a), 2);
	CHECK_EQ(links(1), 4);
	CHECK_EQ(vfs_rename(v, 1, "empty", a, "f", RENAME_EXCHANGE), 0);
	CHECK_EQ(vfs_lookup(v, 1, "empty", &e), 0);
	CHECK_EQ(e.ino, f);
	CHECK_EQ(links(1), 3);
	CHECK_EQ(links(a), 3);
	CHECK_EQ(vfs_rename(v, 1, "nothere", 1, "x", RENAME_EXCHANGE), -ENOENT);
	CHECK_EQ(vfs_rename(v, 1, "a", 1, "b", 3), -EINVAL);
	CHECK_EQ(vfs_rmdir(v, 1, "a"), -ENOTEMPTY);
	CHECK_EQ(vfs_unlink(v, 1, "a"), -EISDIR);
	CHECK_EQ(vfs_rmdir(v, 1, "empty"), -ENOTDIR);

	/* readdir offsets stay valid while entries go away */
	uint64_t d = mk(1, "many", 1);
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "e%02d", i);
		mk(d, name, 0);
	}
	int total = 0;
	off_t off = 0;
	for (int round = 0; round < 100; round++) {
		struct listing l = {.max = 7};
		CHECK_EQ(vfs_readdir(v, d, off, 0, 64, fill, &l), 0);
		if (l.got == 0)
			break;
		off = l.last_off;
		for (int i = 0; i < l.got; i++) {
			if (!strcmp(l.names[i], ".") || !strcmp(l.names[i], ".."))
				continue;
			total++;
			CHECK_EQ(vfs_unlink(v, d, l.names[i]), 0);
		}
	}
	CHECK_EQ(total, 40);
	CHECK_EQ(vfs_rmdir(v, 1, "many"), 0);

	/* write buffering: visible before and after the flush */
	struct vfs_file *fh, *fh2;
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "data", 0644, O_RDWR, &e, &fh), 0);
	uint64_t data_ino = e.ino;
	char buf[10000], out[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	CHECK_EQ(vfs_write(v, NULL, fh, buf, sizeof(buf), 5000), (ssize_t)sizeof(buf));
	struct stat st;
	CHECK_EQ(vfs_getattr(v, data_ino, &st), 0);
	CHECK_EQ(st.st_size, 15000);
	CHECK_EQ(vfs_read(v, fh, out, sizeof(out), 5000), (ssize_t)sizeof(out));
	CHECK(!memcmp(out, buf, sizeof(buf)), "buffered data reads back");
	CHECK_EQ(vfs_read(v, fh, out, 100, 0), 100);
	CHECK(out[0] == 0 && out[99] == 0, "hole reads as zeros");
	CHECK_EQ(vfs_flush(v, fh, 0), 0);
	CHECK_EQ(vfs_read(v, fh, out, sizeof(out), 5000), (ssize_t)sizeof(out));
	CHECK(!memcmp(out, buf, sizeof(buf)), "stored data reads back");
	CHECK_EQ(vfs_read(v, fh, out, sizeof(out), 14990), 10);

	/* unlinked while open: still readable, reclaimed at the last close */
	vfs_forget(v, data_ino, 1); /* the create's lookup */
	CHECK_EQ(vfs_open(v, &root_ctx, data_ino, O_RDONLY, &fh2), 0);
	CHECK_EQ(vfs_unlink(v, 1, "data"), 0);
	CHECK_EQ(vfs_getattr(v, data_ino, &st), 0);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(vfs_read(v, fh2, out, 10, 5000), 10);
	CHECK(!memcmp(out, buf, 10), "unlinked file still reads");
	CHECK_EQ(vfs_release(v, fh, 0), 0);
	CHECK_EQ(vfs_getattr(v, data_ino, &st), 0);
	CHECK_EQ(vfs_release(v, fh2, 0), 0);
	CHECK_EQ(vfs_getattr(v, data_ino, &st), -ESTALE);

	/* xattrs */
	CHECK_EQ(vfs_setxattr(v, f, "user.k", "v1", 2, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(vfs_setxattr(v, f, "user.k", "v1", 2, XATTR_CREATE), 0);
	CHECK_EQ(vfs_setxattr(v, f, "user.k", "v2", 2, XATTR_CREATE), -EEXIST);
	CHECK_EQ(vfs_getxattr(v, f, "user.k", out, 0), 2);
	CHECK_EQ(vfs_getxattr(v, f, "user.k", out, 1), -ERANGE);
	CHECK_EQ(vfs_setxattr(v, f, "bogus.k", "v", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(vfs_setxattr(v, f, "user.", "v", 1, 0), -EINVAL);
	CHECK_EQ(vfs_removexattr(v, f, "user.k"), 0);
	CHECK_EQ(vfs_removexattr(v, f, "user.k"), -ENODATA);

	vfs_free(v);
	struct fsck_report rep;
	FILE *null = fopen("/dev/null", "w");
	CHECK_EQ(fsck_run(m, 0, null ? null : stderr, &rep), 0);
	CHECK_EQ(rep.problems, 0);
	if (null)
		fclose(null);
	meta_close(m);
	store_close(s);
	CHECK_EQ(store_destroy(url, err, sizeof(err)), 0);
	rmdir(dir);
	return test_done();
}
