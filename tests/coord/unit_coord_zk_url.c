/*
 * unit_coord_zk_url — what coord_open("zk://…") refuses before (or
 * without) a server: malformed URLs, bad parameters, bad credentials, and
 * an address where nothing listens (127.0.0.1 port 1: refused at once).
 * Every message must name the object and the cause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"
#include "test.h"

static int try_open(const char *url, const char *fsid, char *err, size_t len)
{
	struct coord *c = NULL;
	err[0] = 0;
	int r = coord_open(url, fsid, &c, err, len);
	if (r == 0)
		coord_close(c);
	return r;
}

#define EXPECT(url, fsid, want_r, want_text)                                 \
	do {                                                                 \
		char e_[1024];                                               \
		int r_ = try_open(url, fsid, e_, sizeof(e_));                \
		CHECK_EQ(r_, want_r);                                        \
		CHECK(strstr(e_, want_text) != NULL, "%s: message '%s'",     \
		      url, e_);                                              \
	} while (0)

int main(void)
{
	log_open(NULL, LOG_LVL_ERROR);
	unsetenv("CASSAFS_ZK_CREDENTIALS_FILE");
	setenv("CASSAFS_ZK_AUTH", "cassafs:pw", 1);

	EXPECT("zk:///chroot", "fs", -EINVAL, "expected zk://HOST:PORT");
	EXPECT("zk://", "fs", -EINVAL, "expected zk://HOST:PORT");
	EXPECT("zk://127.0.0.1:1/x?bogus=1", "fs", -EINVAL, "unknown parameter 'bogus'");
	EXPECT("zk://127.0.0.1:1/x?session_timeout", "fs", -EINVAL, "needs a value");
	EXPECT("zk://127.0.0.1:1/x?session_timeout=0", "fs", -EINVAL, "positive");
	EXPECT("zk://127.0.0.1:1/a//b", "fs", -EINVAL, "bad chroot");
	EXPECT("zk://127.0.0.1:1/a/../b", "fs", -EINVAL, "bad chroot");
	EXPECT("zk://127.0.0.1:1/x?credentials=/nonexistent/cred", "fs", -ENOENT,
	       "/nonexistent/cred");
	EXPECT("zk://127.0.0.1:1/x", "a/b", -EINVAL, "bad filesystem id");

	char path[] = "/tmp/unit_coord_zk_url.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	CHECK_EQ(write(fd, "no-colon-here\n", 14), 14);
	close(fd);
	char url[256];
	snprintf(url, sizeof(url), "zk://127.0.0.1:1/x?credentials=%s", path);
	EXPECT(url, "fs", -EINVAL, "first line must be user:password");
	setenv("CASSAFS_ZK_CREDENTIALS_FILE", path, 1);
	EXPECT("zk://127.0.0.1:1/x", "fs", -EINVAL, path);
	unsetenv("CASSAFS_ZK_CREDENTIALS_FILE");
	unlink(path);

	setenv("CASSAFS_ZK_AUTH", "nocolon", 1);
	EXPECT("zk://127.0.0.1:1/x", "fs", -EINVAL, "CASSAFS_ZK_AUTH must be user:password");
	setenv("CASSAFS_ZK_AUTH", "cassafs:pw", 1);

	/* nothing listens there: a bounded wait and a message naming it */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT("zk://127.0.0.1:1,127.0.0.1:2/x?connect_timeout=700", "fs",
	       -ETIMEDOUT, "cannot reach ZooKeeper at 127.0.0.1:1,127.0.0.1:2 within 700 ms");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(dt >= 0.6 && dt < 5, "open gave up after %.2f s", dt);
	return test_done();
}
