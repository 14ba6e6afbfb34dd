/*
 * distcheck.c — randomized multi-mount checker (issue 7), in the spirit of
 * fsx but across mounts: N mountpoints of ONE filesystem, W worker
 * processes doing random operations through random mounts, checked
 * against a model of what POSIX (plus the documented cache contract of
 * docs/distributed.md) allows.
 *
 *   distcheck [-s SEED] [-n OPS] [-w WORKERS] [-q ROUND] [-t SECONDS]
 *             [-g GRACE_MS] [-c CLASSES | -x CLASSES] [-k] [-v] MOUNT...
 *
 * Why it is built this way:
 * - Each worker owns a subtree (distcheck/wN).  Nobody else touches it, so
 *   the result of every operation there (return value, errno, bytes, inode
 *   numbers, link counts) is exactly predictable by the worker's own model,
 *   whichever mount it goes through.
 * - distcheck/shared is where all workers race on a small set of names.
 *   Results there are not predictable, so only invariants are checked:
 *   no errno outside the set a race can explain (never EIO, ESTALE…), no
 *   duplicate names in a listing, no unknown names, file contents are
 *   either empty or one whole stamp written by one writer.
 * - Mounts cache names for up to entry_timeout (1 s) unless a change notice
 *   from the other mount arrives first (docs/distributed.md).  So when a
 *   mount shows a state the model does not have, the checker retries for
 *   GRACE_MS (-g, default 1100; 0 = demand immediate visibility) but only
 *   when another mount changed this namespace within that window.  A name
 *   that existed all along answering ENOENT is never excused (that is what
 *   a dentry pointing at a vanished inode does: it must be ESTALE, so the
 *   kernel looks the name up again).
 *   Before each operation on a private path the worker checks the path and
 *   its ancestors on the mount it is about to use (lstat): an operation
 *   through a stale dentry would otherwise change the wrong file.
 * - Every ROUND operations (-q) all workers stop at a barrier.  Then every
 *   mount must show the same tree (names, types, modes, sizes, link counts,
 *   inode numbers, content hashes), link counts must equal the names found,
 *   and each worker compares its subtree, bytes included, with its model.
 * - The seed is printed; each worker's PRNG is derived from it, so a
 *   worker's sequence of operations repeats (the interleaving does not).
 * - The first divergence stops everything (unless -k) and is printed with
 *   the operation, what was expected and the worker's last operations.
 *
 * Operation classes (-c takes only these, -x all but these; comma lists):
 *   create write read truncate rename link unlink mkdir rmdir readdir
 *   fsync openunlink replace   (private subtree, exact model; rename is
 *                       onto a fresh name, replace onto an existing one)
 *   shared             (create/unlink/rename/link/mkdir/rmdir/read races
 *                       in distcheck/shared)
 *   sreaddir           (listing distcheck/shared while others change it)
 *   xrename            (two files renamed onto one cached name through two
 *                       other mounts, then that name opened everywhere)
 *
 * Exit status: 0 no divergence, 1 divergence, 2 usage or setup error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Paths here are short by construction (the model keeps them under 48
 * bytes); a name the filesystem invents is longer, gets cut in a message or
 * comparison and then shows up as a mismatch anyway. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAXMNT 8
#define MAXW 16
#define MAXSZ (320 * 1024)      /* files span five 64 KiB blocks */
#define TOP "distcheck"
#define NHIST 24                /* operations remembered per worker */

enum cls {
	C_CREATE, C_WRITE, C_READ, C_TRUNCATE, C_RENAME, C_LINK, C_UNLINK,
	C_MKDIR, C_RMDIR, C_READDIR, C_FSYNC, C_OPENUNLINK, C_SHARED,
	C_SREADDIR, C_XRENAME, C_REPLACE, NCLS
};
static const char *cls_name[NCLS] = {
	"create", "write", "read", "truncate", "rename", "link", "unlink",
	"mkdir", "rmdir", "readdir", "fsync", "openunlink", "shared", "sreaddir",
	"xrename", "replace"
};
/* relative frequency of each class */
static const int cls_weight[NCLS] = { 8, 14, 8, 5, 6, 4, 5, 4, 3, 4, 3, 3, 12, 3, 2, 3 };

/* ------------------------------------------------------------ shared state */

/* One page of memory shared by the parent and the workers. */
struct shm {
	int stop;                       /* set on divergence or timeout */
	int timeup;                     /* time limit reached: finish the round */
	int ndiv;                       /* divergences seen */
	unsigned bar_count, bar_gen;    /* barrier */
	long long last_change_ms;       /* last namespace change anywhere */
	unsigned long ops[NCLS];        /* operations done per class */
	unsigned long failed_ok;        /* operations that failed as expected */
	unsigned long stale_retries;    /* mismatches that cleared within grace */
	long long stale_max_ms;         /* the longest of them */
	unsigned long rounds;
	char report[16384];             /* the first divergence, in full */
};
static struct shm *S;

static int nmnt, nworkers = 3, grace_ms = 1100, keep_going, verbose;
static char *mnt[MAXMNT];
static int enabled[NCLS];
static int me = -1;                     /* worker number, -1 = parent */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* xorshift64*: small, fast, and the same sequence everywhere */
static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}
static unsigned rn(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }

/* A process-shared barrier that gives up when a divergence stops the run
 * (a pthread barrier would leave the others waiting for a dead worker).
 * The parent also watches the time limit while it waits. */
static long long deadline_ms;
static int barrier(int parties)
{
	unsigned gen = __atomic_load_n(&S->bar_gen, __ATOMIC_ACQUIRE);
	if (__atomic_add_fetch(&S->bar_count, 1, __ATOMIC_ACQ_REL) == (unsigned)parties) {
		__atomic_store_n(&S->bar_count, 0, __ATOMIC_RELEASE);
		__atomic_add_fetch(&S->bar_gen, 1, __ATOMIC_ACQ_REL);
		return S->stop ? -1 : 0;
	}
	while (__atomic_load_n(&S->bar_gen, __ATOMIC_ACQUIRE) == gen) {
		if (S->stop)
			return -1;
		if (me < 0 && deadline_ms && now_ms() > deadline_ms)
			S->timeup = 1;
		usleep(1000);
	}
	return S->stop ? -1 : 0;
}

/* --------------------------------------------------- history and reports */

static char hist[NHIST][200];
static unsigned long nhist;
static unsigned long opno;

static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hist[nhist % NHIST], sizeof hist[0], fmt, ap);
	va_end(ap);
	nhist++;
	if (verbose > 1)
		fprintf(stderr, "w%d #%lu %s\n", me, opno, hist[(nhist - 1) % NHIST]);
}

static const char *ename(int e)
{
	static char buf[16];
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT"; case EEXIST: return "EEXIST";
	case ENOTEMPTY: return "ENOTEMPTY"; case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR"; case EINVAL: return "EINVAL";
	case EIO: return "EIO"; case ESTALE: return "ESTALE";
	case EPERM: return "EPERM"; case EBADF: return "EBADF";
	case ENOTCONN: return "ENOTCONN"; case ENOSPC: return "ENOSPC";
	}
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

/* Record a divergence.  The first one gets the full report (what, the
 * worker's recent operations); the run stops unless -k. */
