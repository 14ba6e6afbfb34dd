/*
 * coord_zk_test — the ZooKeeper coordinator against a real server (started
 * by tests/t_coord_zk.sh, which passes the URL and the credentials in
 * $CASSAFS_ZK_CREDENTIALS_FILE).  Not a unit_* program: it needs a server.
 *
 *   coord_zk_test URL all        mounts, ACLs, locks, plocks, flock, notices
 *   coord_zk_test URL outage     $ZK_STOP_CMD / $ZK_START_CMD: calls fail in
 *                                bounded time while the server is down and
 *                                work again after it restarts
 *   coord_zk_test URL ensemble   $ZK_KILL_LEADER_CMD mid-workload: no
 *                                call fails
 * Other processes are this program re-executed with a "child-…" role, so
 * that each has its own ZooKeeper session (threads do not survive fork).
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper.h>

#include "coord.h"
#include "log.h"
#include "test.h"

static const char *url;
static char fsid[64];
static int session_ms = 3000;

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct coord *open_or_die(const char *u)
{
	struct coord *c = NULL;
	char err[512] = "";
	int r = coord_open(u, fsid, &c, err, sizeof(err));
	if (r) {
		fprintf(stderr, "coord_open %s: %s (%s)\n", u, err, strerror(-r));
		exit(3);
	}
	return c;
}

/* ---- shared memory between the test and its children ---- */

struct shm {
	volatile int inside, violations, counter, order_next;
	volatile int order[16];
	volatile int64_t acquired[16], released[16];
};

