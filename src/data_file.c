/*
 * data_file.c — the `file` data engine: one file per object under a
 * directory (a local disk, or a shared mount such as NFS that every host
 * sees).
 *
 * URL: file:///ABSOLUTE/DIR
 *
 * An object KEY lives in DIR/HH/NAME, where HH is two hex digits of a hash
 * of the key (256 fan-out directories keep each directory small) and NAME
 * is the key with '/' written as '+', and '+', '%' and a leading '.'
 * escaped as %XX.  A put writes DIR/HH/.tmp.NAME.PID.N, fsyncs it, renames
 * it over NAME and fsyncs the directory: a reader sees the whole object
 * or none, and once put returns the object survives a crash (the metadata
 * transaction that refers to it comes after).  A batch does these steps
 * for all of its objects together (see df_put_batch).  Temporary files a crash
 * left behind start with '.', are never listed, and are removed by
 * data_prepare (mkfs) and by `cassafs gc`'s listing of leaked objects.
 *
 * Calls are plain system calls: they take as long as the filesystem under
 * DIR does (no timeout of our own; an NFS mount's own options bound it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_engine.h"

#define FANOUT 256

struct dfile {
	char *dir;
	int dirfd;
	int sub[FANOUT]; /* fds of the fan-out directories, -1 until made */
	atomic_uint seq;
};

static unsigned key_hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 16777619u;
	return (h ^ (h >> 16)) % FANOUT;
}

static int encode(const char *key, char *out, size_t out_len)
{
	size_t o = 0, n = strlen(key);
	if (!n || n > DATA_MAX_KEY)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (c < 0x21 || c > 0x7e)
			return -EINVAL;
		if (o + 4 > out_len)
			return -EINVAL;
		if (c == '/')
			out[o++] = '+';
		else if (c == '+' || c == '%' || (c == '.' && i == 0))
			o += (size_t)sprintf(out + o, "%%%02X", (unsigned)c);
		else
			out[o++] = c;
	}
	if (o > NAME_MAX - 24) /* room for the temporary name's decorations */
		return -EINVAL;
	out[o] = 0;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int decode(const char *name, char *out, size_t out_len)
{
	size_t o = 0;
	for (size_t i = 0; name[i]; i++) {
		if (o + 1 >= out_len)
			return -1;
		if (name[i] == '+') {
			out[o++] = '/';
		} else if (name[i] == '%') {
			int h = hexval(name[i + 1]), l = h < 0 ? -1 : hexval(name[i + 2]);
			if (l < 0)
				return -1;
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[o++] = name[i];
		}
	}
	out[o] = 0;
	return 0;
}

static int df_open(const char *url, const struct data_opts *o, void **priv,
		   char *err, size_t err_len)
{
	if (strncmp(url, "file://", 7) || url[7] != '/' || !url[8]) {
		snprintf(err, err_len, "%s: a file data tier is "
			 "file:///ABSOLUTE/DIR", url);
		return -EINVAL;
	}
	struct dfile *d = calloc(1, sizeof(*d));
	if (!d || !(d->dir = strdup(url + 7))) {
		free(d);
		return -ENOMEM;
	}
	size_t n = strlen(d->dir);
	while (n > 1 && d->dir[n - 1] == '/')
		d->dir[--n] = 0;
	for (int i = 0; i < FANOUT; i++)
		d->sub[i] = -1;
	d->dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* a missing directory is made by data_prepare (mkfs); until then
	 * every call answers ENOENT through open_sub */
	*priv = d;
	return 0;
}

static void df_close(void *priv)
{
	struct dfile *d = priv;
	for (int i = 0; i < FANOUT; i++)
		if (d->sub[i] >= 0)
			close(d->sub[i]);
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->dir);
	free(d);
}

/* The fan-out directory's fd; made if create.  Races between threads make
 * at worst one extra open, closed here. */