static void diverge(const char *fmt, ...)
{
	char what[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int n = __atomic_add_fetch(&S->ndiv, 1, __ATOMIC_ACQ_REL);
	if (me < 0)
		fprintf(stderr, "distcheck: DIVERGENCE (quiescent check): %s\n", what);
	else
		fprintf(stderr, "distcheck: DIVERGENCE (worker %d, op %lu): %s\n", me, opno, what);
	if (n == 1) {
		char *r = S->report;
		size_t sz = sizeof S->report, o = 0;
		if (me < 0)
			o += snprintf(r + o, sz - o, "first divergence: at a quiescent point\n  %s\n", what);
		else
			o += snprintf(r + o, sz - o, "first divergence: worker %d, operation %lu\n  %s\n", me, opno, what);
		if (me >= 0) {
			o += snprintf(r + o, sz - o, "  last operations of worker %d (oldest first):\n", me);
			for (unsigned long i = nhist > NHIST ? nhist - NHIST : 0; i < nhist && o < sz; i++)
				o += snprintf(r + o, sz - o, "    %s\n", hist[i % NHIST]);
		}
	}
	if (!keep_going)
		S->stop = 1;
}

/* ----------------------------------------------------------- the model */

/* Private namespace of one worker: directories live only at DIRS paths,
 * files only at "<dir>/fN", so a rename or link never has to model a
 * type clash (those errors are the kernel's, not the filesystem's). */
static const char *DIRS[] = { "", "dA", "dB", "dC", "dA/dD", "dB/dD", "dC/dE" };
#define NDIRS ((int)(sizeof DIRS / sizeof DIRS[0]))
#define NFILE 6

struct inode {
	int used, isdir, nlink;
	ino_t ino;
	size_t size;
	unsigned char *data;
};
struct name {
	int used, inode;
	char path[48];
	long long appeared_ms;          /* when this path last came into being */
};
#define MAXI 96
#define MAXN 128
static struct inode I[MAXI];
static struct name N[MAXN];
static long long changed_by_ms[MAXMNT];  /* last namespace change via mount */

static int findn(const char *p)
{
	for (int i = 0; i < MAXN; i++)
		if (N[i].used && !strcmp(N[i].path, p))
			return i;
	return -1;
}
static int isdir_p(const char *p)
{
	int n = findn(p);
	return n >= 0 && I[N[n].inode].isdir;
}
static void parent_of(const char *p, char *out)
{
	const char *s = strrchr(p, '/');
	if (!s) out[0] = 0;
	else { memcpy(out, p, s - p); out[s - p] = 0; }
}
static int parent_ok(const char *p)
{
	char par[48];
	parent_of(p, par);
	return par[0] == 0 || isdir_p(par);
}
static int has_children(const char *d)
{
	size_t l = strlen(d);
	for (int i = 0; i < MAXN; i++)
		if (N[i].used && (l == 0 ? 1 : !strncmp(N[i].path, d, l) && N[i].path[l] == '/') && strcmp(N[i].path, d))
			return 1;
	return 0;
}
static int subdirs(const char *d)
{
	int c = 0;
	for (int i = 0; i < MAXN; i++) {
		if (!N[i].used || !I[N[i].inode].isdir || !N[i].path[0])
			continue;
		char par[48];
		parent_of(N[i].path, par);
		if (!strcmp(par, d))
			c++;
	}
	return c;
}
static int new_inode(int isdir, ino_t ino)
{
	for (int i = 0; i < MAXI; i++)
		if (!I[i].used) {
			I[i] = (struct inode){ .used = 1, .isdir = isdir, .ino = ino };
			if (!isdir)
				I[i].data = calloc(1, MAXSZ);
			return i;
		}
	return -1;
}
static void drop_inode_ref(int in)
{
	if (--I[in].nlink <= 0 && !I[in].isdir) {
		free(I[in].data);
		I[in].used = 0;
	}
	if (I[in].isdir)
		I[in].used = 0;
}
static void add_name(const char *p, int in)
{
	for (int i = 0; i < MAXN; i++)
		if (!N[i].used) {
			N[i] = (struct name){ .used = 1, .inode = in, .appeared_ms = now_ms() };
			snprintf(N[i].path, sizeof N[i].path, "%s", p);
			I[in].nlink++;
			return;
		}
}
static void del_name(int n)
{
	N[n].used = 0;
	drop_inode_ref(N[n].inode);
}
static void ns_changed(int m)
{
	changed_by_ms[m] = now_ms();
	S->last_change_ms = changed_by_ms[m];
}

/* Real path of a private path on mount m. */
static char *rp(int m, const char *p, char *buf)
{
	snprintf(buf, 512, "%s/" TOP "/w%d%s%s", mnt[m], me, p[0] ? "/" : "", p);
	return buf;
}

/* ------------------------------------------- observing against the model */

/* May mount m still show an older state?  Only while another mount's
 * namespace change is younger than the grace period. */
static int other_changed_recently(int m)
{
	long long t = now_ms();
	for (int i = 0; i < nmnt; i++)
		if (i != m && t - changed_by_ms[i] < grace_ms)
			return 1;
	return 0;
}
/* ENOENT for a path the model has: excused only if the path or one of its
 * ancestors came into being within the grace period (the mount may still
 * hold a dentry of the state before).  A name that existed all along must
 * never answer ENOENT. */
static int appeared_recently(const char *p)
{
	char q[48];
	snprintf(q, sizeof q, "%s", p);
	for (;;) {
		int n = findn(q);
		if (n >= 0 && now_ms() - N[n].appeared_ms < grace_ms)
			return 1;
		if (!q[0])
			return 0;
		parent_of(q, q);
	}
}

/* Compare one path on mount m with the model.  Returns 0 if equal, else 1
 * with a description in why; *enoent_bad is set when the mismatch is an
 * ENOENT that nothing excuses. */
static int observe(int m, const char *p, char *why, size_t wsz, int *hard)
{
	char b[512];
	struct stat st;
	int n = findn(p), r = lstat(rp(m, p, b), &st), e = r ? errno : 0;
	*hard = 0;
	if (r && e != ENOENT) {
		snprintf(why, wsz, "lstat %s: %s", b, ename(e));
		*hard = 1;              /* EIO, ESTALE… are never allowed */
		return 1;
	}
	if (n < 0) {
		if (r == 0) {
			snprintf(why, wsz, "%s exists (ino %lu), model: absent", b, (unsigned long)st.st_ino);
			return 1;
		}
		return 0;
	}
	struct inode *in = &I[N[n].inode];
	if (r) {
		snprintf(why, wsz, "%s: ENOENT, model: %s ino %lu", b, in->isdir ? "dir" : "file", (unsigned long)in->ino);
		*hard = !appeared_recently(p);
		return 1;
	}
	int wantnl = in->isdir ? 2 + subdirs(p) : in->nlink;
	mode_t wantmode = in->isdir ? (S_IFDIR | 0755) : (S_IFREG | 0644);
	if (st.st_ino != in->ino || st.st_mode != wantmode || (int)st.st_nlink != wantnl ||
	    (!in->isdir && (size_t)st.st_size != in->size)) {
		snprintf(why, wsz, "%s: ino %lu mode %o nlink %lu size %lld; model: ino %lu mode %o nlink %d size %zu",
			 b, (unsigned long)st.st_ino, st.st_mode, (unsigned long)st.st_nlink, (long long)st.st_size,
			 (unsigned long)in->ino, wantmode, wantnl, in->isdir ? (size_t)st.st_size : in->size);
		/* same inode, wrong attributes: attributes are never cached */
		*hard = st.st_ino == in->ino;
		return 1;
	}
	return 0;
}

static void note_stale(long long ms)
{
	__atomic_add_fetch(&S->stale_retries, 1, __ATOMIC_RELAXED);
	long long old = __atomic_load_n(&S->stale_max_ms, __ATOMIC_RELAXED);
	while (ms > old && !__atomic_compare_exchange_n(&S->stale_max_ms, &old, ms, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Before an operation through mount m: the path and its ancestors must
 * look as the model says.  Mismatches that a recent change on another
 * mount explains are waited out (GRACE_MS); others are divergences.
 * Returns 0 when settled, -1 on divergence. */
static int settle(int m, const char *p)
{
	char q[48], why[600], first[600] = "";
	long long start = now_ms();
	int retried = 0;
	for (;;) {
		int bad = 0, hard = 0;
		snprintf(q, sizeof q, "%s", p);
		for (;;) {
			if (observe(m, q, why, sizeof why, &hard)) { bad = 1; break; }
			if (!q[0]) break;
			parent_of(q, q);
		}
		if (!bad) {
			if (retried) {
				note_stale(now_ms() - start);
				if (verbose)
					fprintf(stderr, "distcheck: w%d op %lu: stale view on mount %d cleared after %lld ms: %s\n",
						me, opno, m, now_ms() - start, first);
			}
			return 0;
		}
		if (!retried)
			snprintf(first, sizeof first, "%s", why);
		if (hard || !(other_changed_recently(m) || appeared_recently(p))) {
			diverge("mount %d (%s) before op %lu: %s%s", m, mnt[m], opno, why,
				retried ? " (after waiting out the grace period)" : "");
			return -1;
		}
		if (now_ms() - start > 10 * grace_ms + 1000) {
			diverge("mount %d: still stale after %lld ms: %s", m, now_ms() - start, why);
			return -1;
		}
		retried = 1;
		usleep(10000);
	}
}

/* An operation's result: rc < 0 with errno, compared with the expected
 * errno (0 = success; alt = a second acceptable errno). */
static int expect(const char *op, int rc, int err, int want, int alt)
{
	int got = rc < 0 ? err : 0;
	if (got == want || (alt && got == alt)) {
		if (got)
			__atomic_add_fetch(&S->failed_ok, 1, __ATOMIC_RELAXED);
		return 0;
	}
	diverge("%s = %s, expected %s%s%s", op, ename(got), ename(want), alt ? " or " : "", alt ? ename(alt) : "");
	return -1;
}

/* Deterministic bytes for a write: a function of the worker's PRNG. */
static void fill(unsigned char *buf, size_t len)
{
	uint64_t x = rnd();
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; }
		buf[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
}

/* Read fd from 0 to EOF and compare with the model's bytes. */
static int verify_fd(int fd, int in, const char *what)
{
	static unsigned char buf[MAXSZ + 4096];
	size_t got = 0;
	for (;;) {
		ssize_t r = pread(fd, buf + got, sizeof buf - got, got);
		if (r < 0) { diverge("read %s: %s", what, ename(errno)); return -1; }
		if (r == 0) break;
		got += r;
	}
	if (got != I[in].size) {
		diverge("read %s: %zu bytes, model %zu", what, got, I[in].size);
		return -1;
	}
	for (size_t i = 0; i < got; i++)
		if (buf[i] != I[in].data[i]) {
			diverge("read %s: byte %zu is 0x%02x, model 0x%02x (size %zu)", what, i, buf[i], I[in].data[i], got);
			return -1;
		}
	return 0;
}

/* ------------------------------------------------------ private operations */

static void rand_file(char *out)
{
	snprintf(out, 48, "%s%sf%u", DIRS[rn(NDIRS)], "/", rn(NFILE));
	if (out[0] == '/') memmove(out, out + 1, strlen(out));
}
/* 80% an existing name of the kind, else any candidate (mostly errors) */
static void pick(int dir, char *out)
{
	int cand[MAXN], nc = 0;
	for (int i = 0; i < MAXN; i++)
		if (N[i].used && I[N[i].inode].isdir == dir && N[i].path[0])
			cand[nc++] = i;
	unsigned r = rn(100), which = rn(1000), dn = rn(NDIRS - 1) + 1;
	if (r < 80 && nc) snprintf(out, 48, "%s", N[cand[which % nc]].path);
	else if (dir) snprintf(out, 48, "%s", DIRS[dn]);
	else rand_file(out);
}

/* O_CREAT|O_EXCL p through mount m, then len bytes, close */
static int create_at(int m, const char *p, unsigned len)
{
	char b[512];
	if (settle(m, p)) return -1;
	int want = !parent_ok(p) ? ENOENT : findn(p) >= 0 ? EEXIST : 0;
	note("create %s on m%d (+%u bytes)", p, m, len);
	int fd = open(rp(m, p, b), O_CREAT | O_EXCL | O_RDWR, 0644), e = errno;
	if (expect(b, fd, e, want, 0)) { if (fd >= 0) close(fd); return -1; }
	if (fd < 0) return 0;
	struct stat st;
	if (fstat(fd, &st)) { diverge("fstat new %s: %s", b, ename(errno)); close(fd); return -1; }
	int in = new_inode(0, st.st_ino);
	add_name(p, in);
	ns_changed(m);
	fill(I[in].data, len);
	I[in].size = len;
	if (len && pwrite(fd, I[in].data, len, 0) != (ssize_t)len) {
		diverge("pwrite %u bytes to new %s: %s", len, b, ename(errno)); close(fd); return -1;
	}
	if (close(fd)) { diverge("close %s: %s", b, ename(errno)); return -1; }
	return 0;
}

static int op_create(int m)
{
	char p[48];
	/* mostly a fresh name in an existing directory: creating is the point */
	for (int t = 0; t < 4; t++) {
		rand_file(p);
		if (parent_ok(p) && findn(p) < 0) break;
	}
	return create_at(m, p, rn(4) ? rn(MAXSZ / 4) : 0);
}

/* A random write: offsets often next to a 64 KiB block edge. */
static void rand_extent(size_t *off, size_t *len)
{
	*len = 1 + rn(rn(4) ? 9000 : 70000);
	if (rn(3) == 0) {
		size_t edge = 65536 * (1 + rn(4)), back = rn(*len + 1);
		*off = back < edge ? edge - back : 0;
	} else
		*off = rn(MAXSZ);
	if (*off + *len > MAXSZ) *len = MAXSZ - *off;
	if (*len == 0) *len = 1, *off = MAXSZ - 1;
}
static void model_write(int in, size_t off, const unsigned char *buf, size_t len)
{
	memcpy(I[in].data + off, buf, len);
	if (off + len > I[in].size) I[in].size = off + len;
}

static int op_write(int m)
{
	static unsigned char buf[MAXSZ];
	char p[48], b[512];
	size_t off, len;
	pick(0, p);
	rand_extent(&off, &len);
	fill(buf, len);
	if (settle(m, p)) return -1;
	int n = findn(p);
	note("write %s on m%d [%zu,+%zu)", p, m, off, len);
	int fd = open(rp(m, p, b), O_WRONLY), e = errno;
	if (expect(b, fd, e, n < 0 ? ENOENT : 0, 0)) { if (fd >= 0) close(fd); return -1; }
	if (fd < 0) return 0;
	ssize_t w = pwrite(fd, buf, len, off);
	if (w != (ssize_t)len) { diverge("pwrite %s [%zu,+%zu) = %zd: %s", b, off, len, w, ename(errno)); close(fd); return -1; }
	model_write(N[n].inode, off, buf, len);
	if (close(fd)) { diverge("close after write %s: %s", b, ename(errno)); return -1; }
	return 0;
}

static int op_read(int m)
{
	char p[48], b[512];
	pick(0, p);
	if (settle(m, p)) return -1;
	int n = findn(p);
	note("read %s on m%d", p, m);
	int fd = open(rp(m, p, b), O_RDONLY), e = errno;
	if (expect(b, fd, e, n < 0 ? ENOENT : 0, 0)) { if (fd >= 0) close(fd); return -1; }
	if (fd < 0) return 0;
	int r = verify_fd(fd, N[n].inode, b);
	close(fd);
	return r;
}

static int op_truncate(int m)
{
	char p[48], b[512];
	pick(0, p);
	size_t len = rn(3) ? rn(MAXSZ) : 65536 * rn(5);
	if (settle(m, p)) return -1;
	int n = findn(p);
	note("truncate %s on m%d to %zu", p, m, len);
	int r = truncate(rp(m, p, b), len), e = errno;
	if (expect(b, r, e, n < 0 ? ENOENT : 0, 0)) return -1;
	if (r == 0) {
		struct inode *in = &I[N[n].inode];
		if (len < in->size) memset(in->data + len, 0, in->size - len);
		in->size = len;
	}
	return 0;
}

/* Move every name at or below 'from' to 'to'. */
static void model_move(const char *from, const char *to)
{
	size_t l = strlen(from);
	for (int i = 0; i < MAXN; i++) {
		if (!N[i].used || strncmp(N[i].path, from, l) || (N[i].path[l] && N[i].path[l] != '/'))
			continue;
		char np[96];
		snprintf(np, sizeof np, "%s%s", to, N[i].path + l);
		snprintf(N[i].path, sizeof N[i].path, "%s", np);
		N[i].appeared_ms = now_ms();
	}
}

/* rename(p, q) through mount m, checked against the model */
static int rename_at(int m, const char *p, const char *q, int dir)
{
	char b[512], c[512];
	if (settle(m, p) || settle(m, q)) return -1;
	int np = findn(p), nq = findn(q), want = 0, alt = 0;
	size_t lp = strlen(p), lq = strlen(q);
	/* keep paths short: moving a deep tree below another one is skipped */
	for (int i = 0; i < MAXN; i++)
		if (np >= 0 && N[i].used && !strncmp(N[i].path, p, lp) && (N[i].path[lp] == '/' || !N[i].path[lp]) &&
		    strlen(N[i].path) - lp + lq > 40)
			return 1;
	if (np < 0 || !parent_ok(q)) want = ENOENT;
	else if (!strcmp(p, q)) want = 0;
	else if (dir && !strncmp(q, p, lp) && q[lp] == '/') want = EINVAL;
	else if (dir && !strncmp(p, q, lq) && p[lq] == '/') want = ENOTEMPTY, alt = EEXIST;
	else if (dir && nq >= 0 && has_children(q)) want = ENOTEMPTY, alt = EEXIST;
	note("rename %s -> %s on m%d", p, q, m);
	int r = rename(rp(m, p, b), rp(m, q, c)), e = errno;
	char what[1100];
	snprintf(what, sizeof what, "rename(%s, %s)", b, c);
	if (expect(what, r, e, want, alt)) return -1;
	if (r || !strcmp(p, q)) return 0;
	if (nq >= 0 && N[nq].inode == N[np].inode) return 0;  /* two links: no-op */
	long long since = 0;
	if (nq >= 0) { since = N[nq].appeared_ms; del_name(nq); }
	model_move(p, q);
	if (nq >= 0)                    /* q was never absent: no ENOENT excused */
		N[findn(q)].appeared_ms = since;
	ns_changed(m);
	return 0;
}

/* rename to a name that does not exist (mostly) */
static int op_rename(int m)
{
	char p[48], q[48];
	int dir = rn(4) == 0;
	pick(dir, p);
	for (int k = 0; k < 4; k++) {
		if (dir) snprintf(q, sizeof q, "%s", DIRS[1 + rn(NDIRS - 1)]);
		else rand_file(q);
		if (findn(q) < 0) break;
	}
	if (findn(q) >= 0) return 1;
	return rename_at(m, p, q, dir);
}

/* rename onto an existing name: the replaced inode vanishes while other
 * mounts may hold a dentry for it */
static int op_replace(int m)
{
	char p[48], q[48];
	int dir = rn(4) == 0;
	pick(dir, p);
	pick(dir, q);
	if (findn(q) < 0) return 1;
	return rename_at(m, p, q, dir);
}

/* Issue 7 item 2: files renamed onto one name through different mounts
 * while every mount has that name cached.  The name exists throughout, so
 * no mount may answer ENOENT for it; a mount still holding the replaced
 * inode must look the name up again. */
static int op_xrename(int m)
{
	char t[48], x[48], y[48];
	/* t must have existed for longer than the grace period: then nothing
	 * excuses an ENOENT for it.  Without such a file, make one. */
	int nt = -1;
	for (int k = 0; k < 8 && nt < 0; k++) {
		pick(0, t);
		nt = findn(t);
		if (nt >= 0 && now_ms() - N[nt].appeared_ms <= grace_ms) nt = -1;
	}
	if (nt < 0) {
		rand_file(t);
		return parent_ok(t) && findn(t) < 0 ? create_at(m, t, rn(5000)) : 1;
	}
	char dir[48];                   /* x and y: fresh names beside t */
	parent_of(t, dir);
	for (int k = 0; k < 8; k++) {
		snprintf(x, sizeof x, "%s%sf%u", dir, dir[0] ? "/" : "", rn(NFILE));
		snprintf(y, sizeof y, "%s%sf%u", dir, dir[0] ? "/" : "", rn(NFILE));
		if (findn(x) < 0 && findn(y) < 0 && strcmp(x, y)) break;
		x[0] = 0;
	}
	if (!x[0]) return 1;
	int m1 = (m + 1) % nmnt, m2 = (m + 2) % nmnt;
	note("xrename %s and %s onto %s via m%d, m%d", x, y, t, m1, m2);
	if (create_at(m, x, rn(5000)) || create_at(m, y, rn(5000))) return -1;
	for (int k = 0; k < nmnt; k++)
		if (settle(k, t)) return -1;           /* every mount caches t */
	if (rename_at(m1, x, t, 0)) return -1;
	/* the second rename at once (no settling in between), then t opened
	 * through every mount at once: the window the issue measured */
	char b[512], c[512];
	if (rename(rp(m2, y, b), rp(m2, t, c))) { diverge("rename(%s, %s): %s", b, c, ename(errno)); return -1; }
	long long since = N[findn(t)].appeared_ms;
	del_name(findn(t));
	model_move(y, t);
	N[findn(t)].appeared_ms = since;
	ns_changed(m2);
	int in = N[findn(t)].inode;
	for (int k = 0; k < nmnt; k++) {
		long long start = now_ms();
		for (;;) {
			int fd = open(rp(k, t, b), O_RDONLY);
			if (fd < 0) {
				diverge("open %s right after renames onto it via m%d and m%d: %s (the name existed throughout)",
					b, m1, m2, ename(errno));
				return -1;
			}
			struct stat st;
			int same = !fstat(fd, &st) && st.st_ino == I[in].ino;
			if (same || now_ms() - start > grace_ms) {
				int r = verify_fd(fd, in, b);
				close(fd);
				if (r) return -1;
				break;
			}
			close(fd);              /* the replaced file: a stale dentry */
			usleep(5000);
		}
	}
	return 0;
}

static int op_link(int m)
{
	char p[48], q[48], b[512], c[512];
	pick(0, p);
	rand_file(q);
	if (settle(m, p) || settle(m, q)) return -1;
	int np = findn(p);
	int want = np < 0 ? ENOENT : !parent_ok(q) ? ENOENT : findn(q) >= 0 ? EEXIST : 0;
	note("link %s -> %s on m%d", p, q, m);
	int r = link(rp(m, p, b), rp(m, q, c)), e = errno;
	char what[1100];
	snprintf(what, sizeof what, "link(%s, %s)", b, c);
	if (expect(what, r, e, want, 0)) return -1;
	if (r == 0) { add_name(q, N[np].inode); ns_changed(m); }
	return 0;
}

static int op_unlink(int m)
{
	char p[48], b[512];
	pick(0, p);
	if (settle(m, p)) return -1;
	int n = findn(p);
	note("unlink %s on m%d", p, m);
	int r = unlink(rp(m, p, b)), e = errno;
	if (expect(b, r, e, n < 0 ? ENOENT : 0, 0)) return -1;
	if (r == 0) { del_name(n); ns_changed(m); }
	return 0;
}

static int op_mkdir(int m)
{
	char p[48], b[512];
	snprintf(p, sizeof p, "%s", DIRS[1 + rn(NDIRS - 1)]);
	if (settle(m, p)) return -1;
	int want = !parent_ok(p) ? ENOENT : findn(p) >= 0 ? EEXIST : 0;
	note("mkdir %s on m%d", p, m);
	int r = mkdir(rp(m, p, b), 0755), e = errno;
	if (expect(b, r, e, want, 0)) return -1;
	if (r) return 0;
	struct stat st;
	if (lstat(b, &st)) { diverge("lstat new dir %s: %s", b, ename(errno)); return -1; }
	add_name(p, new_inode(1, st.st_ino));
	ns_changed(m);
	return 0;
}

static int op_rmdir(int m)
{
	char p[48], b[512];
	pick(1, p);
	if (settle(m, p)) return -1;
	int n = findn(p);
	int want = n < 0 ? ENOENT : has_children(p) ? ENOTEMPTY : 0;
	note("rmdir %s on m%d", p, m);
	int r = rmdir(rp(m, p, b)), e = errno;
	if (expect(b, r, e, want, want == ENOTEMPTY ? EEXIST : 0)) return -1;
	if (r == 0) { del_name(n); ns_changed(m); }
	return 0;
}

/* List a private directory: exactly the model's children, once each. */
static int list_dir(int m, const char *d)
{
	char b[512], seen[MAXN][48];
	int ns = 0;
	DIR *dp = opendir(rp(m, d, b));
	if (!dp) {
		int e = errno;
		return expect(b, -1, e, isdir_p(d) || !d[0] ? 0 : ENOENT, 0);
	}
	if (d[0] && !isdir_p(d)) { closedir(dp); diverge("opendir %s succeeded, model: absent", b); return -1; }
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		char p[96];
		snprintf(p, sizeof p, "%s%s%s", d, d[0] ? "/" : "", de->d_name);
		for (int i = 0; i < ns; i++)
			if (!strcmp(seen[i], p)) { closedir(dp); diverge("readdir %s lists %s twice", b, de->d_name); return -1; }
		if (findn(p) < 0) {
			/* a stale listing is not a thing: readdir always asks the store */
			closedir(dp); diverge("readdir %s lists %s, model: absent", b, de->d_name); return -1;
		}
		if (ns < MAXN) snprintf(seen[ns++], 48, "%s", p);
	}
	if (errno) { int e = errno; closedir(dp); diverge("readdir %s: %s", b, ename(e)); return -1; }
	closedir(dp);
	int want = 0;
	for (int i = 0; i < MAXN; i++) {
		if (!N[i].used || !N[i].path[0]) continue;
		char par[48];
		parent_of(N[i].path, par);
		if (!strcmp(par, d)) want++;
	}
	if (want != ns) {
		for (int i = 0; i < MAXN; i++) {
			if (!N[i].used || !N[i].path[0]) continue;
			char par[48];
			parent_of(N[i].path, par);
			int f = 0;
			for (int j = 0; j < ns; j++) f |= !strcmp(seen[j], N[i].path);
			if (!strcmp(par, d) && !f) { diverge("readdir %s does not list %s (model has it)", b, N[i].path); return -1; }
		}
	}
	return 0;
}

static int op_readdir(int m)
{
	char d[48];
	snprintf(d, sizeof d, "%s", DIRS[rn(NDIRS)]);
	if (settle(m, d)) return -1;
	note("readdir %s on m%d", d[0] ? d : ".", m);
	if (list_dir(m, d)) return -1;
	/* then every listed name, through the same mount */
	for (int i = 0; i < MAXN; i++) {
		if (!N[i].used || !N[i].path[0]) continue;
		char par[48];
		parent_of(N[i].path, par);
		if (!strcmp(par, d) && settle(m, N[i].path)) return -1;
	}
	return 0;
}

/* Write and fsync on mount m while the file stays open there; another
 * mount must read the bytes at once (fsync is a flush), then close. */
static int op_fsync(int m)
{
	static unsigned char buf[MAXSZ];
	char p[48], b[512], c[512];
	int m2 = rn(nmnt);
	size_t off, len;
	pick(0, p);
	rand_extent(&off, &len);
	fill(buf, len);
	int n = findn(p);
	if (n < 0) return 0;            /* needs an existing file */
	if (settle(m, p) || settle(m2, p)) return -1;
	note("fsync %s: write [%zu,+%zu) on m%d, fsync, read on m%d", p, off, len, m, m2);
	int fd = open(rp(m, p, b), O_RDWR);
	if (fd < 0) { diverge("open %s: %s", b, ename(errno)); return -1; }
	if (pwrite(fd, buf, len, off) != (ssize_t)len) { diverge("pwrite %s: %s", b, ename(errno)); close(fd); return -1; }
	model_write(N[n].inode, off, buf, len);
	if (fsync(fd)) { diverge("fsync %s: %s", b, ename(errno)); close(fd); return -1; }
	int fd2 = open(rp(m2, p, c), O_RDONLY), r;
	if (fd2 < 0) { diverge("open %s after fsync on m%d: %s", c, m, ename(errno)); close(fd); return -1; }
	r = verify_fd(fd2, N[n].inode, c);
	close(fd2);
	if (close(fd)) { diverge("close %s: %s", b, ename(errno)); return -1; }
	return r;
}

/* Open a file on mount B, remove its name on mount A (unlink, or another
 * file renamed over it), then keep using it on B: POSIX keeps an open file
 * alive after its last name is gone. */
static int op_openunlink(int mb)
{
	static unsigned char buf[MAXSZ];
	char p[48], o[48], b[512], a[512], oa[512];
	int ma = rn(nmnt), over = rn(2);
	pick(0, p);
	pick(0, o);
	int n = findn(p), no = findn(o);
	if (n < 0) return 1;            /* skipped */
	if (over && (no < 0 || N[no].inode == N[n].inode)) over = 0;
	if (settle(mb, p) || settle(ma, p) || (over && settle(ma, o))) return -1;
	int in = N[n].inode;
	note("openunlink %s: open on m%d, %s on m%d, use on m%d", p, mb, over ? "rename-over" : "unlink", ma, mb);
	int fd = open(rp(mb, p, b), O_RDWR);
	if (fd < 0) { diverge("open %s: %s", b, ename(errno)); return -1; }
	int r = over ? rename(rp(ma, o, oa), rp(ma, p, a)) : unlink(rp(ma, p, a));
	if (r) { diverge("%s %s on m%d: %s", over ? "rename over" : "unlink", a, ma, ename(errno)); close(fd); return -1; }
	I[in].nlink++;                  /* the open file holds it */
	del_name(n);
	if (over) {                     /* p was never absent */
		long long since = N[n].appeared_ms;
		model_move(o, p);
		N[findn(p)].appeared_ms = since;
	}
	ns_changed(ma);
	for (int k = 0; k < 3; k++) {
		size_t off, len;
		rand_extent(&off, &len);
		fill(buf, len);
		ssize_t w = pwrite(fd, buf, len, off);
		if (w != (ssize_t)len) {
			diverge("pwrite [%zu,+%zu) on m%d to %s open across its removal on m%d: %s",
				off, len, mb, b, ma, w < 0 ? ename(errno) : "short");
			close(fd); return -1;
		}
		model_write(in, off, buf, len);
		if (k == 1 && fsync(fd)) { diverge("fsync %s (removed on m%d) on m%d: %s", b, ma, mb, ename(errno)); close(fd); return -1; }
	}
	struct stat st;
	if (fstat(fd, &st)) { diverge("fstat %s open across removal: %s", b, ename(errno)); close(fd); return -1; }
	if ((int)st.st_nlink != I[in].nlink - 1 || (size_t)st.st_size != I[in].size) {
		diverge("fstat %s open across removal on m%d: nlink %lu size %lld, model nlink %d size %zu",
			b, ma, (unsigned long)st.st_nlink, (long long)st.st_size, I[in].nlink - 1, I[in].size);
		close(fd); return -1;
	}
	r = verify_fd(fd, in, b);
	if (close(fd) && !r) { diverge("close %s (removed on m%d): %s", b, ma, ename(errno)); r = -1; }
	drop_inode_ref(in);             /* the last close */
	return r;
}

/* ------------------------------------------------------- shared directory */

#define NSF 10
#define NSD 3
#define STAMP 64

static void sh_path(int m, const char *name, char *buf)
{
	snprintf(buf, 512, "%s/" TOP "/shared/%s", mnt[m], name);
}
/* A stamp: who wrote it, and a checksum of that, in exactly STAMP bytes
 * (s holds STAMP + 1). */
static void make_stamp(char *s, int writer, unsigned long seq)
{
	char head[40];
	int l = snprintf(head, sizeof head, "w%02d n%010lu", writer, seq);
	uint32_t h = 2166136261u;
	for (int i = 0; i < l; i++) h = (h ^ (unsigned char)head[i]) * 16777619u;
	snprintf(s, STAMP + 1, "%s h%08x %-*s\n", head, h, STAMP - l - 12, "distcheck");
}
static int stamp_ok(const char *s, size_t n)
{
	if (n == 0) return 1;           /* created, not yet written */
	if (n != STAMP) return 0;
	char want[STAMP + 1];
	int w; unsigned long seq;
	if (sscanf(s, "w%d n%lu", &w, &seq) != 2) return 0;
	make_stamp(want, w, seq);
	return memcmp(s, want, STAMP) == 0;
}
/* A shared-directory result: errno must be one a race can explain. */
static int sh_expect(const char *what, int rc, int e, int a1, int a2)
{
	if (rc >= 0) return 0;
	if (e == a1 || e == a2) { __atomic_add_fetch(&S->failed_ok, 1, __ATOMIC_RELAXED); return 0; }
	diverge("shared: %s = %s (a race explains only %s%s%s)", what, ename(e), ename(a1), a2 ? "/" : "", a2 ? ename(a2) : "");
	return -1;
}

static int sh_read(int m, const char *name)
{
	char b[512], buf[STAMP * 2];
	sh_path(m, name, b);
	int fd = open(b, O_RDONLY);
	if (fd < 0) return sh_expect(b, -1, errno, ENOENT, 0);
	ssize_t r = pread(fd, buf, sizeof buf, 0);
	int e = errno;
	close(fd);
	if (r < 0) { diverge("shared: read %s: %s", b, ename(e)); return -1; }
	if (!stamp_ok(buf, r)) { diverge("shared: %s holds %zd bytes that are not one whole stamp: '%.*s'", b, r, (int)(r > 70 ? 70 : r), buf); return -1; }
	return 0;
}

static int op_shared(int m)
{
	static unsigned long seq;
	char x[16], y[16], b[512], c[512], what[1100];
	unsigned k = rn(8);
	int dir = k == 5 || k == 6, r;
	if (dir) snprintf(x, sizeof x, "sd%u", rn(NSD)), snprintf(y, sizeof y, "sd%u", rn(NSD));
	else snprintf(x, sizeof x, "s%u", rn(NSF)), snprintf(y, sizeof y, "s%u", rn(NSF));
	int m2 = rn(nmnt);
	sh_path(m, x, b);
	sh_path(m, y, c);
	snprintf(what, sizeof what, "%s %s %s", (const char *[]){"create", "unlink", "rename", "link", "read", "mkdir", "rmdir", "rename+open"}[k], b, k == 2 || k == 3 || k == 7 ? c : "");
	note("shared: %s", what);
	switch (k) {
	case 0: {                       /* create, then one whole stamp */
		char s[STAMP + 1];
		int fd = open(b, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) return sh_expect(what, -1, errno, EEXIST, 0);
		make_stamp(s, me, ++seq);
		/* the file may be unlinked or renamed by now: the fd must work */
		if (pwrite(fd, s, STAMP, 0) != STAMP) { diverge("shared: pwrite to new %s: %s", b, ename(errno)); close(fd); return -1; }
		if (close(fd)) { diverge("shared: close new %s: %s", b, ename(errno)); return -1; }
		break;
	}
	/* (the call first: errno must be read after it) */
	case 1: r = unlink(b); return sh_expect(what, r, errno, ENOENT, 0);
	case 2: r = rename(b, c); return sh_expect(what, r, errno, ENOENT, 0);
	case 3: r = link(b, c); return sh_expect(what, r, errno, ENOENT, EEXIST);
	case 4: return sh_read(m, x);
	case 5: r = mkdir(b, 0755); return sh_expect(what, r, errno, EEXIST, 0);
	case 6: r = rmdir(b); return sh_expect(what, r, errno, ENOENT, 0);
	case 7:                         /* rename onto a name, open it elsewhere */
		if (rename(b, c)) return sh_expect(what, -1, errno, ENOENT, 0);
		return sh_read(m2, y);
	}
	return 0;
}

/* List the shared directory while others change it: each name once, only
 * known names, each stat-able unless a race removed it since. */
static int op_sreaddir(int m)
{
	char b[512], seen[NSF + NSD][8];
	int ns = 0;
	snprintf(b, sizeof b, "%s/" TOP "/shared", mnt[m]);
	note("sreaddir on m%d", m);
	DIR *dp = opendir(b);
	if (!dp) { diverge("opendir %s: %s", b, ename(errno)); return -1; }
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dp))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..")) continue;
		int known = (nm[0] == 's' && nm[1] == 'd' && nm[2] >= '0' && nm[2] < '0' + NSD && !nm[3]) ||
			    (nm[0] == 's' && nm[1] >= '0' && nm[1] < '0' + NSF && !nm[2]);
		if (!known) { closedir(dp); diverge("shared: readdir %s lists unknown name '%s'", b, nm); return -1; }
		for (int i = 0; i < ns; i++)
			if (!strcmp(seen[i], nm)) { closedir(dp); diverge("shared: readdir on m%d lists %s twice (while other mounts change the directory)", m, nm); return -1; }
		snprintf(seen[ns++], 8, "%s", nm);
		errno = 0;
	}
	if (errno) { int e = errno; closedir(dp); diverge("shared: readdir %s: %s", b, ename(e)); return -1; }
	closedir(dp);
	for (int i = 0; i < ns; i++) {
		char p[512];
		struct stat st;
		sh_path(m, seen[i], p);
		if (lstat(p, &st)) { if (sh_expect(p, -1, errno, ENOENT, 0)) return -1; continue; }
		int isdir = seen[i][1] == 'd';
		if (isdir != !!S_ISDIR(st.st_mode) || st.st_nlink < 1) {
			diverge("shared: %s mode %o nlink %lu", p, st.st_mode, (unsigned long)st.st_nlink); return -1;
		}
	}
	return 0;
}

