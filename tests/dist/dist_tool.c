/*
 * dist_tool.c — helper for tests/t_dist.sh: races, concurrent writers,
 * locks and visibility probes across several mounts of one filesystem.
 * Each subcommand prints what it measured on stdout; `race` and `pwrite`
 * check their own results and exit 1 on any violation (with a message on
 * stderr), so the script only looks at the exit status and the figures.
 *
 *   race OP ROUNDS DIR...     OP = mkdir|create|link|rename|unlink: one
 *                             child per DIR (each DIR is the same directory
 *                             seen through a different mount) does OP on the
 *                             same name at the same instant (process-shared
 *                             barrier); exactly one must succeed, the others
 *                             must fail with EEXIST (mkdir, create, link) or
 *                             ENOENT (rename, unlink), every round.
 *   pwrite FILE_A FILE_B PIECES SIZE   two children write interleaved
 *                             pieces (A the even ones, B the odd ones, SIZE
 *                             bytes each, so pieces share blocks) of one
 *                             file concurrently, fsync now and then, close.
 *   verify FILE PIECES SIZE   every piece holds its writer's pattern
 *   hold PATH fcntl|flock R|W SECONDS   lock the whole file, print
 *                             "locked", keep it SECONDS (or until killed)
 *   try PATH fcntl|flock      non-blocking exclusive attempt: prints "ok" or
 *                             the errno name
 *   try_timed PATH fcntl|flock  the same, followed by the call's ms
 *   getlk PATH                F_GETLK for a whole-file write lock:
 *                             "unlocked" or "TYPE PID START LEN"
 *   wait PATH fcntl|flock     blocking exclusive lock: prints elapsed ms
 *   poll PATH LIMIT_MS        F_SETLK every 10 ms until granted: prints ms
 *   seen OLD NEW LIMIT_MS     poll until OLD is gone and NEW (if not "-")
 *                             exists: prints ms, or "timeout"
 *   rename_seen A_OLD A_NEW B_OLD B_NEW LIMIT_MS   rename on A, then poll
 *                             B until the change shows: prints ms
 *   onto ROUNDS DIR...        one child per DIR (one directory seen through
 *                             different mounts): each creates its own file
 *                             through its mount, all rename theirs onto one
 *                             name at the same instant (all must succeed),
 *                             then each opens that name through its own
 *                             mount at once: every open must succeed and
 *                             every mount must read the same winner.
 *   stale_nlink DIR_A DIR_B DIR_C ROUNDS   each round: a file made on A,
 *                             held open on C, stat'ed on B (B caches the
 *                             name), unlinked on A, stat'ed on B at once: B
 *                             must answer ENOENT (or, before the change
 *                             notice, the file with nlink >= 1), never a
 *                             name that leads to nlink 0.
 *   unlink_open PATH_B PATH_A SIZE   open PATH_B (mount B) and write SIZE
 *                             bytes, unlink the file through mount A, write
 *                             SIZE more, fsync, read all back through B's
 *                             descriptor; every call must succeed and every
 *                             byte match.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXN 8

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "dist_tool: %s: %s\n", what, strerror(errno));
	exit(2);
}

struct shared {
	pthread_barrier_t start, done;
	int err[MAXN]; /* 0 = success, else errno */
};

