/*
 * posix.h — assertion helpers and the run-as-another-user machinery of the
 * POSIX suite (posix_suite.c).  Every helper counts into test.h's counters;
 * every failure line names the group, the case, the call, and expected vs
 * got, e.g.
 *   FAIL posix_suite.c:812 [rename] dir onto non-empty dir: rename("a","b"):
 *        got -1 EISDIR, want -1 ENOTEMPTY
 */
#ifndef CASSAFS_POSIX_H
#define CASSAFS_POSIX_H

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static const char *cur_group = "-"; /* group being run, for messages */
static unsigned cur_uid;            /* uid of the checking process */

static inline const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "E?";
}

/* The common start of a failure line; the caller prints the rest. */
#define FAILHDR(...)                                                         \
	do {                                                                 \
		test_failed++;                                               \
		fprintf(stderr, "FAIL %s:%d [%s", __FILE__, __LINE__,        \
			cur_group);                                          \
		if (cur_uid)                                                 \
			fprintf(stderr, " uid=%u", cur_uid);                 \
		fputs("] ", stderr);                                         \
		fprintf(stderr, __VA_ARGS__);                                \
	} while (0)

/* The call must succeed (return >= 0). */
#define OK(call, ...)                                                        \
	do {                                                                 \
		errno = 0;                                                   \
		long long r_ = (long long)(call);                            \
		int e_ = errno;                                              \
		if (r_ >= 0) {                                               \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got %lld %s (%s), want success\n", \
				#call, r_, ename(e_), strerror(e_));         \
		}                                                            \
	} while (0)

/* The call must fail with -1 and errno `want`. */
#define ERR(call, want, ...)                                                 \
	do {                                                                 \
		errno = 0;                                                   \
		long long r_ = (long long)(call);                            \
		int e_ = errno, w_ = (want);                                 \
		if (r_ == -1 && e_ == w_) {                                  \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got %lld %s, want -1 %s\n",   \
				#call, r_, r_ == -1 ? ename(e_) : "(success)", \
				ename(w_));                                  \
		}                                                            \
	} while (0)

/* The call must fail with -1 and one of two errno values (POSIX allows both). */
#define ERR2(call, want1, want2, ...)                                        \
	do {                                                                 \
		errno = 0;                                                   \
		long long r_ = (long long)(call);                            \
		int e_ = errno, w1_ = (want1), w2_ = (want2);                \
		if (r_ == -1 && (e_ == w1_ || e_ == w2_)) {                  \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got %lld %s, want -1 %s or %s\n", \
				#call, r_, r_ == -1 ? ename(e_) : "(success)", \
				ename(w1_), ename(w2_));                     \
		}                                                            \
	} while (0)

#define EQ(got, want, ...)                                                   \
	do {                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);     \
		if (g_ == w_) {                                              \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got %lld, want %lld\n", #got, \
				g_, w_);                                     \
		}                                                            \
	} while (0)

/* Like EQ, printed in octal: for modes. */
#define EQO(got, want, ...)                                                  \
	do {                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);     \
		if (g_ == w_) {                                              \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got 0%llo, want 0%llo\n", #got, \
				g_, w_);                                     \
		}                                                            \
	} while (0)

#define TRUE(cond, ...)                                                      \
	do {                                                                 \
		if (cond) {                                                  \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": expected %s\n", #cond);           \
		}                                                            \
	} while (0)

#define STREQ(got, want, ...)                                                \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		if (g_ && w_ && strcmp(g_, w_) == 0) {                       \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s: got \"%.80s\", want \"%.80s\"\n", \
				#got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
		}                                                            \
	} while (0)

/* Timestamps. */
static inline int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

/* Time `a` must be strictly later than `b`. */
#define TS_GT(a, b, ...)                                                     \
	do {                                                                 \
		struct timespec a_ = (a), b_ = (b);                          \
		if (ts_cmp(a_, b_) > 0) {                                    \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s = %lld.%09ld not after %s = %lld.%09ld\n", \
				#a, (long long)a_.tv_sec, a_.tv_nsec, #b,    \
				(long long)b_.tv_sec, b_.tv_nsec);           \
		}                                                            \
	} while (0)

#define TS_EQ(a, b, ...)                                                     \
	do {                                                                 \
		struct timespec a_ = (a), b_ = (b);                          \
		if (ts_cmp(a_, b_) == 0) {                                   \
			test_passed++;                                       \
		} else {                                                     \
			FAILHDR(__VA_ARGS__);                                \
			fprintf(stderr, ": %s = %lld.%09ld, want %s = %lld.%09ld\n", \
				#a, (long long)a_.tv_sec, a_.tv_nsec, #b,    \
				(long long)b_.tv_sec, b_.tv_nsec);           \
		}                                                            \
	} while (0)

/*
 * Sleep long enough that the next timestamp a filesystem takes differs from
 * the last one: kernels stamp with a coarse clock (one jiffy, up to 10 ms),
 * and a FUSE daemon with its own clock.
 */
static inline void tick(void)
{
	struct timespec t = {0, 25 * 1000 * 1000};
	while (nanosleep(&t, &t) == -1 && errno == EINTR)
		;
}

/*
 * Running checks as another user.  AS(uid) { ... } forks; the child switches
 * to uid with that user's groups (see as_groups) and runs the block, then
 * reports its pass/fail counts to the parent through shared memory and
 * exits.  The parent waits and adds them up.  The block must not `return`
 * or `break` (it would continue the parent's code inside the child).
 */
struct as_counts {
	int passed, failed;
};
static struct as_counts *as_shm;
static int as_base_passed, as_base_failed;

/* Test users: uid → primary gid and supplementary groups. */
static inline int as_groups(unsigned uid, gid_t *gids)
{
	switch (uid) {
	case 1000: /* member of 1000 and 1002, not of 1001 */
		gids[0] = 1000, gids[1] = 1002;
		return 2;
	case 1001:
		gids[0] = 1001;
		return 1;
	default:
		gids[0] = uid; /* 65534 → nogroup */
		return 1;
	}
}

static inline int as_begin(unsigned uid, int line)
{
	gid_t gids[4];
	int n = as_groups(uid, gids), st;
	pid_t pid;

	if (!as_shm) {
		as_shm = mmap(NULL, sizeof(*as_shm), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (as_shm == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
	}
	as_shm->passed = as_shm->failed = 0;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		test_failed++;
		fprintf(stderr, "FAIL line %d [%s] fork for uid %u: %s\n", line,
			cur_group, uid, strerror(errno));
		return 0;
	}
	if (pid == 0) {
		as_base_passed = test_passed;
		as_base_failed = test_failed;
		alarm(120); /* a hung check must not hang the suite */
		if (setgroups(n, gids) || setgid(gids[0]) || setuid(uid)) {
			fprintf(stderr, "FAIL line %d [%s] switching to uid %u: %s\n",
				line, cur_group, uid, strerror(errno));
			as_shm->failed = 1;
			_exit(0);
		}
		cur_uid = uid;
		return 1;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	test_passed += as_shm->passed;
	test_failed += as_shm->failed;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		test_failed++;
		fprintf(stderr, "FAIL line %d [%s] child as uid %u died (status 0x%x%s)\n",
			line, cur_group, uid, st,
			WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ", timed out" : "");
	}
	return 0;
}

static inline int as_end(void)
{
	as_shm->passed = test_passed - as_base_passed;
	as_shm->failed = test_failed - as_base_failed;
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}

#define AS(uid) for (int as_ = as_begin((uid), __LINE__); as_; as_ = as_end())

#endif