/* -------------------------------------------------------- quiescent checks */

/* A worker's own subtree on every mount: names, attributes, bytes. */
static int verify_subtree(void)
{
	char why[600];
	for (int m = 0; m < nmnt; m++) {
		long long start = now_ms();
		for (int retried = 0;; retried = 1) {
			int bad = 0, hard = 0;
			for (int i = 0; i < MAXN && !bad; i++)
				if (N[i].used && observe(m, N[i].path, why, sizeof why, &hard)) bad = 1;
			if (!bad) {
				if (retried) note_stale(now_ms() - start);
				break;
			}
			if (hard || !other_changed_recently(m) || now_ms() - start > 10 * grace_ms + 1000) {
				diverge("quiescent point, worker %d subtree, mount %d: %s", me, m, why);
				return -1;
			}
			usleep(10000);
		}
		for (int d = 0; d < NDIRS; d++)
			if ((!DIRS[d][0] || isdir_p(DIRS[d])) && list_dir(m, DIRS[d])) return -1;
		for (int i = 0; i < MAXN; i++) {
			if (!N[i].used || I[N[i].inode].isdir) continue;
			char b[512];
			int fd = open(rp(m, N[i].path, b), O_RDONLY);
			if (fd < 0) { diverge("quiescent point: open %s: %s", b, ename(errno)); return -1; }
			int r = verify_fd(fd, N[i].inode, b);
			close(fd);
			if (r) return -1;
		}
	}
	return 0;
}

