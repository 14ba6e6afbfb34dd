/*
 * unit_url — the one URL parser (src/url.c) of the lmdb://, redis://,
 * redis-cluster:// and zk:// URLs, and what each engine then refuses
 * through store_open / coord_open without a server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"
#include "store.h"
#include "test.h"
#include "url.h"

static struct url u;
static char err[1024];

static int parse(const char *s)
{
	err[0] = 0;
	return url_parse(s, &u, err, sizeof(err));
}

static void test_parts(void)
{
	CHECK_EQ(parse("lmdb:///var/lib/x?sync=commit&commit_ms=5"), 0);
	CHECK(!strcmp(u.scheme, "lmdb"), "scheme %s", u.scheme);
	CHECK_EQ(u.nhosts, 0);
	CHECK(!strcmp(u.authority, ""), "authority %s", u.authority);
	CHECK(!strcmp(u.path, "/var/lib/x"), "path %s", u.path);
	CHECK_EQ(u.nparams, 2);
	CHECK(!strcmp(url_param(&u, "sync"), "commit"), "sync");
	CHECK(!strcmp(url_param(&u, "commit_ms"), "5"), "commit_ms");
	CHECK(url_param(&u, "nope") == NULL, "absent option");

	/* user and password decoded; an '@' or ':' in them written %40 %3a */
	CHECK_EQ(parse("redis://al%3ai:p%40ss%2fw@127.0.0.1:6379/3?name=a%26b&timeout=0.5"), 0);
	CHECK_EQ(u.has_userinfo, 1);
	CHECK(!strcmp(u.user, "al:i"), "user %s", u.user);
	CHECK(!strcmp(u.password, "p@ss/w"), "password %s", u.password);
	CHECK_EQ(u.nhosts, 1);
	CHECK(!strcmp(u.hosts[0].host, "127.0.0.1"), "host");
	CHECK_EQ(u.hosts[0].port, 6379);
	CHECK(!strcmp(u.path, "/3"), "path %s", u.path);
	CHECK(!strcmp(url_param(&u, "name"), "a&b"), "decoded value");
	CHECK(!strcmp(u.authority, "127.0.0.1:6379"), "no password in authority");

	/* a password alone; a list of hosts; a bare option */
	CHECK_EQ(parse("redis-cluster://:pw@h1:7000,h2:7001,[::1]:7002/fs?x"), 0);
	CHECK(!strcmp(u.user, "") && !strcmp(u.password, "pw"), "password only");
	CHECK_EQ(u.nhosts, 3);
	CHECK(!strcmp(u.hosts[2].host, "[::1]") && u.hosts[2].port == 7002,
	      "bracketed host %s", u.hosts[2].host);
	CHECK(!strcmp(u.authority, "h1:7000,h2:7001,[::1]:7002"), "authority");
	CHECK_EQ(u.params[0].has_value, 0);
	CHECK(!strcmp(url_param(&u, "x"), ""), "bare option");

	CHECK_EQ(parse("zk://a:2181,b:2182/cassafs/x?session_timeout=3000&session_timeout=4000"), 0);
	CHECK(!strcmp(u.path, "/cassafs/x"), "chroot path");
	CHECK(!strcmp(url_param(&u, "session_timeout"), "4000"), "last wins");
	CHECK_EQ(parse("zk://a:2181?x=1"), 0);
	CHECK(!strcmp(u.path, ""), "no path");
}

