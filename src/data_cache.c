/*
 * data_cache.c — the local read cache of data_cache.h.
 *
 * DIR holds one file per cached object, named by the 16 hex digits of the
 * FNV-1a 64 hash of its key, plus ".lock" (flock'ed by the one process
 * using DIR) and, for a moment, ".tmp.*" files being written.  A file is
 *
 *   "CFSCACH1" | be64 size | be32 key length | key | be32 crc × blocks |
 *   be32 crc of everything before | the object's bytes
 *
 * with one CRC-32 per CACHE_BLOCK bytes of the object, so a ranged read
 * checks only the blocks it touches.  Copies are not fsync'ed: after a
 * crash a copy is whole or fails its check, and the tier still has it.
 *
 * The index is a hash table of entries (key hash → bytes on disk) on a
 * recency list, under one mutex; file reads and writes happen outside it.
 * An entry being fetched or written is "pending" (a claim): readers miss
 * it, eviction skips it, a drop meanwhile marks it so that the writer
 * removes the file, and other readers of the object may wait for it
 * (data_cache_wait) instead of fetching the same object again.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bytes.h"
#include "data_cache.h"
#include "log.h"
#include "metrics.h"

#define CACHE_BLOCK (64u << 10)
#define MAGIC "CFSCACH1"
#define HDR_FIXED 20 /* magic, size, key length */
#define HDR_READ 2048 /* covers the largest header (255-byte key, 64 crcs) */
#define NBUCKETS (1u << 16)

struct entry {
	uint64_t h, bytes;
	struct entry *hnext, *prev, *next;
	int pending, gone;
};

struct data_cache {
	char *dir;
	int dirfd, lockfd;
	uint64_t max;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t settled; /* a pending entry was written or given up */
	struct entry **bucket;
	struct entry *head, *tail; /* most, least recently used */
	uint64_t files, bytes;
	struct data_cache_stats st;
	time_t off_until; /* filling off until then (a full directory) */
	unsigned seq;
};

static uint64_t key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static void name_of(uint64_t h, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, h);
}

static size_t nblocks(uint64_t size)
{
	return (size_t)((size + CACHE_BLOCK - 1) / CACHE_BLOCK);
}

static size_t hdr_len(size_t klen, uint64_t size)
{
	return HDR_FIXED + klen + 4 * nblocks(size) + 4;
}

/* Bytes a copy takes on disk, as the bound counts them (whole pages). */
static uint64_t disk_bytes(uint64_t file_size)
{
	return (file_size + 4095) & ~(uint64_t)4095;
}

static void gauges(struct data_cache *c)
{
	metrics_gauge_set(MG_CACHE_BYTES, (int64_t)c->bytes);
	metrics_gauge_set(MG_CACHE_FILES, (int64_t)c->files);
}

/* ---- the index (c->lock held) ---- */

static struct entry *find(struct data_cache *c, uint64_t h)
{
	for (struct entry *e = c->bucket[h % NBUCKETS]; e; e = e->hnext)
		if (e->h == h)
			return e;
	return NULL;
}