static struct shm *map_shm(const char *path, int create)
{
	int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (fd < 0 || (create && ftruncate(fd, sizeof(struct shm)) < 0))
		return NULL;
	void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- children ---- */

static pid_t spawn(const char *self, const char *role, const char *a1,
		   const char *a2, const char *a3, int *ready_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		char fdbuf[16];
		close(p[0]);
		snprintf(fdbuf, sizeof(fdbuf), "%d", p[1]);
		execl(self, self, url, role, fsid, fdbuf, a1 ? a1 : "-",
		      a2 ? a2 : "-", a3 ? a3 : "-", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

/* Wait for the child's "ready" byte; 0 on success. */
static int wait_ready(int fd, int timeout_ms)
{
	fd_set s;
	FD_ZERO(&s);
	FD_SET(fd, &s);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	char b;
	if (select(fd + 1, &s, NULL, NULL, &tv) != 1 || read(fd, &b, 1) != 1)
		return -1;
	return 0;
}

static int wait_ready_byte(int fd, int timeout_ms, char *b)
{
	fd_set s;
	FD_ZERO(&s);
	FD_SET(fd, &s);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	if (select(fd + 1, &s, NULL, NULL, &tv) != 1 || read(fd, b, 1) != 1)
		return -1;
	return 0;
}

static void signal_ready(int fd)
{
	if (write(fd, "R", 1) != 1)
		exit(4);
}

static void child_notice(void *arg, uint64_t ino, uint64_t parent,
			 const char *name, size_t name_len)
{
	int fd = *(int *)arg;
	if (write(fd, ino == 0 ? "Z" : ino == 77 ? "N" : "?", 1) != 1)
		exit(4);
}

static int child_main(int argc, char **argv)
{
	const char *role = argv[2];
	snprintf(fsid, sizeof(fsid), "%s", argv[3]);
	int fd = atoi(argv[4]);
	const char *a1 = argv[5], *a2 = argv[6], *a3 = argv[7];
	(void)argc;
	struct coord *c = open_or_die(url);
	if (!strcmp(role, "child-mount")) {
		struct coord_mount_info m;
		char err[256];
		coord_fill_mount_info(&m, "/mnt/child");
		if (coord_register_mount(c, &m, err, sizeof(err)))
			return 5;
		signal_ready(fd);
		pause();
	} else if (!strcmp(role, "child-expire")) {
		/* mount + lock + notice watch; the parent stops us past the
		 * session timeout, then lets us go on */
		struct coord_mount_info m;
		char err[256];
		struct coord_lock *l;
		coord_fill_mount_info(&m, "/mnt/expire");
		if (coord_register_mount(c, &m, err, sizeof(err)) ||
		    coord_lock(c, "inode/13", COORD_EXCLUSIVE, 5000, &l) ||
		    coord_watch(c, child_notice, &fd))
			return 5;
		signal_ready(fd);
		for (;;)
			pause();
	} else if (!strcmp(role, "child-watch")) {
		if (coord_watch(c, child_notice, &fd))
			return 5;
		signal_ready(fd);
		for (;;)
			pause();
	} else if (!strcmp(role, "child-excl")) {
		/* a1 = rounds, a2 = shm path */
		struct shm *s = map_shm(a2, 0);
		int rounds = atoi(a1);
		signal_ready(fd);
		for (int i = 0; i < rounds; i++) {
			struct coord_lock *l;
			if (coord_lock(c, "inode/7", COORD_EXCLUSIVE, 60000, &l))
				return 6;
			if (__sync_add_and_fetch(&s->inside, 1) != 1)
				__sync_add_and_fetch(&s->violations, 1);
			int v = s->counter;
			usleep(1000);
			s->counter = v + 1;
			__sync_sub_and_fetch(&s->inside, 1);
			coord_unlock(c, l);
		}
	} else if (!strcmp(role, "child-plock-excl")) {
		/* a1 = rounds, a2 = shm path: F_SETLKW mutual exclusion */
		struct shm *s = map_shm(a2, 0);
		int rounds = atoi(a1);
		signal_ready(fd);
		for (int i = 0; i < rounds; i++) {
			struct coord_plock pl = {.ino = 80, .owner = 1, .start = 100,
						 .end = 199, .type = F_WRLCK,
						 .pid = getpid()};
			if (coord_plock_set(c, &pl, 1))
				return 6;
			if (__sync_add_and_fetch(&s->inside, 1) != 1)
				__sync_add_and_fetch(&s->violations, 1);
			int v = s->counter;
			usleep(1000);
			s->counter = v + 1;
			__sync_sub_and_fetch(&s->inside, 1);
			pl.type = F_UNLCK;
			if (coord_plock_set(c, &pl, 0))
				return 7;
		}
	} else if (!strcmp(role, "child-hold")) {
		/* a1 = lock name, a2 = S|X; hold until killed */
		struct coord_lock *l;
		if (coord_lock(c, a1, a2[0] == 'S' ? COORD_SHARED : COORD_EXCLUSIVE,
			       30000, &l))
			return 6;
		signal_ready(fd);
		pause();
	} else if (!strcmp(role, "child-wait")) {
		/* a1 = lock name, a2 = shm path, a3 = index */
		struct shm *s = map_shm(a2, 0);
		int idx = atoi(a3);
		struct coord_lock *l;
		signal_ready(fd);
		if (coord_lock(c, a1, COORD_EXCLUSIVE, -1, &l))
			return 6;
		s->acquired[idx] = wall_ms();
		s->order[__sync_fetch_and_add(&s->order_next, 1)] = idx;
		usleep(100 * 1000);
		s->released[idx] = wall_ms();
		coord_unlock(c, l);
	} else if (!strcmp(role, "child-plock")) {
		/* a1 = ino, a2 = hold ms (-1 = until killed), a3 = flock 0/1 */
		struct coord_plock pl = {.ino = strtoull(a1, NULL, 10),
					 .owner = 99, .start = 0,
					 .end = UINT64_MAX, .type = F_WRLCK,
					 .pid = getpid(), .flock = atoi(a3)};
		if (coord_plock_set(c, &pl, 0))
			return 6;
		signal_ready(fd);
		int hold = atoi(a2);
		if (hold < 0)
			pause();
		usleep((useconds_t)hold * 1000);
		pl.type = F_UNLCK;
		if (coord_plock_set(c, &pl, 0))
			return 7;
	}
	coord_close(c);
	return 0;
}

/* ---- raw ZooKeeper access, to look at what the engine left there ---- */

static zhandle_t *raw;

static void raw_watcher(zhandle_t *zh, int type, int state, const char *path,
			void *ctx)
{
}

static void raw_open(const char *hosts, const char *cred)
{
	raw = zookeeper_init(hosts, raw_watcher, 10000, NULL, NULL, 0);
	for (int i = 0; i < 100 && zoo_state(raw) != ZOO_CONNECTED_STATE; i++)
		usleep(50000);
	if (cred)
		zoo_add_auth(raw, "digest", cred, (int)strlen(cred), NULL, NULL);
}

static int raw_count(const char *path)
{
	struct String_vector sv;
	if (zoo_get_children(raw, path, 0, &sv) != ZOK)
		return -1;
	int n = sv.count;
	deallocate_String_vector(&sv);
	return n;
}

/* The server's 4lw answer for word (wchs). */
static int four_letter(const char *hostport, const char *word, char *out,
		       size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s cmd %s %s", getenv("ZK_SERVER_SH"),
		 strchr(hostport, ':') + 1, word);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t n = fread(out, 1, len - 1, f);
	out[n] = 0;
	pclose(f);
	return 0;
}

/* ---- mounts ---- */

struct mounts {
	int n, have_self, have_pid;
	pid_t pid;
	char self_mp[1024];
};

static int count_mount(void *arg, const struct coord_mount_info *m)
{
	struct mounts *ms = arg;
	ms->n++;
	if (m->pid == getpid()) {
		ms->have_self = 1;
		snprintf(ms->self_mp, sizeof(ms->self_mp), "%s", m->mountpoint);
	}
	if (ms->pid && m->pid == ms->pid)
		ms->have_pid = 1;
	return 0;
}

static void test_mounts(const char *self, struct coord *a)
{
	struct coord_mount_info m;
	char err[512];
	coord_fill_mount_info(&m, "/mnt/a");
	CHECK_EQ(coord_register_mount(a, &m, err, sizeof(err)), 0);
	struct mounts ms = {0};
	CHECK_EQ(coord_list_mounts(a, count_mount, &ms), 0);
	CHECK_EQ(ms.n, 1);
	CHECK(ms.have_self && !strcmp(ms.self_mp, "/mnt/a"), "mp '%s'", ms.self_mp);

	int fd;
	pid_t pid = spawn(self, "child-mount", NULL, NULL, NULL, &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	close(fd);
	ms = (struct mounts){.pid = pid};
	CHECK_EQ(coord_list_mounts(a, count_mount, &ms), 0);
	CHECK_EQ(ms.n, 2);
	CHECK(ms.have_pid, "child mount %d listed", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	int64_t t0 = ms_now(), gone = -1;
	while (ms_now() - t0 < 30000) {
		ms = (struct mounts){.pid = pid};
		coord_list_mounts(a, count_mount, &ms);
		if (!ms.have_pid) {
			gone = ms_now() - t0;
			break;
		}
		usleep(100000);
	}
	printf("killed mount disappeared after %lld ms (session %d ms)\n",
	       (long long)gone, session_ms);
	CHECK(gone >= 0 && gone <= session_ms * 2 + 2000, "gone after %lld ms",
	      (long long)gone);
	CHECK_EQ(ms.n, 1);
}

/* A client stopped past its session timeout loses its session (mount
 * record and locks go); when it runs again it opens a new session by
 * itself, registers again and says that notices may have been lost. */
static void test_expiry(const char *self, struct coord *b)
{
	int fd;
	pid_t pid = spawn(self, "child-expire", NULL, NULL, NULL, &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	struct coord_lock *l;
	CHECK_EQ(coord_lock(b, "inode/13", COORD_EXCLUSIVE, 0, &l), -EAGAIN);
	kill(pid, SIGSTOP);
	int64_t t0 = ms_now();
	CHECK_EQ(coord_lock(b, "inode/13", COORD_EXCLUSIVE, 30000, &l), 0);
	printf("stopped client's lock released after %lld ms\n",
	       (long long)(ms_now() - t0));
	struct mounts ms = {.pid = pid};
	coord_list_mounts(b, count_mount, &ms);
	CHECK(!ms.have_pid, "stopped client's mount gone");
	coord_unlock(b, l);
	usleep(500000);
	kill(pid, SIGCONT);
	t0 = ms_now();
	do {
		ms = (struct mounts){.pid = pid};
		coord_list_mounts(b, count_mount, &ms);
		if (!ms.have_pid)
			usleep(100000);
	} while (!ms.have_pid && ms_now() - t0 < 30000);
	printf("expired client registered again %lld ms after it resumed\n",
	       (long long)(ms_now() - t0));
	CHECK(ms.have_pid, "mount re-registered after expiry");
	/* its notice watch works on the new session, after a reset notice */
	CHECK_EQ(coord_publish(b, 77, 0, NULL, 0), 0);
	char got[8] = "";
	int n = 0;
	t0 = ms_now();
	while (n < 2 && ms_now() - t0 < 10000) {
		if (wait_ready_byte(fd, 1000, &got[n]) == 0)
			n++;
	}
	CHECK(n == 2 && got[0] == 'Z' && got[1] == 'N', "child saw '%s'", got);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- ACLs and secrets ---- */

static void test_acl(const char *credfile)
{
	char err[512] = "", saved_file[1024], saved_auth[512] = "";
	snprintf(saved_file, sizeof(saved_file), "%s", credfile);
	if (getenv("CASSAFS_ZK_AUTH"))
		snprintf(saved_auth, sizeof(saved_auth), "%s", getenv("CASSAFS_ZK_AUTH"));
	struct coord *c = NULL;

	unsetenv("CASSAFS_ZK_CREDENTIALS_FILE");
	unsetenv("CASSAFS_ZK_AUTH");
	int r = coord_open(url, fsid, &c, err, sizeof(err));
	CHECK_EQ(r, -EACCES);
	CHECK(strstr(err, "not authorised") != NULL, "err: %s", err);
	printf("no credentials: %s\n", err);

	setenv("CASSAFS_ZK_AUTH", "cassafs:not-the-password", 1);
	err[0] = 0;
	r = coord_open(url, fsid, &c, err, sizeof(err));
	CHECK_EQ(r, -EACCES);
	CHECK(strstr(err, "not authorised") && strstr(err, "do not match"),
	      "err: %s", err);
	CHECK(!strstr(err, "not-the-password"), "password in message: %s", err);
	printf("wrong credentials: %s\n", err);

	/* a brand-new filesystem is never created without an ACL */
	unsetenv("CASSAFS_ZK_AUTH");
	err[0] = 0;
	r = coord_open(url, "never-created", &c, err, sizeof(err));
	CHECK_EQ(r, -EACCES);
	CHECK(strstr(err, "no credentials") != NULL, "err: %s", err);

	/* the URL parameter form */
	char u[2048];
	snprintf(u, sizeof(u), "%s%scredentials=%s", url,
		 strchr(url, '?') ? "&" : "?", saved_file);
	r = coord_open(u, fsid, &c, err, sizeof(err));
	CHECK_EQ(r, 0);
	if (r == 0)
		coord_close(c);
	/* a missing credentials file is named */
	snprintf(u, sizeof(u), "%s%scredentials=/nonexistent/zk.cred", url,
		 strchr(url, '?') ? "&" : "?");
	r = coord_open(u, fsid, &c, err, sizeof(err));
	CHECK_EQ(r, -ENOENT);
	CHECK(strstr(err, "/nonexistent/zk.cred") != NULL, "err: %s", err);

	setenv("CASSAFS_ZK_CREDENTIALS_FILE", saved_file, 1);
	if (saved_auth[0])
		setenv("CASSAFS_ZK_AUTH", saved_auth, 1);

	/* an unauthenticated raw client cannot read the tree either */
	zhandle_t *keep = raw;
	char hosts[256], path[512];
	snprintf(hosts, sizeof(hosts), "%.*s", (int)strcspn(url + 5, "/"), url + 5);
	raw_open(hosts, NULL);
	const char *chroot = url + 5 + strcspn(url + 5, "/?");
	snprintf(path, sizeof(path), "%.*s/%s/mounts",
		 (int)strcspn(chroot, "?"), chroot, fsid);
	struct String_vector sv;
	CHECK_EQ(zoo_get_children(raw, path, 0, &sv), ZNOAUTH);
	zookeeper_close(raw);
	raw = keep;
}

static void test_ps(const char *password)
{
	FILE *f = popen("ps auxww", "r");
	char line[4096];
	int seen = 0, lines = 0, self = 0;
	while (f && fgets(line, sizeof(line), f)) {
		lines++;
		if (strstr(line, password))
			seen = 1;
		if (strstr(line, "coord_zk_test") && strstr(line, "zk://"))
			self = 1;
	}
	if (f)
		pclose(f);
	CHECK(lines > 3, "ps printed %d lines", lines);
	CHECK(self, "ps shows our own command line (with the URL)");
	CHECK(!seen, "password visible in ps output");
}

/* ---- named locks ---- */

static void test_exclusive(const char *self, const char *shmpath,
			   const char *role)
{
	struct shm *s = map_shm(shmpath, 1);
	memset((void *)s, 0, sizeof(*s));
	enum { NPROC = 3, ROUNDS = 40 };
	pid_t pid[NPROC];
	int fd[NPROC];
	char rounds[16];
	snprintf(rounds, sizeof(rounds), "%d", ROUNDS);
	for (int i = 0; i < NPROC; i++)
		pid[i] = spawn(self, role, rounds, shmpath, NULL, &fd[i]);
	for (int i = 0; i < NPROC; i++) {
		CHECK_EQ(wait_ready(fd[i], 30000), 0);
		close(fd[i]);
	}
	int64_t t0 = ms_now();
	int ok = 1;
	for (int i = 0; i < NPROC; i++) {
		int st;
		waitpid(pid[i], &st, 0);
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	int64_t dt = ms_now() - t0;
	CHECK(ok, "a locking child failed");
	CHECK_EQ(s->violations, 0);
	CHECK_EQ(s->counter, NPROC * ROUNDS);
	printf("%s: %d processes x %d rounds, %d violations, counter %d, "
	       "%.2f ms per contended lock+unlock\n", role, NPROC, ROUNDS,
	       s->violations,
	       s->counter, (double)dt / (NPROC * ROUNDS));
	munmap((void *)s, sizeof(*s));
}

static void test_shared(struct coord *a, struct coord *b)
{
	struct coord_lock *la, *lb, *lx;
	CHECK_EQ(coord_lock(a, "inode/9", COORD_SHARED, 0, &la), 0);
	CHECK_EQ(coord_lock(b, "inode/9", COORD_SHARED, 0, &lb), 0);
	CHECK_EQ(coord_lock(b, "inode/9", COORD_EXCLUSIVE, 0, &lx), -EAGAIN);
	int64_t t0 = ms_now();
	CHECK_EQ(coord_lock(b, "inode/9", COORD_EXCLUSIVE, 300, &lx), -ETIMEDOUT);
	int64_t dt = ms_now() - t0;
	CHECK(dt >= 290 && dt < 3000, "timed out after %lld ms", (long long)dt);
	coord_unlock(a, la);
	coord_unlock(b, lb);
	CHECK_EQ(coord_lock(b, "inode/9", COORD_EXCLUSIVE, 0, &lx), 0);
	CHECK_EQ(coord_lock(a, "inode/9", COORD_SHARED, 0, &la), -EAGAIN);
	coord_unlock(b, lx);
	CHECK_EQ(coord_lock(a, "inode/9", COORD_SHARED, 0, &la), 0);
	coord_unlock(a, la);

	/* names the filesystem uses, odd bytes, and a very long one */
	char longname[400];
	memset(longname, 'z', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	const char *names[] = {"name/1/2e2e", "block/42/7", "..", "a b/%/\xff",
			       longname};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK_EQ(coord_lock(a, names[i], COORD_EXCLUSIVE, 5000, &la), 0);
		CHECK_EQ(coord_lock(b, names[i], COORD_EXCLUSIVE, 0, &lb), -EAGAIN);
		coord_unlock(a, la);
	}
	/* uncontended latency */
	int n = 50;
	t0 = ms_now();
	for (int i = 0; i < n; i++) {
		if (coord_lock(a, "inode/10", COORD_EXCLUSIVE, 5000, &la) == 0)
			coord_unlock(a, la);
	}
	printf("uncontended lock+unlock: %.2f ms\n", (double)(ms_now() - t0) / n);
}

static void test_waiters(const char *self, struct coord *a,
			 const char *shmpath, const char *hostport,
			 const char *lockdir)
{
	struct shm *s = map_shm(shmpath, 1);
	memset((void *)s, 0, sizeof(*s));
	struct coord_lock *l;
	CHECK_EQ(coord_lock(a, "inode/11", COORD_EXCLUSIVE, 5000, &l), 0);
	enum { NW = 4 };
	pid_t pid[NW];
	for (int i = 0; i < NW; i++) {
		char idx[8];
		int fd;
		snprintf(idx, sizeof(idx), "%d", i);
		pid[i] = spawn(self, "child-wait", "inode/11", shmpath, idx, &fd);
		CHECK_EQ(wait_ready(fd, 30000), 0);
		close(fd);
		/* queue in a known order: wait until its node is there */
		int64_t t0 = ms_now();
		while (raw_count(lockdir) < i + 2 && ms_now() - t0 < 30000)
			usleep(20000);
		CHECK_EQ(raw_count(lockdir), i + 2);
	}
	usleep(300000); /* let the last one set its watch */
	char out[4096] = "";
	four_letter(hostport, "wchs", out, sizeof(out));
	int conns = -1, paths = -1, total = -1;
	sscanf(out, "%d connections watching %d paths", &conns, &paths);
	char *t = strstr(out, "Total watches:");
	if (t)
		total = atoi(t + 14);
	printf("wchs with %d waiters: %d connections, %d paths, %d watches\n",
	       NW, conns, paths, total);
	/* no herd: each waiter watches its own predecessor */
	CHECK_EQ(paths, NW);
	CHECK_EQ(total, NW);
	int64_t rel = wall_ms();
	coord_unlock(a, l);
	for (int i = 0; i < NW; i++) {
		int st;
		waitpid(pid[i], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "waiter %d failed", i);
	}
	double sum = 0, max = 0;
	for (int i = 0; i < NW; i++) {
		CHECK_EQ(s->order[i], i);
		int64_t prev = i == 0 ? rel : s->released[i - 1];
		double d = (double)(s->acquired[i] - prev);
		sum += d;
		if (d > max)
			max = d;
	}
	printf("hand-over latency: mean %.1f ms, max %.1f ms\n", sum / NW, max);
	CHECK(max < 2000, "hand-over took %.0f ms", max);
	munmap((void *)s, sizeof(*s));
}

static void test_killed_holder(const char *self, struct coord *b)
{
	int fd;
	pid_t pid = spawn(self, "child-hold", "inode/12", "X", NULL, &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	close(fd);
	struct coord_lock *l;
	CHECK_EQ(coord_lock(b, "inode/12", COORD_EXCLUSIVE, 0, &l), -EAGAIN);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	int64_t t0 = ms_now();
	CHECK_EQ(coord_lock(b, "inode/12", COORD_EXCLUSIVE, 30000, &l), 0);
	int64_t dt = ms_now() - t0;
	printf("lock of killed holder released after %lld ms\n", (long long)dt);
	CHECK(dt <= session_ms * 2 + 2000, "took %lld ms", (long long)dt);
	coord_unlock(b, l);
}

/* ---- POSIX record locks ---- */

static int pset(struct coord *c, uint64_t ino, uint64_t owner, int type,
		uint64_t start, uint64_t end, int wait)
{
	struct coord_plock pl = {.ino = ino, .owner = owner, .start = start,
				 .end = end, .type = type, .pid = 1000 + (int)owner};
	return coord_plock_set(c, &pl, wait);
}

/* F_GETLK for [start, end] as a writer would ask: the conflicting lock. */
static struct coord_plock pget(struct coord *c, uint64_t ino, uint64_t owner,
			       int type, uint64_t start, uint64_t end)
{
	struct coord_plock pl = {.ino = ino, .owner = owner, .start = start,
				 .end = end, .type = type};
	if (coord_plock_get(c, &pl))
		pl.type = -1;
	return pl;
}

static void test_plocks(struct coord *a, struct coord *b)
{
	uint64_t ino = 20;
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 0, 99, 0), 0);
	struct coord_plock g = pget(b, ino, 5, F_RDLCK, 50, 60);
	CHECK_EQ(g.type, F_WRLCK);
	CHECK_EQ(g.start, 0);
	CHECK_EQ(g.end, 99);
	CHECK_EQ(g.pid, 1001);
	CHECK_EQ(pset(b, ino, 5, F_RDLCK, 50, 60, 0), -EAGAIN);
	CHECK_EQ(pset(b, ino, 5, F_RDLCK, 100, 199, 0), 0);
	/* same handle, other owner: conflicts too */
	CHECK_EQ(pset(a, ino, 2, F_WRLCK, 10, 10, 0), -EAGAIN);
	/* the owner itself may relock freely */
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 10, 20, 0), 0);
	/* unlock the middle: split into [0,39] and [60,99] */
	CHECK_EQ(pset(a, ino, 1, F_UNLCK, 40, 59, 0), 0);
	g = pget(b, ino, 5, F_WRLCK, 30, 45);
	CHECK_EQ(g.type, F_WRLCK);
	CHECK_EQ(g.start, 0);
	CHECK_EQ(g.end, 39);
	g = pget(b, ino, 5, F_WRLCK, 40, 59);
	CHECK_EQ(g.type, F_UNLCK);
	g = pget(b, ino, 5, F_WRLCK, 55, 70);
	CHECK_EQ(g.start, 60);
	CHECK_EQ(g.end, 99);
	/* downgrade [0,39] to a read lock: readers may share it */
	CHECK_EQ(pset(a, ino, 1, F_RDLCK, 0, 39, 0), 0);
	CHECK_EQ(pset(b, ino, 5, F_RDLCK, 0, 10, 0), 0);
	g = pget(b, ino, 6, F_WRLCK, 20, 30);
	CHECK_EQ(g.type, F_RDLCK);
	/* b's own locks do not conflict with b's owner 5 */
	g = pget(b, ino, 5, F_WRLCK, 100, 150);
	CHECK_EQ(g.type, F_UNLCK);
	/* merging: adjacent ranges of one owner and type become one */
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 200, 299, 0), 0);
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 300, 399, 0), 0);
	g = pget(b, ino, 5, F_RDLCK, 250, 350);
	CHECK_EQ(g.start, 200);
	CHECK_EQ(g.end, 399);
	/* to end of file */
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 1000, UINT64_MAX, 0), 0);
	g = pget(b, ino, 5, F_RDLCK, 5000, 5000);
	CHECK(g.type == F_WRLCK && g.end == UINT64_MAX, "type %d end %" PRIu64,
	      g.type, g.end);
	/* bad ranges */
	CHECK_EQ(pset(a, ino, 1, F_WRLCK, 10, 5, 0), -EINVAL);
	/* unlock everything: the table disappears */
	CHECK_EQ(pset(a, ino, 1, F_UNLCK, 0, UINT64_MAX, 0), 0);
	CHECK_EQ(pset(a, ino, 2, F_UNLCK, 0, UINT64_MAX, 0), 0);
	CHECK_EQ(pset(b, ino, 5, F_UNLCK, 0, UINT64_MAX, 0), 0);
	g = pget(a, ino, 7, F_WRLCK, 0, UINT64_MAX);
	CHECK_EQ(g.type, F_UNLCK);
	/* unlocking what one does not hold is fine */
	CHECK_EQ(pset(a, ino, 1, F_UNLCK, 0, 10, 0), 0);
	/* latency of an uncontended set + unlock */
	int64_t t0 = ms_now();
	for (int i = 0; i < 50; i++) {
		pset(a, 30, 1, F_WRLCK, 0, 10, 0);
		pset(a, 30, 1, F_UNLCK, 0, 10, 0);
	}
	printf("plock set+unlock: %.2f ms\n", (double)(ms_now() - t0) / 50);
}