static int race_op(const char *op, const char *dir, int round, int idx)
{
	char a[4096], b[4096];
	int fd;
	if (!strcmp(op, "mkdir")) {
		snprintf(a, sizeof(a), "%s/d%d", dir, round);
		return mkdir(a, 0755) ? errno : 0;
	}
	if (!strcmp(op, "create")) {
		snprintf(a, sizeof(a), "%s/c%d", dir, round);
		fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (!strcmp(op, "link")) {
		snprintf(a, sizeof(a), "%s/s%d", dir, round);
		snprintf(b, sizeof(b), "%s/l%d", dir, round);
		return link(a, b) ? errno : 0;
	}
	if (!strcmp(op, "rename")) {
		/* different targets, so two "successes" would leave two files */
		snprintf(a, sizeof(a), "%s/r%d", dir, round);
		snprintf(b, sizeof(b), "%s/r%d.to%d", dir, round, idx);
		return rename(a, b) ? errno : 0;
	}
	if (!strcmp(op, "unlink")) {
		snprintf(a, sizeof(a), "%s/u%d", dir, round);
		return unlink(a) ? errno : 0;
	}
	fprintf(stderr, "dist_tool: unknown race op %s\n", op);
	exit(2);
}

static int make_file(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	return close(fd);
}

/* Before each round the parent prepares the source name through mount 0. */
static int race_prepare(const char *op, const char *dir, int round)
{
	char a[4096];
	const char *pfx = !strcmp(op, "link") ? "s" : !strcmp(op, "rename") ? "r"
			  : !strcmp(op, "unlink") ? "u" : NULL;
	if (!pfx)
		return 0;
	snprintf(a, sizeof(a), "%s/%s%d", dir, pfx, round);
	return make_file(a);
}

static int cmd_race(int argc, char **argv)
{
	const char *op = argv[0];
	int rounds = atoi(argv[1]), n = argc - 2, bad = 0, r, i;
	char **dirs = argv + 2;
	int want = (!strcmp(op, "rename") || !strcmp(op, "unlink")) ? ENOENT : EEXIST;
	double t0 = now_ms(), worst = 0;
	if (n < 2 || n > MAXN || rounds < 1) {
		fprintf(stderr, "dist_tool race: need 2-%d dirs\n", MAXN);
		return 2;
	}
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->start, &ba, n + 1);
	pthread_barrier_init(&sh->done, &ba, n + 1);
	pid_t pids[MAXN];
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			for (r = 0; r < rounds; r++) {
				pthread_barrier_wait(&sh->start);
				sh->err[i] = race_op(op, dirs[i], r, i);
				pthread_barrier_wait(&sh->done);
			}
			_exit(0);
		}
	}
	for (r = 0; r < rounds; r++) {
		if (race_prepare(op, dirs[0], r)) {
			fprintf(stderr, "race %s round %d: prepare: %s\n", op, r, strerror(errno));
			bad++;
		}
		double rs = now_ms();
		pthread_barrier_wait(&sh->start);
		pthread_barrier_wait(&sh->done);
		double el = now_ms() - rs;
		if (el > worst)
			worst = el;
		int succ = 0, other = 0;
		for (i = 0; i < n; i++) {
			if (sh->err[i] == 0)
				succ++;
			else if (sh->err[i] != want) {
				other++;
				fprintf(stderr, "race %s round %d: mount %d: %s\n", op, r, i,
					strerror(sh->err[i]));
			}
		}
		if (succ != 1 || other) {
			fprintf(stderr, "race %s round %d: %d succeeded, %d other errors (want 1, 0)\n",
				op, r, succ, other);
			bad++;
		}
		if (!strcmp(op, "rename")) { /* exactly one target, no source */
			char p[4096];
			struct stat st;
			int found = 0;
			for (i = 0; i < n; i++) {
				snprintf(p, sizeof(p), "%s/r%d.to%d", dirs[(i + 1) % n], r, i);
				found += stat(p, &st) == 0;
			}
			snprintf(p, sizeof(p), "%s/r%d", dirs[1], r);
			if (found != 1 || stat(p, &st) == 0) {
				fprintf(stderr, "race rename round %d: %d targets, source %s\n",
					r, found, stat(p, &st) == 0 ? "still there" : "gone");
				bad++;
			}
		}
	}
	for (i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	printf("%s: %d rounds x %d mounts, %d bad, %.0f ms total, slowest round %.0f ms\n",
	       op, rounds, n, bad, now_ms() - t0, worst);
	return bad ? 1 : 0;
}

static void piece(unsigned char *buf, int k, int size)
{
	for (int j = 0; j < size; j++)
		buf[j] = (unsigned char)((k * 131 + j * 7 + (k & 1) * 0x55) ^ (j >> 8));
}

static int write_pieces(const char *path, int id, int pieces, int size)
{
	unsigned char *buf = malloc(size);
	int fd = open(path, O_WRONLY);
	if (fd < 0 || !buf)
		die(path);
	for (int k = id; k < pieces; k += 2) {
		piece(buf, k, size);
		if (pwrite(fd, buf, size, (off_t)k * size) != size)
			die("pwrite");
		if (k % 64 == id && fsync(fd))
			die("fsync");
	}
	if (close(fd))
		die("close");
	free(buf);
	return 0;
}