static void lru_unlink(struct data_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct data_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void insert(struct data_cache *c, struct entry *e)
{
	struct entry **b = &c->bucket[e->h % NBUCKETS];
	e->hnext = *b;
	*b = e;
	lru_front(c, e);
	c->files++;
	c->bytes += e->bytes;
}

/* Take e out of the index and free it; unlink its file if asked. */
static void remove_entry(struct data_cache *c, struct entry *e, int unlink_file)
{
	struct entry **p = &c->bucket[e->h % NBUCKETS];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink(c, e);
	c->files--;
	c->bytes -= e->bytes;
	if (unlink_file) {
		char name[17];
		name_of(e->h, name);
		unlinkat(c->dirfd, name, 0);
	}
	free(e);
}

/* Evict least recently used copies until need more bytes and one more
 * file fit; 0 if they do. */
static int make_room(struct data_cache *c, uint64_t need)
{
	struct entry *e = c->tail;
	while (e && (c->bytes + need > c->max ||
		     c->files + 1 > DATA_CACHE_MAX_FILES)) {
		struct entry *prev = e->prev;
		if (!e->pending) {
			remove_entry(c, e, 1);
			c->st.evictions++;
		}
		e = prev;
	}
	return c->bytes + need <= c->max && c->files + 1 <= DATA_CACHE_MAX_FILES
		       ? 0 : -ENOSPC;
}

/* ---- open: the index from the directory ---- */

struct found {
	uint64_t h, bytes;
	time_t t;
};

static int by_time(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static int is_copy_name(const char *n, uint64_t *h)
{
	if (strlen(n) != 16)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		int d = n[i] >= '0' && n[i] <= '9'   ? n[i] - '0'
			: n[i] >= 'a' && n[i] <= 'f' ? n[i] - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	*h = v;
	return 1;
}

/* Index the copies DIR holds, oldest use first, then evict down to the
 * bound (the size may have been lowered since); remove temporary files a
 * crash left. */
static int rebuild(struct data_cache *c)
{
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	struct found *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		uint64_t h;
		struct stat st;
		if (!strncmp(de->d_name, ".tmp.", 5)) {
			unlinkat(c->dirfd, de->d_name, 0);
			continue;
		}
		if (!is_copy_name(de->d_name, &h) ||
		    fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			struct found *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(dir);
				return -ENOMEM;
			}
			v = nv;
		}
		/* the last read (relatime moves atime past mtime once) or
		 * the write, whichever is later */
		v[n++] = (struct found){h, disk_bytes((uint64_t)st.st_size),
			st.st_atime > st.st_mtime ? st.st_atime : st.st_mtime};
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), by_time);
	for (size_t i = 0; i < n; i++) {
		if (find(c, v[i].h))
			continue;
		struct entry *e = calloc(1, sizeof(*e));
		if (!e) {
			free(v);
			return -ENOMEM;
		}
		e->h = v[i].h;
		e->bytes = v[i].bytes;
		insert(c, e);
	}
	free(v);
	while (c->tail && (c->bytes > c->max || c->files > DATA_CACHE_MAX_FILES)) {
		remove_entry(c, c->tail, 1);
		c->st.evictions++;
	}
	return 0;
}

int data_cache_open(const char *dir, uint64_t max_bytes,
		    struct data_cache **out, char *err, size_t err_len)
{
	struct data_cache *c = calloc(1, sizeof(*c));
	if (!c || !(c->bucket = calloc(NBUCKETS, sizeof(*c->bucket))) ||
	    !(c->dir = strdup(dir))) {
		if (c)
			free(c->bucket);
		free(c);
		return -ENOMEM;
	}
	c->max = max_bytes;
	c->dirfd = c->lockfd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->settled, NULL);
	int r;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		r = -errno;
		snprintf(err, err_len, "cache_dir %s: %s", dir, strerror(-r));
		goto fail;
	}
	if ((c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (c->lockfd = openat(c->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC,
				0600)) < 0) {
		r = -errno;
		snprintf(err, err_len, "cache_dir %s: %s", dir, strerror(-r));
		goto fail;
	}
	if (flock(c->lockfd, LOCK_EX | LOCK_NB)) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, err_len, "cache_dir %s: %s", dir,
			 r == -EBUSY ? "in use by another mount (give each "
				       "mount its own cache_dir)"
				     : strerror(-r));
		goto fail;
	}
	if ((r = rebuild(c)) < 0) {
		snprintf(err, err_len, "cache_dir %s: %s", dir, strerror(-r));
		goto fail;
	}
	gauges(c);
	log_info("read cache %s: %" PRIu64 " copies, %" PRIu64 " of %" PRIu64
		 " bytes", dir, c->files, c->bytes, c->max);
	*out = c;
	return 0;
fail:
	data_cache_close(c);
	return r;
}

void data_cache_close(struct data_cache *c)
{
	if (!c)
		return;
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct entry *e = c->bucket[b], *next; e; e = next) {
			next = e->hnext;
			free(e);
		}
	if (c->lockfd >= 0)
		close(c->lockfd); /* and the flock with it */
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->settled);
	free(c->bucket);
	free(c->dir);
	free(c);
}

/* ---- reads ---- */