static void test_refused(void)
{
	CHECK_EQ(parse("nothing"), -EINVAL);
	CHECK(strstr(err, "not a URL"), "%s", err);
	CHECK_EQ(parse("://x"), -EINVAL);
	CHECK_EQ(parse("Re dis://x:1"), -EINVAL);
	CHECK(strstr(err, "bad scheme"), "%s", err);
	CHECK_EQ(parse("redis://host/0"), -EINVAL);
	CHECK(strstr(err, "expected HOST:PORT"), "%s", err);
	CHECK_EQ(parse("redis://host:0"), -EINVAL);
	CHECK(strstr(err, "bad port"), "%s", err);
	CHECK_EQ(parse("redis://host:65536"), -EINVAL);
	CHECK_EQ(parse("redis://host:12x"), -EINVAL);
	CHECK_EQ(parse("redis://host:"), -EINVAL);
	CHECK_EQ(parse("zk://a:1,"), -EINVAL);
	CHECK(strstr(err, "empty host"), "%s", err);
	CHECK_EQ(parse("zk://a:1,,b:2/x"), -EINVAL);
	CHECK_EQ(parse("redis://user@host:1"), -EINVAL);
	CHECK(strstr(err, "PASSWORD@"), "%s", err);
	CHECK_EQ(parse("redis://h:1?=v"), -EINVAL);
	CHECK(strstr(err, "no name"), "%s", err);
	/* a message never shows the password */
	CHECK_EQ(parse("redis://u:s3cret@h:0"), -EINVAL);
	CHECK(!strstr(err, "s3cret") && strstr(err, "***"), "%s", err);
	char big[3000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "lmdb:///", 8);
	big[sizeof(big) - 1] = 0;
	CHECK_EQ(parse(big), -ENAMETOOLONG);
	char many[600] = "zk://";
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",h:1" : "h:1");
	CHECK_EQ(parse(many), -EINVAL);
	CHECK(strstr(err, "more than 16 hosts"), "%s", err);
}

/* Each engine's own rules on top, checked before any server is asked. */
static void expect_store(const char *url, int want, const char *text)
{
	struct store *s = NULL;
	char e[1024] = "";
	int r = store_open(url, 0, &s, e, sizeof(e));
	if (r == 0)
		store_close(s);
	CHECK(r == want && strstr(e, text), "%s: got %d '%s', want %d '%s'",
	      url, r, e, want, text);
}

static void expect_coord(const char *url, int want, const char *text)
{
	struct coord *c = NULL;
	char e[1024] = "";
	int r = coord_open(url, "fs", &c, e, sizeof(e));
	if (r == 0)
		coord_close(c);
	CHECK(r == want && strstr(e, text), "%s: got %d '%s', want %d '%s'",
	      url, r, e, want, text);
}

static void test_engines(void)
{
	expect_store("lmdb://relative/dir", -EINVAL, "three slashes");
	expect_store("lmdb://u:p@/dir", -EINVAL, "three slashes");
	expect_store("lmdb:///tmp/x?bogus=1", -EINVAL, "unknown option 'bogus=1'");
	expect_store("lmdb:///tmp/x?commit_ms=0", -EINVAL, "commit_ms=1..60000");
	expect_store("redis://h:1,h:2/0", -EINVAL, "is not a redis store URL");
	expect_store("redis://h:1/x", -EINVAL, "is not a redis store URL");
	expect_store("redis://u:topsecret@h/0", -EINVAL, "is not a redis store URL");
	expect_store("redis://h:1/0?timeout", -EINVAL, "malformed option");
	expect_store("redis://h:1/0?timeout=0", -EINVAL, "malformed option");
	expect_store("redis://h:1/0?speed=9", -EINVAL, "unknown option 'speed=9'");
	expect_store("redis://h:1/0?name=a%20b", -EINVAL, "is not 1..");
	expect_store("redis-cluster://h:1", -EINVAL, "is not a redis store URL");
	expect_store("redis-cluster://h:1/0?name=x", -EINVAL, "unknown option 'name=x'");
	expect_coord("zk://u:p@h:1/x", -EINVAL, "expected zk://HOST:PORT");
	expect_coord("zk://h/x", -EINVAL, "expected HOST:PORT");
	expect_coord("zk://h:1/x?notice_slots=5000", -EINVAL, "notice_slots must be 2..4096");
	expect_coord("zk://h:1/x?op_timeout", -EINVAL, "needs a value");
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	test_parts();
	test_refused();
	test_engines();
	return test_done();
}