/* One entry of a mount's tree, for comparing mounts with each other. */
struct ent {
	char path[96];
	mode_t mode;
	nlink_t nlink;
	ino_t ino;
	off_t size;
	uint64_t hash;
};
#define MAXE 2048

static uint64_t hash_file(const char *p, int *err)
{
	unsigned char buf[65536];
	uint64_t h = 1469598103934665603ULL;
	int fd = open(p, O_RDONLY);
	*err = 0;
	if (fd < 0) { *err = errno; return 0; }
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < r; i++) h = (h ^ buf[i]) * 1099511628211ULL;
	if (r < 0) *err = errno;
	close(fd);
	return h;
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path, ((const struct ent *)b)->path);
}

/* Walk TOP on mount m into e[]; readdir duplicates and ENOENT for a listed
 * name (nothing changes at a quiescent point) are reported at once. */
static int walk(int m, const char *rel, struct ent *e, int *ne, char *why, size_t wsz)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/%s", mnt[m], rel);
	DIR *dp = opendir(dir);
	if (!dp) { snprintf(why, wsz, "opendir %s: %s", dir, ename(errno)); return -1; }
	int first = *ne;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (*ne >= MAXE) { closedir(dp); snprintf(why, wsz, "more than %d entries", MAXE); return -1; }
		struct ent *x = &e[(*ne)++];
		snprintf(x->path, sizeof x->path, "%s/%s", rel, de->d_name);
		for (int i = first; i < *ne - 1; i++)
			if (!strcmp(e[i].path, x->path)) { closedir(dp); snprintf(why, wsz, "readdir %s lists %s twice", dir, de->d_name); return -1; }
	}
	closedir(dp);
	int last = *ne;
	for (int i = first; i < last; i++) {
		char p[640];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", mnt[m], e[i].path);
		if (lstat(p, &st)) { snprintf(why, wsz, "readdir lists %s but lstat says %s", p, ename(errno)); return -1; }
		e[i].mode = st.st_mode; e[i].nlink = st.st_nlink; e[i].ino = st.st_ino;
		e[i].size = S_ISDIR(st.st_mode) ? 0 : st.st_size; e[i].hash = 0;
		if (S_ISREG(st.st_mode)) {
			int err;
			e[i].hash = hash_file(p, &err);
			if (err) { snprintf(why, wsz, "read %s: %s", p, ename(err)); return -1; }
		} else if (S_ISDIR(st.st_mode) && walk(m, e[i].path, e, ne, why, wsz))
			return -1;
	}
	return 0;
}