static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/*
 * The copy of h open on fd failed its check (or could not be read): drop
 * it, counted once.  A reader that found it bad at the same time, or
 * after a new copy was started, only misses; one that read the old copy
 * after another reader had already dropped it and a new copy took its
 * name is told so (1): it reads the new copy instead.  fd is still open,
 * so its inode number cannot have been given to the new copy.
 */
static int drop_bad(struct data_cache *c, uint64_t h, int fd, const char *key,
		    const char *why)
{
	struct stat was, now;
	char name[17];
	name_of(h, name);
	int known = fstat(fd, &was) == 0;
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	int mine = e && !e->pending;
	if (mine && known && fstatat(c->dirfd, name, &now, 0) == 0 &&
	    (now.st_ino != was.st_ino || now.st_dev != was.st_dev)) {
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	if (mine) {
		remove_entry(c, e, 1);
		c->st.dropped++;
	}
	c->st.misses++;
	gauges(c);
	pthread_mutex_unlock(&c->lock);
	metrics_add(MC_CACHE_MISSES, 1);
	if (mine) {
		metrics_add(MC_CACHE_DROPPED, 1);
		log_warn("read cache %s: the copy of %s is %s: dropped, read "
			 "from the tier", c->dir, key, why);
	}
	return 0;
}

static int miss(struct data_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->st.misses++;
	pthread_mutex_unlock(&c->lock);
	metrics_add(MC_CACHE_MISSES, 1);
	return -ENOENT;
}

/* Read and check the header of the copy open on fd; its object size in
 * *size and the data offset in *data_off.  -ESTALE: another key's copy
 * (a hash collision); other errors: a bad copy. */
static int read_header(int fd, const char *key, uint8_t *hdr,
		       uint64_t *size, size_t *data_off, const char **why)
{
	size_t klen = strlen(key);
	ssize_t n = pread(fd, hdr, HDR_READ, 0);
	struct stat st;
	*why = "unreadable";
	if (n < 0 || fstat(fd, &st))
		return -EIO;
	*why = "truncated";
	if (n < HDR_FIXED)
		return -EIO;
	*why = "corrupt";
	if (memcmp(hdr, MAGIC, 8))
		return -EIO;
	uint64_t sz = (uint64_t)get_be32(hdr + 8) << 32 | get_be32(hdr + 12);
	uint32_t kl = get_be32(hdr + 16);
	if (sz > DATA_CACHE_OBJECT_MAX || kl > 255)
		return -EIO;
	size_t hl = hdr_len(kl, sz);
	if ((size_t)n < hl) {
		*why = "truncated";
		return -EIO;
	}
	if (get_be32(hdr + hl - 4) != (uint32_t)crc32(0, hdr, (uInt)(hl - 4)))
		return -EIO;
	if (kl != klen || memcmp(hdr + HDR_FIXED, key, klen))
		return -ESTALE;
	if ((uint64_t)st.st_size != hl + sz) {
		*why = "of the wrong length";
		return -EIO;
	}
	*size = sz;
	*data_off = hl;
	return 0;
}

int data_cache_get(struct data_cache *c, const char *key, uint64_t off,
		   void *buf, size_t len, size_t *got)
{
	uint64_t h = key_hash(key);
	int retried = 0;
again:;
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	if (e && !e->pending) {
		lru_unlink(c, e);
		lru_front(c, e);
	}
	int have = e && !e->pending;
	pthread_mutex_unlock(&c->lock);
	if (!have)
		return miss(c);

	char name[17];
	name_of(h, name);
	int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* evicted meanwhile, or removed from outside */
		if (errno == ENOENT) {
			pthread_mutex_lock(&c->lock);
			if ((e = find(c, h)) && !e->pending)
				remove_entry(c, e, 0);
			gauges(c);
			pthread_mutex_unlock(&c->lock);
		}
		return miss(c);
	}
	uint8_t hdr[HDR_READ];
	uint64_t size;
	size_t doff;
	const char *why;
	int r = read_header(fd, key, hdr, &size, &doff, &why);
	if (r == -ESTALE) {
		close(fd);
		return miss(c);
	}
	if (r < 0) {
		int newer = drop_bad(c, h, fd, key, why);
		close(fd);
		if (newer && !retried++)
			goto again;
		return newer ? miss(c) : -ENOENT;
	}
	if (off >= size || !len) {
		close(fd);
		*got = 0;
		goto hit;
	}
	uint64_t end = off + len < size ? off + len : size;
	size_t b0 = (size_t)(off / CACHE_BLOCK), b1 = (size_t)((end - 1) / CACHE_BLOCK);
	uint64_t lo = (uint64_t)b0 * CACHE_BLOCK;
	uint64_t hi = (uint64_t)(b1 + 1) * CACHE_BLOCK < size
			      ? (uint64_t)(b1 + 1) * CACHE_BLOCK : size;
	uint8_t *tmp = malloc((size_t)(hi - lo));
	if (!tmp) {
		close(fd);
		return miss(c);
	}
	r = pread_full(fd, tmp, (size_t)(hi - lo), (off_t)(doff + lo));
	why = "truncated";
	for (size_t b = b0; r == 0 && b <= b1; b++) {
		uint64_t s = (uint64_t)b * CACHE_BLOCK - lo;
		size_t n = b == b1 ? (size_t)(hi - lo - s) : CACHE_BLOCK;
		const uint8_t *want = hdr + HDR_FIXED + strlen(key) + 4 * b;
		if (get_be32(want) != (uint32_t)crc32(0, tmp + s, (uInt)n)) {
			why = "corrupt";
			r = -EIO;
		}
	}
	if (r < 0) {
		free(tmp);
		int newer = drop_bad(c, h, fd, key, why);
		close(fd);
		if (newer && !retried++)
			goto again;
		return newer ? miss(c) : -ENOENT;
	}
	close(fd);
	memcpy(buf, tmp + (off - lo), (size_t)(end - off));
	free(tmp);
	*got = (size_t)(end - off);
hit:
	pthread_mutex_lock(&c->lock);
	c->st.hits++;
	pthread_mutex_unlock(&c->lock);
	metrics_add(MC_CACHE_HITS, 1);
	return 0;
}