static int cmd_pwrite(char **argv)
{
	int pieces = atoi(argv[2]), size = atoi(argv[3]), st, bad = 0;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->start, &ba, 2);
	double t0 = now_ms();
	for (int id = 0; id < 2; id++) {
		if (fork() == 0) {
			pthread_barrier_wait(&sh->start);
			_exit(write_pieces(argv[id], id, pieces, size));
		}
	}
	for (int id = 0; id < 2; id++) {
		wait(&st);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	printf("pwrite: %d pieces of %d bytes from 2 mounts in %.0f ms\n", pieces, size,
	       now_ms() - t0);
	return bad ? 1 : 0;
}

static int cmd_verify(char **argv)
{
	int pieces = atoi(argv[1]), size = atoi(argv[2]), bad = 0;
	unsigned char *want = malloc(size), *got = malloc(size);
	int fd = open(argv[0], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		die(argv[0]);
	if (st.st_size != (off_t)pieces * size) {
		fprintf(stderr, "verify: size %lld, want %lld\n", (long long)st.st_size,
			(long long)pieces * size);
		bad++;
	}
	for (int k = 0; k < pieces; k++) {
		piece(want, k, size);
		ssize_t n = pread(fd, got, size, (off_t)k * size);
		if (n != size || memcmp(want, got, size)) {
			if (bad < 10)
				fprintf(stderr, "verify: piece %d (writer %c) at %lld: %s\n", k,
					"AB"[k & 1], (long long)k * size,
					n != size ? "short read" : "wrong bytes");
			bad++;
		}
	}
	close(fd);
	printf("verify: %d pieces, %d bad\n", pieces, bad);
	return bad ? 1 : 0;
}

static int lock_fd(const char *path, int flags)
{
	int fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

static int setlk(int fd, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };
	return fcntl(fd, cmd, &fl);
}

static int cmd_hold(char **argv)
{
	int fl = !strcmp(argv[1], "flock"), wr = argv[2][0] == 'W';
	int fd = lock_fd(argv[0], wr ? O_RDWR : O_RDONLY);
	int rc = fl ? flock(fd, wr ? LOCK_EX : LOCK_SH) : setlk(fd, F_SETLKW, wr ? F_WRLCK : F_RDLCK);
	if (rc)
		die("lock");
	printf("locked %d\n", (int)getpid());
	fflush(stdout);
	sleep(atoi(argv[3]));
	return 0; /* exit releases */
}

static int cmd_try(char **argv, int timed)
{
	int fl = !strcmp(argv[1], "flock"), fd = lock_fd(argv[0], O_RDWR);
	double t0 = now_ms();
	int rc = fl ? flock(fd, LOCK_EX | LOCK_NB) : setlk(fd, F_SETLK, F_WRLCK);
	printf("%s", rc == 0 ? "ok" : strerrorname_np(errno));
	if (timed) /* the call alone, not the close that follows */
		printf(" %.0f", now_ms() - t0);
	printf("\n");
	return 0;
}

static int cmd_getlk(char **argv)
{
	int fd = lock_fd(argv[0], O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_GETLK, &fl))
		die("F_GETLK");
	if (fl.l_type == F_UNLCK)
		printf("unlocked\n");
	else
		printf("%s %d %lld %lld\n", fl.l_type == F_WRLCK ? "W" : "R", (int)fl.l_pid,
		       (long long)fl.l_start, (long long)fl.l_len);
	return 0;
}

static int cmd_wait(char **argv)
{
	int fl = !strcmp(argv[1], "flock"), fd = lock_fd(argv[0], O_RDWR);
	double t0 = now_ms();
	int rc = fl ? flock(fd, LOCK_EX) : setlk(fd, F_SETLKW, F_WRLCK);
	if (rc)
		die("blocking lock");
	printf("%.0f\n", now_ms() - t0);
	return 0;
}

static int cmd_poll(char **argv)
{
	int fd = lock_fd(argv[0], O_RDWR);
	double t0 = now_ms(), limit = atof(argv[1]);
	while (setlk(fd, F_SETLK, F_WRLCK)) {
		if (errno != EAGAIN && errno != EACCES)
			die("F_SETLK");
		if (now_ms() - t0 > limit) {
			printf("timeout\n");
			return 1;
		}
		usleep(10000);
	}
	printf("%.0f\n", now_ms() - t0);
	return 0;
}