/* The parent's check: every mount shows the same tree, and every link
 * count equals the names found (files) or 2 + subdirectories (dirs). */
static int compare_mounts(void)
{
	static struct ent e0[MAXE], ek[MAXE];
	char why[800];
	long long start = now_ms();
	int retried = 0;
	for (;;) {
		int n0 = 0, bad = 0, hard = 0;
		why[0] = 0;
		if (walk(0, TOP, e0, &n0, why, sizeof why)) bad = hard = 1;
		qsort(e0, n0, sizeof e0[0], cmp_ent);
		for (int m = 1; m < nmnt && !bad; m++) {
			int nk = 0;
			if (walk(m, TOP, ek, &nk, why, sizeof why)) { bad = hard = 1; break; }
			qsort(ek, nk, sizeof ek[0], cmp_ent);
			for (int i = 0; i < (n0 > nk ? n0 : nk) && !bad; i++) {
				struct ent *a = i < n0 ? &e0[i] : NULL, *b = i < nk ? &ek[i] : NULL;
				if (!a || !b || strcmp(a->path, b->path)) {
					snprintf(why, sizeof why, "mount 0 has %s, mount %d has %s at sorted position %d",
						 a ? a->path : "(end)", m, b ? b->path : "(end)", i);
					bad = 1;
				} else if (a->mode != b->mode || a->nlink != b->nlink || a->ino != b->ino ||
					   a->size != b->size || a->hash != b->hash) {
					snprintf(why, sizeof why, "%s: mount 0 mode %o nlink %lu ino %lu size %lld hash %016llx; mount %d mode %o nlink %lu ino %lu size %lld hash %016llx",
						 a->path, a->mode, (unsigned long)a->nlink, (unsigned long)a->ino, (long long)a->size, (unsigned long long)a->hash,
						 m, b->mode, (unsigned long)b->nlink, (unsigned long)b->ino, (long long)b->size, (unsigned long long)b->hash);
					bad = 1;
				}
			}
		}
		for (int i = 0; i < n0 && !bad; i++) {
			long want = 0;
			if (S_ISDIR(e0[i].mode)) {
				size_t l = strlen(e0[i].path);
				want = 2;
				for (int j = 0; j < n0; j++)
					if (S_ISDIR(e0[j].mode) && !strncmp(e0[j].path, e0[i].path, l) && e0[j].path[l] == '/' && !strchr(e0[j].path + l + 1, '/'))
						want++;
			} else
				for (int j = 0; j < n0; j++)
					want += e0[j].ino == e0[i].ino;
			if ((long)e0[i].nlink != want) {
				snprintf(why, sizeof why, "%s: nlink %lu, but %ld %s found", e0[i].path, (unsigned long)e0[i].nlink, want,
					 S_ISDIR(e0[i].mode) ? "(2 + subdirectories)" : "names of that inode");
				bad = 1;        /* a stale dentry can double-count */
			}
		}
		if (!bad) {
			if (retried) {
				note_stale(now_ms() - start);
				if (verbose)
					fprintf(stderr, "distcheck: quiescent point: stale view cleared after %lld ms\n", now_ms() - start);
			}
			return n0;
		}
		retried = 1;
		if (hard || now_ms() - S->last_change_ms > grace_ms) {
			diverge("quiescent point after round %lu: %s", S->rounds, why);
			return -1;
		}
		usleep(20000);
	}
}