/* ---- fills ---- */

int data_cache_wants(struct data_cache *c, size_t len)
{
	pthread_mutex_lock(&c->lock);
	int on = time(NULL) >= c->off_until;
	pthread_mutex_unlock(&c->lock);
	return on && len <= DATA_CACHE_OBJECT_MAX &&
	       disk_bytes(hdr_len(255, len) + len) <= c->max;
}

static int write_full(int fd, const struct iovec *iov, int n)
{
	struct iovec v[2];
	memcpy(v, iov, (size_t)n * sizeof(*v));
	int i = 0;
	while (i < n) {
		ssize_t w = writev(fd, v + i, n - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (i < n && (size_t)w >= v[i].iov_len)
			w -= (ssize_t)v[i++].iov_len;
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + w;
			v[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Write the copy under a temporary name and rename it into place. */
static int write_copy(struct data_cache *c, uint64_t h, const char *key,
		      const void *buf, size_t len, unsigned seq)
{
	size_t klen = strlen(key), hl = hdr_len(klen, len);
	uint8_t hdr[HDR_READ];
	memcpy(hdr, MAGIC, 8);
	put_be32(hdr + 8, (uint32_t)((uint64_t)len >> 32));
	put_be32(hdr + 12, (uint32_t)len);
	put_be32(hdr + 16, (uint32_t)klen);
	memcpy(hdr + HDR_FIXED, key, klen);
	for (size_t b = 0; b < nblocks(len); b++) {
		size_t s = b * CACHE_BLOCK;
		size_t n = len - s < CACHE_BLOCK ? len - s : CACHE_BLOCK;
		put_be32(hdr + HDR_FIXED + klen + 4 * b,
			 (uint32_t)crc32(0, (const uint8_t *)buf + s, (uInt)n));
	}
	put_be32(hdr + hl - 4, (uint32_t)crc32(0, hdr, (uInt)(hl - 4)));

	char name[17], tmp[64];
	name_of(h, name);
	snprintf(tmp, sizeof(tmp), ".tmp.%s.%ld.%u", name, (long)getpid(), seq);
	int fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	struct iovec iov[2] = {{hdr, hl}, {(void *)buf, len}};
	int r = write_full(fd, iov, 2);
	if (close(fd) && r == 0)
		r = -errno;
	if (r == 0 && renameat(c->dirfd, tmp, c->dirfd, name))
		r = -errno;
	if (r < 0)
		unlinkat(c->dirfd, tmp, 0);
	return r;
}

int data_cache_put(struct data_cache *c, const char *key, const void *buf,
		   size_t len)
{
	if (len > DATA_CACHE_OBJECT_MAX)
		return -EFBIG;
	uint64_t h = key_hash(key);
	uint64_t need = disk_bytes(hdr_len(strlen(key), len) + len);
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	if (e && !e->pending) {
		/* a copy there already (two readers raced), or a colliding
		 * key's: replaced */
		remove_entry(c, e, 0);
		e = NULL;
	}
	int r = need > c->max ? -EFBIG
		: time(NULL) < c->off_until ? -EAGAIN : 0;
	if (r == 0 && !e && (e = calloc(1, sizeof(*e)))) {
		e->h = h;
		e->pending = 1;
		insert(c, e);
	}
	if (r == 0 && !e)
		r = -ENOMEM;
	/* e is the caller's claim (data_cache_claim) or the one just made */
	if (r == 0 && make_room(c, need) < 0)
		r = -ENOSPC;
	if (r < 0) {
		if (e)
			remove_entry(c, e, 0);
		pthread_cond_broadcast(&c->settled);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	e->bytes = need;
	c->bytes += need;
	unsigned seq = ++c->seq;
	pthread_mutex_unlock(&c->lock);

	r = write_copy(c, h, key, buf, len, seq);

	pthread_mutex_lock(&c->lock);
	pthread_cond_broadcast(&c->settled);
	if (r < 0) {
		remove_entry(c, e, 0);
		c->st.fill_errors++;
		/* a full or failing directory: stop filling for a while;
		 * reads go on (from the tier, and from the copies held) */
		if (time(NULL) >= c->off_until) {
			c->off_until = time(NULL) + DATA_CACHE_RETRY_S;
			log_warn("read cache %s: cannot write a copy (%s): not "
				 "filling the cache for %d s", c->dir,
				 strerror(-r), DATA_CACHE_RETRY_S);
		}
	} else if (e->gone) {
		remove_entry(c, e, 1);
	} else {
		e->pending = 0;
		c->st.fills++;
	}
	gauges(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int data_cache_claim(struct data_cache *c, const char *key)
{
	uint64_t h = key_hash(key);
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	int r;
	if (e && e->pending) {
		r = 0; /* someone fetches it */
	} else if (time(NULL) < c->off_until || !(e = calloc(1, sizeof(*e)))) {
		r = -1;
	} else {
		/* (a colliding key's copy stays until the put replaces it) */
		struct entry *old = find(c, h);
		if (old)
			remove_entry(c, old, 0);
		e->h = h;
		e->pending = 1;
		insert(c, e);
		r = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void data_cache_release(struct data_cache *c, const char *key)
{
	uint64_t h = key_hash(key);
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	if (e && e->pending)
		remove_entry(c, e, 0);
	pthread_cond_broadcast(&c->settled);
	pthread_mutex_unlock(&c->lock);
}

void data_cache_wait(struct data_cache *c, const char *key, int seconds)
{
	uint64_t h = key_hash(key);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&c->lock);
	struct entry *e;
	while ((e = find(c, h)) && e->pending)
		if (pthread_cond_timedwait(&c->settled, &c->lock, &until))
			break;
	pthread_mutex_unlock(&c->lock);
}

void data_cache_drop(struct data_cache *c, const char *key)
{
	uint64_t h = key_hash(key);
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, h);
	if (e && e->pending)
		e->gone = 1;
	else if (e)
		remove_entry(c, e, 1);
	gauges(c);
	pthread_mutex_unlock(&c->lock);
}

void data_cache_stats(struct data_cache *c, struct data_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->files = c->files;
	out->bytes = c->bytes;
	pthread_mutex_unlock(&c->lock);
}
