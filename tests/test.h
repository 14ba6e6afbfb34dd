/*
 * test.h — the assertion macros every C test program uses.
 * A program ends with `return test_done();`, which prints the line
 * "RESULT <passed> passed, <failed> failed" that tests/run.sh adds up.
 * A failed check names its file, line, expression and what was expected.
 */
#ifndef CASSAFS_TEST_H
#define CASSAFS_TEST_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (cond) {                                                  \
			test_passed++;                                       \
		} else {                                                     \
			test_failed++;                                       \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,        \
				__LINE__, #cond);                            \
			fprintf(stderr, "" __VA_ARGS__);                     \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

/* Check that an int expression equals an expected value. */
#define CHECK_EQ(got, want)                                                  \
	do {                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);     \
		CHECK(g_ == w_, "got %lld, want %lld", g_, w_);              \
	} while (0)

/* Check that a libc call fails with the given errno. */
#define CHECK_ERRNO(call, want_errno)                                        \
	do {                                                                 \
		errno = 0;                                                   \
		long long r_ = (long long)(call);                            \
		int e_ = errno;                                              \
		CHECK(r_ == -1 && e_ == (want_errno),                        \
		      "got %lld errno %s, want -1 errno %s", r_,             \
		      strerror(e_), strerror(want_errno));                   \
	} while (0)

/* Check that a libc call succeeds (returns >= 0). */
#define CHECK_OK(call)                                                       \
	do {                                                                 \
		errno = 0;                                                   \
		long long r_ = (long long)(call);                            \
		CHECK(r_ >= 0, "failed: %s", strerror(errno));               \
	} while (0)

static inline int test_done(void)
{
	printf("RESULT %d passed, %d failed\n", test_passed, test_failed);
	fflush(stdout);
	return test_failed ? 1 : 0;
}

#endif