/* ------------------------------------------------------------ main loops */

static int pick_class(void)
{
	int tot = 0;
	for (int c = 0; c < NCLS; c++) tot += enabled[c] ? cls_weight[c] : 0;
	int r = rn(tot);
	for (int c = 0; c < NCLS; c++) {
		if (!enabled[c]) continue;
		if (r < cls_weight[c]) return c;
		r -= cls_weight[c];
	}
	return 0;
}

static int (*const OPS[NCLS])(int) = {
	op_create, op_write, op_read, op_truncate, op_rename, op_link, op_unlink,
	op_mkdir, op_rmdir, op_readdir, op_fsync, op_openunlink, op_shared, op_sreaddir,
	op_xrename, op_replace
};

static void worker(int w, uint64_t seed, long ops, int round, int rounds)
{
	me = w;
	rng = seed ^ (0x9E3779B97F4A7C15ULL * (w + 1));
	if (!rng) rng = 1;
	rnd();
	/* the worker's subtree root is in the model as "" */
	char b[512];
	struct stat st;
	if (lstat(rp(0, "", b), &st)) { diverge("lstat %s: %s", b, ename(errno)); _exit(1); }
	int root = new_inode(1, st.st_ino);
	add_name("", root);
	N[findn("")].appeared_ms = 0;
	long done = 0;
	for (int r = 0; r < rounds; r++) {
		/* count operations done, not skipped ones (nothing to do them
		 * on); the attempt limit only guards against a model that can
		 * do nothing at all */
		for (int i = 0; i < round && done < ops && opno < 4UL * ops && !S->stop && !S->timeup;) {
			int c = pick_class(), m = rn(nmnt);
			opno++;
			/* 0 done, 1 skipped, -1 divergence */
			if (OPS[c](m) == 0) {
				__atomic_add_fetch(&S->ops[c], 1, __ATOMIC_RELAXED);
				i++, done++;
			}
		}
		/* stop; the parent compares the mounts alone (even reads write
		 * atime, which would make this a concurrent test again); then
		 * each worker checks its own subtree */
		if (barrier(nworkers + 1) || barrier(nworkers + 1)) _exit(1);
		int bad = S->stop ? 0 : verify_subtree();
		if (barrier(nworkers + 1)) _exit(1);
		if (bad && !keep_going) _exit(1);
	}
	_exit(0);
}