static void test_setlkw(const char *self, struct coord *b)
{
	/* a holder that lets go after 500 ms: F_SETLKW waits, then wins */
	int fd;
	pid_t pid = spawn(self, "child-plock", "21", "500", "0", &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	close(fd);
	int64_t t0 = ms_now();
	CHECK_EQ(pset(b, 21, 3, F_WRLCK, 0, 0, 0), -EAGAIN);
	CHECK_EQ(pset(b, 21, 3, F_WRLCK, 0, 0, 1), 0);
	int64_t dt = ms_now() - t0;
	printf("F_SETLKW woke after %lld ms (holder kept it 500 ms)\n",
	       (long long)dt);
	CHECK(dt >= 300 && dt < 5000, "waited %lld ms", (long long)dt);
	waitpid(pid, NULL, 0);
	CHECK_EQ(pset(b, 21, 3, F_UNLCK, 0, UINT64_MAX, 0), 0);

	/* a holder that dies: its session's records stop counting */
	pid = spawn(self, "child-plock", "22", "-1", "0", &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	close(fd);
	CHECK_EQ(pset(b, 22, 3, F_RDLCK, 5, 5, 0), -EAGAIN);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t0 = ms_now();
	CHECK_EQ(pset(b, 22, 3, F_WRLCK, 0, 100, 1), 0);
	dt = ms_now() - t0;
	printf("record lock of killed holder released after %lld ms\n",
	       (long long)dt);
	CHECK(dt <= session_ms * 2 + 2000, "took %lld ms", (long long)dt);
	CHECK_EQ(pset(b, 22, 3, F_UNLCK, 0, UINT64_MAX, 0), 0);
}

/* Random record-lock operations by 3 owners, done both on a local file with
 * the kernel's OFD locks (the same per-owner semantics as fcntl locks:
 * splitting, merging, conversion) and through the coordinator; every
 * answer and, at the end, the whole lock map must agree. */
static void test_plock_model(struct coord *a)
{
	char path[] = "/tmp/coord_zk_model.XXXXXX";
	int tfd = mkstemp(path);
	int fd[3];
	for (int i = 0; i < 3; i++)
		fd[i] = open(path, O_RDWR);
	close(tfd);
	unlink(path);
	uint64_t ino = 70;
	srandom(12345);
	int ops = 400, mismatches = 0, conflicts = 0;
	for (int k = 0; k < ops; k++) {
		int o = (int)(random() % 3);
		int t = (int)(random() % 3);
		int type = t == 0 ? F_RDLCK : t == 1 ? F_WRLCK : F_UNLCK;
		uint64_t start = (uint64_t)(random() % 48);
		int toeof = random() % 8 == 0;
		uint64_t len = toeof ? 0 : 1 + (uint64_t)(random() % 12);
		struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET,
				   .l_start = (off_t)start, .l_len = (off_t)len};
		int kr = fcntl(fd[o], F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
		if (kr == -EACCES)
			kr = -EAGAIN;
		int zr = pset(a, ino, 1 + (uint64_t)o, type, start,
			      toeof ? UINT64_MAX : start + len - 1, 0);
		conflicts += kr != 0;
		if (kr != zr) {
			mismatches++;
			fprintf(stderr, "op %d owner %d type %d [%" PRIu64 ",+%" PRIu64
				"]: kernel %d, zk %d\n", k, o, type, start, len, kr, zr);
		}
	}
	/* the whole map: what each owner would conflict with, byte by byte */
	int probes = 0;
	for (int o = 0; o < 3; o++)
		for (uint64_t b = 0; b < 64; b += 1) {
			struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
					   .l_start = (off_t)b, .l_len = 1};
			if (fcntl(fd[o], F_OFD_GETLK, &fl) < 0)
				continue;
			struct coord_plock g = pget(a, ino, 1 + (uint64_t)o, F_WRLCK,
						    b, b);
			probes++;
			if (fl.l_type != g.type) {
				mismatches++;
				fprintf(stderr, "owner %d byte %" PRIu64 ": kernel type "
					"%d, zk %d\n", o, b, fl.l_type, g.type);
			}
		}
	printf("record-lock model: %d ops (%d refused), %d probes, %d "
	       "differences from the kernel\n", ops, conflicts, probes,
	       mismatches);
	CHECK_EQ(mismatches, 0);
	CHECK(conflicts > 20 && conflicts < ops - 20, "%d conflicts", conflicts);
	for (int o = 0; o < 3; o++) {
		pset(a, ino, 1 + (uint64_t)o, F_UNLCK, 0, UINT64_MAX, 0);
		close(fd[o]);
	}
}

struct cancel_arg {
	struct coord *c;
	int r;
	int64_t done;
};

static void *cancel_waiter(void *p)
{
	struct cancel_arg *w = p;
	w->r = pset(w->c, 90, 7, F_WRLCK, 0, 9, 1);
	w->done = ms_now();
	return NULL;
}

/* A FUSE interrupt ends a blocked F_SETLKW with EINTR, leaving no lock. */
static void test_cancel(struct coord *a, struct coord *b)
{
	CHECK_EQ(pset(b, 90, 5, F_WRLCK, 0, 9, 0), 0);
	struct cancel_arg w = {.c = a, .r = 1};
	pthread_t th;
	pthread_create(&th, NULL, cancel_waiter, &w);
	usleep(300000);
	CHECK_EQ(w.r, 1); /* still waiting */
	int64_t t0 = ms_now();
	CHECK_EQ(coord_plock_cancel(a, 90, 7), 0);
	pthread_join(th, NULL);
	CHECK_EQ(w.r, -EINTR);
	CHECK(w.done - t0 < 1000, "cancel took %lld ms", (long long)(w.done - t0));
	CHECK_EQ(coord_plock_cancel(a, 90, 7), -ENOENT);
	struct coord_plock g = pget(b, 90, 5, F_WRLCK, 0, 9);
	CHECK_EQ(g.type, F_UNLCK); /* the cancelled waiter holds nothing */
	CHECK_EQ(pset(b, 90, 5, F_UNLCK, 0, 9, 0), 0);
	CHECK_EQ(pset(a, 90, 7, F_WRLCK, 0, 9, 0), 0);
	CHECK_EQ(pset(a, 90, 7, F_UNLCK, 0, 9, 0), 0);
}

static long server_received(const char *hostport)
{
	char out[4096] = "";
	four_letter(hostport, "srvr", out, sizeof(out));
	char *p = strstr(out, "Received: ");
	return p ? atol(p + 10) : -1;
}

/* Every close unlocks: for an inode this mount never locked that must not
 * cost a round trip.  After its last lock is gone, the next unlock is free
 * again. */
static void test_free_unlocks(struct coord *a, struct coord *b,
			      const char *hostport)
{
	long r0 = server_received(hostport);
	int64_t t0 = ms_now();
	int bad = 0;
	for (int i = 0; i < 200; i++)
		bad += pset(a, 5000 + (uint64_t)i, 1, F_UNLCK, 0, UINT64_MAX, 0) != 0;
	int64_t dt = ms_now() - t0;
	long r1 = server_received(hostport);
	printf("200 unlocks of never-locked inodes: %lld ms, %ld requests "
	       "reached the server\n", (long long)dt, r1 - r0);
	CHECK_EQ(bad, 0);
	CHECK(r0 >= 0 && r1 - r0 < 20, "%ld requests", r1 - r0);
	/* lock, unlock: the table is gone and the next unlock is free */
	CHECK_EQ(pset(a, 96, 1, F_WRLCK, 0, 9, 0), 0);
	CHECK_EQ(pset(b, 96, 2, F_WRLCK, 0, 9, 0), -EAGAIN);
	CHECK_EQ(pset(a, 96, 1, F_UNLCK, 0, UINT64_MAX, 0), 0);
	CHECK_EQ(pset(b, 96, 2, F_WRLCK, 0, 9, 0), 0);
	r0 = server_received(hostport);
	for (int i = 0; i < 50; i++)
		pset(a, 96, 1, F_UNLCK, 0, UINT64_MAX, 0);
	r1 = server_received(hostport);
	CHECK(r1 - r0 < 20, "%ld requests", r1 - r0);
	/* while b holds a lock there, a's own unlocks of other owners still
	 * work, and b's unlock really happens */
	CHECK_EQ(pset(b, 96, 2, F_UNLCK, 0, 9, 0), 0);
	CHECK_EQ(pset(a, 96, 1, F_WRLCK, 0, 9, 0), 0);
	CHECK_EQ(pset(a, 96, 1, F_UNLCK, 0, 9, 0), 0);
}

static int fset(struct coord *c, uint64_t ino, uint64_t owner, int type,
		int wait)
{
	struct coord_plock pl = {.ino = ino, .owner = owner, .start = 0,
				 .end = UINT64_MAX, .type = type, .flock = 1};
	return coord_plock_set(c, &pl, wait);
}

static void test_flock(const char *self, struct coord *a, struct coord *b)
{
	uint64_t ino = 40;
	CHECK_EQ(fset(a, ino, 10, F_WRLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 11, F_RDLCK, 0), -EAGAIN);
	/* flock and fcntl locks do not interact (as on Linux) */
	CHECK_EQ(pset(b, ino, 11, F_WRLCK, 0, 10, 0), 0);
	CHECK_EQ(pset(b, ino, 11, F_UNLCK, 0, 10, 0), 0);
	/* downgrade to shared: others may share it */
	CHECK_EQ(fset(a, ino, 10, F_RDLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 11, F_RDLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 12, F_WRLCK, 0), -EAGAIN);
	CHECK_EQ(fset(a, ino, 10, F_UNLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 11, F_UNLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 12, F_WRLCK, 0), 0);
	CHECK_EQ(fset(b, ino, 12, F_UNLCK, 0), 0);
	/* LOCK_EX waits for another process's flock */
	int fd;
	pid_t pid = spawn(self, "child-plock", "41", "400", "1", &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	close(fd);
	int64_t t0 = ms_now();
	CHECK_EQ(fset(a, 41, 10, F_WRLCK, 0), -EAGAIN);
	CHECK_EQ(fset(a, 41, 10, F_WRLCK, 1), 0);
	int64_t dt = ms_now() - t0;
	CHECK(dt >= 200 && dt < 5000, "flock waited %lld ms", (long long)dt);
	waitpid(pid, NULL, 0);
	CHECK_EQ(fset(a, 41, 10, F_UNLCK, 0), 0);
}

/* ---- notices ---- */

struct seen {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, resets, bad_thread;
	pthread_t main;
	uint64_t ino[512], parent[512], last;
	char name[512][32];
	size_t name_len[512];
};

static void on_notice(void *arg, uint64_t ino, uint64_t parent,
		      const char *name, size_t name_len)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (pthread_equal(pthread_self(), s->main))
		s->bad_thread = 1;
	if (ino == 0) {
		s->resets++;
	} else {
		if (s->n < 512) {
			s->ino[s->n] = ino;
			s->parent[s->n] = parent;
			s->name_len[s->n] = name_len < 32 ? name_len : 31;
			if (name)
				memcpy(s->name[s->n], name, s->name_len[s->n]);
		}
		s->n++;
		s->last = ino;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int wait_seen(struct seen *s, int n, int timeout_ms)
{
	int64_t dl = ms_now() + timeout_ms;
	pthread_mutex_lock(&s->mu);
	while (s->n < n && ms_now() < dl) {
		pthread_mutex_unlock(&s->mu);
		usleep(5000);
		pthread_mutex_lock(&s->mu);
	}
	int got = s->n;
	pthread_mutex_unlock(&s->mu);
	return got;
}

static void test_notices(struct coord *a, struct coord *b)
{
	static struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER,
				.cv = PTHREAD_COND_INITIALIZER};
	s.main = pthread_self();
	CHECK(coord_has_notices(a), "zk has notices");
	CHECK_EQ(coord_watch(a, on_notice, &s), 0);
	int64_t t0 = ms_now();
	CHECK_EQ(coord_publish(b, 5, 1, "x", 1), 0);
	CHECK_EQ(wait_seen(&s, 1, 5000), 1);
	printf("notice delivered after %lld ms\n", (long long)(ms_now() - t0));
	CHECK_EQ(s.ino[0], 5);
	CHECK_EQ(s.parent[0], 1);
	CHECK(s.name_len[0] == 1 && s.name[0][0] == 'x', "name");
	/* a burst arrives whole and in order; binary names survive */
	enum { N = 200 };
	t0 = ms_now();
	for (int i = 0; i < N; i++) {
		char nm[8] = {'f', (char)0xff, '/', (char)(i & 0x7f), 0};
		CHECK_EQ(coord_publish(b, 100 + (uint64_t)i, 2, nm, 4), 0);
	}
	CHECK_EQ(wait_seen(&s, 1 + N, 15000), 1 + N);
	printf("%d notices delivered in %lld ms\n", N, (long long)(ms_now() - t0));
	int inorder = 1;
	for (int i = 0; i < N && i + 1 < s.n; i++)
		if (s.ino[i + 1] != 100 + (uint64_t)i || s.name_len[i + 1] != 4 ||
		    (unsigned char)s.name[i + 1][1] != 0xff ||
		    s.name[i + 1][3] != (char)(i & 0x7f))
			inorder = 0;
	CHECK(inorder, "notices out of order or mangled");
	/* our own notices are not echoed back; entry-less ones carry no name */
	CHECK_EQ(coord_publish(a, 7, 0, NULL, 0), 0);
	CHECK_EQ(coord_publish(b, 8, 0, NULL, 0), 0);
	CHECK_EQ(wait_seen(&s, N + 2, 5000), N + 2);
	usleep(300000);
	CHECK_EQ(s.n, N + 2);
	CHECK_EQ(s.ino[N + 1], 8);
	CHECK_EQ(s.name_len[N + 1], 0);
	CHECK_EQ(s.bad_thread, 0);
	CHECK_EQ(s.resets, 0);
}

/* The head's version: how many batches were published. */
static int raw_version(const char *path)
{
	struct Stat st;
	char buf[64];
	int len = sizeof(buf);
	if (zoo_get(raw, path, 0, buf, &len, &st) != ZOK)
		return -1;
	return st.version;
}

/* Notices live in a fixed ring of batches: the ring never grows, a burst
 * is sent in batches (far fewer writes than changes), and a reader gets
 * every notice or learns that it lost some. */
static void test_ring(void)
{
	char saved[64], u[2048], path[1024];
	snprintf(saved, sizeof(saved), "%s", fsid);
	snprintf(fsid, sizeof(fsid), "%.50s-ring", saved);
	snprintf(u, sizeof(u), "%s%snotice_slots=8", url,
		 strchr(url, '?') ? "&" : "?");
	struct coord *x = open_or_die(u), *y = open_or_die(url);
	static struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER,
				.cv = PTHREAD_COND_INITIALIZER};
	CHECK_EQ(coord_watch(y, on_notice, &s), 0);
	const char *chroot = url + 5 + strcspn(url + 5, "/?");
	snprintf(path, sizeof(path), "%.*s/%s/notices",
		 (int)strcspn(chroot, "?"), chroot, fsid);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(coord_publish(x, 300 + (uint64_t)i, 0, NULL, 0), 0);
	CHECK_EQ(wait_seen(&s, 10, 5000), 10);
	CHECK_EQ(s.resets, 0);
	int v0 = raw_version(path);
	CHECK(v0 >= 1 && v0 <= 10, "%d batches for 10 notices", v0);
	enum { BURST = 2500 };
	int64_t t0 = ms_now();
	for (int i = 0; i < BURST; i++)
		coord_publish(x, 10000 + (uint64_t)i, 0, NULL, 0);
	int peak = 0, last_seen = 0;
	while (ms_now() - t0 < 30000) {
		int q = raw_count(path);
		if (q > peak)
			peak = q;
		pthread_mutex_lock(&s.mu);
		last_seen = s.last == 10000 + BURST - 1;
		int n = s.n, resets = s.resets;
		pthread_mutex_unlock(&s.mu);
		if (last_seen && (n == 10 + BURST || resets > 0))
			break;
		usleep(20000);
	}
	int batches = raw_version(path) - v0;
	printf("burst of %d notices: %lld ms in %d batches, ring of %d slots, "
	       "reader got %d (%d resets)\n", BURST, (long long)(ms_now() - t0),
	       batches, peak, s.n - 10, s.resets);
	CHECK(last_seen, "the last notice of the burst arrived");
	CHECK(s.n == 10 + BURST || s.resets > 0, "got %d, %d resets", s.n - 10,
	      s.resets);
	CHECK(peak <= 8, "ring grew to %d", peak);
	CHECK(batches >= BURST / 64 && batches < BURST / 4,
	      "%d batches for %d notices", batches, BURST);
	coord_close(y);
	coord_close(x);
	/* a ring size out of range is refused clearly */
	struct coord *z;
	char err[512] = "";
	snprintf(u, sizeof(u), "%s%snotice_slots=1", url,
		 strchr(url, '?') ? "&" : "?");
	CHECK_EQ(coord_open(u, fsid, &z, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "notice_slots"), "error: %s", err);
	snprintf(fsid, sizeof(fsid), "%s", saved);
}

/* 0 once every thread of pid is stopped (state T). */
static int wait_stopped(pid_t pid, int timeout_ms)
{
	int64_t t0 = ms_now();
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	while (ms_now() - t0 < timeout_ms) {
		DIR *d = opendir(dir);
		struct dirent *e;
		int all = 1, any = 0;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[128], st[512] = "";
			snprintf(p, sizeof(p), "%s/%.20s/stat", dir, e->d_name);
			FILE *f = fopen(p, "r");
			if (f && fgets(st, sizeof(st), f)) {
				char *rp = strrchr(st, ')');
				any = 1;
				if (!rp || (rp[2] != 'T' && rp[2] != 't'))
					all = 0;
			}
			if (f)
				fclose(f);
		}
		if (d)
			closedir(d);
		if (any && all)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* A reader that fell more than a ring behind (stopped while others
 * published) learns that it lost notices (ino 0), then gets the newest. */
static void test_notice_gap(const char *self)
{
	char saved[64], u[2048], path[1024];
	snprintf(saved, sizeof(saved), "%s", fsid);
	snprintf(fsid, sizeof(fsid), "%.50s-gap", saved);
	snprintf(u, sizeof(u), "%s%snotice_slots=4", url,
		 strchr(url, '?') ? "&" : "?");
	struct coord *x = open_or_die(u); /* makes a ring of 4 */
	int fd;
	char got[4] = "";
	pid_t pid = spawn(self, "child-watch", NULL, NULL, NULL, &fd);
	CHECK_EQ(wait_ready(fd, 30000), 0);
	CHECK_EQ(coord_publish(x, 78, 0, NULL, 0), 0);
	CHECK(wait_ready_byte(fd, 5000, &got[0]) == 0 && got[0] == '?',
	      "first notice seen");
	const char *chroot = url + 5 + strcspn(url + 5, "/?");
	snprintf(path, sizeof(path), "%.*s/%s/notices",
		 (int)strcspn(chroot, "?"), chroot, fsid);
	int v0 = raw_version(path);
	kill(pid, SIGSTOP);
	/* kill() returns before every thread has stopped */
	CHECK_EQ(wait_stopped(pid, 5000), 0);
	int64_t t0 = ms_now();
	while (raw_version(path) - v0 < 6 && ms_now() - t0 < 5000) {
		CHECK_EQ(coord_publish(x, 78, 0, NULL, 0), 0);
		usleep(30000);
	}
	CHECK(raw_version(path) - v0 >= 6, "%d batches", raw_version(path) - v0);
	CHECK_EQ(coord_publish(x, 77, 0, NULL, 0), 0);
	usleep(100000);
	kill(pid, SIGCONT);
	/* a reset first, then at most the ring's last batches, 77 last */
	char seen[16] = "";
	int n = 0;
	t0 = ms_now();
	while (n < 15 && ms_now() - t0 < 10000 && !(n && seen[n - 1] == 'N'))
		if (wait_ready_byte(fd, 1000, &seen[n]) == 0)
			n++;
	CHECK(n >= 2 && n <= 5 && seen[0] == 'Z' && seen[n - 1] == 'N',
	      "child saw '%s'", seen);
	got[0] = 0;
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	coord_close(x);
	snprintf(fsid, sizeof(fsid), "%s", saved);
}

/* ---- faults ---- */

struct waiter_arg {
	struct coord *c;
	int r;
	int64_t done;
};

static void *setlkw_thread(void *p)
{
	struct waiter_arg *w = p;
	w->r = pset(w->c, 51, 1, F_WRLCK, 0, 9, 1);
	w->done = ms_now();
	return NULL;
}

static void test_outage(void)
{
	struct coord *a = open_or_die(url);
	struct coord_mount_info m;
	char err[256];
	coord_fill_mount_info(&m, "/mnt/outage");
	CHECK_EQ(coord_register_mount(a, &m, err, sizeof(err)), 0);
	struct coord_lock *l;
	CHECK_EQ(coord_lock(a, "inode/1", COORD_EXCLUSIVE, 5000, &l), 0);
	coord_unlock(a, l);
	int op_ms = 2 * session_ms;
	const char *q = strstr(url, "op_timeout=");
	if (q)
		op_ms = atoi(q + 11);
	/* an F_SETLKW waiting when the server dies returns an error too */
	struct coord *b = open_or_die(url);
	CHECK_EQ(pset(b, 51, 2, F_WRLCK, 0, 9, 0), 0);
	struct waiter_arg wa = {.c = a, .r = 1};
	pthread_t th;
	pthread_create(&th, NULL, setlkw_thread, &wa);
	usleep(300000);
	CHECK_EQ(wa.r, 1); /* still waiting */
	CHECK_EQ(system(getenv("ZK_STOP_CMD")), 0);
	int64_t t0 = ms_now();
	pthread_join(th, NULL);
	printf("F_SETLKW waiter: %s %lld ms after the server died\n",
	       strerror(-wa.r), (long long)(wa.done - t0));
	CHECK_EQ(wa.r, -EIO);
	CHECK(wa.done - t0 <= op_ms + 2000, "took %lld ms",
	      (long long)(wa.done - t0));
	t0 = ms_now();
	int r = coord_lock(a, "inode/1", COORD_EXCLUSIVE, 1000, &l);
	int64_t dt = ms_now() - t0;
	printf("lock with the server down: %s after %lld ms (op_timeout %d)\n",
	       strerror(-r), (long long)dt, op_ms);
	CHECK(r == -EIO || r == -ETIMEDOUT, "r = %d", r);
	CHECK(dt <= op_ms + 2000, "took %lld ms", (long long)dt);
	t0 = ms_now();
	r = pset(a, 50, 1, F_WRLCK, 0, 1, 0);
	dt = ms_now() - t0;
	printf("plock with the server down: %s after %lld ms\n", strerror(-r),
	       (long long)dt);
	CHECK_EQ(r, -EIO);
	CHECK(dt <= op_ms + 2000, "took %lld ms", (long long)dt);
	struct mounts ms = {0};
	t0 = ms_now();
	r = coord_list_mounts(a, count_mount, &ms);
	dt = ms_now() - t0;
	CHECK_EQ(r, -EIO);
	CHECK(dt <= op_ms + 2000, "took %lld ms", (long long)dt);
	/* a new mount cannot start: clear, bounded error */
	char u[2048];
	snprintf(u, sizeof(u), "%s%sconnect_timeout=2000", url,
		 strchr(url, '?') ? "&" : "?");
	struct coord *x = NULL;
	t0 = ms_now();
	r = coord_open(u, fsid, &x, err, sizeof(err));
	dt = ms_now() - t0;
	printf("open with the server down: %s\n", err);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK(strstr(err, "cannot reach ZooKeeper at 127.0.0.1") != NULL,
	      "err: %s", err);
	CHECK(dt < 6000, "open took %lld ms", (long long)dt);

	CHECK_EQ(system(getenv("ZK_START_CMD")), 0);
	t0 = ms_now();
	r = -1;
	while (r != 0 && ms_now() - t0 < 60000) {
		r = coord_lock(a, "inode/1", COORD_EXCLUSIVE, 5000, &l);
		if (r)
			usleep(200000);
	}
	printf("recovered %lld ms after the restart\n", (long long)(ms_now() - t0));
	CHECK_EQ(r, 0);
	if (r == 0)
		coord_unlock(a, l);
	CHECK_EQ(pset(a, 50, 1, F_WRLCK, 0, 1, 0), 0);
	CHECK_EQ(pset(a, 50, 1, F_UNLCK, 0, 1, 0), 0);
	/* the mount record is back (same session, or re-registered) */
	t0 = ms_now();
	do {
		ms = (struct mounts){0};
		coord_list_mounts(a, count_mount, &ms);
		if (!ms.have_self)
			usleep(200000);
	} while (!ms.have_self && ms_now() - t0 < 30000);
	CHECK(ms.have_self, "mount listed again after recovery");
	CHECK_EQ(pset(b, 51, 2, F_UNLCK, 0, 9, 0), 0);
	/* nothing of the failed attempts stays queued (orphan cleanup) */
	char cred[512] = "", hosts[256], dir[1024];
	FILE *f = fopen(getenv("CASSAFS_ZK_CREDENTIALS_FILE"), "r");
	if (f && fgets(cred, sizeof(cred), f))
		cred[strcspn(cred, "\r\n")] = 0;
	if (f)
		fclose(f);
	snprintf(hosts, sizeof(hosts), "%.*s", (int)strcspn(url + 5, "/?"), url + 5);
	const char *chroot = url + 5 + strcspn(url + 5, "/?");
	snprintf(dir, sizeof(dir), "%.*s/%s/locks/l-inode%%2F1",
		 (int)strcspn(chroot, "?"), chroot, fsid);
	raw_open(hosts, cred);
	t0 = ms_now();
	while (raw_count(dir) > 0 && ms_now() - t0 < 10000)
		usleep(100000);
	CHECK(raw_count(dir) <= 0, "%d nodes left in %s", raw_count(dir), dir);
	zookeeper_close(raw);
	coord_close(b);
	coord_close(a);
}

static void test_ensemble(void)
{
	struct coord *a = open_or_die(url);
	struct coord *b = open_or_die(url);
	struct coord_mount_info m;
	char err[256];
	coord_fill_mount_info(&m, "/mnt/ens");
	CHECK_EQ(coord_register_mount(a, &m, err, sizeof(err)), 0);
	int ops = 0, fails = 0, ops_after = 0, killed = 0;
	int64_t t0 = ms_now(), worst = 0;
	while (ms_now() - t0 < 15000) {
		if (!killed && ms_now() - t0 > 3000) {
			CHECK_EQ(system(getenv("ZK_KILL_LEADER_CMD")), 0);
			killed = 1;
		}
		int64_t s = ms_now();
		struct coord_lock *l;
		int r = coord_lock(a, "inode/2", COORD_EXCLUSIVE, 20000, &l);
		if (r == 0) {
			struct coord_lock *l2;
			/* b must not get it while a holds it */
			if (coord_lock(b, "inode/2", COORD_EXCLUSIVE, 0, &l2) == 0) {
				fails++;
				coord_unlock(b, l2);
			}
			coord_unlock(a, l);
		}
		if (r == 0)
			r = pset(b, 60, 1, F_WRLCK, 0, 9, 0);
		if (r == 0)
			r = pset(b, 60, 1, F_UNLCK, 0, 9, 0);
		struct mounts ms = {0};
		if (r == 0)
			r = coord_list_mounts(b, count_mount, &ms);
		if (r == 0 && !ms.have_self)
			r = -ENOENT;
		if (ms_now() - s > worst)
			worst = ms_now() - s;
		ops++;
		ops_after += killed;
		if (r) {
			fails++;
			fprintf(stderr, "ensemble op failed: %s\n", strerror(-r));
		}
	}
	printf("ensemble: %d rounds (%d after killing the leader), %d failed, "
	       "slowest %lld ms\n", ops, ops_after, fails, (long long)worst);
	CHECK(killed, "leader killed");
	CHECK_EQ(fails, 0);
	CHECK(ops_after > 10, "%d rounds after the kill", ops_after);
	coord_close(b);
	coord_close(a);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s URL all|outage|ensemble\n", argv[0]);
		return 2;
	}
	url = argv[1];
	log_open(NULL, LOG_LVL_WARN);
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	const char *q = strstr(url, "session_timeout=");
	if (q)
		session_ms = atoi(q + 16);
	if (!strncmp(argv[2], "child-", 6))
		return child_main(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	snprintf(fsid, sizeof(fsid), "fs-%d-%ld", (int)getpid(), (long)time(NULL));
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = 0;
	if (!strcmp(argv[2], "outage")) {
		test_outage();
		return test_done();
	}
	if (!strcmp(argv[2], "ensemble")) {
		test_ensemble();
		return test_done();
	}

	const char *credfile = getenv("CASSAFS_ZK_CREDENTIALS_FILE");
	char cred[512] = "";
	FILE *f = credfile ? fopen(credfile, "r") : NULL;
	if (!f || !fgets(cred, sizeof(cred), f)) {
		fprintf(stderr, "set CASSAFS_ZK_CREDENTIALS_FILE\n");
		return 2;
	}
	fclose(f);
	cred[strcspn(cred, "\r\n")] = 0;
	char hosts[256], lockdir[1024], shmpath[256];
	snprintf(hosts, sizeof(hosts), "%.*s", (int)strcspn(url + 5, "/?"), url + 5);
	const char *chroot = url + 5 + strcspn(url + 5, "/?");
	snprintf(lockdir, sizeof(lockdir), "%.*s/%s/locks/l-inode%%2F11",
		 (int)strcspn(chroot, "?"), chroot, fsid);
	snprintf(shmpath, sizeof(shmpath), "/tmp/coord_zk_test.%d", (int)getpid());
	raw_open(hosts, cred);

	struct coord *a = open_or_die(url);
	struct coord *b = open_or_die(url);
	CHECK(coord_has_locks(a) && coord_has_plocks(a), "zk has locks");
	test_mounts(self, a);
	test_acl(credfile);
	test_expiry(self, b);
	test_exclusive(self, shmpath, "child-excl");
	test_exclusive(self, shmpath, "child-plock-excl");
	test_shared(a, b);
	test_waiters(self, a, shmpath, hosts, lockdir);
	test_killed_holder(self, b);
	test_plocks(a, b);
	test_plock_model(a);
	test_setlkw(self, b);
	test_cancel(a, b);
	test_free_unlocks(a, b, hosts);
	test_flock(self, a, b);
	test_notices(a, b);
	test_ring();
	test_notice_gap(self);
	test_ps(strchr(cred, ':') + 1);
	coord_close(b);
	coord_close(a);
	zookeeper_close(raw);
	unlink(shmpath);
	return test_done();
}