static int open_sub(struct dfile *d, unsigned h, int create)
{
	int fd = __atomic_load_n(&d->sub[h], __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	if (d->dirfd < 0)
		return -ENOENT;
	char name[4];
	snprintf(name, sizeof(name), "%02x", h);
	fd = openat(d->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(d->dirfd, name, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (fsync(d->dirfd) < 0)
			return -errno;
		fd = openat(d->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	int expect = -1;
	if (!__atomic_compare_exchange_n(&d->sub[h], &expect, fd, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expect;
	}
	return fd;
}

static int clean_tmp(int dfd)
{
	int fd = dup(dfd);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	lseek(fd, 0, SEEK_SET);
	struct dirent *e;
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, ".tmp.", 5))
			unlinkat(dfd, e->d_name, 0);
	closedir(dir);
	return 0;
}

static int df_prepare(void *priv, char *err, size_t err_len)
{
	struct dfile *d = priv;
	if (d->dirfd < 0) {
		if (mkdir(d->dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, err_len, "cannot make the data directory "
				 "%s: %s", d->dir, strerror(errno));
			return -errno;
		}
		d->dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dirfd < 0) {
			snprintf(err, err_len, "cannot open the data directory "
				 "%s: %s", d->dir, strerror(errno));
			return -errno;
		}
	}
	for (unsigned h = 0; h < FANOUT; h++) {
		int fd = open_sub(d, h, 1);
		if (fd < 0) {
			snprintf(err, err_len, "cannot make %s/%02x: %s", d->dir,
				 h, strerror(-fd));
			return fd;
		}
		clean_tmp(fd);
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * df_put_batch: a batch of puts is done in steps over all of its objects, so that the
 * disk works on them together instead of one object's sync after the
 * other's (issue 9: 4 MiB objects put one by one gave about 200 MiB/s on
 * ext4, in steps about 800): every temporary file is written and its
 * writeback started (sync_file_range), then each is fdatasync'ed (by then
 * mostly written: the first sync's journal commit carries the others'
 * allocations), all are renamed, and each distinct fan-out directory is
 * fsync'ed once.  An object's put succeeds only when its data was synced,
 * its rename done and its directory synced after that rename, as for a
 * single put; the batch returns after all of them, and the caller commits
 * a reference only after a batch that succeeded in full (layout_upload),
 * so a crash at any step leaves at worst temporary files or unreferenced
 * objects, never a committed reference to a torn or missing one.
 */
#define PUT_GROUP 8

struct pending {
	int dfd, fd;
	char name[NAME_MAX + 1], tmp[NAME_MAX + 64];
};

/* Write ios's object to a new temporary file, leave it open in p. */
static int tmp_write(struct dfile *d, const struct data_io *io,
		     struct pending *p)
{
	int r = encode(io->key, p->name, sizeof(p->name));
	if (r < 0)
		return r;
	if ((p->dfd = open_sub(d, key_hash(io->key), 1)) < 0)
		return p->dfd;
	snprintf(p->tmp, sizeof(p->tmp), ".tmp.%s.%d.%u", p->name,
		 (int)getpid(), atomic_fetch_add(&d->seq, 1));
	p->fd = openat(p->dfd, p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       0600);
	if (p->fd < 0)
		return -errno;
	r = write_all(p->fd, io->buf, io->len);
	/* only a hint to start now: fdatasync below reports errors */
	if (r == 0)
		sync_file_range(p->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return r;
}

static void put_group(struct dfile *d, struct data_io *ios, size_t n)
{
	struct pending p[PUT_GROUP];
	int renamed[PUT_GROUP] = {0}, dres[PUT_GROUP];
	for (size_t i = 0; i < n; i++) {
		p[i].fd = -1;
		ios[i].res = tmp_write(d, &ios[i], &p[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].fd < 0)
			continue;
		if (ios[i].res == 0 && fdatasync(p[i].fd) < 0)
			ios[i].res = -errno;
		if (close(p[i].fd) < 0 && ios[i].res == 0)
			ios[i].res = -errno;
		if (ios[i].res < 0)
			unlinkat(p[i].dfd, p[i].tmp, 0);
	}
	for (size_t i = 0; i < n; i++) {
		if (ios[i].res < 0)
			continue;
		if (renameat(p[i].dfd, p[i].tmp, p[i].dfd, p[i].name) < 0) {
			ios[i].res = -errno;
			unlinkat(p[i].dfd, p[i].tmp, 0);
		} else {
			renamed[i] = 1;
		}
	}
	/* one fsync per directory, after all of its renames */
	for (size_t i = 0; i < n; i++) {
		if (!renamed[i])
			continue;
		size_t j = 0;
		while (j < i && !(renamed[j] && p[j].dfd == p[i].dfd))
			j++;
		dres[i] = j < i ? dres[j] : fsync(p[i].dfd) < 0 ? -errno : 0;
		ios[i].res = dres[i];
	}
	for (size_t i = 0; i < n; i++)
		if (ios[i].res == -EDQUOT)
			ios[i].res = -ENOSPC;
}

static int df_put_batch(void *priv, struct data_io *ios, size_t n)
{
	for (size_t i = 0; i < n; i += PUT_GROUP)
		put_group(priv, ios + i, n - i < PUT_GROUP ? n - i : PUT_GROUP);
	for (size_t i = 0; i < n; i++)
		if (ios[i].res < 0)
			return ios[i].res;
	return 0;
}

static int df_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct data_io io = {key, (void *)buf, len, 0, 0, 0};
	return df_put_batch(priv, &io, 1);
}

static int df_get(void *priv, const char *key, uint64_t off, void *buf,
		  size_t len, size_t *got)
{
	struct dfile *d = priv;
	char name[NAME_MAX + 1];
	if (got)
		*got = 0;
	int r = encode(key, name, sizeof(name));
	if (r < 0)
		return r;
	int dfd = open_sub(d, key_hash(key), 0);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (got)
		*got = done;
	return r;
}

static int df_del(void *priv, const char *key)
{
	struct dfile *d = priv;
	char name[NAME_MAX + 1];
	int r = encode(key, name, sizeof(name));
	if (r < 0)
		return r;
	int dfd = open_sub(d, key_hash(key), 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int df_list(void *priv, const char *prefix, data_list_fn fn, void *arg)
{
	struct dfile *d = priv;
	size_t plen = strlen(prefix);
	for (unsigned h = 0; h < FANOUT; h++) {
		int dfd = open_sub(d, h, 0);
		if (dfd == -ENOENT)
			continue;
		if (dfd < 0)
			return dfd;
		int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = fd < 0 ? NULL : fdopendir(fd);
		if (!dir) {
			int e = -errno;
			if (fd >= 0)
				close(fd);
			return e;
		}
		struct dirent *e;
		int r = 0;
		while ((e = readdir(dir))) {
			char key[DATA_MAX_KEY + 1];
			struct stat st;
			if (e->d_name[0] == '.' ||
			    decode(e->d_name, key, sizeof(key)) < 0 ||
			    strncmp(key, prefix, plen))
				continue;
			if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* deleted meanwhile */
			if ((r = fn(arg, key, (uint64_t)st.st_size)) != 0)
				break;
		}
		closedir(dir);
		if (r != 0)
			return r;
	}
	return 0;
}

const struct data_ops data_file_ops = {
	.scheme = "file",
	.open = df_open,
	.close = df_close,
	.prepare = df_prepare,
	.put = df_put,
	.put_batch = df_put_batch,
	.get = df_get,
	.del = df_del,
	.list = df_list,
};