static int seen(const char *old, const char *new, double t0, double limit)
{
	struct stat st;
	for (;;) {
		int gone = lstat(old, &st) != 0 && errno == ENOENT;
		int there = !strcmp(new, "-") || lstat(new, &st) == 0;
		if (gone && there) {
			printf("%.1f\n", now_ms() - t0);
			return 0;
		}
		if (now_ms() - t0 > limit) {
			printf("timeout\n");
			return 1;
		}
		usleep(1000);
	}
}

static int cmd_rename_seen(char **argv)
{
	struct stat st;
	/* B looks the names up first, so its kernel holds them in its cache */
	if (lstat(argv[2], &st))
		die(argv[2]);
	lstat(argv[3], &st);
	double t0 = now_ms();
	if (!strcmp(argv[1], "-") ? unlink(argv[0]) : rename(argv[0], argv[1]))
		die("rename/unlink on A");
	return seen(argv[2], argv[3], t0, atof(argv[4]));
}

/* Each child: make its own file, rename it onto the shared name, open it. */
static int cmd_onto(int argc, char **argv)
{
	int rounds = atoi(argv[0]), n = argc - 1, bad = 0, r, i;
	char **dirs = argv + 1;
	if (n < 2 || n > MAXN || rounds < 1) {
		fprintf(stderr, "dist_tool onto: need 2-%d dirs\n", MAXN);
		return 2;
	}
	struct shared *sh = mmap(NULL, sizeof(*sh) * 3, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	struct shared *opened = sh + 1, *winner = sh + 2;
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->start, &ba, n + 1);
	pthread_barrier_init(&sh->done, &ba, n + 1);
	pthread_barrier_init(&opened->start, &ba, n);
	pid_t pids[MAXN];
	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) < 0)
			die("fork");
		if (pids[i] != 0)
			continue;
		for (r = 0; r < rounds; r++) {
			char a[4096], b[4096];
			snprintf(a, sizeof(a), "%s/o%d.from%d", dirs[i], r, i);
			snprintf(b, sizeof(b), "%s/o%d", dirs[i], r);
			int fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0644);
			if (fd < 0 || write(fd, &i, sizeof(i)) != sizeof(i) || close(fd))
				die("create own file");
			pthread_barrier_wait(&sh->start);
			sh->err[i] = rename(a, b) ? errno : 0;
			pthread_barrier_wait(&opened->start); /* all renames done */
			int got = -1;
			fd = open(b, O_RDONLY);
			opened->err[i] = fd < 0 ? errno : 0;
			if (fd >= 0) {
				if (read(fd, &got, sizeof(got)) != sizeof(got))
					got = -2;
				close(fd);
			}
			winner->err[i] = got;
			pthread_barrier_wait(&sh->done);
		}
		_exit(0);
	}
	for (r = 0; r < rounds; r++) {
		pthread_barrier_wait(&sh->start);
		pthread_barrier_wait(&sh->done);
		int fails = 0;
		for (i = 0; i < n; i++) {
			if (sh->err[i])
				fprintf(stderr, "onto round %d: rename on mount %d: %s\n",
					r, i, strerror(sh->err[i]));
			if (opened->err[i])
				fprintf(stderr, "onto round %d: open on mount %d: %s\n",
					r, i, strerror(opened->err[i]));
			else if (winner->err[i] != winner->err[0])
				fprintf(stderr, "onto round %d: mount %d reads winner %d, "
					"mount 0 reads %d\n", r, i, winner->err[i],
					winner->err[0]);
			fails += sh->err[i] || opened->err[i] ||
				 winner->err[i] != winner->err[0] || winner->err[i] < 0;
		}
		bad += fails > 0;
	}
	for (i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	printf("onto: %d rounds x %d mounts, %d bad\n", rounds, n, bad);
	return bad ? 1 : 0;
}