static int parse_classes(const char *list, int val)
{
	char *s = strdup(list), *save = NULL;
	for (int c = 0; c < NCLS; c++) enabled[c] = !val;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int c;
		for (c = 0; c < NCLS && strcmp(cls_name[c], t); c++) ;
		if (c == NCLS) {
			fprintf(stderr, "distcheck: unknown operation class '%s' (classes:", t);
			for (c = 0; c < NCLS; c++) fprintf(stderr, " %s", cls_name[c]);
			fprintf(stderr, ")\n");
			free(s);
			return -1;
		}
		enabled[c] = val;
	}
	free(s);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: distcheck [-s SEED] [-n OPS] [-w WORKERS] [-q ROUND] [-t SECONDS]\n"
		"                 [-g GRACE_MS] [-c CLASSES | -x CLASSES] [-k] [-v] MOUNT...\n"
		"  MOUNTs are mountpoints of one filesystem (one is allowed); the checker\n"
		"  works in MOUNT/" TOP ", which must not exist yet.\n"
		"  -n OPS       operations in all (default 2000), spread over the workers\n"
		"  -w WORKERS   worker processes (default 3, at most %d)\n"
		"  -q ROUND     operations per worker between quiescent checks (default 200)\n"
		"  -t SECONDS   stop after this long (default 600), checks still run\n"
		"  -g GRACE_MS  how long a mount may show another mount's older namespace\n"
		"               (default 1100: entry_timeout 1 s; 0 = at once)\n"
		"  -c LIST      only these classes; -x LIST all but these (comma lists)\n"
		"  -k           keep going after a divergence; -v progress per round\n"
		"classes: create write read truncate rename link unlink mkdir rmdir readdir\n"
		"         fsync openunlink shared sreaddir xrename replace\n", MAXW);
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	long ops = 2000, secs = 600;
	int round = 200, opt, have_seed = 0;
	for (int c = 0; c < NCLS; c++) enabled[c] = 1;
	while ((opt = getopt(argc, argv, "s:n:w:q:t:g:c:x:kvh")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); have_seed = 1; break;
		case 'n': ops = atol(optarg); break;
		case 'w': nworkers = atoi(optarg); break;
		case 'q': round = atoi(optarg); break;
		case 't': secs = atol(optarg); break;
		case 'g': grace_ms = atoi(optarg); break;
		case 'c': if (parse_classes(optarg, 1)) return 2; break;
		case 'x': if (parse_classes(optarg, 0)) return 2; break;
		case 'k': keep_going = 1; break;
		case 'v': verbose++; break;
		default: usage();
		}
	}
	nmnt = argc - optind;
	if (nmnt < 1 || nmnt > MAXMNT || nworkers < 1 || nworkers > MAXW || ops < 1 || round < 1 || grace_ms < 0)
		usage();
	for (int i = 0; i < nmnt; i++) mnt[i] = argv[optind + i];
	if (!have_seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	int any = 0;
	for (int c = 0; c < NCLS; c++) any |= enabled[c];
	if (!any) { fprintf(stderr, "distcheck: no operation class enabled\n"); return 2; }

	S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) { perror("distcheck: mmap"); return 2; }
	memset(S, 0, sizeof *S);

	/* the tree the workers start from, made through mount 0 */
	char b[600];
	snprintf(b, sizeof b, "%s/" TOP, mnt[0]);
	if (mkdir(b, 0755)) { fprintf(stderr, "distcheck: mkdir %s: %s (it must not exist yet)\n", b, strerror(errno)); return 2; }
	snprintf(b, sizeof b, "%s/" TOP "/shared", mnt[0]);
	if (mkdir(b, 0755)) { fprintf(stderr, "distcheck: mkdir %s: %s\n", b, strerror(errno)); return 2; }
	for (int w = 0; w < nworkers; w++) {
		snprintf(b, sizeof b, "%s/" TOP "/w%d", mnt[0], w);
		if (mkdir(b, 0755)) { fprintf(stderr, "distcheck: mkdir %s: %s\n", b, strerror(errno)); return 2; }
	}
	S->last_change_ms = now_ms();

	long per = (ops + nworkers - 1) / nworkers;
	int rounds = (int)((per + round - 1) / round);
	printf("distcheck: seed %llu, %d mounts, %d workers, %ld operations (%d rounds of %d per worker), grace %d ms, classes:",
	       (unsigned long long)seed, nmnt, nworkers, per * nworkers, rounds, round, grace_ms);
	for (int c = 0; c < NCLS; c++) if (enabled[c]) printf(" %s", cls_name[c]);
	printf("\n");
	fflush(stdout);

	long long t0 = now_ms();
	deadline_ms = t0 + secs * 1000;
	pid_t pids[MAXW];
	for (int w = 0; w < nworkers; w++) {
		pids[w] = fork();
		if (pids[w] < 0) { perror("distcheck: fork"); S->stop = 1; return 2; }
		if (pids[w] == 0) worker(w, seed, per, round, rounds);
	}
	int entries = 0;
	for (int r = 0; r < rounds; r++) {
		if (barrier(nworkers + 1)) break;
		S->rounds = r + 1;
		int n = compare_mounts();
		if (n >= 0) entries = n;
		if (barrier(nworkers + 1) || barrier(nworkers + 1)) break;
		if (verbose) {
			unsigned long tot = 0;
			for (int c = 0; c < NCLS; c++) tot += S->ops[c];
			fprintf(stderr, "distcheck: round %d: %lu operations, %d entries, %lld ms\n", r + 1, tot, entries, now_ms() - t0);
		}
	}
	int crashed = 0;
	for (int w = 0; w < nworkers; w++) {
		int st;
		waitpid(pids[w], &st, 0);
		if (WIFSIGNALED(st)) { fprintf(stderr, "distcheck: worker %d died of signal %d\n", w, WTERMSIG(st)); crashed = 1; }
	}
	unsigned long tot = 0;
	for (int c = 0; c < NCLS; c++) tot += S->ops[c];
	printf("distcheck: %lu operations in %.1f s over %d mounts (%lu failed as the model expected, %lu stale views waited out, longest %lld ms), %lu quiescent checks, %d entries at the end%s\n",
	       tot, (now_ms() - t0) / 1000.0, nmnt, S->failed_ok, S->stale_retries, S->stale_max_ms, S->rounds, entries,
	       S->timeup ? " (time limit reached)" : "");
	printf("distcheck: per class:");
	for (int c = 0; c < NCLS; c++) if (enabled[c]) printf(" %s %lu", cls_name[c], S->ops[c]);
	printf("\n");
	if (S->ndiv || crashed) {
		printf("%s", S->report);
		printf("distcheck: FAILED: %d divergence(s); seed %llu (rerun: distcheck -s %llu ...)\n", S->ndiv,
		       (unsigned long long)seed, (unsigned long long)seed);
		return 1;
	}
	printf("distcheck: OK, no divergence (seed %llu)\n", (unsigned long long)seed);
	return 0;
}