static int cmd_stale_nlink(char **argv)
{
	int rounds = atoi(argv[3]), bad = 0, gone = 0;
	for (int r = 0; r < rounds; r++) {
		char a[4096], b[4096], c[4096];
		struct stat st;
		snprintf(a, sizeof(a), "%s/sn%d", argv[0], r);
		snprintf(b, sizeof(b), "%s/sn%d", argv[1], r);
		snprintf(c, sizeof(c), "%s/sn%d", argv[2], r);
		if (make_file(a))
			die("create on A");
		int fd = open(c, O_RDONLY);
		if (fd < 0)
			die("open on C");
		if (stat(b, &st))
			die("stat on B");
		if (unlink(a))
			die("unlink on A");
		if (stat(b, &st) == 0) {
			if (st.st_nlink == 0) {
				fprintf(stderr, "stale_nlink round %d: B shows the name "
					"with nlink 0\n", r);
				bad++;
			}
		} else if (errno == ENOENT) {
			gone++;
		} else {
			fprintf(stderr, "stale_nlink round %d: stat on B: %s\n", r,
				strerror(errno));
			bad++;
		}
		close(fd);
	}
	printf("stale_nlink: %d rounds, %d bad, %d already gone on B\n", rounds,
	       bad, gone);
	return bad ? 1 : 0;
}

static int cmd_unlink_open(char **argv)
{
	size_t size = (size_t)atol(argv[2]);
	unsigned char *buf = malloc(2 * size), *back = malloc(2 * size);
	if (!buf || !back)
		die("malloc");
	for (size_t k = 0; k < 2 * size; k++)
		buf[k] = (unsigned char)(k * 7 + k / 4096);
	int fd = open(argv[0], O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0)
		die("open on B");
	if (pwrite(fd, buf, size, 0) != (ssize_t)size)
		die("first write on B");
	if (fsync(fd))
		die("fsync on B");
	if (unlink(argv[1]))
		die("unlink on A");
	if (pwrite(fd, buf + size, size, (off_t)size) != (ssize_t)size)
		die("write on B after the unlink on A");
	if (fsync(fd))
		die("fsync on B after the unlink on A");
	if (pread(fd, back, 2 * size, 0) != (ssize_t)(2 * size))
		die("read back on B");
	if (memcmp(buf, back, 2 * size)) {
		fprintf(stderr, "dist_tool unlink_open: data read back differs\n");
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st))
		die("fstat on B");
	if (st.st_nlink != 0 || st.st_size != (off_t)(2 * size)) {
		fprintf(stderr, "dist_tool unlink_open: nlink %ld size %ld\n",
			(long)st.st_nlink, (long)st.st_size);
		return 1;
	}
	if (close(fd))
		die("close on B");
	printf("unlink_open: %zu bytes written and read back after the unlink\n",
	       2 * size);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	const char *c = argv[1];
	argv += 2;
	argc -= 2;
	if (!strcmp(c, "race") && argc >= 4)
		return cmd_race(argc, argv);
	if (!strcmp(c, "pwrite") && argc == 4)
		return cmd_pwrite(argv);
	if (!strcmp(c, "verify") && argc == 3)
		return cmd_verify(argv);
	if (!strcmp(c, "hold") && argc == 4)
		return cmd_hold(argv);
	if (!strcmp(c, "try") && argc == 2)
		return cmd_try(argv, 0);
	if (!strcmp(c, "try_timed") && argc == 2)
		return cmd_try(argv, 1);
	if (!strcmp(c, "getlk") && argc == 1)
		return cmd_getlk(argv);
	if (!strcmp(c, "wait") && argc == 2)
		return cmd_wait(argv);
	if (!strcmp(c, "poll") && argc == 2)
		return cmd_poll(argv);
	if (!strcmp(c, "seen") && argc == 3)
		return seen(argv[0], argv[1], now_ms(), atof(argv[2]));
	if (!strcmp(c, "rename_seen") && argc == 5)
		return cmd_rename_seen(argv);
	if (!strcmp(c, "onto") && argc >= 3)
		return cmd_onto(argc, argv);
	if (!strcmp(c, "stale_nlink") && argc == 4)
		return cmd_stale_nlink(argv);
	if (!strcmp(c, "unlink_open") && argc == 3)
		return cmd_unlink_open(argv);
usage:
	fprintf(stderr, "usage: see the comment at the top of tests/dist/dist_tool.c\n");
	return 2;
}
