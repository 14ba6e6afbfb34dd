/*
 * posix_suite.c — our POSIX conformance suite, run against a live directory
 * (normally a CassaFS mount; any POSIX filesystem must pass it too).
 *
 *   posix_suite [-q] [--only G1,G2] [--skip G1,G2] [--entries N]
 *               [--max-file-size BYTES] [--list] DIR
 *
 * It must run as root: the permission and ownership groups fork children
 * that switch to uids 65534, 1000 (groups 1000,1002) and 1001 (group 1001).
 * It works in a fresh scratch directory DIR/posix.<pid> (mode 0777, removed
 * afterwards); each group runs with its own subdirectory as the current
 * directory, so every path below is relative.  Group headers go to stdout,
 * failures to stderr, and the last line is "RESULT <p> passed, <f> failed".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#include "posix.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int opt_quiet;
static long opt_entries = 20000;  /* size of the rm -rf directory */
static long long opt_max_size = -1; /* filesystem's maximum file size, if known */
static int noatime_mount;
static int opt_falloc_full; /* --fallocate-full: ZERO_RANGE and ENOSPC required */

/* ---------- small helpers (all relative to the group's directory) ---------- */

static int renameat2_(const char *a, const char *b, unsigned flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

/* Create (or replace) a regular file with exact mode and content. */
static int mkfile(const char *p, mode_t mode, const char *data)
{
	int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		return -1;
	size_t n = data ? strlen(data) : 0;
	if ((n && write(fd, data, n) != (ssize_t)n) || fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int mkfile_own(const char *p, mode_t mode, uid_t u, gid_t g)
{
	if (mkfile(p, 0600, "data"))
		return -1;
	if (chown(p, u, g))
		return -1;
	return chmod(p, mode); /* after chown: chown may clear set-id bits */
}

static int mkdir_own(const char *p, mode_t mode, uid_t u, gid_t g)
{
	if (mkdir(p, 0700) || chown(p, u, g))
		return -1;
	return chmod(p, mode);
}

static struct stat snap(const char *p)
{
	struct stat s;
	if (lstat(p, &s))
		memset(&s, 0, sizeof(s));
	return s;
}

static long long f_mode(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)(s.st_mode & 07777);
}
static long long f_type(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)(s.st_mode & S_IFMT);
}
static long long f_size(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)s.st_size;
}
static long long f_ino(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)s.st_ino;
}
static long long f_nlink(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)s.st_nlink;
}
static long long f_uid(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)s.st_uid;
}
static long long f_gid(const char *p)
{
	struct stat s;
	return lstat(p, &s) ? -1 : (long long)s.st_gid;
}
static int exists(const char *p)
{
	struct stat s;
	return lstat(p, &s) == 0;
}

/* Whole content of a small file into a static buffer ("" on error). */
static const char *content(const char *p)
{
	static char buf[8192];
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return n < 0 ? "(unreadable)" : buf;
}

static const char *fd_content(int fd)
{
	static char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n < 0 ? 0 : n] = 0;
	return n < 0 ? "(unreadable)" : buf;
}

static int all_zero(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Number of entries named `name` in directory `dir` (-1 if unreadable). */
static int count_name(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, name) == 0;
	closedir(d);
	return n;
}

/* Entries other than . and .. (-1 if unreadable). */
static long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int dtype_of(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int t = -1;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, name) == 0)
			t = e->d_type;
	closedir(d);
	return t;
}

static struct timespec now_rt(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

/* t within [lo - 1 jiffy slack, hi + slack]: for UTIME_NOW checks. */
static int ts_between(struct timespec t, struct timespec lo, struct timespec hi)
{
	long long v = t.tv_sec * 1000000000LL + t.tv_nsec;
	long long l = lo.tv_sec * 1000000000LL + lo.tv_nsec - 20000000LL;
	long long h = hi.tv_sec * 1000000000LL + hi.tv_nsec + 20000000LL;
	return v >= l && v <= h;
}

/*
 * Check how an operation changed the times of `p`: want_m / want_c are
 * 1 (must be later than in `b`), 0 (must be unchanged) or -1 (don't care).
 */
#define TIMES(what, p, b, want_m, want_c)                                    \
	do {                                                                 \
		struct stat a__ = snap(p);                                   \
		if ((want_m) == 1)                                           \
			TS_GT(a__.st_mtim, (b).st_mtim, "%s: mtime of %s", what, p); \
		if ((want_m) == 0)                                           \
			TS_EQ(a__.st_mtim, (b).st_mtim, "%s: mtime of %s", what, p); \
		if ((want_c) == 1)                                           \
			TS_GT(a__.st_ctim, (b).st_ctim, "%s: ctime of %s", what, p); \
		if ((want_c) == 0)                                           \
			TS_EQ(a__.st_ctim, (b).st_ctim, "%s: ctime of %s", what, p); \
	} while (0)

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
	(void)s, (void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int rm_rf(const char *p)
{
	return nftw(p, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* ================================ groups ================================ */

static void g_access(void)
{
	/* Everything else assumes other users can work in the scratch dir. */
	AS(65534) {
		OK(mkfile("probe", 0644, "x"), "uid 65534 can create in the 0777 scratch dir (mount needs allow_other)");
	}
	EQ(f_uid("probe"), 65534, "probe file owned by its creator");
}

static void g_statfs(void)
{
	struct statfs sf;
	struct statvfs sv;
	int fd;

	OK(statfs(".", &sf), "statfs");
	EQ(sf.f_namelen, 255, "statfs f_namelen");
	TRUE(sf.f_bsize > 0, "statfs f_bsize > 0 (got %ld)", (long)sf.f_bsize);
	TRUE(sf.f_blocks >= sf.f_bfree, "statfs f_blocks >= f_bfree (%llu, %llu)",
	     (unsigned long long)sf.f_blocks, (unsigned long long)sf.f_bfree);
	TRUE(sf.f_bfree >= sf.f_bavail, "statfs f_bfree >= f_bavail (%llu, %llu)",
	     (unsigned long long)sf.f_bfree, (unsigned long long)sf.f_bavail);
	TRUE(sf.f_files >= sf.f_ffree, "statfs f_files >= f_ffree (%llu, %llu)",
	     (unsigned long long)sf.f_files, (unsigned long long)sf.f_ffree);
	OK(statvfs(".", &sv), "statvfs");
	EQ(sv.f_namemax, 255, "statvfs f_namemax");
	TRUE(sv.f_frsize > 0, "statvfs f_frsize > 0");
	OK(fd = open(".", O_RDONLY | O_DIRECTORY), "open scratch dir");
	OK(fstatfs(fd, &sf), "fstatfs");
	EQ(sf.f_namelen, 255, "fstatfs f_namelen");
	close(fd);
	OK(mkfile("f", 0644, "x"), "setup");
	OK(statfs("f", &sf), "statfs on a file");
	ERR(statfs("missing", &sf), ENOENT, "statfs of a missing path");
}

static void g_names(void)
{
	char n255[256], n256[257], m255[256], p[600], utf[300];
	int fd;
	struct stat s;

	memset(n255, 'a', 255), n255[255] = 0;
	memset(m255, 'm', 255), m255[255] = 0;
	memset(n256, 'b', 256), n256[256] = 0;

	OK(fd = open(n255, O_CREAT | O_WRONLY, 0644), "create 255-byte name");
	if (fd >= 0)
		close(fd);
	OK(lstat(n255, &s), "stat 255-byte name");
	EQ(count_name(".", n255), 1, "readdir lists the 255-byte name once");
	OK(link(n255, m255), "link to a 255-byte name");
	OK(rename(m255, "short"), "rename from a 255-byte name");
	OK(rename("short", m255), "rename to a 255-byte name");
	OK(unlink(m255), "unlink 255-byte name");
	OK(symlink(n255, "sl"), "symlink whose target is a 255-byte name");
	OK(stat("sl", &s), "follow symlink to 255-byte name");

	ERR(open(n256, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "create 256-byte name");
	ERR(open(n256, O_RDONLY), ENAMETOOLONG, "open 256-byte name");
	ERR(lstat(n256, &s), ENAMETOOLONG, "stat 256-byte name");
	ERR(mkdir(n256, 0755), ENAMETOOLONG, "mkdir 256-byte name");
	ERR(mknod(n256, S_IFIFO | 0644, 0), ENAMETOOLONG, "mknod 256-byte name");
	ERR(symlink("x", n256), ENAMETOOLONG, "symlink at a 256-byte name");
	ERR(link(n255, n256), ENAMETOOLONG, "link to a 256-byte name");
	ERR(rename(n255, n256), ENAMETOOLONG, "rename to a 256-byte name");
	ERR(unlink(n256), ENAMETOOLONG, "unlink 256-byte name");
	ERR(rmdir(n256), ENAMETOOLONG, "rmdir 256-byte name");
	ERR(setxattr(n256, "user.x", "1", 1, 0), ENAMETOOLONG, "setxattr on a 256-byte name");
	snprintf(p, sizeof(p), "%s/x", n256);
	ERR(lstat(p, &s), ENAMETOOLONG, "256-byte name as a middle component");
	EQ(exists(n255), 1, "255-byte file still there after failed rename");

	/* A 255-byte directory holding a 255-byte name: a 511-byte path. */
	OK(mkdir(m255, 0755), "mkdir 255-byte name");
	snprintf(p, sizeof(p), "%s/%s", m255, n255);
	OK(mkfile(p, 0644, "deep"), "create 255/255-byte path");
	STREQ(content(p), "deep", "read back 255/255-byte path");

	/* Names are bytes: anything but '/' and NUL, not necessarily UTF-8. */
	const char *odd = "\x01\x7f\xfe\xff bytes\t*?\\:\"<>|";
	OK(mkfile(odd, 0644, "odd"), "create a non-UTF-8 name with control bytes");
	EQ(count_name(".", odd), 1, "readdir returns the non-UTF-8 name byte for byte");
	STREQ(content(odd), "odd", "read back non-UTF-8 name");
	OK(unlink(odd), "unlink non-UTF-8 name");
	utf[0] = 0;
	for (int i = 0; i < 85; i++)
		strcat(utf, "\xe2\x82\xac"); /* 85 x 3-byte euro sign = 255 bytes */
	OK(mkfile(utf, 0644, "u"), "255-byte multibyte UTF-8 name");
	strcat(utf, "\xe2\x82\xac");
	ERR(open(utf, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "258-byte multibyte UTF-8 name");

	OK(mkfile("Case", 0644, "upper"), "create Case");
	OK(mkfile("case", 0644, "lower"), "create case");
	STREQ(content("Case"), "upper", "names are case-sensitive (Case)");
	STREQ(content("case"), "lower", "names are case-sensitive (case)");
	OK(mkfile("dot.", 0644, ""), "name ending in a dot");
	OK(mkfile("...", 0644, ""), "name ...");
	EQ(count_name(".", "..."), 1, "readdir lists ...");

	ERR(mkdir(".", 0755), EEXIST, "mkdir .");
	ERR(mkdir("..", 0755), EEXIST, "mkdir ..");
	ERR(lstat("", &s), ENOENT, "stat of the empty path");
	ERR(open("", O_RDONLY), ENOENT, "open of the empty path");
	OK(mkfile("plain", 0644, "x"), "setup");
	ERR(lstat("plain/", &s), ENOTDIR, "trailing slash on a file");
	ERR(open("plain/", O_RDONLY), ENOTDIR, "open file with trailing slash");
	OK(mkdir("withslash/", 0755), "mkdir with trailing slash");
	EQ(f_type("withslash"), S_IFDIR, "mkdir with trailing slash made a dir");
	OK(lstat("withslash//", &s), "stat dir with double trailing slash");
	OK(lstat("./withslash/.", &s), "stat ./dir/.");
}

static void g_open(void)
{
	int fd, fd2;
	char buf[64];
	struct stat s;

	ERR(open("missing", O_RDONLY), ENOENT, "open missing file without O_CREAT");
	ERR(open("nodir/f", O_CREAT | O_WRONLY, 0644), ENOENT, "O_CREAT in a missing directory");
	OK(fd = open("f", O_CREAT | O_EXCL | O_RDWR, 0640), "O_CREAT|O_EXCL new file");
	OK(fstat(fd, &s), "fstat new file");
	TRUE(S_ISREG(s.st_mode), "new file is regular");
	EQO(s.st_mode & 07777, 0640, "new file mode");
	EQ(s.st_size, 0, "new file size");
	EQ(s.st_nlink, 1, "new file nlink");
	EQ(write(fd, "hello", 5), 5, "write to new file");
	EQ(pread(fd, buf, sizeof(buf), 0), 5, "read back through the same O_RDWR fd");
	close(fd);

	ERR(open("f", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST, "O_CREAT|O_EXCL on existing file");
	OK(fd = open("f", O_CREAT | O_RDWR, 0600), "O_CREAT on existing file without O_EXCL");
	close(fd);
	EQO(f_mode("f"), 0640, "O_CREAT on existing file keeps its mode");
	EQ(f_size("f"), 5, "O_CREAT on existing file keeps its data");

	OK(fd = open("f", O_WRONLY | O_TRUNC), "O_TRUNC");
	OK(fstat(fd, &s), "fstat after O_TRUNC");
	EQ(s.st_size, 0, "O_TRUNC empties the file");
	close(fd);

	OK(mkfile("app", 0644, "abc"), "setup O_APPEND file");
	OK(fd = open("app", O_WRONLY | O_APPEND), "open O_APPEND");
	EQ(lseek(fd, 0, SEEK_SET), 0, "seek to 0 on O_APPEND fd");
	EQ(write(fd, "XY", 2), 2, "write on O_APPEND fd");
	EQ(lseek(fd, 0, SEEK_CUR), 5, "offset after O_APPEND write is the new end");
	OK(fd2 = open("app", O_WRONLY | O_APPEND), "second O_APPEND fd");
	EQ(write(fd2, "12", 2), 2, "write on second O_APPEND fd");
	EQ(write(fd, "34", 2), 2, "write on first O_APPEND fd again");
	close(fd), close(fd2);
	STREQ(content("app"), "abcXY1234", "O_APPEND writes always land at the end");

	OK(mkdir("d", 0755), "setup dir");
	OK(symlink("d", "sld"), "setup symlink to dir");
	OK(symlink("f", "slf"), "setup symlink to file");
	ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
	OK(fd = open("d", O_RDONLY | O_DIRECTORY), "O_DIRECTORY on a dir");
	close(fd);
	OK(fd = open("sld", O_RDONLY | O_DIRECTORY), "O_DIRECTORY through a symlink to a dir");
	close(fd);
	ERR(open("slf", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink");
	OK(fd = open("f", O_RDONLY | O_NOFOLLOW), "O_NOFOLLOW on a plain file");
	close(fd);
	OK(mkfile("d/inner", 0644, "in"), "setup d/inner");
	OK(fd = open("sld/inner", O_RDONLY | O_NOFOLLOW), "O_NOFOLLOW follows symlinks in earlier components");
	close(fd);
	OK(fd = open("slf", O_PATH | O_NOFOLLOW), "O_PATH|O_NOFOLLOW opens the symlink itself");
	OK(fstatat(fd, "", &s, AT_EMPTY_PATH), "fstat of O_PATH symlink fd");
	TRUE(S_ISLNK(s.st_mode), "O_PATH|O_NOFOLLOW fd refers to the link");
	close(fd);

	ERR(open("d", O_WRONLY), EISDIR, "open dir O_WRONLY");
	ERR(open("d", O_RDWR), EISDIR, "open dir O_RDWR");
	ERR(open("d", O_CREAT | O_WRONLY, 0644), EISDIR, "O_CREAT on an existing dir");
	ERR(open("d", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on an existing dir");
	OK(fd = open("d", O_RDONLY), "open dir O_RDONLY");
	ERR(read(fd, buf, sizeof(buf)), EISDIR, "read() on a dir fd");
	close(fd);
	ERR(open("f/x", O_RDONLY), ENOTDIR, "file as a path component");
	ERR(open("f/x", O_CREAT | O_WRONLY, 0644), ENOTDIR, "O_CREAT below a file");

	OK(symlink("target1", "dangle"), "setup dangling symlink");
	ERR(open("dangle", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on a dangling symlink");
	EQ(exists("target1"), 0, "O_CREAT|O_EXCL did not create the symlink's target");
	OK(fd = open("dangle", O_CREAT | O_WRONLY, 0644), "O_CREAT through a dangling symlink");
	close(fd);
	EQ(f_type("target1"), S_IFREG, "O_CREAT through a dangling symlink creates its target");
	OK(symlink("loop2", "loop1"), "setup loop");
	OK(symlink("loop1", "loop2"), "setup loop");
	ERR(open("loop1", O_RDONLY), ELOOP, "open a symlink loop");
	ERR(open("loop1", O_CREAT | O_WRONLY, 0644), ELOOP, "O_CREAT on a symlink loop");

	OK(mkfile("rw", 0644, "0123456789"), "setup");
	OK(fd = open("rw", O_WRONLY), "open O_WRONLY");
	ERR(read(fd, buf, 1), EBADF, "read on O_WRONLY fd");
	close(fd);
	OK(fd = open("rw", O_RDONLY), "open O_RDONLY");
	ERR(write(fd, "x", 1), EBADF, "write on O_RDONLY fd");
	EQ(lseek(fd, 0, SEEK_END), 10, "SEEK_END");
	EQ(lseek(fd, 100, SEEK_SET), 100, "seek beyond end");
	EQ(read(fd, buf, sizeof(buf)), 0, "read beyond end returns 0");
	ERR(lseek(fd, -1, SEEK_SET), EINVAL, "seek to a negative offset");
	EQ(lseek(fd, 3, SEEK_SET), 3, "seek to 3");
	EQ(read(fd, buf, 4), 4, "read 4 at offset 3");
	TRUE(memcmp(buf, "3456", 4) == 0, "data at offset 3");
	EQ(lseek(fd, 0, SEEK_CUR), 7, "offset advanced by read");
	close(fd);

	/* Create with mode 0: the creating fd still works (permission is
	 * checked against the mode only for later opens). */
	OK(fd = open("m0", O_CREAT | O_EXCL | O_RDWR, 0), "create with mode 0");
	EQ(write(fd, "ok", 2), 2, "write through fd of a mode-0 file it created");
	EQ(pread(fd, buf, 2, 0), 2, "read through fd of a mode-0 file it created");
	close(fd);
	EQO(f_mode("m0"), 0, "mode-0 file has mode 0");

	OK(mkfifo("fifo", 0644), "setup fifo");
	ERR(open("fifo", O_WRONLY | O_NONBLOCK), ENXIO, "O_WRONLY|O_NONBLOCK fifo with no reader");
	OK(fd = open("fifo", O_RDONLY | O_NONBLOCK), "open fifo reader non-blocking");
	OK(fd2 = open("fifo", O_WRONLY | O_NONBLOCK), "open fifo writer once a reader exists");
	EQ(write(fd2, "ping", 4), 4, "write to fifo");
	EQ(read(fd, buf, sizeof(buf)), 4, "read from fifo");
	TRUE(memcmp(buf, "ping", 4) == 0, "fifo data");
	close(fd2), close(fd);
	EQ(f_size("fifo"), 0, "fifo size stays 0");

	/* A 1 MiB pattern written in odd-sized pieces reads back intact. */
	static char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 4099);
	OK(fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644), "create big");
	size_t off = 0, piece = 1;
	int bad = 0;
	while (off < sizeof(big)) {
		size_t n = piece < sizeof(big) - off ? piece : sizeof(big) - off;
		if (pwrite(fd, big + off, n, off) != (ssize_t)n)
			bad++;
		off += n, piece = piece * 3 + 1;
	}
	EQ(bad, 0, "odd-sized pwrites");
	EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back), "read 1 MiB back");
	TRUE(memcmp(big, back, sizeof(big)) == 0, "1 MiB pattern intact through the same fd");
	close(fd);
	OK(fd = open("big", O_RDONLY), "reopen big");
	memset(back, 0, sizeof(back));
	EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back), "read 1 MiB after reopen");
	TRUE(memcmp(big, back, sizeof(big)) == 0, "1 MiB pattern intact after reopen");
	EQ(pread(fd, back, 100, (1 << 20) - 50), 50, "short read at end of file");
	close(fd);
	OK(fd = open("big", O_RDWR), "reopen big rw");
	EQ(pwrite(fd, "ZZZZ", 4, 4094), 4, "overwrite across a 4 KiB boundary");
	EQ(pread(fd, back, 8, 4092), 8, "read across the boundary");
	TRUE(back[0] == big[4092] && back[1] == big[4093] && memcmp(back + 2, "ZZZZ", 4) == 0 &&
	     back[6] == big[4098] && back[7] == big[4099], "overwrite changes exactly 4 bytes");
	close(fd);
	EQ(f_size("big"), 1 << 20, "overwrite keeps size");
}

static void g_umask(void)
{
	int fd;
	mode_t old = umask(022);

	OK(fd = open("f022", O_CREAT | O_WRONLY, 0666), "create under umask 022");
	close(fd);
	EQO(f_mode("f022"), 0644, "umask 022 on create 0666");
	OK(mkdir("d022", 0777), "mkdir under umask 022");
	EQO(f_mode("d022"), 0755, "umask 022 on mkdir 0777");
	OK(mkfifo("p022", 0666), "mkfifo under umask 022");
	EQO(f_mode("p022"), 0644, "umask 022 on mkfifo 0666");
	OK(mknod("n022", S_IFREG | 0666, 0), "mknod under umask 022");
	EQO(f_mode("n022"), 0644, "umask 022 on mknod 0666");
	umask(077);
	OK(fd = open("f077", O_CREAT | O_WRONLY, 0666), "create under umask 077");
	close(fd);
	EQO(f_mode("f077"), 0600, "umask 077 on create 0666");
	OK(mkdir("d077", 0777), "mkdir under umask 077");
	EQO(f_mode("d077"), 0700, "umask 077 on mkdir 0777");
	OK(mkdir("s077", 01777), "mkdir sticky under umask 077");
	EQO(f_mode("s077"), 01700, "umask does not clear the sticky bit on mkdir");
	OK(symlink("x", "l077"), "symlink under umask 077");
	EQO(f_mode("l077"), 0777, "symlinks are 0777 whatever the umask");
	umask(0);
	OK(fd = open("f000", O_CREAT | O_WRONLY, 0666), "create under umask 0");
	close(fd);
	EQO(f_mode("f000"), 0666, "umask 0 on create 0666");
	OK(mkdir("d000", 0777), "mkdir under umask 0");
	EQO(f_mode("d000"), 0777, "umask 0 on mkdir 0777");
	umask(0777);
	OK(fd = open("f777", O_CREAT | O_RDWR, 0666), "create under umask 0777");
	EQ(write(fd, "x", 1), 1, "the creating fd is writable even if the mode is 0");
	close(fd);
	EQO(f_mode("f777"), 0, "umask 0777 on create 0666");
	umask(022);
	AS(1000) {
		umask(002);
		OK(fd = open("u1000", O_CREAT | O_WRONLY, 0666), "create under umask 002");
		close(fd);
		EQO(f_mode("u1000"), 0664, "umask 002 on create 0666 by uid 1000");
		OK(mkdir("ud1000", 0777), "mkdir under umask 002");
		EQO(f_mode("ud1000"), 0775, "umask 002 on mkdir by uid 1000");
	}
	umask(old);
}

static void g_chmod(void)
{
	static const mode_t modes[] = {0, 0777, 0400, 0644, 04755, 02755, 01777, 07777, 0111};
	int fd;

	OK(mkfile("f", 0644, "x"), "setup");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		OK(chmod("f", modes[i]), "chmod 0%o", modes[i]);
		EQO(f_mode("f"), modes[i], "mode after chmod 0%o", modes[i]);
	}
	EQ(f_type("f"), S_IFREG, "chmod keeps the file type");
	OK(fd = open("f", O_RDONLY), "open for fchmod");
	OK(fchmod(fd, 0604), "fchmod");
	EQO(f_mode("f"), 0604, "mode after fchmod");
	close(fd);
	OK(mkdir("d", 0755), "setup dir");
	OK(chmod("d", 0700), "chmod dir");
	EQO(f_mode("d"), 0700, "dir mode after chmod");
	OK(chmod("d", 03775), "chmod dir with sgid+sticky");
	EQO(f_mode("d"), 03775, "dir mode sgid+sticky");
	EQ(f_type("d"), S_IFDIR, "chmod keeps the dir type");
	OK(symlink("f", "sl"), "setup symlink");
	OK(chmod("sl", 0640), "chmod through a symlink");
	EQO(f_mode("f"), 0640, "chmod through a symlink changes the target");
	EQO(f_mode("sl"), 0777, "chmod through a symlink leaves the link 0777");
	OK(mkfifo("p", 0600), "setup fifo");
	OK(chmod("p", 0666), "chmod fifo");
	EQO(f_mode("p"), 0666, "fifo mode after chmod");
	EQ(f_type("p"), S_IFIFO, "chmod keeps the fifo type");
	ERR(chmod("missing", 0644), ENOENT, "chmod missing");
	ERR(chmod("f/x", 0644), ENOTDIR, "chmod below a file");
	ERR(chmod("dangle-missing/x", 0644), ENOENT, "chmod in missing dir");

	/* Permission changes apply to later opens, not to open fds. */
	OK(mkfile("g", 0644, "y"), "setup");
	OK(fd = open("g", O_RDWR), "open rw");
	OK(chmod("g", 0), "chmod 0 while open");
	EQ(pwrite(fd, "z", 1, 0), 1, "an open fd keeps working after chmod 0");
	close(fd);
}

static void g_chown(void)
{
	int fd;

	OK(mkfile("f", 0644, "x"), "setup");
	OK(chown("f", 1000, 1001), "chown uid and gid");
	EQ(f_uid("f"), 1000, "uid after chown");
	EQ(f_gid("f"), 1001, "gid after chown");
	OK(chown("f", -1, 1002), "chown gid only");
	EQ(f_uid("f"), 1000, "chown -1 keeps uid");
	EQ(f_gid("f"), 1002, "gid after chown -1,1002");
	OK(chown("f", 1001, -1), "chown uid only");
	EQ(f_uid("f"), 1001, "uid after chown 1001,-1");
	EQ(f_gid("f"), 1002, "chown uid,-1 keeps gid");
	OK(chown("f", -1, -1), "chown -1,-1");
	EQ(f_uid("f"), 1001, "chown -1,-1 keeps uid");
	OK(fd = open("f", O_RDONLY), "open for fchown");
	OK(fchown(fd, 0, 0), "fchown");
	close(fd);
	EQ(f_uid("f"), 0, "uid after fchown");
	EQ(f_gid("f"), 0, "gid after fchown");
	OK(chown("f", 4000000000u, 4000000001u), "chown to large ids");
	EQ(f_uid("f"), 4000000000u, "large uid");
	EQ(f_gid("f"), 4000000001u, "large gid");
	OK(chown("f", 0, 0), "chown back to root");

	OK(symlink("f", "sl"), "setup symlink");
	OK(lchown("sl", 1000, 1000), "lchown on a symlink");
	EQ(f_uid("sl"), 1000, "lchown changes the link's owner");
	EQ(f_uid("f"), 0, "lchown leaves the target alone");
	OK(chown("sl", 1001, 1001), "chown through a symlink");
	EQ(f_uid("f"), 1001, "chown through a symlink changes the target");
	EQ(f_uid("sl"), 1000, "chown through a symlink leaves the link");
	OK(fchownat(AT_FDCWD, "sl", 65534, 65534, AT_SYMLINK_NOFOLLOW), "fchownat NOFOLLOW");
	EQ(f_gid("sl"), 65534, "fchownat NOFOLLOW changes the link");

	OK(mkdir("d", 0755), "setup dir");
	OK(chown("d", 1000, 1000), "chown dir");
	EQ(f_uid("d"), 1000, "dir uid after chown");
	OK(mkfifo("p", 0644), "setup fifo");
	OK(chown("p", 1000, 1002), "chown fifo");
	EQ(f_gid("p"), 1002, "fifo gid after chown");
	ERR(chown("missing", 0, 0), ENOENT, "chown missing");
	ERR(chown("f/x", 0, 0), ENOTDIR, "chown below a file");
	/* Root's chown of a directory keeps its set-group-ID bit. */
	OK(chmod("d", 02755), "setup sgid dir");
	OK(chown("d", 1001, 1001), "root chowns sgid dir");
	EQO(f_mode("d"), 02755, "root chown keeps S_ISGID on a dir");
}

static void g_link(void)
{
	struct stat s;

	OK(mkfile("a", 0644, "data"), "setup");
	OK(link("a", "b"), "link a b");
	EQ(f_ino("b"), f_ino("a"), "hard link shares the inode");
	EQ(f_nlink("a"), 2, "nlink of a after link");
	EQ(f_nlink("b"), 2, "nlink of b after link");
	STREQ(content("b"), "data", "data through the new link");
	ERR(link("a", "b"), EEXIST, "link onto an existing name");
	ERR(link("missing", "c"), ENOENT, "link from a missing file");
	ERR(link("a", "nodir/c"), ENOENT, "link into a missing dir");
	ERR(link("a/x", "c"), ENOTDIR, "link from below a file");
	ERR(link("a", "a/c"), ENOTDIR, "link to below a file");
	OK(mkdir("d", 0755), "setup dir");
	ERR(link("d", "d2"), EPERM, "hard link to a directory");
	ERR(link("a", "d"), EEXIST, "link onto an existing dir");
	ERR(link("a", "d/"), EEXIST, "link onto an existing dir with slash");

	OK(symlink("a", "sl"), "setup symlink");
	OK(link("sl", "sl2"), "link() a symlink");
	EQ(f_type("sl2"), S_IFLNK, "link() does not follow the symlink");
	EQ(f_ino("sl2"), f_ino("sl"), "link of a symlink shares the link's inode");
	OK(linkat(AT_FDCWD, "sl", AT_FDCWD, "sl3", AT_SYMLINK_FOLLOW), "linkat AT_SYMLINK_FOLLOW");
	EQ(f_ino("sl3"), f_ino("a"), "AT_SYMLINK_FOLLOW links the target");
	EQ(f_nlink("a"), 3, "nlink after third link");

	OK(link("a", "d/a"), "link into a subdirectory");
	EQ(f_ino("d/a"), f_ino("a"), "cross-dir link shares the inode");
	EQ(f_nlink("a"), 4, "nlink after cross-dir link");
	OK(unlink("a"), "unlink the original name");
	EQ(f_nlink("b"), 3, "nlink after unlinking one name");
	STREQ(content("d/a"), "data", "data survives unlink of the original name");
	OK(lstat("b", &s), "stat b");
	EQ(s.st_size, 4, "size through remaining link");

	OK(mkfifo("p", 0644), "setup fifo");
	OK(link("p", "p2"), "hard link to a fifo");
	EQ(f_type("p2"), S_IFIFO, "fifo link type");
	EQ(f_nlink("p"), 2, "fifo nlink");

	/* Writes through one name show through the other. */
	OK(mkfile("w", 0644, "1111"), "setup");
	OK(link("w", "w2"), "link");
	int fd = open("w2", O_WRONLY);
	OK(fd, "open w2");
	EQ(pwrite(fd, "22", 2, 1), 2, "write through w2");
	close(fd);
	STREQ(content("w"), "1221", "write via one link seen via the other");
}

static void g_mkdir(void)
{
	struct stat s;

	long long parent_nlink = f_nlink(".");
	OK(mkdir("d", 0755), "mkdir");
	OK(lstat("d", &s), "stat new dir");
	TRUE(S_ISDIR(s.st_mode), "new dir type");
	EQO(s.st_mode & 07777, 0755, "new dir mode");
	EQ(s.st_nlink, 2, "new dir nlink");
	EQ(f_nlink("."), parent_nlink + 1, "parent nlink after mkdir");
	EQ(count_entries("d"), 0, "new dir is empty");
	EQ(count_name("d", "."), 1, "new dir lists .");
	EQ(count_name("d", ".."), 1, "new dir lists ..");
	EQ(f_ino("d/.."), f_ino("."), "d/.. is the parent");
	EQ(f_ino("d/."), f_ino("d"), "d/. is d");
	ERR(mkdir("d", 0755), EEXIST, "mkdir existing dir");
	OK(mkfile("f", 0644, ""), "setup");
	ERR(mkdir("f", 0755), EEXIST, "mkdir over a file");
	OK(symlink("nowhere", "dangle"), "setup");
	ERR(mkdir("dangle", 0755), EEXIST, "mkdir over a dangling symlink");
	EQ(exists("nowhere"), 0, "mkdir does not follow a dangling symlink");
	ERR(mkdir("missing/d", 0755), ENOENT, "mkdir in a missing dir");
	ERR(mkdir("f/d", 0755), ENOTDIR, "mkdir below a file");
	OK(mkdir("d/e", 0700), "nested mkdir");
	EQ(f_nlink("d"), 3, "nlink of d with one subdir");
	OK(mkdir("d/e/f", 0700), "deeper mkdir");
	EQ(f_nlink("d"), 3, "grandchildren don't count in nlink");
	OK(mkdir("sticky", 01777), "mkdir with sticky bit");
	EQO(f_mode("sticky"), 01755, "sticky mkdir mode (umask 022)");
	OK(mkdir("d0", 0), "mkdir mode 0");
	EQO(f_mode("d0"), 0, "mkdir mode 0");
	OK(mkdir("d0/sub", 0755), "root creates inside a mode-0 dir");
	EQ(dtype_of(".", "d"), DT_DIR, "readdir d_type of a dir");
}

static void g_mknod(void)
{
	struct stat s;
	int fd, fd2, srv, cli, acc;
	char buf[16];

	OK(mknod("reg", S_IFREG | 0640, 0), "mknod S_IFREG");
	EQ(f_type("reg"), S_IFREG, "mknod S_IFREG type");
	EQO(f_mode("reg"), 0640, "mknod S_IFREG mode");
	EQ(f_size("reg"), 0, "mknod S_IFREG size");
	OK(mknod("reg0", 0644, 0), "mknod with type 0");
	EQ(f_type("reg0"), S_IFREG, "mknod with type 0 makes a regular file");
	OK(mknod("fifo", S_IFIFO | 0644, 0), "mknod S_IFIFO");
	EQ(f_type("fifo"), S_IFIFO, "mknod S_IFIFO type");
	OK(mkfifo("fifo2", 0600), "mkfifo");
	EQ(f_type("fifo2"), S_IFIFO, "mkfifo type");
	EQO(f_mode("fifo2"), 0600, "mkfifo mode");
	OK(mknod("chr", S_IFCHR | 0644, makedev(1, 3)), "mknod S_IFCHR");
	OK(lstat("chr", &s), "stat chr");
	EQ(s.st_mode & S_IFMT, S_IFCHR, "chr type");
	EQ(major(s.st_rdev), 1, "chr major");
	EQ(minor(s.st_rdev), 3, "chr minor");
	EQ(s.st_size, 0, "chr size");
	OK(mknod("blk", S_IFBLK | 0600, makedev(7, 0)), "mknod S_IFBLK");
	OK(lstat("blk", &s), "stat blk");
	EQ(s.st_mode & S_IFMT, S_IFBLK, "blk type");
	EQ(s.st_rdev, makedev(7, 0), "blk rdev");
	EQO(s.st_mode & 07777, 0600, "blk mode");
	OK(mknod("bigdev", S_IFCHR | 0600, makedev(300, 70000)), "mknod with large major/minor");
	OK(lstat("bigdev", &s), "stat bigdev");
	EQ(major(s.st_rdev), 300, "large major");
	EQ(minor(s.st_rdev), 70000, "large minor");
	OK(mknod("sock", S_IFSOCK | 0644, 0), "mknod S_IFSOCK");
	EQ(f_type("sock"), S_IFSOCK, "mknod S_IFSOCK type");
	EQ(dtype_of(".", "fifo"), DT_FIFO, "d_type of fifo");
	EQ(dtype_of(".", "chr"), DT_CHR, "d_type of chr");
	EQ(dtype_of(".", "blk"), DT_BLK, "d_type of blk");
	EQ(dtype_of(".", "sock"), DT_SOCK, "d_type of socket");
	EQ(dtype_of(".", "reg"), DT_REG, "d_type of regular file");

	ERR(mknod("reg", S_IFREG | 0644, 0), EEXIST, "mknod over an existing file");
	ERR(mknod("fifo", S_IFIFO | 0644, 0), EEXIST, "mknod fifo over an existing fifo");
	ERR(mkfifo("reg", 0644), EEXIST, "mkfifo over an existing file");
	ERR(mknod("missing/x", S_IFIFO | 0644, 0), ENOENT, "mknod in a missing dir");
	ERR(mknod("reg/x", S_IFIFO | 0644, 0), ENOTDIR, "mknod below a file");
	ERR(mknod("dirnode", S_IFDIR | 0755, 0), EPERM, "mknod S_IFDIR");
	ERR(mknod("badtype", 0160000 | 0644, 0), EINVAL, "mknod with an invalid type");

	/* A FIFO on this filesystem passes data. */
	OK(fd = open("fifo", O_RDONLY | O_NONBLOCK), "open fifo reader");
	OK(fd2 = open("fifo", O_WRONLY), "open fifo writer");
	EQ(write(fd2, "abc", 3), 3, "write fifo");
	EQ(read(fd, buf, sizeof(buf)), 3, "read fifo");
	close(fd), close(fd2);

	/* A Unix socket bound here is a socket node that connects. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, "srv.sock");
	OK(srv = socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	OK(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), "bind a unix socket in the filesystem");
	EQ(f_type("srv.sock"), S_IFSOCK, "bound socket is a socket node");
	OK(listen(srv, 1), "listen");
	OK(cli = socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	OK(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), "connect to the socket node");
	OK(acc = accept(srv, NULL, NULL), "accept");
	EQ(write(cli, "hi", 2), 2, "send over socket");
	EQ(read(acc, buf, sizeof(buf)), 2, "receive over socket");
	close(acc), close(cli);
	ERR(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&sa, sizeof(sa)), EADDRINUSE,
	    "bind onto an existing socket node");
	close(srv);
	OK(unlink("srv.sock"), "unlink socket node");

	AS(1000) {
		ERR(mknod("u-chr", S_IFCHR | 0644, makedev(1, 3)), EPERM, "non-root mknod of a char device");
		ERR(mknod("u-blk", S_IFBLK | 0644, makedev(7, 0)), EPERM, "non-root mknod of a block device");
		OK(mknod("u-fifo", S_IFIFO | 0644, 0), "non-root mknod of a fifo");
		OK(mknod("u-sock", S_IFSOCK | 0644, 0), "non-root mknod of a socket");
		OK(mknod("u-reg", S_IFREG | 0644, 0), "non-root mknod of a regular file");
	}
	EQ(f_uid("u-fifo"), 1000, "fifo made by uid 1000 is owned by it");
}

static void g_rename(void)
{
	int fd;
	long long ino, pn;
	DIR *dp;

	OK(mkfile("a", 0644, "A"), "setup");
	ino = f_ino("a");
	OK(rename("a", "b"), "rename file to a new name");
	EQ(exists("a"), 0, "old name gone");
	EQ(f_ino("b"), ino, "new name has the same inode");
	STREQ(content("b"), "A", "data follows the rename");

	/* File over file: the target's inode loses a link. */
	OK(mkfile("t", 0644, "T"), "setup target");
	OK(link("t", "t-keep"), "second link to target");
	OK(rename("b", "t"), "rename file over an existing file");
	EQ(f_ino("t"), ino, "target name now refers to the source inode");
	EQ(exists("b"), 0, "source name gone");
	EQ(f_nlink("t-keep"), 1, "replaced inode lost a link");
	STREQ(content("t-keep"), "T", "replaced inode keeps its data via its other link");

	/* Same inode: POSIX says do nothing, both names stay. */
	OK(link("t", "t2"), "setup second link");
	OK(rename("t", "t2"), "rename between two links of one inode");
	EQ(exists("t"), 1, "same-inode rename keeps the source name");
	EQ(exists("t2"), 1, "same-inode rename keeps the target name");
	EQ(f_nlink("t"), 2, "same-inode rename keeps nlink");
	OK(rename("t", "t"), "rename a name onto itself");
	EQ(exists("t"), 1, "rename onto itself keeps the name");

	ERR(rename("missing", "x"), ENOENT, "rename a missing file");
	ERR(rename("t", "nodir/x"), ENOENT, "rename into a missing dir");
	ERR(rename("t/x", "y"), ENOTDIR, "rename from below a file");
	ERR(rename("t", "t-keep/x"), ENOTDIR, "rename to below a file");
	ERR(rename("t", "t-keep/"), ENOTDIR, "rename a file onto file/");
	ERR(rename("t/", "zz"), ENOTDIR, "rename file/ (trailing slash on a file)");

	/* Directories. */
	OK(mkdir("d", 0755), "setup dir");
	OK(mkdir("d/sub", 0755), "setup subdir");
	OK(mkfile("d/sub/f", 0644, "deep"), "setup deep file");
	ino = f_ino("d");
	OK(rename("d", "e"), "rename a dir");
	EQ(f_ino("e"), ino, "renamed dir keeps its inode");
	STREQ(content("e/sub/f"), "deep", "contents move with the dir");
	ERR(rename("e", "e/sub/x"), EINVAL, "rename a dir into its own subtree");
	ERR(rename("e", "e/x"), EINVAL, "rename a dir into itself");
	ERR(rename("e/sub", "e/sub/x"), EINVAL, "rename a subdir into itself");
	ERR(rename(".", "x"), EBUSY, "rename .");  /* Linux: EBUSY; see README */
	ERR2(rename("e/sub", "."), EBUSY, ENOTEMPTY, "rename onto .");
	OK(mkfile("file", 0644, "f"), "setup file");
	ERR(rename("file", "e"), EISDIR, "rename a file onto a dir");
	ERR(rename("e", "file"), ENOTDIR, "rename a dir onto a file");
	OK(mkdir("empty", 0755), "setup empty dir");
	OK(mkdir("full", 0755), "setup non-empty dir");
	OK(mkfile("full/x", 0644, ""), "setup");
	ERR2(rename("e", "full"), ENOTEMPTY, EEXIST, "rename a dir onto a non-empty dir");
	pn = f_nlink(".");
	ino = f_ino("e");
	OK((dp = opendir("empty")) ? 0 : -1, "open the victim dir");
	OK(rename("e", "empty"), "rename a dir onto an empty dir");
	EQ(f_ino("empty"), ino, "empty dir replaced by the source dir");
	EQ(exists("e"), 0, "source dir name gone");
	EQ(f_nlink("."), pn - 1, "parent nlink after replacing a dir");
	if (dp) {
		errno = 0;
		struct dirent *de;
		int n = 0;
		while ((de = readdir(dp)))
			n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		EQ(n, 0, "replaced victim dir, still open, reads as empty");
		closedir(dp);
	}
	ERR(rename("empty", "empty/sub"), EINVAL, "rename a dir onto its own child");

	/* Cross-directory renames fix up link counts and "..". */
	OK(mkdir("p1", 0755), "setup p1");
	OK(mkdir("p2", 0755), "setup p2");
	OK(mkdir("p1/m", 0755), "setup p1/m");
	EQ(f_nlink("p1"), 3, "p1 nlink before");
	OK(rename("p1/m", "p2/m"), "rename dir across parents");
	EQ(f_nlink("p1"), 2, "old parent nlink after cross-dir rename");
	EQ(f_nlink("p2"), 3, "new parent nlink after cross-dir rename");
	EQ(f_ino("p2/m/.."), f_ino("p2"), ".. of moved dir is the new parent");
	OK(mkdir("p1/v", 0755), "setup empty victim in p1");
	OK(rename("p2/m", "p1/v"), "rename dir across parents onto an empty dir");
	EQ(f_nlink("p1"), 3, "p1 nlink after replacing its subdir");
	EQ(f_nlink("p2"), 2, "p2 nlink after losing its subdir");
	OK(mkfile("p1/ff", 0644, "ff"), "setup");
	OK(rename("p1/ff", "p2/ff"), "rename file across parents");
	STREQ(content("p2/ff"), "ff", "file data after cross-dir rename");
	EQ(f_nlink("p2"), 2, "files do not count in nlink");

	/* Rename over a file that is open: the fd keeps the old inode. */
	OK(mkfile("victim", 0644, "old"), "setup victim");
	OK(mkfile("repl", 0644, "new"), "setup replacement");
	OK(fd = open("victim", O_RDWR), "open victim");
	OK(rename("repl", "victim"), "rename over an open file");
	STREQ(content("victim"), "new", "name shows the new file");
	STREQ(fd_content(fd), "old", "open fd still reads the replaced file");
	struct stat s;
	OK(fstat(fd, &s), "fstat replaced file");
	EQ(s.st_nlink, 0, "replaced open file has nlink 0");
	EQ(pwrite(fd, "OLD!", 4, 0), 4, "replaced open file stays writable");
	STREQ(fd_content(fd), "OLD!", "replaced open file reads its write");
	close(fd);
	STREQ(content("victim"), "new", "writes to the replaced file don't touch the new one");

	/* Symlinks are renamed, not followed. */
	OK(symlink("victim", "sl"), "setup symlink");
	OK(rename("sl", "sl2"), "rename a symlink");
	EQ(f_type("sl2"), S_IFLNK, "renamed symlink is still a link");
	EQ(exists("victim"), 1, "target untouched by renaming the link");
	OK(rename("victim", "sl2"), "rename a file over a symlink");
	EQ(f_type("sl2"), S_IFREG, "symlink replaced by the file");

	/* Special files rename like files. */
	OK(mkfifo("fifo", 0644), "setup fifo");
	OK(rename("fifo", "p1/fifo"), "rename a fifo across dirs");
	EQ(f_type("p1/fifo"), S_IFIFO, "fifo keeps its type");
	EQ(dtype_of("p1", "fifo"), DT_FIFO, "readdir in new dir shows the fifo");
	EQ(count_name(".", "fifo"), 0, "readdir in old dir no longer shows it");
}

static void g_renameat2(void)
{
	long long ia, ib;

	OK(mkfile("a", 0644, "A"), "setup");
	OK(mkfile("b", 0644, "B"), "setup");
	ERR(renameat2_("a", "b", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto an existing file");
	STREQ(content("b"), "B", "NOREPLACE failure leaves the target");
	OK(renameat2_("a", "c", RENAME_NOREPLACE), "RENAME_NOREPLACE to a new name");
	EQ(exists("a"), 0, "NOREPLACE moved the source");
	STREQ(content("c"), "A", "NOREPLACE target data");
	OK(mkdir("d", 0755), "setup");
	ERR(renameat2_("c", "d", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto an existing dir");
	OK(symlink("nowhere", "dangle"), "setup");
	ERR(renameat2_("c", "dangle", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto a dangling symlink");

	ia = f_ino("b"), ib = f_ino("c");
	OK(renameat2_("b", "c", RENAME_EXCHANGE), "RENAME_EXCHANGE of two files");
	EQ(f_ino("b"), ib, "exchange: b now has c's inode");
	EQ(f_ino("c"), ia, "exchange: c now has b's inode");
	STREQ(content("b"), "A", "exchange: data of b");
	STREQ(content("c"), "B", "exchange: data of c");
	ERR(renameat2_("b", "missing", RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE with a missing target");
	ERR(renameat2_("missing", "b", RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE with a missing source");
	ERR(renameat2_("b", "c", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL, "EXCHANGE|NOREPLACE");
	ERR(renameat2_("b", "c", 1u << 30), EINVAL, "unknown renameat2 flag");

	/* Exchange a file and a directory across parents. */
	OK(mkdir("p1", 0755), "setup");
	OK(mkdir("p2", 0755), "setup");
	OK(mkdir("p1/dir", 0755), "setup");
	OK(mkfile("p1/dir/in", 0644, "in"), "setup");
	OK(mkfile("p2/file", 0644, "file"), "setup");
	OK(renameat2_("p1/dir", "p2/file", RENAME_EXCHANGE), "RENAME_EXCHANGE dir and file across parents");
	EQ(f_type("p1/dir"), S_IFREG, "exchange: p1/dir is now the file");
	EQ(f_type("p2/file"), S_IFDIR, "exchange: p2/file is now the dir");
	STREQ(content("p2/file/in"), "in", "exchanged dir keeps its contents");
	EQ(f_nlink("p1"), 2, "exchange: p1 lost a subdir");
	EQ(f_nlink("p2"), 3, "exchange: p2 gained a subdir");
	EQ(f_ino("p2/file/.."), f_ino("p2"), "exchange: .. of moved dir");
	ERR(renameat2_("p2", "p2/file", RENAME_EXCHANGE), EINVAL, "RENAME_EXCHANGE of a dir with its own child");
	OK(renameat2_("b", "b", RENAME_EXCHANGE), "RENAME_EXCHANGE of a name with itself");
	STREQ(content("b"), "A", "self-exchange changes nothing");
	OK(mkdir("e1", 0755), "setup");
	OK(mkdir("e2", 0755), "setup");
	OK(mkfile("e1/x", 0644, "1"), "setup");
	OK(renameat2_("e1", "e2", RENAME_EXCHANGE), "RENAME_EXCHANGE of a non-empty and an empty dir");
	STREQ(content("e2/x"), "1", "exchanged dirs");
	EQ(count_entries("e1"), 0, "exchanged empty dir");
	OK(renameat2_("e2", "e3", 0), "renameat2 with flags 0");
	EQ(exists("e3/x"), 1, "renameat2 flags 0 renames");
}

static void g_rmdir(void)
{
	long long pn = f_nlink(".");
	DIR *dp;

	OK(mkdir("d", 0755), "setup");
	EQ(f_nlink("."), pn + 1, "parent nlink with subdir");
	OK(rmdir("d"), "rmdir empty dir");
	EQ(exists("d"), 0, "dir gone");
	EQ(f_nlink("."), pn, "parent nlink after rmdir");
	ERR(rmdir("d"), ENOENT, "rmdir missing");
	OK(mkdir("full", 0755), "setup");
	OK(mkfile("full/f", 0644, ""), "setup");
	ERR2(rmdir("full"), ENOTEMPTY, EEXIST, "rmdir non-empty dir (file)");
	OK(unlink("full/f"), "empty it");
	OK(mkdir("full/sub", 0755), "setup");
	ERR2(rmdir("full"), ENOTEMPTY, EEXIST, "rmdir non-empty dir (subdir)");
	OK(rmdir("full/sub"), "rmdir subdir");
	OK(symlink("x", "full/sl"), "setup");
	ERR2(rmdir("full"), ENOTEMPTY, EEXIST, "rmdir dir holding only a symlink");
	OK(unlink("full/sl"), "setup");
	OK(mkfifo("full/p", 0644), "setup");
	ERR2(rmdir("full"), ENOTEMPTY, EEXIST, "rmdir dir holding only a fifo");
	OK(unlink("full/p"), "setup");
	OK(rmdir("full"), "rmdir once emptied");
	OK(mkfile("f", 0644, ""), "setup");
	ERR(rmdir("f"), ENOTDIR, "rmdir a file");
	ERR(rmdir("f/x"), ENOTDIR, "rmdir below a file");
	OK(mkdir("d2", 0755), "setup");
	OK(symlink("d2", "sld"), "setup");
	ERR(rmdir("sld"), ENOTDIR, "rmdir a symlink to a dir");
	ERR(rmdir("d2/."), EINVAL, "rmdir dir/.");
	ERR(rmdir("."), EINVAL, "rmdir .");
	ERR2(rmdir("d2/.."), ENOTEMPTY, EEXIST, "rmdir dir/..");
	OK((dp = opendir("d2")) ? 0 : -1, "opendir before rmdir");
	OK(rmdir("d2"), "rmdir an open dir");
	if (dp) {
		struct stat s;
		OK(fstat(dirfd(dp), &s), "fstat removed open dir");
		EQ(s.st_nlink, 0, "removed open dir has nlink 0");
		EQ(readdir(dp) == NULL, 1, "readdir of a removed dir returns nothing");
		ERR(openat(dirfd(dp), "new", O_CREAT | O_WRONLY, 0644), ENOENT, "create in a removed dir");
		closedir(dp);
	}
	OK(mkdir("a", 0755), "setup");
	OK(mkdir("a/b", 0755), "setup");
	OK(rmdir("a/b"), "rmdir nested");
	EQ(f_nlink("a"), 2, "nlink after nested rmdir");
	OK(rmdir("a/"), "rmdir with trailing slash");
}

static void g_symlink(void)
{
	char t[4097], buf[5000];
	struct stat s;

	OK(symlink("target/path", "sl"), "symlink");
	OK(lstat("sl", &s), "lstat symlink");
	TRUE(S_ISLNK(s.st_mode), "symlink type");
	EQ(s.st_size, 11, "symlink size is the target length");
	EQO(s.st_mode & 07777, 0777, "symlink mode");
	EQ(readlink("sl", buf, sizeof(buf)), 11, "readlink length");
	TRUE(memcmp(buf, "target/path", 11) == 0, "readlink text");
	EQ(readlink("sl", buf, 4), 4, "readlink with a short buffer truncates");
	TRUE(memcmp(buf, "targ", 4) == 0, "truncated readlink text");
	ERR(stat("sl", &s), ENOENT, "stat through a dangling symlink");
	ERR(symlink("other", "sl"), EEXIST, "symlink over an existing link");
	OK(mkfile("f", 0644, "F"), "setup");
	ERR(symlink("other", "f"), EEXIST, "symlink over an existing file");
	ERR(readlink("f", buf, sizeof(buf)), EINVAL, "readlink of a file");
	ERR(readlink("missing", buf, sizeof(buf)), ENOENT, "readlink missing");
	ERR(symlink("x", "missing/sl"), ENOENT, "symlink in a missing dir");
	ERR(symlink("", "empty"), ENOENT, "symlink with an empty target");

	OK(symlink("f", "slf"), "symlink to file");
	STREQ(content("slf"), "F", "read through a symlink");
	OK(mkdir("d", 0755), "setup");
	OK(mkfile("d/in", 0644, "IN"), "setup");
	OK(symlink("d", "sld"), "symlink to dir");
	STREQ(content("sld/in"), "IN", "symlink as a path component");
	OK(symlink("../f", "d/up"), "relative symlink with ..");
	STREQ(content("d/up"), "F", "relative target resolves from the link's dir");
	OK(symlink("sld/in", "chain"), "symlink to a path through a symlink");
	STREQ(content("chain"), "IN", "chained symlinks");
	OK(symlink("self", "self"), "symlink to itself");
	ERR(stat("self", &s), ELOOP, "stat a self-loop");

	/* Targets of any bytes, up to 4095 of them. */
	OK(symlink("a b\tc\x01\xff", "odd"), "symlink with odd bytes in the target");
	EQ(readlink("odd", buf, sizeof(buf)), 7, "readlink odd target length");
	TRUE(memcmp(buf, "a b\tc\x01\xff", 7) == 0, "odd target bytes");
	memset(t, 'x', 4095);
	for (int i = 100; i < 4095; i += 100)
		t[i] = '/';
	t[4095] = 0;
	OK(symlink(t, "long"), "symlink with a 4095-byte target");
	OK(lstat("long", &s), "lstat long symlink");
	EQ(s.st_size, 4095, "long symlink size");
	EQ(readlink("long", buf, sizeof(buf)), 4095, "readlink 4095-byte target");
	TRUE(memcmp(buf, t, 4095) == 0, "4095-byte target text intact");
	t[4095] = 'y', t[4096] = 0;
	ERR(symlink(t, "toolong"), ENAMETOOLONG, "symlink with a 4096-byte target");
	EQ(exists("toolong"), 0, "failed symlink left nothing");

	/* unlink removes the link, not the target. */
	OK(unlink("slf"), "unlink symlink");
	EQ(exists("f"), 1, "target survives unlink of its link");
	EQ(dtype_of(".", "sl"), DT_LNK, "d_type of symlink");
}

static void g_truncate(void)
{
	int fd;
	char buf[65536];

	OK(mkfile("f", 0644, "0123456789"), "setup");
	OK(truncate("f", 4), "truncate shrink");
	EQ(f_size("f"), 4, "size after shrink");
	STREQ(content("f"), "0123", "data after shrink");
	OK(truncate("f", 100), "truncate extend");
	EQ(f_size("f"), 100, "size after extend");
	OK(fd = open("f", O_RDWR), "open");
	EQ(pread(fd, buf, sizeof(buf), 0), 100, "read extended file");
	TRUE(memcmp(buf, "0123", 4) == 0, "data kept before the old end");
	TRUE(all_zero(buf + 4, 96), "extension reads as zeros");

	/* Shrink then grow: the old bytes must not come back. */
	EQ(pwrite(fd, "ABCDEFGHIJ", 10, 0), 10, "overwrite start");
	OK(ftruncate(fd, 3), "ftruncate shrink");
	OK(ftruncate(fd, 10), "ftruncate grow again");
	EQ(pread(fd, buf, sizeof(buf), 0), 10, "read after shrink+grow");
	TRUE(memcmp(buf, "ABC", 3) == 0 && all_zero(buf + 3, 7), "shrink then grow reads zeros, not old data");

	/* The same across block boundaries. */
	memset(buf, 'Q', sizeof(buf));
	EQ(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf), "write 64 KiB");
	OK(ftruncate(fd, 5000), "shrink into the second 4 KiB block");
	OK(ftruncate(fd, 65536), "grow back to 64 KiB");
	EQ(pread(fd, buf, sizeof(buf), 0), 65536, "read 64 KiB");
	int okq = 1;
	for (int i = 0; i < 5000; i++)
		okq &= buf[i] == 'Q';
	TRUE(okq, "data before the cut intact");
	TRUE(all_zero(buf + 5000, 65536 - 5000), "64 KiB shrink+grow reads zeros past the cut");
	OK(ftruncate(fd, 0), "ftruncate to 0");
	EQ(pread(fd, buf, 10, 0), 0, "empty file reads nothing");
	OK(ftruncate(fd, 1 << 20), "ftruncate to 1 MiB");
	EQ(pread(fd, buf, sizeof(buf), (1 << 20) - 65536), 65536, "read tail of 1 MiB sparse file");
	TRUE(all_zero(buf, sizeof(buf)), "1 MiB truncated-up file reads zeros");
	EQ(lseek(fd, 0, SEEK_CUR), 0, "ftruncate does not move the offset");
	close(fd);

	OK(fd = open("f", O_WRONLY | O_APPEND), "open append");
	OK(ftruncate(fd, 2), "ftruncate on an O_APPEND fd");
	EQ(write(fd, "zz", 2), 2, "append after truncate");
	close(fd);
	EQ(f_size("f"), 4, "append lands at the truncated end");

	OK(fd = open("f", O_RDONLY), "open read-only");
	ERR2(ftruncate(fd, 0), EINVAL, EBADF, "ftruncate on a read-only fd");
	close(fd);
	ERR(truncate("f", -1), EINVAL, "truncate to a negative length");
	ERR(truncate("missing", 0), ENOENT, "truncate missing");
	OK(mkdir("d", 0755), "setup");
	ERR(truncate("d", 0), EISDIR, "truncate a dir");
	OK(symlink("f", "sl"), "setup");
	OK(truncate("sl", 1), "truncate through a symlink");
	EQ(f_size("f"), 1, "truncate follows the symlink");
	EQ(f_size("sl"), 1, "link size unchanged (target length 1)");
	OK(mkfifo("p", 0644), "setup");
	ERR(truncate("p", 0), EINVAL, "truncate a fifo");
	EQ(f_size("f"), 1, "size is what was set");
	OK(truncate("f", 1), "truncate to the same size");
	EQ(f_size("f"), 1, "same-size truncate keeps size");
}

static void g_unlink(void)
{
	int fd;
	struct stat s;
	char buf[64];

	OK(mkfile("f", 0644, "F"), "setup");
	OK(unlink("f"), "unlink");
	EQ(exists("f"), 0, "unlinked name is gone");
	ERR(unlink("f"), ENOENT, "unlink twice");
	ERR(unlink("missing/x"), ENOENT, "unlink in a missing dir");
	OK(mkfile("g", 0644, "G"), "setup");
	ERR(unlink("g/x"), ENOTDIR, "unlink below a file");
	ERR(unlink("g/"), ENOTDIR, "unlink file/");
	OK(mkdir("d", 0755), "setup");
	ERR(unlink("d"), EISDIR, "unlink a dir (Linux says EISDIR)");
	EQ(f_type("d"), S_IFDIR, "dir survives unlink attempt");
	ERR(unlink("."), EISDIR, "unlink .");

	/* Unlinked but open: stays readable and writable until closed. */
	OK(mkfile("open", 0644, "still here"), "setup");
	OK(fd = open("open", O_RDWR), "open before unlink");
	OK(unlink("open"), "unlink an open file");
	EQ(exists("open"), 0, "name gone while open");
	EQ(count_name(".", "open"), 0, "readdir no longer lists it");
	OK(fstat(fd, &s), "fstat unlinked open file");
	EQ(s.st_nlink, 0, "unlinked open file nlink 0");
	STREQ(fd_content(fd), "still here", "unlinked open file readable");
	EQ(pwrite(fd, "STILL", 5, 0), 5, "unlinked open file writable");
	EQ(pwrite(fd, "!!", 2, 100000), 2, "unlinked open file can grow");
	OK(fstat(fd, &s), "fstat after growing");
	EQ(s.st_size, 100002, "size of unlinked open file after growth");
	EQ(pread(fd, buf, 10, 0), 10, "read back");
	TRUE(memcmp(buf, "STILL here", 10) == 0, "unlinked open file data");
	OK(ftruncate(fd, 3), "ftruncate unlinked open file");
	OK(fchmod(fd, 0600), "fchmod unlinked open file");
	OK(fsync(fd), "fsync unlinked open file");
	OK(mkfile("open", 0644, "new"), "a new file can take the name");
	STREQ(content("open"), "new", "new file under the old name");
	STREQ(fd_content(fd), "STI", "old open file still separate");
	close(fd);

	/* Two fds, unlink, close one: the other still works. */
	int fd2;
	OK(mkfile("two", 0644, "2"), "setup");
	OK(fd = open("two", O_RDONLY), "open 1");
	OK(fd2 = open("two", O_RDWR), "open 2");
	OK(unlink("two"), "unlink with two fds");
	close(fd);
	EQ(pwrite(fd2, "22", 2, 0), 2, "second fd works after first closes");
	close(fd2);

	/* nlink bookkeeping. */
	OK(mkfile("h", 0644, "H"), "setup");
	OK(link("h", "h2"), "setup");
	OK(link("h", "h3"), "setup");
	OK(unlink("h"), "unlink one of three links");
	EQ(f_nlink("h2"), 2, "nlink after unlinking one of three");
	OK(unlink("h3"), "unlink second");
	EQ(f_nlink("h2"), 1, "nlink of the last link");
	STREQ(content("h2"), "H", "data through last link");

	OK(symlink("h2", "sl"), "setup");
	OK(unlink("sl"), "unlink a symlink");
	EQ(exists("h2"), 1, "unlink of a link keeps the target");
	OK(symlink("nowhere", "dangle"), "setup");
	OK(unlink("dangle"), "unlink a dangling symlink");
	OK(mkfifo("p", 0644), "setup");
	OK(unlink("p"), "unlink a fifo");
	OK(mknod("c", S_IFCHR | 0600, makedev(1, 3)), "setup");
	OK(unlink("c"), "unlink a char device node");
	OK(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR), "unlinkat AT_REMOVEDIR");
	ERR(unlinkat(AT_FDCWD, "h2", AT_REMOVEDIR), ENOTDIR, "unlinkat AT_REMOVEDIR on a file");
}

static void g_utimensat(void)
{
	struct stat s, b;
	struct timespec ts[2], lo, hi;
	int fd;

	OK(mkfile("f", 0644, "x"), "setup");
	ts[0] = (struct timespec){1000000000, 123456789};
	ts[1] = (struct timespec){1200000000, 987654321};
	OK(utimensat(AT_FDCWD, "f", ts, 0), "utimensat explicit times");
	OK(lstat("f", &s), "stat");
	TS_EQ(s.st_atim, ts[0], "atime with nanoseconds");
	TS_EQ(s.st_mtim, ts[1], "mtime with nanoseconds");

	b = s;
	ts[0] = (struct timespec){0, UTIME_OMIT};
	ts[1] = (struct timespec){1300000000, 5};
	OK(utimensat(AT_FDCWD, "f", ts, 0), "UTIME_OMIT atime");
	s = snap("f");
	TS_EQ(s.st_atim, b.st_atim, "UTIME_OMIT leaves atime");
	TS_EQ(s.st_mtim, ts[1], "mtime set next to UTIME_OMIT");

	ts[0] = (struct timespec){1400000000, 7};
	ts[1] = (struct timespec){0, UTIME_OMIT};
	OK(utimensat(AT_FDCWD, "f", ts, 0), "UTIME_OMIT mtime");
	s = snap("f");
	TS_EQ(s.st_atim, ts[0], "atime set next to UTIME_OMIT");
	EQ(s.st_mtim.tv_sec, 1300000000, "UTIME_OMIT leaves mtime");

	b = snap("f");
	ts[0] = ts[1] = (struct timespec){0, UTIME_OMIT};
	tick();
	OK(utimensat(AT_FDCWD, "f", ts, 0), "both UTIME_OMIT");
	s = snap("f");
	TS_EQ(s.st_atim, b.st_atim, "both UTIME_OMIT: atime");
	TS_EQ(s.st_mtim, b.st_mtim, "both UTIME_OMIT: mtime");

	ts[0] = (struct timespec){0, UTIME_NOW};
	ts[1] = (struct timespec){0, UTIME_OMIT};
	lo = now_rt();
	OK(utimensat(AT_FDCWD, "f", ts, 0), "UTIME_NOW atime");
	hi = now_rt();
	s = snap("f");
	TRUE(ts_between(s.st_atim, lo, hi), "UTIME_NOW sets atime to now (%lld.%09ld)",
	     (long long)s.st_atim.tv_sec, s.st_atim.tv_nsec);
	EQ(s.st_mtim.tv_sec, 1300000000, "UTIME_OMIT mtime next to UTIME_NOW");
	TRUE(ts_between(s.st_ctim, lo, hi), "utimensat sets ctime to now");

	OK(utimensat(AT_FDCWD, "f", (struct timespec[]){{1, 0}, {2, 0}}, 0), "set old times");
	lo = now_rt();
	OK(utimensat(AT_FDCWD, "f", NULL, 0), "utimensat NULL");
	hi = now_rt();
	s = snap("f");
	TRUE(ts_between(s.st_atim, lo, hi), "NULL times: atime now");
	TRUE(ts_between(s.st_mtim, lo, hi), "NULL times: mtime now");

	OK(fd = open("f", O_RDONLY), "open");
	ts[0] = (struct timespec){1500000000, 1};
	ts[1] = (struct timespec){1500000000, 999999999};
	OK(futimens(fd, ts), "futimens");
	s = snap("f");
	TS_EQ(s.st_atim, ts[0], "futimens atime");
	TS_EQ(s.st_mtim, ts[1], "futimens mtime (999999999 ns)");
	close(fd);

	/* Times beyond 2038 and before 1970. */
	ts[0] = (struct timespec){4102444800LL, 0}; /* 2100-01-01 */
	ts[1] = (struct timespec){-315619200LL, 500}; /* 1960-01-01 */
	OK(utimensat(AT_FDCWD, "f", ts, 0), "times after 2038 and before 1970");
	s = snap("f");
	EQ(s.st_atim.tv_sec, 4102444800LL, "atime in 2100");
	EQ(s.st_mtim.tv_sec, -315619200LL, "mtime in 1960");
	EQ(s.st_mtim.tv_nsec, 500, "nanoseconds of a pre-1970 time");

	ERR(utimensat(AT_FDCWD, "f", ((struct timespec[]){{1, 1000000000}, {1, 0}}), 0), EINVAL,
	    "tv_nsec of 1e9");
	ERR(utimensat(AT_FDCWD, "f", ((struct timespec[]){{1, 0}, {1, -5}}), 0), EINVAL, "negative tv_nsec");
	ERR(utimensat(AT_FDCWD, "missing", NULL, 0), ENOENT, "utimensat missing");

	/* Symlinks: AT_SYMLINK_NOFOLLOW sets the link's own times. */
	OK(mkfile("t", 0644, "t"), "setup");
	OK(symlink("t", "sl"), "setup");
	b = snap("t");
	ts[0] = (struct timespec){1111111111, 111};
	ts[1] = (struct timespec){1222222222, 222};
	OK(utimensat(AT_FDCWD, "sl", ts, AT_SYMLINK_NOFOLLOW), "utimensat AT_SYMLINK_NOFOLLOW");
	s = snap("sl");
	TS_EQ(s.st_mtim, ts[1], "link's own mtime set");
	s = snap("t");
	TS_EQ(s.st_mtim, b.st_mtim, "target untouched by NOFOLLOW");
	OK(utimensat(AT_FDCWD, "sl", ts, 0), "utimensat through a symlink");
	s = snap("t");
	TS_EQ(s.st_mtim, ts[1], "target mtime set through the link");

	OK(mkdir("d", 0755), "setup");
	OK(utimensat(AT_FDCWD, "d", ts, 0), "utimensat on a dir");
	s = snap("d");
	TS_EQ(s.st_atim, ts[0], "dir atime");
	TS_EQ(s.st_mtim, ts[1], "dir mtime");
}

static void g_xattr(void)
{
	char buf[70000], list[4096];
	static char big[65537];
	ssize_t n;
	int fd;

	OK(mkfile("f", 0644, "x"), "setup");
	ERR(getxattr("f", "user.a", buf, sizeof(buf)), ENODATA, "getxattr of a missing attribute");
	OK(setxattr("f", "user.a", "alpha", 5, XATTR_CREATE), "setxattr XATTR_CREATE");
	EQ(getxattr("f", "user.a", buf, sizeof(buf)), 5, "getxattr length");
	TRUE(memcmp(buf, "alpha", 5) == 0, "getxattr value");
	EQ(getxattr("f", "user.a", NULL, 0), 5, "getxattr size query");
	ERR(getxattr("f", "user.a", buf, 3), ERANGE, "getxattr with a short buffer");
	ERR(setxattr("f", "user.a", "beta", 4, XATTR_CREATE), EEXIST, "XATTR_CREATE on an existing attribute");
	EQ(getxattr("f", "user.a", buf, sizeof(buf)), 5, "failed CREATE keeps the value");
	ERR(setxattr("f", "user.b", "beta", 4, XATTR_REPLACE), ENODATA, "XATTR_REPLACE on a missing attribute");
	ERR(getxattr("f", "user.b", buf, sizeof(buf)), ENODATA, "failed REPLACE created nothing");
	OK(setxattr("f", "user.a", "gamma!", 6, XATTR_REPLACE), "XATTR_REPLACE");
	EQ(getxattr("f", "user.a", buf, sizeof(buf)), 6, "replaced length");
	TRUE(memcmp(buf, "gamma!", 6) == 0, "replaced value");
	OK(setxattr("f", "user.a", "d", 1, 0), "setxattr flags 0 on existing");
	EQ(getxattr("f", "user.a", buf, sizeof(buf)), 1, "flags-0 replace shrinks value");
	OK(setxattr("f", "user.b", "", 0, 0), "empty value");
	EQ(getxattr("f", "user.b", buf, sizeof(buf)), 0, "empty value length");
	OK(setxattr("f", "user.bin", "\0\1\2\0\377", 5, 0), "binary value with NULs");
	EQ(getxattr("f", "user.bin", buf, sizeof(buf)), 5, "binary value length");
	TRUE(memcmp(buf, "\0\1\2\0\377", 5) == 0, "binary value bytes");

	/* listxattr: NUL-separated names; size query; ERANGE when short. */
	n = listxattr("f", list, sizeof(list));
	EQ(n, (ssize_t)(sizeof("user.a") + sizeof("user.b") + sizeof("user.bin")), "listxattr total length");
	int seen_a = 0, seen_b = 0, seen_bin = 0;
	for (ssize_t i = 0; n > 0 && i < n; i += strlen(list + i) + 1) {
		seen_a += strcmp(list + i, "user.a") == 0;
		seen_b += strcmp(list + i, "user.b") == 0;
		seen_bin += strcmp(list + i, "user.bin") == 0;
	}
	TRUE(seen_a == 1 && seen_b == 1 && seen_bin == 1, "listxattr names each attribute once (%d %d %d)",
	     seen_a, seen_b, seen_bin);
	EQ(listxattr("f", NULL, 0), n, "listxattr size query");
	ERR(listxattr("f", list, 5), ERANGE, "listxattr with a short buffer");

	OK(removexattr("f", "user.b"), "removexattr");
	ERR(getxattr("f", "user.b", buf, sizeof(buf)), ENODATA, "removed attribute is gone");
	ERR(removexattr("f", "user.b"), ENODATA, "removexattr twice");
	ERR(removexattr("f", "user.never"), ENODATA, "removexattr of a missing attribute");
	EQ(listxattr("f", list, sizeof(list)), (ssize_t)(sizeof("user.a") + sizeof("user.bin")),
	   "listxattr after remove");

	/* Names: up to 255 bytes including the namespace prefix. */
	char name[300];
	strcpy(name, "user.");
	memset(name + 5, 'n', 250), name[255] = 0;
	OK(setxattr("f", name, "v", 1, 0), "255-byte attribute name");
	EQ(getxattr("f", name, buf, sizeof(buf)), 1, "get 255-byte attribute name");
	name[255] = 'n', name[256] = 0;
	ERR(setxattr("f", name, "v", 1, 0), ERANGE, "256-byte attribute name");
	ERR(setxattr("f", "user.", "v", 1, 0), EINVAL, "empty name after the prefix");
	ERR(setxattr("f", "nonamespace", "v", 1, 0), EOPNOTSUPP, "attribute name without a namespace");
	ERR(setxattr("f", "bogus.x", "v", 1, 0), EOPNOTSUPP, "unknown namespace");

	/* Values: a few KiB always; 64 KiB may be refused with ENOSPC/E2BIG
	 * (ext4 without ea_inode) but must then round-trip if accepted; over
	 * 64 KiB the kernel refuses with E2BIG. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 31 + 7);
	OK(mkfile("fx", 0644, ""), "setup a file without attributes");
	OK(setxattr("fx", "user.3k", big, 3000, 0), "3000-byte value");
	EQ(getxattr("fx", "user.3k", buf, sizeof(buf)), 3000, "3000-byte value length");
	TRUE(memcmp(buf, big, 3000) == 0, "3000-byte value bytes");
	OK(removexattr("fx", "user.3k"), "remove the 3000-byte value");
	errno = 0;
	if (setxattr("fx", "user.64k", big, 65536, 0) == 0) {
		EQ(getxattr("fx", "user.64k", buf, sizeof(buf)), 65536, "64 KiB value length");
		TRUE(memcmp(buf, big, 65536) == 0, "64 KiB value bytes");
		OK(removexattr("fx", "user.64k"), "remove 64 KiB value");
	} else {
		TRUE(errno == ENOSPC || errno == E2BIG, "64 KiB value refused with ENOSPC or E2BIG, got %s",
		     ename(errno));
	}
	ERR(setxattr("fx", "user.toobig", big, 65537, 0), E2BIG, "value over 64 KiB");

	/* f* and l* variants; symlinks and fifos take no user.* attributes. */
	OK(fd = open("f", O_RDONLY), "open");
	OK(fsetxattr(fd, "user.fd", "via-fd", 6, 0), "fsetxattr");
	EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 6, "fgetxattr");
	TRUE(flistxattr(fd, list, sizeof(list)) > 0, "flistxattr");
	OK(fremovexattr(fd, "user.fd"), "fremovexattr");
	close(fd);
	OK(symlink("f", "sl"), "setup");
	EQ(getxattr("sl", "user.a", buf, sizeof(buf)), 1, "getxattr follows symlinks");
	ERR(lsetxattr("sl", "user.x", "v", 1, 0), EPERM, "user.* attribute on a symlink itself");
	ERR(lgetxattr("sl", "user.a", buf, sizeof(buf)), ENODATA, "lgetxattr on a symlink");
	OK(mkfifo("p", 0644), "setup");
	ERR(setxattr("p", "user.x", "v", 1, 0), EPERM, "user.* attribute on a fifo");
	OK(mkdir("d", 0755), "setup");
	OK(setxattr("d", "user.dir", "D", 1, 0), "user.* attribute on a dir");
	EQ(getxattr("d", "user.dir", buf, sizeof(buf)), 1, "dir attribute");
	ERR(getxattr("missing", "user.a", buf, sizeof(buf)), ENOENT, "getxattr on a missing file");

	/* trusted.* works for root. */
	OK(setxattr("f", "trusted.t", "T", 1, 0), "trusted.* by root");
	EQ(getxattr("f", "trusted.t", buf, sizeof(buf)), 1, "get trusted.* by root");

	/* Many attributes. */
	int okall = 1;
	for (int i = 0; i < 100; i++) {
		char nm[32], v[32];
		snprintf(nm, sizeof(nm), "user.m%03d", i);
		snprintf(v, sizeof(v), "value-%d", i);
		okall &= setxattr("d", nm, v, strlen(v), XATTR_CREATE) == 0;
	}
	TRUE(okall, "100 attributes on one dir");
	n = listxattr("d", list, sizeof(list));
	int cnt = 0;
	for (ssize_t i = 0; n > 0 && i < n; i += strlen(list + i) + 1)
		cnt += strncmp(list + i, "user.m", 6) == 0;
	EQ(cnt, 100, "listxattr shows all 100");
	EQ(getxattr("d", "user.m042", buf, sizeof(buf)), 8, "attribute 42 length");
	TRUE(memcmp(buf, "value-42", 8) == 0, "attribute 42 value");

	/* Attributes go with the inode: link and rename keep them. */
	OK(link("f", "f-link"), "setup");
	EQ(getxattr("f-link", "user.a", buf, sizeof(buf)), 1, "attribute visible via a hard link");
	OK(rename("f", "f-moved"), "setup");
	EQ(getxattr("f-moved", "user.a", buf, sizeof(buf)), 1, "attribute survives rename");
	OK(unlink("f-moved"), "setup");
	OK(unlink("f-link"), "unlink last link");
	OK(mkfile("f", 0644, "x"), "recreate f");
	ERR(getxattr("f", "user.a", buf, sizeof(buf)), ENODATA, "a new inode has no stale attributes");
}

/* ctime/mtime/atime rules on the object itself and on parents. */
static void g_times(void)
{
	struct stat b, bp, bp2;
	int fd;

	OK(mkdir("p", 0777), "setup");
	OK(mkdir("q", 0777), "setup");
	bp = snap("p");
	tick();
	OK(fd = open("p/f", O_CREAT | O_EXCL | O_WRONLY, 0644), "create");
	if (fd >= 0)
		close(fd);
	struct stat s = snap("p/f");
	TS_EQ(s.st_mtim, s.st_ctim, "new file: mtime == ctime");
	TS_EQ(s.st_atim, s.st_ctim, "new file: atime == ctime");
	TS_GT(s.st_ctim, bp.st_ctim, "new file's ctime is after the earlier parent stamp");
	TIMES("create", "p", bp, 1, 1);

	b = snap("p/f");
	tick();
	OK(fd = open("p/f", O_WRONLY), "open");
	EQ(write(fd, "data", 4), 4, "write");
	close(fd);
	TIMES("write", "p/f", b, 1, 1);
	TS_EQ(snap("p/f").st_atim, b.st_atim, "write leaves atime");

	b = snap("p/f"), bp = snap("p");
	tick();
	OK(fd = open("p/f", O_RDONLY), "open existing");
	close(fd);
	TIMES("open without O_CREAT/O_TRUNC", "p/f", b, 0, 0);
	TIMES("open existing file", "p", bp, 0, 0);

	b = snap("p/f");
	tick();
	OK(chmod("p/f", 0600), "chmod");
	TIMES("chmod", "p/f", b, 0, 1);
	b = snap("p/f");
	tick();
	OK(chown("p/f", 1000, 1000), "chown");
	TIMES("chown", "p/f", b, 0, 1);
	b = snap("p/f");
	tick();
	OK(truncate("p/f", 2), "truncate");
	TIMES("truncate", "p/f", b, 1, 1);
	b = snap("p/f");
	tick();
	OK(fd = open("p/f", O_RDWR), "open");
	OK(ftruncate(fd, 100), "ftruncate");
	close(fd);
	TIMES("ftruncate extend", "p/f", b, 1, 1);
	b = snap("p/f");
	tick();
	OK(fd = open("p/f", O_WRONLY | O_TRUNC), "open O_TRUNC");
	close(fd);
	TIMES("open O_TRUNC", "p/f", b, 1, 1);
	b = snap("p/f");
	tick();
	OK(setxattr("p/f", "user.t", "1", 1, 0), "setxattr");
	TIMES("setxattr", "p/f", b, 0, 1);
	b = snap("p/f");
	tick();
	OK(removexattr("p/f", "user.t"), "removexattr");
	TIMES("removexattr", "p/f", b, 0, 1);
	b = snap("p/f");
	tick();
	OK(utimensat(AT_FDCWD, "p/f", ((struct timespec[]){{5, 0}, {6, 0}}), 0), "utimensat");
	TIMES("utimensat", "p/f", b, -1, 1);

	/* link: the inode's ctime and the new parent's mtime+ctime. */
	b = snap("p/f"), bp = snap("q");
	tick();
	OK(link("p/f", "q/f2"), "link");
	TIMES("link", "p/f", b, 0, 1);
	TIMES("link", "q", bp, 1, 1);
	b = snap("p/f"), bp = snap("q");
	tick();
	OK(unlink("q/f2"), "unlink one of two links");
	TIMES("unlink with links left", "p/f", b, 0, 1);
	TIMES("unlink", "q", bp, 1, 1);

	bp = snap("p");
	tick();
	OK(mkdir("p/d", 0755), "mkdir");
	TIMES("mkdir", "p", bp, 1, 1);
	bp = snap("p");
	tick();
	OK(rmdir("p/d"), "rmdir");
	TIMES("rmdir", "p", bp, 1, 1);
	bp = snap("p");
	tick();
	OK(mknod("p/n", S_IFIFO | 0644, 0), "mknod");
	TIMES("mknod", "p", bp, 1, 1);
	bp = snap("p");
	tick();
	OK(symlink("x", "p/sl"), "symlink");
	TIMES("symlink", "p", bp, 1, 1);
	bp = snap("p");
	tick();
	OK(rename("p/sl", "p/sl2"), "rename within a dir");
	TIMES("rename within a dir", "p", bp, 1, 1);
	bp = snap("p"), bp2 = snap("q");
	tick();
	OK(rename("p/sl2", "q/sl3"), "rename across dirs");
	TIMES("rename, source dir", "p", bp, 1, 1);
	TIMES("rename, target dir", "q", bp2, 1, 1);
	OK(mkdir("p/md", 0755), "setup");
	bp = snap("p"), bp2 = snap("q");
	tick();
	OK(rename("p/md", "q/md"), "rename dir across dirs");
	TIMES("dir rename, source dir", "p", bp, 1, 1);
	TIMES("dir rename, target dir", "q", bp2, 1, 1);
	OK(mkfile("q/victim", 0644, "v"), "setup");
	OK(link("q/victim", "q/victim2"), "setup");
	OK(mkfile("p/repl", 0644, "r"), "setup");
	b = snap("q/victim2"), bp2 = snap("q");
	tick();
	OK(rename("p/repl", "q/victim"), "rename over a multiply-linked file");
	TIMES("rename over a file: replaced inode (lost a link)", "q/victim2", b, 0, 1);
	TIMES("rename over a file, target dir", "q", bp2, 1, 1);
	bp = snap("p");
	tick();
	OK(unlink("p/n"), "unlink");
	TIMES("unlink", "p", bp, 1, 1);

	/* Failed operations and reads change nothing. */
	bp = snap("p");
	tick();
	ERR(mkdir("p/f", 0755), EEXIST, "mkdir over a file");
	ERR(unlink("p/missing"), ENOENT, "unlink missing");
	TIMES("failed mkdir/unlink", "p", bp, 0, 0);
	b = snap("p/f");
	tick();
	struct stat dummy;
	OK(stat("p/f", &dummy), "stat");
	char c;
	OK(fd = open("p/f", O_RDONLY), "open");
	OK(read(fd, &c, 1), "read");
	close(fd);
	TIMES("stat and read", "p/f", b, 0, 0);
	b = snap("p");
	tick();
	OK(count_entries("p"), "readdir");
	TIMES("readdir", "p", b, 0, 0);

	/* Writes through a hard link update the one inode. */
	OK(link("p/f", "p/f-h"), "setup");
	b = snap("p/f");
	tick();
	OK(fd = open("p/f-h", O_WRONLY), "open via link");
	EQ(write(fd, "z", 1), 1, "write via link");
	close(fd);
	TIMES("write via another link", "p/f", b, 1, 1);

	/* Directory own times: ctime on chmod. */
	b = snap("q");
	tick();
	OK(chmod("q", 0755), "chmod dir");
	TIMES("chmod dir", "q", b, 0, 1);
}

/* atime: on read unless the mount says noatime (relatime allows the first). */
static void g_atime(void)
{
	int fd;
	char buf[16];
	struct stat b;

	if (noatime_mount) {
		if (!opt_quiet)
			printf("   (mount is noatime: atime checks skipped)\n");
		return;
	}
	OK(mkfile("f", 0644, "0123456789"), "setup");
	OK(utimensat(AT_FDCWD, "f", ((struct timespec[]){{1000, 0}, {2000, 0}}), 0),
	   "set atime before mtime");
	b = snap("f");
	tick();
	OK(fd = open("f", O_RDONLY), "open");
	EQ(read(fd, buf, sizeof(buf)), 10, "read");
	close(fd);
	TS_GT(snap("f").st_atim, b.st_atim, "read updates atime");
	TS_EQ(snap("f").st_mtim, b.st_mtim, "read leaves mtime");
	OK(mkdir("d", 0755), "setup");
	OK(utimensat(AT_FDCWD, "d", ((struct timespec[]){{1000, 0}, {2000, 0}}), 0), "set dir atime old");
	b = snap("d");
	tick();
	OK(count_entries("d"), "readdir");
	TS_GT(snap("d").st_atim, b.st_atim, "readdir updates the dir's atime");
}

static void g_nlink(void)
{
	OK(mkdir("top", 0755), "setup");
	EQ(f_nlink("top"), 2, "empty dir");
	for (int i = 0; i < 10; i++) {
		char p[32];
		snprintf(p, sizeof(p), "top/d%d", i);
		OK(mkdir(p, 0755), "mkdir %s", p);
	}
	EQ(f_nlink("top"), 12, "dir with 10 subdirs");
	for (int i = 0; i < 5; i++) {
		char p[32];
		snprintf(p, sizeof(p), "top/f%d", i);
		OK(mkfile(p, 0644, ""), "create %s", p);
	}
	OK(mkfifo("top/fifo", 0644), "setup");
	OK(symlink("d0", "top/sl"), "setup");
	EQ(f_nlink("top"), 12, "files, fifos and symlinks don't count");
	OK(rmdir("top/d9"), "rmdir");
	EQ(f_nlink("top"), 11, "after rmdir");
	OK(mkdir("other", 0755), "setup");
	OK(rename("top/d8", "other/d8"), "move a subdir out");
	EQ(f_nlink("top"), 10, "after moving a subdir out");
	EQ(f_nlink("other"), 3, "after moving a subdir in");
	OK(rename("top/d7", "top/d7b"), "rename a subdir in place");
	EQ(f_nlink("top"), 10, "rename in place keeps nlink");
	OK(rename("top/d6", "top/d5"), "rename a subdir onto an empty sibling");
	EQ(f_nlink("top"), 9, "replacing a sibling dir drops one link");
	OK(rename("other/d8", "top/d0"), "move a subdir onto an empty dir in another parent");
	EQ(f_nlink("top"), 9, "top nlink after replace from elsewhere");
	EQ(f_nlink("other"), 2, "other nlink after giving its subdir away");
	OK(rename("top/f0", "top/d1/f0"), "move a file into a subdir");
	EQ(f_nlink("top"), 9, "moving files keeps dir nlink");
	EQ(f_nlink("top/d1"), 2, "subdir nlink with a file");
	OK(mkfile("x", 0644, ""), "setup");
	EQ(f_nlink("x"), 1, "file nlink");
	OK(link("x", "top/x"), "link");
	EQ(f_nlink("x"), 2, "file nlink after link");
	EQ(f_nlink("top"), 9, "a hard link to a file doesn't change dir nlink");
}

static void g_hardlinks(void)
{
	char p[64];
	int okall = 1;

	OK(mkfile("base", 0644, "shared"), "setup");
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "l%03d", i);
		okall &= link("base", p) == 0;
	}
	TRUE(okall, "100 hard links");
	EQ(f_nlink("base"), 101, "nlink with 100 extra links");
	EQ(f_ino("l099"), f_ino("base"), "all links share one inode");
	OK(chmod("l050", 0600), "chmod via one link");
	EQ(f_mode("l000"), 0600, "mode seen via another link");
	OK(setxattr("l010", "user.k", "v", 1, 0), "xattr via one link");
	EQ(getxattr("l020", "user.k", p, sizeof(p)), 1, "xattr seen via another");
	okall = 1;
	for (int i = 0; i < 100; i += 2) {
		snprintf(p, sizeof(p), "l%03d", i);
		okall &= unlink(p) == 0;
	}
	TRUE(okall, "unlink 50 links");
	EQ(f_nlink("base"), 51, "nlink after unlinking 50");
	OK(unlink("base"), "unlink the first name");
	STREQ(content("l099"), "shared", "data via a remaining link");
	EQ(f_nlink("l001"), 50, "nlink after unlinking the first name");
	OK(mkdir("sub", 0755), "setup");
	OK(rename("l001", "sub/moved"), "rename one link elsewhere");
	EQ(f_nlink("sub/moved"), 50, "rename keeps nlink");
	EQ(f_ino("sub/moved"), f_ino("l003"), "moved link same inode");
}

static void g_sparse(void)
{
	int fd;
	static char buf[1 << 16];
	struct stat s;

	OK(fd = open("sp", O_CREAT | O_RDWR, 0644), "create");
	EQ(pwrite(fd, "A", 1, 0), 1, "write at 0");
	EQ(pwrite(fd, "B", 1, (1 << 20) + 7), 1, "write at 1 MiB + 7");
	EQ(pwrite(fd, "C", 1, 5 << 20), 1, "write at 5 MiB");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, (5 << 20) + 1, "sparse size");
	int okz = 1, okd = 1;
	for (off_t off = 0; off < (5 << 20) + 1; off += sizeof(buf)) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n <= 0) {
			okz = 0;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			off_t at = off + i;
			char want = at == 0 ? 'A' : at == (1 << 20) + 7 ? 'B' : at == (5 << 20) ? 'C' : 0;
			if (buf[i] != want)
				(want ? (okd = 0) : (okz = 0));
		}
	}
	TRUE(okz, "holes read as zeros");
	TRUE(okd, "data around the holes intact");
	EQ(pread(fd, buf, 4096, 3 << 20), 4096, "a read entirely inside a hole is full length");
	TRUE(all_zero(buf, 4096), "read inside a hole is zeros");
	/* A small write into the middle of a hole block. */
	EQ(pwrite(fd, "xyz", 3, (2 << 20) + 4097), 3, "write into a hole");
	EQ(pread(fd, buf, 8192, 2 << 20), 8192, "read the block around it");
	TRUE(all_zero(buf, 4097) && memcmp(buf + 4097, "xyz", 3) == 0 && all_zero(buf + 4100, 8192 - 4100),
	     "partial write into a hole keeps zeros around it");
	close(fd);
	OK(fd = open("sp", O_RDONLY), "reopen");
	EQ(pread(fd, buf, 16, (1 << 20)), 16, "read after reopen");
	TRUE(all_zero(buf, 7) && buf[7] == 'B' && all_zero(buf + 8, 8), "sparse data after reopen");
	close(fd);

	/* st_blocks counts data (in 512-byte units). */
	memset(buf, 'D', sizeof(buf));
	OK(fd = open("dense", O_CREAT | O_RDWR, 0644), "create dense");
	EQ(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf), "write 64 KiB");
	OK(fsync(fd), "fsync");
	close(fd);
	/* After close, not via fstat of the open fd: with FUSE writeback
	 * caching the kernel keeps the create-time st_blocks until the
	 * attributes time out. */
	s = snap("dense");
	TRUE(s.st_blocks > 0, "st_blocks > 0 via stat (got %lld)", (long long)s.st_blocks);
	EQ(snap("sp").st_blocks > 0, 1, "st_blocks > 0 for a sparse file with data");
	OK(mkfile("empty", 0644, ""), "setup");
	EQ(snap("empty").st_blocks, 0, "st_blocks of an empty file");
}

static void g_largefile(void)
{
	int fd;
	char buf[8192];
	struct stat s;
	const off_t tb = 1LL << 40, g4 = 1LL << 32;

	OK(fd = open("big", O_CREAT | O_RDWR, 0644), "create");
	EQ(pwrite(fd, "ABCDEFGH", 8, g4 - 4), 8, "write across the 4 GiB boundary");
	EQ(pread(fd, buf, 8, g4 - 4), 8, "read across 4 GiB");
	TRUE(memcmp(buf, "ABCDEFGH", 8) == 0, "data across 4 GiB");
	EQ(pwrite(fd, "2G", 2, (1LL << 31) - 1), 2, "write across 2 GiB");
	EQ(pread(fd, buf, 2, (1LL << 31) - 1), 2, "read across 2 GiB");
	TRUE(memcmp(buf, "2G", 2) == 0, "data across 2 GiB");
	EQ(pwrite(fd, "END", 3, tb), 3, "write at 1 TiB");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, tb + 3, "size after writing at 1 TiB");
	EQ(pread(fd, buf, 3, tb), 3, "read at 1 TiB");
	TRUE(memcmp(buf, "END", 3) == 0, "data at 1 TiB");
	EQ(pread(fd, buf, 8192, tb - 8192), 8192, "read just below 1 TiB");
	TRUE(all_zero(buf, 8192), "hole below 1 TiB reads zeros");
	EQ(pread(fd, buf, 10, tb + 3), 0, "read at EOF past 1 TiB");
	EQ(lseek(fd, 0, SEEK_END), tb + 3, "SEEK_END past 1 TiB");
	OK(ftruncate(fd, tb), "truncate to exactly 1 TiB");
	EQ(pread(fd, buf, 3, tb), 0, "truncated tail is gone");
	OK(ftruncate(fd, tb + 4096), "grow past 1 TiB again");
	EQ(pread(fd, buf, 3, tb), 3, "read regrown tail");
	TRUE(all_zero(buf, 3), "regrown tail past 1 TiB reads zeros");
	EQ(pread(fd, buf, 8, g4 - 4), 8, "4 GiB data still there");
	TRUE(memcmp(buf, "ABCDEFGH", 8) == 0, "4 GiB data intact after truncates");
	OK(ftruncate(fd, 0), "truncate huge file to 0");
	EQ(pread(fd, buf, 8, g4 - 4), 0, "nothing left");
	OK(ftruncate(fd, 8LL << 40), "ftruncate to 8 TiB");
	EQ(f_size("big"), 8LL << 40, "size 8 TiB");
	close(fd);
	OK(truncate("big", 0), "truncate to 0");

	if (opt_max_size > 0) {
		OK(truncate("big", opt_max_size), "truncate to the maximum file size");
		ERR(truncate("big", opt_max_size + 1), EFBIG, "truncate past the maximum file size");
		OK(fd = open("big", O_WRONLY), "open");
		ERR(pwrite(fd, "x", 1, opt_max_size), EFBIG, "write at the maximum file size");
		close(fd);
	}
}

/* readdir sees every entry once, while entries come and go. */
static void g_readdir(void)
{
	enum { N = 1000 };
	static char seen[N], extra_seen[N];
	char p[64];
	int okall = 1;
	DIR *d;
	struct dirent *e;

	OK(mkdir("r", 0755), "setup");
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "r/a%04d", i);
		okall &= mknod(p, S_IFREG | 0644, 0) == 0;
	}
	TRUE(okall, "create %d entries", N);
	EQ(count_entries("r"), N, "readdir count");
	EQ(count_name("r", "."), 1, ". listed once");
	EQ(count_name("r", ".."), 1, ".. listed once");

	/* Remove 300 not-yet-seen and add 300 while reading. */
	OK((d = opendir("r")) ? 0 : -1, "opendir");
	int got = 0, dups = 0, strays = 0;
	static char removed[N];
	memset(seen, 0, sizeof(seen)), memset(removed, 0, sizeof(removed));
	memset(extra_seen, 0, sizeof(extra_seen));
	while (d && (e = readdir(d))) {
		int idx;
		if (e->d_name[0] == 'a' && sscanf(e->d_name, "a%d", &idx) == 1 && idx >= 0 && idx < N) {
			dups += seen[idx]++ > 0;
		} else if (e->d_name[0] == 'b' && sscanf(e->d_name, "b%d", &idx) == 1 && idx >= 0 && idx < N) {
			dups += extra_seen[idx]++ > 0;
		} else if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			strays++;
		}
		if (++got == 100) {
			int k = 0;
			for (int i = N - 1; i >= 0 && k < 300; i--)
				if (!seen[i]) {
					snprintf(p, sizeof(p), "a%04d", i);
					if (unlinkat(dirfd(d), p, 0) == 0)
						removed[i] = 1, k++;
				}
			EQ(k, 300, "removed 300 unseen entries mid-readdir");
			for (int i = 0; i < 300; i++) {
				snprintf(p, sizeof(p), "b%04d", i);
				okall &= mknodat(dirfd(d), p, S_IFREG | 0644, 0) == 0;
			}
			TRUE(okall, "added 300 entries mid-readdir");
		}
	}
	if (d)
		closedir(d);
	int missing = 0;
	for (int i = 0; i < N; i++)
		missing += !removed[i] && seen[i] != 1;
	EQ(missing, 0, "every untouched entry returned exactly once while others come and go");
	EQ(dups, 0, "no entry returned twice");
	EQ(strays, 0, "no unknown names");
	EQ(count_entries("r"), N - 300 + 300, "count after changes");

	/* rewinddir picks up new entries. */
	OK((d = opendir("r")) ? 0 : -1, "opendir");
	if (d) {
		long n1 = 0, n2 = 0;
		while ((e = readdir(d)))
			n1++;
		OK(mknodat(dirfd(d), "late", S_IFREG | 0644, 0), "create after reading to the end");
		rewinddir(d);
		while ((e = readdir(d)))
			n2++;
		EQ(n2, n1 + 1, "rewinddir sees the new entry");
		closedir(d);
	}
	EQ(dtype_of("r", "late"), DT_REG, "d_type of a regular file");
	OK(mkdir("r/sub", 0755), "setup");
	EQ(dtype_of("r", "sub"), DT_DIR, "d_type of a dir");

	/* d_ino matches st_ino. */
	OK((d = opendir("r")) ? 0 : -1, "opendir");
	int inobad = 0, checked = 0;
	while (d && (e = readdir(d))) {
		struct stat s;
		if (!strcmp(e->d_name, "..") || fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW))
			continue;
		checked++;
		inobad += s.st_ino != e->d_ino;
	}
	if (d)
		closedir(d);
	EQ(inobad, 0, "d_ino equals st_ino for all %d entries", checked);

	/* An empty dir lists exactly . and .. */
	OK(mkdir("empty", 0755), "setup");
	EQ(count_entries("empty"), 0, "empty dir");
	OK(mkfile("empty/one", 0644, ""), "setup");
	OK(unlink("empty/one"), "setup");
	EQ(count_entries("empty"), 0, "emptied dir");
}

/* rm -rf in one pass: readdir + unlink until the end, then rmdir. */
static void g_rmrf(void)
{
	long n = opt_entries, made = 0, removed = 0, errs = 0;
	char p[64];
	DIR *d;
	struct dirent *e;
	struct timespec t0 = now_rt();

	OK(mkdir("big", 0755), "setup");
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "big/entry-%06ld-with-a-longer-name", i);
		int r = i % 10 == 9 ? mkdir(p, 0755) : mknod(p, S_IFREG | 0644, 0);
		made += r == 0;
	}
	EQ(made, n, "created %ld entries (10%% dirs)", n);
	EQ(f_nlink("big"), 2 + n / 10, "nlink of a dir with %ld subdirs", n / 10);
	OK((d = opendir("big")) ? 0 : -1, "opendir");
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		int r = unlinkat(dirfd(d), e->d_name, e->d_type == DT_DIR ? AT_REMOVEDIR : 0);
		if (r == 0)
			removed++;
		else
			errs++;
	}
	if (d)
		closedir(d);
	EQ(removed, n, "one readdir pass removed every entry");
	EQ(errs, 0, "no unlink errors during the pass");
	EQ(count_entries("big"), 0, "dir empty after one pass");
	OK(rmdir("big"), "rmdir after one pass (no ENOTEMPTY)");
	struct timespec t1 = now_rt();
	if (!opt_quiet)
		printf("   %ld entries created and removed in %.1f s\n", n,
		       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* telldir/seekdir positions stay valid while the dir changes. */
static void g_telldir(void)
{
	enum { N = 300 };
	static long pos[N + 8];
	static char names[N + 8][64];
	int n = 0, okall = 1;
	char p[64];
	DIR *d;
	struct dirent *e;

	OK(mkdir("t", 0755), "setup");
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "t/e%03d", i);
		okall &= mknod(p, S_IFREG | 0644, 0) == 0;
	}
	TRUE(okall, "create %d entries", N);
	OK((d = opendir("t")) ? 0 : -1, "opendir");
	if (!d)
		return;
	for (;;) {
		long at = telldir(d);
		if (!(e = readdir(d)) || n >= N + 8)
			break;
		pos[n] = at;
		snprintf(names[n], sizeof(names[n]), "%.60s", e->d_name);
		n++;
	}
	EQ(n, N + 2, "entries read including . and ..");
	int idx[] = {0, 1, 2, 37, 150, 151, 200, n - 2, n - 1};
	for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
		int i = idx[k];
		seekdir(d, pos[i]);
		e = readdir(d);
		STREQ(e ? e->d_name : NULL, names[i], "seekdir to the position of entry %d", i);
	}
	/* Remove every third entry (not the ones we seek to), add some. */
	int rem = 0;
	for (int i = 3; i < n; i += 3) {
		if (names[i][0] != 'e' || i == 37 || i == 150 || i == 151 || i == 200 || i >= n - 2)
			continue;
		if (unlinkat(dirfd(d), names[i], 0) == 0)
			names[i][0] = 0, rem++;
	}
	TRUE(rem > 80, "removed %d entries", rem);
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "new%02d", i);
		okall &= mknodat(dirfd(d), p, S_IFREG | 0644, 0) == 0;
	}
	TRUE(okall, "added 50 entries");
	for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
		int i = idx[k];
		if (!names[i][0])
			continue;
		seekdir(d, pos[i]);
		e = readdir(d);
		STREQ(e ? e->d_name : NULL, names[i], "seekdir to entry %d after removals/additions", i);
	}
	/* After seeking to the 151st entry, the rest of the original
	 * survivors after it follow in the same order. */
	seekdir(d, pos[151]);
	int order_ok = 1, j = 151;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "new", 3) == 0)
			continue;
		while (j < n && !names[j][0])
			j++;
		if (j >= n || strcmp(e->d_name, names[j])) {
			order_ok = 0;
			break;
		}
		j++;
	}
	while (j < n && !names[j][0])
		j++;
	TRUE(order_ok && j == n, "reading on from a seekdir position returns the survivors in order (stopped at %d of %d)", j, n);
	closedir(d);
}

/* Mode-bit permission checks on files. */
static void g_perm_file(void)
{
	OK(mkfile("ro", 0644, "data"), "setup");
	OK(mkfile("secret", 0600, "s"), "setup");
	OK(mkfile_own("grp", 0640, 0, 1000), "setup");
	OK(mkfile_own("grpdeny", 0604, 0, 1000), "setup");
	OK(mkfile_own("owndeny", 0066, 1000, 1000), "setup");
	OK(mkfile("rw", 0666, "rw"), "setup");
	OK(mkfile("none", 0000, "n"), "setup");
	OK(mkfile("exec", 0755, "#!/bin/sh\n"), "setup");
	OK(mkfile_own("mine", 0644, 65534, 65534), "setup");

	AS(65534) {
		int fd;
		ERR(open("ro", O_WRONLY), EACCES, "write-open a 0644 file of another user");
		ERR(open("ro", O_RDWR), EACCES, "rw-open a 0644 file of another user");
		ERR(open("ro", O_WRONLY | O_TRUNC), EACCES, "O_TRUNC a 0644 file of another user");
		ERR(open("ro", O_WRONLY | O_APPEND), EACCES, "append-open a 0644 file of another user");
		ERR(truncate("ro", 0), EACCES, "truncate a 0644 file of another user");
		OK(fd = open("ro", O_RDONLY), "read-open a 0644 file of another user");
		if (fd >= 0) {
			STREQ(fd_content(fd), "data", "read it");
			close(fd);
		}
		ERR(open("secret", O_RDONLY), EACCES, "read a 0600 file of another user");
		ERR(open("grp", O_RDONLY), EACCES, "read a 0640 file as other");
		ERR(open("none", O_RDONLY), EACCES, "read a mode-0 file");
		ERR(access("ro", W_OK), EACCES, "access W_OK on 0644");
		OK(access("ro", R_OK), "access R_OK on 0644");
		ERR(access("ro", X_OK), EACCES, "access X_OK on 0644");
		OK(access("exec", X_OK), "access X_OK on 0755");
		OK(fd = open("rw", O_RDWR), "rw-open a 0666 file of another user");
		if (fd >= 0) {
			EQ(pwrite(fd, "RW", 2, 0), 2, "write a 0666 file of another user");
			close(fd);
		}
		OK(truncate("rw", 1), "truncate a 0666 file of another user");
		OK(fd = open("rw", O_WRONLY | O_TRUNC), "O_TRUNC a 0666 file of another user");
		if (fd >= 0) {
			OK(ftruncate(fd, 10), "ftruncate a 0666 file of another user");
			close(fd);
		}
		EQ(f_size("rw"), 10, "size after a non-owner's ftruncate");
		OK(chmod("mine", 0400), "owner makes own file read-only");
		ERR(open("mine", O_WRONLY), EACCES, "owner cannot write own 0400 file");
		OK(chmod("mine", 0200), "owner makes own file write-only");
		ERR(open("mine", O_RDONLY), EACCES, "owner cannot read own 0200 file");
		OK(fd = open("mine", O_WRONLY), "owner can write own 0200 file");
		if (fd >= 0)
			close(fd);
	}
	AS(1000) {
		int fd;
		OK(fd = open("grp", O_RDONLY), "group member reads a 0640 file");
		if (fd >= 0)
			close(fd);
		ERR(open("grp", O_WRONLY), EACCES, "group member writes a 0640 file");
		ERR(open("grpdeny", O_RDONLY), EACCES, "group bits apply to members even when other bits allow (0604)");
		ERR(open("owndeny", O_RDONLY), EACCES, "owner bits apply to the owner even when group/other allow (0066)");
		ERR(open("owndeny", O_WRONLY), EACCES, "owner write on 0066");
		ERR(access("owndeny", R_OK), EACCES, "access R_OK for owner of 0066");
	}
	AS(1001) {
		int fd;
		OK(fd = open("grpdeny", O_RDONLY), "non-member gets the other bits (0604)");
		if (fd >= 0)
			close(fd);
		OK(access("owndeny", R_OK | W_OK), "other bits of a 0066 file");
	}
	/* Root bypasses read/write bits but needs some x bit to execute. */
	int fd;
	OK(fd = open("none", O_RDWR), "root opens a mode-0 file rw");
	if (fd >= 0)
		close(fd);
	OK(access("none", R_OK | W_OK), "root access R_OK|W_OK on mode 0");
	ERR(access("none", X_OK), EACCES, "root access X_OK with no x bit");
	OK(chmod("none", 0001), "setup");
	OK(access("none", X_OK), "root access X_OK with any x bit");
}

/* Write and search permission on directories. */
static void g_perm_dir(void)
{
	umask(0); /* setup modes below are exact */
	OK(mkdir("ro", 0755), "setup");
	OK(mkfile("ro/f", 0666, "f"), "setup");
	OK(mkdir("ro/sub", 0777), "setup");
	OK(mkdir("nox", 0766), "setup");
	OK(mkfile("nox/f", 0666, "f"), "setup");
	OK(mkdir("xonly", 0711), "setup");
	OK(mkfile("xonly/f", 0644, "x"), "setup");
	OK(mkdir("none", 0700), "setup");
	OK(mkfile("none/f", 0644, "n"), "setup");
	OK(mkdir("deep", 0777), "setup");
	OK(mkdir("deep/d1", 0700), "setup");
	OK(mkdir("deep/d1/d2", 0777), "setup");
	OK(mkfile("deep/d1/d2/f", 0666, "d"), "setup");
	OK(mkdir("pub1", 0777), "setup");
	OK(mkdir("pub2", 0777), "setup");
	OK(mkdir("pub1/rootdir", 0755), "setup");

	AS(65534) {
		struct stat s;
		int fd;
		DIR *dp;
		ERR(open("ro/new", O_CREAT | O_WRONLY, 0644), EACCES, "create in a 0755 dir of another user");
		ERR(mkdir("ro/newd", 0755), EACCES, "mkdir in a 0755 dir of another user");
		ERR(mknod("ro/fifo", S_IFIFO | 0644, 0), EACCES, "mknod in a 0755 dir of another user");
		ERR(symlink("x", "ro/sl"), EACCES, "symlink in a 0755 dir of another user");
		ERR(link("ro/f", "ro/f2"), EACCES, "link in a 0755 dir of another user");
		ERR(unlink("ro/f"), EACCES, "unlink in a 0755 dir of another user");
		ERR(rename("ro/f", "ro/g"), EACCES, "rename within a 0755 dir of another user");
		ERR(rename("ro/f", "mine"), EACCES, "rename out of a 0755 dir of another user");
		ERR(rmdir("ro/sub"), EACCES, "rmdir in a 0755 dir of another user");
		OK(fd = open("ro/f", O_RDWR), "a 0666 file in a read-only dir is still writable");
		if (fd >= 0)
			close(fd);
		OK(mkfile("ro/sub/mine", 0644, "m"), "a 0777 subdir of a 0755 dir is writable");
		ERR(rename("ro/sub/mine", "ro/mine"), EACCES, "rename into a non-writable dir");
		OK(mkfile("mine", 0644, "m"), "setup own file");
		ERR(rename("mine", "ro/f"), EACCES, "rename over a file in a non-writable dir");

		ERR(stat("none/f", &s), EACCES, "stat through a dir without search permission");
		ERR(open("none/f", O_RDONLY), EACCES, "open through a dir without search permission");
		ERR(unlink("none/f"), EACCES, "unlink through a dir without search permission");
		ERR(mkdir("none/x", 0755), EACCES, "mkdir in a dir without search permission");
		ERR(chdir("none"), EACCES, "chdir into a dir without search permission");
		dp = opendir("none");
		EQ(dp == NULL && errno == EACCES, 1, "opendir of a 0700 dir of another user (EACCES)");
		if (dp)
			closedir(dp);

		OK(stat("xonly/f", &s), "stat through a 0711 dir");
		OK(fd = open("xonly/f", O_RDONLY), "open through a 0711 dir");
		if (fd >= 0)
			close(fd);
		dp = opendir("xonly");
		EQ(dp == NULL && errno == EACCES, 1, "opendir of a 0711 dir needs read permission");
		if (dp)
			closedir(dp);

		dp = opendir("nox");
		TRUE(dp != NULL, "opendir of a 0766 dir (read without search)");
		if (dp) {
			struct dirent *e;
			int found = 0;
			while ((e = readdir(dp)))
				found += strcmp(e->d_name, "f") == 0;
			EQ(found, 1, "names are listed without search permission");
			closedir(dp);
		}
		ERR(stat("nox/f", &s), EACCES, "stat in a dir without search permission (0766)");
		ERR(open("nox/new", O_CREAT | O_WRONLY, 0644), EACCES, "create in a writable dir without search permission");
		ERR(unlink("nox/f"), EACCES, "unlink in a writable dir without search permission");
		ERR(stat("deep/d1/d2/f", &s), EACCES, "a middle path component without search permission");
		ERR(open("deep/d1/d2/f", O_RDONLY), EACCES, "open below a middle component without search permission");
		ERR(access("deep/d1/d2/f", F_OK), EACCES, "access F_OK below an unsearchable component");
	}
	/* Moving a directory to another parent rewrites its "..": that needs
	 * write permission on the directory itself. */
	AS(1000) {
		ERR(rename("pub1/rootdir", "pub2/rootdir"), EACCES, "move another user's 0755 dir to a new parent");
		OK(rename("pub1/rootdir", "pub1/renamed"), "rename another user's dir within the same parent");
		OK(mkdir("pub1/mydir", 0755), "setup");
		OK(rename("pub1/mydir", "pub2/mydir"), "move own dir to a new parent");
	}
}

/* chmod/chown by non-owners, and the rules for owners. */
static void g_perm_owner(void)
{
	OK(mkfile("rootf", 0644, "r"), "setup");
	OK(symlink("rootf", "rootsl"), "setup");
	OK(mkfile_own("u", 0644, 1000, 1000), "setup");
	OK(mkfile_own("ug", 0644, 1000, 1001), "setup");
	OK(mkfile_own("sx", 06755, 1000, 1000), "setup");
	OK(mkfile_own("sx2", 04755, 1000, 1000), "setup");
	OK(mkfile_own("sgx", 02775, 1000, 1000), "setup");
	OK(mkdir_own("sgd", 02775, 1000, 1000), "setup");
	OK(mkdir_own("sgd2", 02775, 1000, 1001), "setup");
	OK(mkfile_own("other", 0666, 1001, 1001), "setup");

	AS(65534) {
		int fd;
		ERR(chmod("rootf", 0666), EPERM, "chmod by a non-owner");
		ERR(chown("rootf", 65534, -1), EPERM, "chown to self by a non-owner");
		ERR(chown("rootf", -1, 65534), EPERM, "chgrp by a non-owner");
		ERR(lchown("rootsl", 65534, 65534), EPERM, "lchown of another user's symlink");
		ERR(chmod("u", 0777), EPERM, "chmod of another non-root user's file");
		ERR(chmod(".", 0700), EPERM, "chmod of a dir by a non-owner");
		OK(fd = open("rootf", O_RDONLY), "open");
		if (fd >= 0) {
			ERR(fchmod(fd, 0666), EPERM, "fchmod by a non-owner");
			ERR(fchown(fd, 65534, 65534), EPERM, "fchown by a non-owner");
			close(fd);
		}
		OK(fd = open("other", O_RDWR), "open a 0666 file");
		if (fd >= 0) {
			ERR(fchmod(fd, 0600), EPERM, "fchmod by a non-owner with write access");
			close(fd);
		}
	}
	AS(1000) {
		OK(chmod("u", 0600), "owner chmod");
		EQO(f_mode("u"), 0600, "mode after owner chmod");
		OK(chown("u", -1, 1002), "owner chgrp to a supplementary group");
		EQ(f_gid("u"), 1002, "gid after chgrp to supplementary group");
		OK(chown("u", -1, 1000), "owner chgrp to the primary group");
		EQ(f_gid("u"), 1000, "gid after chgrp to primary group");
		ERR(chown("u", -1, 1001), EPERM, "owner chgrp to a group it is not in");
		ERR(chown("u", 1001, -1), EPERM, "owner gives the file away");
		ERR(chown("u", 0, -1), EPERM, "owner gives the file to root");
		OK(chown("u", 1000, -1), "owner chown to own uid");
		OK(chown("u", -1, -1), "owner chown -1,-1");
		EQ(f_uid("u"), 1000, "uid unchanged");
		ERR(chown("other", -1, 1000), EPERM, "chgrp of another user's file to own group");

		/* S_ISGID is cleared when a non-member owner sets it on a file. */
		OK(chmod("ug", 02755), "owner (not in the file's group) sets S_ISGID");
		EQO(f_mode("ug"), 0755, "S_ISGID silently cleared for a non-member");
		OK(chmod("u", 02755), "owner in the file's group sets S_ISGID");
		EQO(f_mode("u"), 02755, "S_ISGID kept for a member");
		OK(chmod("u", 04755), "owner sets S_ISUID");
		EQO(f_mode("u"), 04755, "S_ISUID set by the owner");

		/* chown by a non-root owner clears set-id bits of executables. */
		OK(chown("sx", -1, 1002), "non-root chgrp of a 06755 file");
		EQO(f_mode("sx"), 0755, "S_ISUID and S_ISGID cleared by non-root chown");
		OK(chown("sx2", -1, 1000), "non-root chown of a 04755 file to the same group");
		EQO(f_mode("sx2"), 0755, "S_ISUID cleared even when ids don't change");
		OK(chown("sgx", 1000, 1002), "non-root chown of a 02775 file");
		EQO(f_mode("sgx"), 0775, "S_ISGID of a group-executable file cleared");
		OK(chown("sgd", -1, 1002), "non-root chgrp of a 02775 dir");
		EQO(f_mode("sgd"), 02775, "directories keep S_ISGID on chown");
		EQ(f_gid("sgd"), 1002, "dir gid after chgrp");
		OK(chmod("sgd2", 02755), "owner chmod on a dir with a foreign group");
	}
	/* Root's chmod keeps S_ISGID whatever the group. */
	OK(mkfile_own("rg", 0644, 0, 4242), "setup");
	OK(chmod("rg", 02755), "root sets S_ISGID with any group");
	EQO(f_mode("rg"), 02755, "root keeps S_ISGID");
}

/* Sticky directories: only the entry's owner, the dir's owner or root may
 * remove or rename an entry. */
static void g_sticky(void)
{
	umask(0); /* setup modes below are exact */
	OK(mkdir("st", 0777), "setup");
	OK(chmod("st", 01777), "setup");
	EQO(f_mode("st"), 01777, "sticky bit visible");
	OK(mkdir_own("st2", 01777, 1001, 1001), "setup");
	OK(mkdir("plain", 0777), "setup");

	AS(1000) {
		OK(mkfile("st/a2", 0644, "2"), "uid 1000 creates st/a2");
		OK(mkdir("st/d2", 0755), "uid 1000 creates st/d2");
		OK(mkfile("st/k2", 0644, "k"), "uid 1000 creates st/k2");
		OK(mkfile("st/x2", 0666, "x"), "uid 1000 creates st/x2");
		OK(mkfile("st2/b2", 0644, "b"), "uid 1000 creates st2/b2");
		OK(mkfile("plain/c2", 0644, "c"), "uid 1000 creates plain/c2");
	}
	AS(1001) {
		ERR(unlink("st/a2"), EPERM, "unlink another user's file in a sticky dir");
		ERR(rmdir("st/d2"), EPERM, "rmdir another user's dir in a sticky dir");
		ERR(rename("st/a2", "st/stolen"), EPERM, "rename another user's file in a sticky dir");
		ERR(rename("st/a2", "plain/stolen"), EPERM, "move another user's file out of a sticky dir");
		OK(mkfile("st/a3", 0644, "3"), "create own file in a sticky dir");
		ERR(rename("st/a3", "st/a2"), EPERM, "rename own file over another user's in a sticky dir");
		ERR(renameat2_("st/a3", "st/a2", RENAME_EXCHANGE), EPERM, "exchange with another user's file in a sticky dir");
		int fd = open("st/x2", O_WRONLY);
		OK(fd, "writing another user's 0666 file in a sticky dir is allowed");
		if (fd >= 0)
			close(fd);
		OK(rename("st/a3", "st/a3b"), "rename own file in a sticky dir");
		OK(unlink("st/a3b"), "unlink own file in a sticky dir");
		OK(unlink("st2/b2"), "the sticky dir's owner unlinks another user's file");
		OK(unlink("plain/c2"), "without sticky, any writer may unlink");
	}
	EQ(exists("st/a2"), 1, "st/a2 survived");
	EQ(exists("st/d2"), 1, "st/d2 survived");
	AS(1000) {
		OK(unlink("st/a2"), "owner unlinks own file in a sticky dir");
		OK(rmdir("st/d2"), "owner removes own dir in a sticky dir");
		ERR(setxattr("st", "user.x", "v", 1, 0), EPERM, "user.* xattr on another user's sticky dir");
	}
	OK(unlink("st/k2"), "root unlinks another user's file in a sticky dir");
}

/* Set-group-ID directories pass on their group (and S_ISGID to subdirs). */
static void g_sgid(void)
{
	umask(0); /* setup modes below are exact */
	OK(mkdir_own("sg", 02777, 0, 1001), "setup");
	OK(mkdir("plain", 0777), "setup");
	EQO(f_mode("sg"), 02777, "setup mode");

	AS(1000) {
		int fd;
		OK(mkfile("sg/f", 0644, "f"), "create in an sgid dir");
		EQ(f_gid("sg/f"), 1001, "new file takes the dir's group");
		EQ(f_uid("sg/f"), 1000, "new file is owned by the creator");
		EQO(f_mode("sg/f") & 02000, 0, "new file does not get S_ISGID");
		OK(mkdir("sg/sub", 0755), "mkdir in an sgid dir");
		EQ(f_gid("sg/sub"), 1001, "new subdir takes the dir's group");
		EQO(f_mode("sg/sub"), 02755, "new subdir inherits S_ISGID");
		OK(mkfile("sg/sub/g", 0644, "g"), "create in the inherited sgid subdir");
		EQ(f_gid("sg/sub/g"), 1001, "group passes on through subdirs");
		OK(mkfifo("sg/fifo", 0644), "mkfifo in an sgid dir");
		EQ(f_gid("sg/fifo"), 1001, "fifo takes the dir's group");
		OK(symlink("f", "sg/sl"), "symlink in an sgid dir");
		EQ(f_gid("sg/sl"), 1001, "symlink takes the dir's group");
		OK(fd = open("sg/sgf", O_CREAT | O_WRONLY, 02755), "create with S_ISGID by a non-member");
		if (fd >= 0)
			close(fd);
		EQO(f_mode("sg/sgf"), 0755, "S_ISGID stripped from a new file of a group the creator is not in");
		OK(mkfile("plain/f", 0644, "f"), "create in a plain dir");
		EQ(f_gid("plain/f"), 1000, "plain dir: new file gets the creator's gid");
		OK(mkdir("plain/d", 0755), "mkdir in a plain dir");
		EQ(f_gid("plain/d"), 1000, "plain dir: new subdir gets the creator's gid");
		EQO(f_mode("plain/d") & 02000, 0, "plain dir: no S_ISGID");
		OK(link("sg/f", "plain/f-link"), "link out of an sgid dir");
		EQ(f_gid("plain/f-link"), 1001, "link keeps the inode's group");
	}
	OK(mkfile("sg/rootf", 0644, ""), "root creates in an sgid dir");
	EQ(f_gid("sg/rootf"), 1001, "root's file takes the dir's group too");
	OK(mkdir("sg/rootd", 0700), "root mkdir in an sgid dir");
	EQO(f_mode("sg/rootd"), 02700, "root's subdir inherits S_ISGID");
	OK(chmod("sg", 0777), "clear S_ISGID of the dir");
	AS(1000) {
		OK(mkfile("sg/after", 0644, ""), "create after S_ISGID cleared");
		EQ(f_gid("sg/after"), 1000, "creator's gid once the dir is no longer sgid");
	}
	OK(rename("sg/f", "plain/moved"), "rename out of an sgid dir");
	EQ(f_gid("plain/moved"), 1001, "rename keeps the group");
}

/* New objects belong to the caller. */
static void g_owner(void)
{
	AS(1000) {
		OK(mkfile("f", 0644, ""), "create");
		OK(mkdir("d", 0755), "mkdir");
		OK(symlink("f", "sl"), "symlink");
		OK(mkfifo("p", 0644), "mkfifo");
		OK(mknod("n", S_IFREG | 0644, 0), "mknod");
		OK(link("f", "hl"), "link");
	}
	const char *names[] = {"f", "d", "sl", "p", "n", "hl"};
	for (int i = 0; i < 6; i++) {
		EQ(f_uid(names[i]), 1000, "%s created by uid 1000: owner", names[i]);
		EQ(f_gid(names[i]), 1000, "%s created by uid 1000: group", names[i]);
	}
	AS(65534) {
		OK(mkfile("nobody", 0644, ""), "create");
		OK(mkdir("nobodyd", 0755), "mkdir");
	}
	EQ(f_uid("nobody"), 65534, "uid 65534 file owner");
	EQ(f_gid("nobody"), 65534, "uid 65534 file group");
	EQ(f_uid("nobodyd"), 65534, "uid 65534 dir owner");
	OK(mkfile("rootf", 0644, ""), "root create");
	EQ(f_uid("rootf"), 0, "root file owner");
	EQ(f_gid("rootf"), 0, "root file group");
	AS(1001) {
		OK(rename("f", "f-by-1001"), "another user renames");
	}
	EQ(f_uid("f-by-1001"), 1000, "rename by another user keeps the owner");
}

/* utimensat permission rules. */
static void g_perm_utimes(void)
{
	OK(mkfile("w", 0666, "w"), "setup");
	OK(mkfile("r", 0644, "r"), "setup");
	OK(mkfile_own("own", 0444, 1000, 1000), "setup");
	OK(utimensat(AT_FDCWD, "w", ((struct timespec[]){{100, 0}, {200, 0}}), 0), "setup old times");

	AS(1000) {
		struct timespec lo = now_rt(), hi;
		OK(utimensat(AT_FDCWD, "w", NULL, 0), "NULL times by a non-owner with write access");
		hi = now_rt();
		TRUE(ts_between(snap("w").st_mtim, lo, hi), "mtime set to now by a non-owner writer");
		OK(utimensat(AT_FDCWD, "w", ((struct timespec[]){{0, UTIME_NOW}, {0, UTIME_NOW}}), 0),
		   "both UTIME_NOW by a non-owner with write access");
		ERR(utimensat(AT_FDCWD, "w", ((struct timespec[]){{1, 0}, {2, 0}}), 0), EPERM,
		    "explicit times by a non-owner with write access");
		ERR(utimensat(AT_FDCWD, "w", ((struct timespec[]){{0, UTIME_NOW}, {0, UTIME_OMIT}}), 0), EPERM,
		    "UTIME_NOW + UTIME_OMIT by a non-owner");
		OK(utimensat(AT_FDCWD, "w", ((struct timespec[]){{0, UTIME_OMIT}, {0, UTIME_OMIT}}), 0),
		   "both UTIME_OMIT by a non-owner");
		ERR(utimensat(AT_FDCWD, "r", NULL, 0), EACCES, "NULL times by a non-owner without write access");
		ERR(utimensat(AT_FDCWD, "r", ((struct timespec[]){{0, UTIME_NOW}, {0, UTIME_NOW}}), 0), EACCES,
		    "UTIME_NOW by a non-owner without write access");
		ERR(utimensat(AT_FDCWD, "r", ((struct timespec[]){{1, 0}, {2, 0}}), 0), EPERM,
		    "explicit times by a non-owner without write access");
		OK(utimensat(AT_FDCWD, "own", ((struct timespec[]){{11, 0}, {22, 0}}), 0),
		   "owner sets explicit times on own read-only file");
		EQ(snap("own").st_mtim.tv_sec, 22, "owner's explicit mtime");
		OK(utimensat(AT_FDCWD, "own", NULL, 0), "owner sets NOW on own read-only file");
		int fd = open("w", O_WRONLY);
		OK(fd, "open w");
		if (fd >= 0) {
			OK(futimens(fd, NULL), "futimens NULL by a non-owner writer");
			ERR(futimens(fd, ((struct timespec[]){{1, 0}, {2, 0}})), EPERM,
			    "futimens explicit by a non-owner");
			close(fd);
		}
	}
	EQ(snap("w").st_mtim.tv_sec != 2, 1, "refused explicit times did not apply");
}

/* xattr permission rules. */
static void g_perm_xattr(void)
{
	char buf[64];

	OK(mkfile("x644", 0644, ""), "setup");
	OK(setxattr("x644", "user.a", "A", 1, 0), "setup");
	OK(mkfile("x600", 0600, ""), "setup");
	OK(setxattr("x600", "user.a", "A", 1, 0), "setup");
	OK(mkfile("x666", 0666, ""), "setup");
	AS(65534) {
		EQ(getxattr("x644", "user.a", buf, sizeof(buf)), 1, "read user.* with read permission");
		ERR(setxattr("x644", "user.b", "B", 1, 0), EACCES, "set user.* without write permission");
		ERR(removexattr("x644", "user.a"), EACCES, "remove user.* without write permission");
		ERR(getxattr("x600", "user.a", buf, sizeof(buf)), EACCES, "read user.* without read permission");
		OK(setxattr("x666", "user.c", "C", 1, 0), "set user.* with write permission as non-owner");
		OK(removexattr("x666", "user.c"), "remove user.* with write permission as non-owner");
		ERR(setxattr("x666", "trusted.t", "T", 1, 0), EPERM, "trusted.* by a non-root user");
	}
	EQ(getxattr("x644", "user.a", buf, sizeof(buf)), 1, "attribute untouched by refused remove");
}

/* fsync and friends succeed on files and directories. */
static void g_sync(void)
{
	int fd;

	OK(fd = open("f", O_CREAT | O_RDWR, 0644), "create");
	EQ(write(fd, "durable", 7), 7, "write");
	OK(fsync(fd), "fsync a file");
	OK(fdatasync(fd), "fdatasync a file");
	OK(syncfs(fd), "syncfs");
	OK(sync_file_range(fd, 0, 7, SYNC_FILE_RANGE_WRITE), "sync_file_range");
	close(fd);
	OK(fd = open(".", O_RDONLY | O_DIRECTORY), "open dir");
	OK(fsync(fd), "fsync a directory");
	close(fd);
	OK(fd = open("f", O_RDONLY), "open read-only");
	OK(fsync(fd), "fsync a read-only fd");
	close(fd);
	STREQ(content("f"), "durable", "data after syncs");
}

/* fallocate: mode 0 extends with zeros, KEEP_SIZE does not change size. */
static void g_fallocate(void)
{
	int fd;
	static char buf[1 << 16];
	struct stat s;

	OK(fd = open("f", O_CREAT | O_RDWR, 0644), "create");
	EQ(write(fd, "head", 4), 4, "write");
	OK(fallocate(fd, 0, 0, 1 << 20), "fallocate 1 MiB");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, 1 << 20, "fallocate extends the size");
	EQ(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf), "read allocated range");
	TRUE(memcmp(buf, "head", 4) == 0 && all_zero(buf + 4, sizeof(buf) - 4),
	     "fallocate keeps data and the new range reads zeros");
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20), "fallocate KEEP_SIZE past the end");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, 1 << 20, "KEEP_SIZE leaves the size");
	OK(fallocate(fd, 0, 100, 10), "fallocate inside the file");
	EQ(pread(fd, buf, 4, 0), 4, "read");
	TRUE(memcmp(buf, "head", 4) == 0, "fallocate inside the file keeps data");
	ERR(fallocate(fd, 0, -1, 10), EINVAL, "fallocate at a negative offset");
	ERR(fallocate(fd, 0, 0, 0), EINVAL, "fallocate of length 0");
	close(fd);
	OK(fd = open("f", O_RDONLY), "open read-only");
	ERR(fallocate(fd, 0, 0, 10), EBADF, "fallocate on a read-only fd");
	close(fd);
}

/* Check that bytes [lo, hi) of fd read as c. */
static int range_is(int fd, off_t lo, off_t hi, char c)
{
	static char buf[1 << 16];
	for (off_t o = lo; o < hi;) {
		size_t n = hi - o < (off_t)sizeof(buf) ? (size_t)(hi - o) : sizeof(buf);
		if (pread(fd, buf, n, o) != (ssize_t)n)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != c)
				return 0;
		o += (off_t)n;
	}
	return 1;
}

/* Write buf's byte pattern over [0, size) of fd. */
static void fill_pattern(int fd, off_t size, const char *buf)
{
	for (off_t o = 0; o < size; o += 1 << 16) {
		size_t n = size - o < (1 << 16) ? (size_t)(size - o) : (1 << 16);
		EQ(pwrite(fd, buf, n, o), (ssize_t)n, "write pattern");
	}
}

static long long blocks_of(const char *p)
{
	struct stat s;
	return stat(p, &s) == 0 ? (long long)s.st_blocks * 512 : -1;
}

/*
 * The other fallocate modes: ZERO_RANGE (with and without KEEP_SIZE),
 * PUNCH_HOLE, allocation counted once in st_blocks, ENOSPC beyond the
 * free space; COLLAPSE_RANGE/INSERT_RANGE follow ext4's alignment rules
 * where supported (FUSE filesystems: the kernel answers EOPNOTSUPP).
 */
static void g_falloc_modes(void)
{
	static char buf[1 << 16];
	struct stat s;
	struct statvfs sv;
	int fd;

	OK(fd = open("z", O_CREAT | O_RDWR, 0644), "create");
	OK(fstat(fd, &s), "fstat");
	off_t bs = s.st_blksize >= 4096 ? s.st_blksize : 4096;
	off_t size = 4 * bs;
	memset(buf, 'a', sizeof(buf));
	fill_pattern(fd, size, buf);
	OK(fsync(fd), "fsync");
	/* ZERO_RANGE inside the file, across a block boundary (tmpfs has
	 * none: required only with --fallocate-full) */
	errno = 0;
	int zr = fallocate(fd, FALLOC_FL_ZERO_RANGE, bs - 1000, 3000);
	if (zr < 0 && errno == EOPNOTSUPP && !opt_falloc_full)
		printf("   note: ZERO_RANGE not supported here: skipped\n");
	else {
	OK(zr, "ZERO_RANGE inside");
	TRUE(range_is(fd, 0, bs - 1000, 'a') && range_is(fd, bs - 1000, bs + 2000, 0) &&
	     range_is(fd, bs + 2000, size, 'a'), "ZERO_RANGE zeroes exactly its range");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, size, "ZERO_RANGE inside keeps the size");
	/* a whole block, then past the end with and without KEEP_SIZE */
	OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, 2 * bs, bs), "ZERO_RANGE of a whole block");
	TRUE(range_is(fd, 2 * bs, 3 * bs, 0) && range_is(fd, 3 * bs, size, 'a'),
	     "whole-block ZERO_RANGE reads zeros, the next block is kept");
	OK(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, size - 10, 100),
	   "ZERO_RANGE|KEEP_SIZE past the end");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, size, "ZERO_RANGE|KEEP_SIZE leaves the size");
	TRUE(range_is(fd, size - 10, size, 0), "ZERO_RANGE|KEEP_SIZE zeroed the tail");
	OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, size - 10, 100), "ZERO_RANGE past the end");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, size + 90, "ZERO_RANGE past the end extends the size");
	TRUE(range_is(fd, size - 10, size + 90, 0), "extended range reads zeros");
	}
	/* PUNCH_HOLE */
	OK(ftruncate(fd, size), "truncate back");
	memset(buf, 'b', sizeof(buf));
	fill_pattern(fd, size, buf);
	close(fd);
	long long before = blocks_of("z");
	OK(fd = open("z", O_RDWR), "open");
	OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs, 2 * bs),
	   "PUNCH_HOLE|KEEP_SIZE of two blocks");
	OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 20),
	   "PUNCH_HOLE|KEEP_SIZE inside a block");
	TRUE(range_is(fd, 0, 10, 'b') && range_is(fd, 10, 30, 0) && range_is(fd, 30, bs, 'b') &&
	     range_is(fd, bs, 3 * bs, 0) && range_is(fd, 3 * bs, size, 'b'),
	     "punched ranges read zeros, the rest is kept");
	OK(fstat(fd, &s), "fstat");
	EQ(s.st_size, size, "PUNCH_HOLE keeps the size");
	ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, bs), EOPNOTSUPP, "PUNCH_HOLE without KEEP_SIZE");
	ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, bs),
	    EOPNOTSUPP, "PUNCH_HOLE with ZERO_RANGE");
	close(fd);
	long long after = blocks_of("z");
	TRUE(after <= before - 2 * bs, "punching two blocks frees them (st_blocks %lld -> %lld)",
	     before, after);

	/* Allocation is counted once: writing into it does not grow st_blocks. */
	OK(fd = open("p", O_CREAT | O_RDWR, 0644), "create");
	OK(fallocate(fd, 0, 0, 16 * bs), "fallocate 16 blocks");
	close(fd);
	long long alloc = blocks_of("p");
	TRUE(alloc >= 16 * bs, "st_blocks counts the allocated range (%lld bytes for %lld)",
	     alloc, (long long)(16 * bs));
	OK(fd = open("p", O_RDWR), "open");
	EQ(pwrite(fd, "xy", 2, 5 * bs + 7), 2, "write 2 bytes into the allocated range");
	close(fd);
	EQ(blocks_of("p"), alloc, "st_blocks after writing into the allocated range");
	OK(fd = open("p", O_RDWR), "open");
	EQ(pread(fd, buf, 2, 5 * bs + 7), 2, "read back");
	TRUE(memcmp(buf, "xy", 2) == 0 && range_is(fd, 0, 5 * bs + 7, 0), "data and zeros");
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 16 * bs, 8 * bs), "KEEP_SIZE 8 blocks past the end");
	close(fd);
	TRUE(blocks_of("p") >= alloc + 8 * bs, "KEEP_SIZE past the end is counted (%lld -> %lld)",
	     alloc, blocks_of("p"));
	EQ(f_size("p"), 16 * bs, "KEEP_SIZE past the end leaves the size");
	OK(truncate("p", 4 * bs), "truncate below the allocation");
	TRUE(blocks_of("p") <= 4 * bs, "truncate frees allocation past the new end (%lld)",
	     blocks_of("p"));

	/* Far beyond the free space: ENOSPC, nothing changed.  Only with
	 * --fallocate-full: ext4 and tmpfs allocate all the free space before
	 * they fail, and keep it until the file is removed. */
	OK(fd = open("big", O_CREAT | O_RDWR, 0644), "create");
	OK(fstatvfs(fd, &sv), "fstatvfs");
	long long free_b = (long long)sv.f_bavail * (long long)sv.f_frsize;
	long long want = 2 * (long long)sv.f_blocks * (long long)sv.f_frsize + (1ll << 30);
	struct statfs sf;
	int fuse_fs = fstatfs(fd, &sf) == 0 && sf.f_type == 0x65735546; /* FUSE_SUPER_MAGIC */
	if (opt_falloc_full && !fuse_fs)
		printf("   note: --fallocate-full ENOSPC checks run on FUSE mounts only "
		       "(a local filesystem would fill its disk): skipped\n");
	if (opt_falloc_full && fuse_fs && want < (1ll << 49)) {
		ERR(fallocate(fd, 0, 0, want), ENOSPC,
		    "fallocate of %lld bytes with %lld free", want, free_b);
		OK(fstat(fd, &s), "fstat");
		EQ(s.st_size, 0, "failed fallocate leaves the size");
		EQ(s.st_blocks, 0, "failed fallocate allocates nothing");
		ERR(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, want), ENOSPC, "KEEP_SIZE beyond the free space");
	}
	close(fd);

	/* COLLAPSE_RANGE / INSERT_RANGE: ext4's rules where supported. */
	OK(fd = open("c", O_CREAT | O_RDWR, 0644), "create");
	for (int i = 0; i < 4; i++) {
		memset(buf, 'A' + i, (size_t)bs < sizeof(buf) ? (size_t)bs : sizeof(buf));
		for (off_t o = 0; o < bs; o += (off_t)sizeof(buf))
			pwrite(fd, buf, (size_t)(bs - o) < sizeof(buf) ? (size_t)(bs - o) : sizeof(buf),
			       i * bs + o);
	}
	errno = 0;
	int rc = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, bs, bs);
	int rc_errno = errno;
	if (rc < 0 && rc_errno == EOPNOTSUPP) {
		ERR(fallocate(fd, FALLOC_FL_INSERT_RANGE, bs, bs), EOPNOTSUPP,
		    "INSERT_RANGE where COLLAPSE_RANGE is unsupported");
	} else {
		errno = rc_errno;
		OK(rc, "COLLAPSE_RANGE of block 1");
		OK(fstat(fd, &s), "fstat");
		EQ(s.st_size, 3 * bs, "COLLAPSE_RANGE shrinks the size");
		TRUE(range_is(fd, 0, bs, 'A') && range_is(fd, bs, 2 * bs, 'C') &&
		     range_is(fd, 2 * bs, 3 * bs, 'D'), "COLLAPSE_RANGE shifts the rest down");
		ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 1, bs), EINVAL, "unaligned COLLAPSE_RANGE");
		ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 3 * bs), EINVAL,
		    "COLLAPSE_RANGE reaching the end of file");
		OK(fallocate(fd, FALLOC_FL_INSERT_RANGE, bs, bs), "INSERT_RANGE at block 1");
		OK(fstat(fd, &s), "fstat");
		EQ(s.st_size, 4 * bs, "INSERT_RANGE grows the size");
		TRUE(range_is(fd, 0, bs, 'A') && range_is(fd, bs, 2 * bs, 0) &&
		     range_is(fd, 2 * bs, 3 * bs, 'C'), "INSERT_RANGE leaves a hole and shifts up");
		ERR(fallocate(fd, FALLOC_FL_INSERT_RANGE, 1, bs), EINVAL, "unaligned INSERT_RANGE");
		ERR(fallocate(fd, FALLOC_FL_INSERT_RANGE, 4 * bs, bs), EINVAL,
		    "INSERT_RANGE at the end of file");
	}
	ERR2(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, bs, bs), EINVAL,
	     EOPNOTSUPP, "COLLAPSE_RANGE with another flag");
	close(fd);
}

/* ---- POSIX ACLs through their xattrs (the kernel's format) ---- */

enum { A_UO = 0x01, A_U = 0x02, A_GO = 0x04, A_G = 0x08, A_M = 0x10, A_O = 0x20 };
struct acl_e {
	unsigned tag, perm, id;
};
#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

static int acl_set(const char *p, const char *name, const struct acl_e *e, int n)
{
	unsigned char buf[4 + 8 * 32];
	uint32_t v = 2;
	memcpy(buf, &v, 4); /* little-endian host */
	for (int i = 0; i < n; i++) {
		uint16_t t = (uint16_t)e[i].tag, pm = (uint16_t)e[i].perm;
		uint32_t id = e[i].tag == A_U || e[i].tag == A_G ? e[i].id : 0xffffffffu;
		memcpy(buf + 4 + 8 * i, &t, 2);
		memcpy(buf + 6 + 8 * i, &pm, 2);
		memcpy(buf + 8 + 8 * i, &id, 4);
	}
	return setxattr(p, name, buf, 4 + 8 * (size_t)n, 0);
}

/* The ACL's perm for tag (and id for named entries); -1 if absent,
 * -2 if the ACL cannot be read. */
static int acl_perm(const char *p, const char *name, unsigned tag, unsigned id)
{
	unsigned char buf[4 + 8 * 64];
	ssize_t n = getxattr(p, name, buf, sizeof(buf));
	if (n < 4)
		return -2;
	for (ssize_t o = 4; o + 8 <= n; o += 8) {
		uint16_t t, pm;
		uint32_t i;
		memcpy(&t, buf + o, 2);
		memcpy(&pm, buf + o + 2, 2);
		memcpy(&i, buf + o + 4, 4);
		if (t == tag && ((tag != A_U && tag != A_G) || i == id))
			return pm;
	}
	return -1;
}

static int can_open(const char *p, int flags)
{
	int fd = open(p, flags);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : -1;
}

/*
 * Access and default ACLs: the kernel enforces them, the access ACL and
 * the mode stay in step both ways, an ACL the mode says all of is not
 * kept, default ACLs are inherited at create (mask limited by the mode,
 * umask not applied) and by subdirectories as their default too.
 */
static void g_acl(void)
{
	struct acl_e a[] = {{A_UO, 6}, {A_U, 4, 1000}, {A_GO, 0}, {A_M, 4}, {A_O, 0}};
	char buf[64];

	OK(mkfile("f", 0600, "acl"), "setup");
	errno = 0;
	if (acl_set("f", ACL_ACCESS, a, 5) < 0 && errno == EOPNOTSUPP) {
		FAILHDR("POSIX ACLs not supported");
		fprintf(stderr, ": setxattr %s: EOPNOTSUPP\n", ACL_ACCESS);
		return;
	}
	EQO(f_mode("f") & 07777, 0640, "access ACL sets the group bits to the mask");
	EQ(acl_perm("f", ACL_ACCESS, A_U, 1000), 4, "named user entry reads back");
	EQ(acl_perm("f", ACL_ACCESS, A_M, 0), 4, "mask reads back");
	EQ(listxattr("f", buf, sizeof(buf)) > 0 && memmem(buf, sizeof(buf), ACL_ACCESS,
							   strlen(ACL_ACCESS)) != NULL, 1,
	   "listxattr names the access ACL");
	AS(1000) {
		OK(can_open("f", O_RDONLY), "named user with r reads a 0600 file");
		ERR(can_open("f", O_WRONLY), EACCES, "named user without w cannot write");
	}
	AS(1001) {
		ERR(can_open("f", O_RDONLY), EACCES, "a user not in the ACL gets other (none)");
	}
	OK(chmod("f", 0660), "chmod 0660");
	EQ(acl_perm("f", ACL_ACCESS, A_M, 0), 6, "chmod sets the mask from the group bits");
	EQ(acl_perm("f", ACL_ACCESS, A_U, 1000), 4, "chmod keeps the named entry");
	EQ(acl_perm("f", ACL_ACCESS, A_GO, 0), 0, "chmod keeps the owning group entry");
	AS(1000) {
		ERR(can_open("f", O_WRONLY), EACCES, "the mask does not add to an entry");
	}
	OK(chmod("f", 0600), "chmod 0600");
	EQ(acl_perm("f", ACL_ACCESS, A_M, 0), 0, "chmod 0600 empties the mask");
	AS(1000) {
		ERR(can_open("f", O_RDONLY), EACCES, "an empty mask limits the named user");
	}
	OK(chmod("f", 0754), "chmod 0754");
	EQ(acl_perm("f", ACL_ACCESS, A_UO, 0), 7, "chmod sets the owner entry");
	EQ(acl_perm("f", ACL_ACCESS, A_O, 0), 4, "chmod sets the other entry");
	OK(removexattr("f", ACL_ACCESS), "remove the access ACL");
	ERR(getxattr("f", ACL_ACCESS, buf, sizeof(buf)), ENODATA, "access ACL gone");
	EQO(f_mode("f") & 07777, 0754, "removing the ACL keeps the mode");

	/* An ACL the mode says all of becomes the mode. */
	struct acl_e base[] = {{A_UO, 7}, {A_GO, 5}, {A_O, 1}};
	OK(acl_set("f", ACL_ACCESS, base, 3), "set a three-entry ACL");
	EQO(f_mode("f") & 07777, 0751, "three-entry ACL sets the mode");
	ERR(getxattr("f", ACL_ACCESS, buf, sizeof(buf)), ENODATA,
	    "a three-entry ACL is kept as the mode only");
	struct acl_e bad[] = {{A_UO, 7}, {A_U, 7, 1000}, {A_GO, 5}, {A_O, 1}};
	ERR(acl_set("f", ACL_ACCESS, bad, 4), EINVAL, "named entry without a mask");
	ERR(acl_set("f", ACL_DEFAULT, base, 3), EACCES, "default ACL on a file");

	/* Default ACLs */
	struct acl_e d[] = {{A_UO, 7}, {A_U, 7, 1000}, {A_GO, 5}, {A_M, 7}, {A_O, 0}};
	OK(mkdir("d", 0755), "mkdir");
	OK(acl_set("d", ACL_DEFAULT, d, 5), "set a default ACL");
	EQO(f_mode("d") & 07777, 0755, "a default ACL leaves the mode");
	EQ(acl_perm("d", ACL_DEFAULT, A_U, 1000), 7, "default ACL reads back");
	umask(077);
	int fd;
	OK(fd = open("d/f", O_CREAT | O_WRONLY, 0666), "create under a default ACL");
	if (fd >= 0)
		close(fd);
	EQO(f_mode("d/f") & 07777, 0660, "new file: mode limited by the ACL, umask 077 not applied");
	EQ(acl_perm("d/f", ACL_ACCESS, A_U, 1000), 7, "new file inherits the named entry");
	EQ(acl_perm("d/f", ACL_ACCESS, A_M, 0), 6, "new file's mask limited by the mode");
	EQ(acl_perm("d/f", ACL_ACCESS, A_O, 0), 0, "new file's other entry from the default");
	ERR(getxattr("d/f", ACL_DEFAULT, buf, sizeof(buf)), ENODATA, "a file gets no default ACL");
	OK(mkdir("d/s", 0777), "mkdir under a default ACL");
	EQO(f_mode("d/s") & 07777, 0770, "new directory: mode from the ACL, umask not applied");
	EQ(acl_perm("d/s", ACL_DEFAULT, A_U, 1000), 7, "new directory inherits the default ACL");
	EQ(acl_perm("d/s", ACL_ACCESS, A_U, 1000), 7, "new directory's access ACL too");
	OK(mkfifo("d/p", 0644), "mkfifo under a default ACL");
	EQO(f_mode("d/p") & 07777, 0640, "fifo: mode limited by the ACL");
	OK(mkdir("d/s/t", 0700), "mkdir two levels down");
	EQO(f_mode("d/s/t") & 07777, 0700, "requested mode limits the inherited ACL");
	EQ(acl_perm("d/s/t", ACL_ACCESS, A_M, 0), 0, "mask limited to the mode's group bits");
	EQ(acl_perm("d/s/t", ACL_DEFAULT, A_M, 0), 7, "the inherited default ACL is whole");
	umask(022);
	/* the named user may create (through the directory's access ACL)
	 * and its file inherits too */
	struct acl_e da[] = {{A_UO, 7}, {A_U, 7, 1000}, {A_GO, 5}, {A_M, 7}, {A_O, 5}};
	OK(acl_set("d", ACL_ACCESS, da, 5), "access ACL on the directory");
	AS(1000) {
		OK(mkfile("d/by1000", 0644, "x"), "named user creates in a 0755 root directory");
	}
	EQ(f_uid("d/by1000"), 1000, "owned by its creator");
	EQ(acl_perm("d/by1000", ACL_ACCESS, A_U, 1000), 7, "and inherits the default ACL");
	OK(removexattr("d", ACL_DEFAULT), "remove the default ACL");
	ERR(getxattr("d", ACL_DEFAULT, buf, sizeof(buf)), ENODATA, "default ACL gone");
	OK(fd = open("d/g", O_CREAT | O_WRONLY, 0666), "create without a default ACL");
	if (fd >= 0)
		close(fd);
	EQO(f_mode("d/g") & 07777, 0644, "without a default ACL the umask applies");
	ERR(getxattr("d/g", ACL_ACCESS, buf, sizeof(buf)), ENODATA, "and no ACL is made");
}

static char pat_byte(long long i)
{
	return (char)('A' + (i * 7) % 53);
}

static int write_pat(int fd, off_t off, size_t n, long long base)
{
	static char b[1 << 16];
	for (size_t pos = 0; pos < n;) {
		size_t k = n - pos < sizeof(b) ? n - pos : sizeof(b);
		for (size_t i = 0; i < k; i++)
			b[i] = pat_byte(base + (long long)(pos + i));
		if (pwrite(fd, b, k, off + (off_t)pos) != (ssize_t)k)
			return -1;
		pos += k;
	}
	return 0;
}

/* 1 if [off, off+n) of fd holds the pattern from base on */
static int has_pat(int fd, off_t off, size_t n, long long base)
{
	static char b[1 << 16];
	for (size_t pos = 0; pos < n;) {
		size_t k = n - pos < sizeof(b) ? n - pos : sizeof(b);
		if (pread(fd, b, k, off + (off_t)pos) != (ssize_t)k)
			return 0;
		for (size_t i = 0; i < k; i++)
			if (b[i] != pat_byte(base + (long long)(pos + i)))
				return 0;
		pos += k;
	}
	return 1;
}

/* copy_file_range until len bytes are copied or it returns 0 / fails */
static long long cfr_all(int in, off_t off_in, int out, off_t off_out, size_t len)
{
	long long total = 0;
	while ((size_t)total < len) {
		loff_t i = off_in + total, o = off_out + total;
		ssize_t n = copy_file_range(in, &i, out, &o, len - (size_t)total, 0);
		if (n < 0)
			return total ? total : -1;
		if (n == 0)
			break;
		total += n;
	}
	return total;
}

/*
 * copy_file_range: data exact at any alignment, short at the source's end,
 * 0 past it, the destination grows; unflushed writes on both sides count;
 * same-file copies that do not overlap; EINVAL/EBADF cases.
 */
static void g_copy_range(void)
{
	int in, out;
	struct stat s;
	size_t big = 3 * 65536 + 12345;

	OK(in = open("src", O_CREAT | O_RDWR, 0644), "create source");
	OK(write_pat(in, 0, big, 0), "write the source");
	OK(fsync(in), "fsync");
	OK(out = open("dst", O_CREAT | O_RDWR, 0644), "create destination");
	EQ(cfr_all(in, 0, out, 0, big), (long long)big, "copy a whole file");
	TRUE(has_pat(out, 0, big, 0), "copied bytes equal the source");
	OK(fstat(out, &s), "fstat");
	EQ(s.st_size, (long long)big, "destination size");
	close(out);

	/* unaligned source and destination, into an existing file */
	OK(out = open("dst2", O_CREAT | O_RDWR, 0644), "create");
	char z[4096];
	memset(z, 'z', sizeof(z));
	for (int i = 0; i < 25; i++)
		pwrite(out, z, sizeof(z), (off_t)i * 4096);
	EQ(cfr_all(in, 1000, out, 70001, 150000), 150000, "unaligned copy");
	TRUE(has_pat(out, 70001, 150000, 1000), "unaligned copy: bytes exact");
	char b[4];
	EQ(pread(out, b, 1, 70000), 1, "read before the copied range");
	TRUE(b[0] == 'z', "byte before the copied range kept");
	OK(fstat(out, &s), "fstat");
	EQ(s.st_size, 70001 + 150000, "destination grew to the copy's end");
	/* short at the end, 0 past it */
	loff_t i0 = (loff_t)big - 10, o0 = 0;
	EQ(copy_file_range(in, &i0, out, &o0, 1000, 0), 10, "copy is short at the source's end");
	i0 = (loff_t)big + 5;
	o0 = 0;
	EQ(copy_file_range(in, &i0, out, &o0, 1000, 0), 0, "copy past the end returns 0");
	/* unflushed writes: source and destination */
	OK(write_pat(in, 100, 50, 777), "buffered write to the source");
	OK(pwrite(out, "tail", 4, 300000) == 4 ? 0 : -1, "buffered write to the destination");
	EQ(cfr_all(in, 100, out, 5, 50), 50, "copy right after the writes");
	TRUE(has_pat(out, 5, 50, 777), "the copy has the source's latest bytes");
	EQ(pread(out, b, 4, 300000), 4, "read");
	TRUE(memcmp(b, "tail", 4) == 0, "the destination's own buffered write is kept");
	close(out);
	/* same file */
	EQ(cfr_all(in, 200, in, (off_t)big + 1000, 5000), 5000, "copy within one file");
	TRUE(has_pat(in, (off_t)big + 1000, 5000, 200), "same-file copy exact");
	loff_t a1 = 0, a2 = 100;
	ERR(copy_file_range(in, &a1, in, &a2, 1000, 0), EINVAL, "overlapping ranges of one file");
	a1 = 0;
	a2 = 0;
	OK(out = open("dst", O_RDONLY), "open the destination read-only");
	ERR(copy_file_range(in, &a1, out, &a2, 10, 0), EBADF, "read-only destination");
	close(out);
	OK(out = open("dst", O_WRONLY | O_APPEND), "open the destination O_APPEND");
	ERR(copy_file_range(in, &a1, out, &a2, 10, 0), EBADF, "O_APPEND destination");
	close(out);
	OK(out = open("dst", O_RDWR), "open");
	ERR(copy_file_range(in, &a1, out, &a2, 10, 1), EINVAL, "unknown flags");
	close(out);
	close(in);
}

/* Shared mappings and read/write see the same bytes. */
static void g_mmap(void)
{
	int fd;
	char buf[16];

	OK(mkfile("f", 0644, NULL), "setup");
	OK(fd = open("f", O_RDWR), "open");
	OK(ftruncate(fd, 8192), "size 8 KiB");
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TRUE(m != MAP_FAILED, "mmap MAP_SHARED read-write (%s)", m == MAP_FAILED ? strerror(errno) : "ok");
	if (m != MAP_FAILED) {
		TRUE(all_zero(m, 8192), "new mapping reads zeros");
		memcpy(m + 4090, "mapped!", 7);
		OK(msync(m, 8192, MS_SYNC), "msync");
		EQ(pread(fd, buf, 7, 4090), 7, "read() after a mapped write");
		TRUE(memcmp(buf, "mapped!", 7) == 0, "read() sees the mapped write");
		EQ(pwrite(fd, "written", 7, 100), 7, "write()");
		TRUE(memcmp(m + 100, "written", 7) == 0, "the mapping sees write()");
		munmap(m, 8192);
	}
	close(fd);
	OK(fd = open("f", O_RDONLY), "reopen");
	EQ(pread(fd, buf, 7, 4090), 7, "read after reopen");
	TRUE(memcmp(buf, "mapped!", 7) == 0, "mapped write persisted");
	close(fd);
	EQ(f_size("f"), 8192, "mapping did not change the size");
}

/*
 * Coherence between open files: data written but not yet closed or synced
 * is visible to other fds, to stat, and to other processes at once (a
 * filesystem that buffers writes per open file must honour this).
 */
static void g_coherence(void)
{
	int a, b, c, st;
	char buf[8192];
	struct stat s;
	pid_t pid;

	OK(a = open("f", O_CREAT | O_RDWR, 0644), "open writer");
	EQ(write(a, "0123456789", 10), 10, "write 10 bytes");
	EQ(f_size("f"), 10, "stat by path sees the size of a write still open");
	OK(b = open("f", O_RDONLY), "open a second fd");
	EQ(pread(b, buf, sizeof(buf), 0), 10, "second fd reads data not yet closed or synced");
	TRUE(memcmp(buf, "0123456789", 10) == 0, "second fd sees the bytes");
	EQ(pwrite(a, "XY", 2, 5000), 2, "write past the end leaving a gap");
	EQ(f_size("f"), 5002, "stat sees the extended size");
	EQ(pread(b, buf, sizeof(buf), 0), 5002, "second fd reads up to the new end");
	TRUE(memcmp(buf, "0123456789", 10) == 0 && all_zero(buf + 10, 4990) && memcmp(buf + 5000, "XY", 2) == 0,
	     "gap reads zeros, both writes visible");
	OK(c = open("f", O_RDWR), "open a second writer");
	EQ(pwrite(c, "cc", 2, 3), 2, "second writer writes bytes 3-4");
	EQ(pwrite(a, "a", 1, 4), 1, "first writer then writes byte 4");
	EQ(pread(b, buf, 6, 0), 6, "read");
	TRUE(memcmp(buf, "012ca5", 6) == 0, "last write wins byte by byte across fds (got %.6s)", buf);
	EQ(pread(c, buf, 6, 0), 6, "read via the second writer");
	TRUE(memcmp(buf, "012ca5", 6) == 0, "second writer sees the first writer's byte");

	OK(truncate("f", 4), "truncate by path while writers are open");
	EQ(pread(a, buf, sizeof(buf), 0), 4, "writer's fd sees the truncate");
	OK(fstat(a, &s), "fstat writer");
	EQ(s.st_size, 4, "writer's fstat sees the truncated size");
	EQ(pwrite(a, "Z", 1, 8), 1, "write past the truncated end");
	EQ(pread(b, buf, sizeof(buf), 0), 9, "reader sees the regrown size");
	TRUE(memcmp(buf, "012c", 4) == 0 && all_zero(buf + 4, 4) && buf[8] == 'Z',
	     "bytes cut by truncate stay zero after regrowth across fds");

	OK(rename("f", "g"), "rename while open");
	EQ(pwrite(a, "R", 1, 0), 1, "write via the old fd after rename");
	STREQ(content("g"), "R12c", "new name shows the write (first 4 bytes)");

	/* Another process writes; we read without reopening. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd = open("g", O_WRONLY);
		_exit(fd >= 0 && pwrite(fd, "child", 5, 100) == 5 ? 0 : 1);
	}
	OK(pid, "fork");
	waitpid(pid, &st, 0);
	EQ(WIFEXITED(st) && WEXITSTATUS(st) == 0, 1, "child wrote");
	EQ(pread(b, buf, 5, 100), 5, "read what another process wrote, through an fd opened before");
	TRUE(memcmp(buf, "child", 5) == 0, "another process's write is visible");

	/* A shared mapping of one fd sees write() through another. */
	OK(ftruncate(a, 8192), "size 8 KiB");
	char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, b, 0);
	TRUE(m != MAP_FAILED, "mmap reader");
	if (m != MAP_FAILED) {
		EQ(pwrite(c, "viamap", 6, 6000), 6, "write through another fd");
		TRUE(memcmp(m + 6000, "viamap", 6) == 0, "mapping sees a write through another fd");
		munmap(m, 8192);
	}
	close(a), close(b), close(c);
	OK(b = open("g", O_RDONLY), "reopen");
	EQ(pread(b, buf, 6, 6000), 6, "read after all closed");
	TRUE(memcmp(buf, "viamap", 6) == 0, "data kept after close");
	close(b);
}

/* O_APPEND writers in several processes: every record lands whole at the
 * end, none overwrites another. */
static void g_append(void)
{
	enum { PROCS = 3, RECS = 300, LEN = 64 };
	static char buf[PROCS * RECS * LEN + 1];
	pid_t pids[PROCS];
	int st, fd;

	OK(mkfile("log", 0644, NULL), "setup");
	fflush(stdout);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			int f = open("log", O_WRONLY | O_APPEND), bad = f < 0;
			char rec[LEN];
			for (int i = 0; i < RECS && !bad; i++) {
				memset(rec, '.', LEN);
				int n = snprintf(rec, LEN, "P%d-%04d", p, i);
				rec[n] = ' ', rec[LEN - 1] = '\n';
				bad = write(f, rec, LEN) != LEN;
			}
			_exit(bad);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		waitpid(pids[p], &st, 0);
		EQ(WIFEXITED(st) && WEXITSTATUS(st) == 0, 1, "appender %d wrote all records", p);
	}
	EQ(f_size("log"), PROCS * RECS * LEN, "size is the sum of all appends");
	OK(fd = open("log", O_RDONLY), "open");
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	EQ(n, PROCS * RECS * LEN, "read the whole log");
	int next[PROCS] = {0}, bad = 0;
	for (ssize_t off = 0; n > 0 && off + LEN <= n; off += LEN) {
		int p, i;
		if (sscanf(buf + off, "P%d-%d", &p, &i) != 2 || p < 0 || p >= PROCS || i != next[p] ||
		    buf[off + LEN - 1] != '\n') {
			bad++;
			continue;
		}
		next[p]++;
	}
	EQ(bad, 0, "every 64-byte slot holds one whole record, in each writer's order");
	for (int p = 0; p < PROCS; p++)
		EQ(next[p], RECS, "all records of appender %d present", p);
}

/* POSIX record locks and flock between processes. */
static void g_locks(void)
{
	int fd, fd2;
	pid_t parent = getpid();
	struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};

	OK(fd = open("lk", O_CREAT | O_RDWR, 0666), "create");
	OK(fcntl(fd, F_SETLK, &wr), "F_SETLK write lock on bytes 0-99");
	AS(0) {
		int f = open("lk", O_RDWR);
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10};
		OK(f, "open in another process");
		ERR2(fcntl(f, F_SETLK, &l), EAGAIN, EACCES, "conflicting write lock");
		l.l_type = F_RDLCK;
		ERR2(fcntl(f, F_SETLK, &l), EAGAIN, EACCES, "read lock over a write lock");
		l.l_type = F_WRLCK;
		OK(fcntl(f, F_GETLK, &l), "F_GETLK");
		EQ(l.l_type, F_WRLCK, "F_GETLK reports the conflicting write lock");
		EQ(l.l_pid, parent, "F_GETLK names the holder");
		EQ(l.l_start, 0, "F_GETLK start of the held range");
		EQ(l.l_len, 100, "F_GETLK length of the held range");
		struct flock free_ = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
		OK(fcntl(f, F_SETLK, &free_), "lock on a range next to the held one");
		close(f);
	}
	/* Closing any fd of the file drops the process's record locks. */
	OK(fd2 = open("lk", O_RDONLY), "open a second fd");
	close(fd2);
	AS(0) {
		int f = open("lk", O_RDWR);
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
		OK(fcntl(f, F_SETLK, &l), "lock free after the holder closed another fd of the file");
		close(f);
	}
	OK(flock(fd, LOCK_EX), "flock LOCK_EX");
	AS(0) {
		int f = open("lk", O_RDONLY);
		ERR(flock(f, LOCK_EX | LOCK_NB), EWOULDBLOCK, "flock LOCK_EX against a held LOCK_EX");
		ERR(flock(f, LOCK_SH | LOCK_NB), EWOULDBLOCK, "flock LOCK_SH against a held LOCK_EX");
		close(f);
	}
	OK(flock(fd, LOCK_SH), "downgrade to LOCK_SH");
	AS(0) {
		int f = open("lk", O_RDONLY);
		OK(flock(f, LOCK_SH | LOCK_NB), "two shared flocks");
		close(f);
	}
	OK(flock(fd, LOCK_UN), "flock LOCK_UN");
	AS(0) {
		int f = open("lk", O_RDONLY);
		OK(flock(f, LOCK_EX | LOCK_NB), "flock LOCK_EX once released");
		close(f);
	}
	close(fd);
}

/* ================================ driver ================================ */

struct suite_group {
	const char *name;
	void (*run)(void);
};

/* The mode as statx(STATX_MODE) sees it: only what the kernel caches, so a
 * filesystem that changes the mode behind the kernel's back is seen. */
static long long f_mode_only(const char *p)
{
	struct statx x;
	return statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_MODE, &x)
		       ? -1 : (long long)(x.stx_mode & 07777);
}

/* Change p as user code would: 0 write, 1 ftruncate, 2 fallocate,
 * 3 copy_file_range into it. */
static int change_file(const char *p, int how)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = -1;
	if (how == 0) {
		r = write(fd, "x", 1) == 1 ? 0 : -1;
	} else if (how == 1) {
		r = ftruncate(fd, 1);
	} else if (how == 2) {
		r = fallocate(fd, 0, 0, 8192);
	} else {
		int src = open("killpriv_src", O_RDONLY);
		loff_t a = 0, b = 0;
		if (src >= 0)
			r = copy_file_range(src, &a, fd, &b, 4, 0) == 4 ? 0 : -1;
		if (src >= 0)
			close(src);
	}
	return close(fd) || r ? -1 : 0;
}

/*
 * Writing clears set-user-ID, and set-group-ID when it means group execute
 * or when the writer is outside the file's group and unprivileged: what
 * Linux does on local filesystems (setattr_should_drop_sgid).  Through FUSE
 * the kernel does the first two itself; the last one is the filesystem's.
 */
static void g_killpriv(void)
{
	static const char *const how[] = {"write", "ftruncate", "fallocate",
					  "copy_file_range into"};
	static const struct {
		const char *name, *what;
		mode_t mode, after;
		gid_t gid;
	} cases[] = {
		{"kp_out", "by a non-member clears S_ISGID", 02744, 0744, 1001},
		{"kp_sup", "by a supplementary member keeps S_ISGID", 02744, 02744, 1002},
		{"kp_suid", "clears S_ISUID and S_ISGID", 06744, 0744, 1001},
		{"kp_xgrp", "clears S_ISGID with group execute", 02774, 0774, 1002},
	};
	char name[64], what[160];
	OK(mkfile("killpriv_src", 0644, "data"), "setup");
	for (int h = 0; h < 4; h++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			snprintf(name, sizeof(name), "%s%d", cases[i].name, h);
			OK(mkfile_own(name, cases[i].mode, 1000, cases[i].gid), "setup");
		}
		snprintf(name, sizeof(name), "kp_root%d", h);
		OK(mkfile_own(name, 02746, 1000, 1001), "setup");
	}
	AS(1000) {
		for (int h = 0; h < 4; h++) {
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				snprintf(name, sizeof(name), "%s%d", cases[i].name, h);
				snprintf(what, sizeof(what), "%s %s", how[h], cases[i].what);
				OK(change_file(name, h), what);
				EQO(f_mode_only(name), cases[i].after, what);
			}
		}
	}
	for (int h = 0; h < 4; h++) {
		snprintf(name, sizeof(name), "kp_root%d", h);
		snprintf(what, sizeof(what), "%s by root keeps S_ISGID", how[h]);
		OK(change_file(name, h), what);
		EQO(f_mode_only(name), 02746, what);
	}
}

static const struct suite_group groups[] = {
	{"access", g_access},     {"statfs", g_statfs},         {"names", g_names},
	{"open", g_open},         {"umask", g_umask},           {"chmod", g_chmod},
	{"chown", g_chown},       {"link", g_link},             {"mkdir", g_mkdir},
	{"mknod", g_mknod},       {"rename", g_rename},         {"renameat2", g_renameat2},
	{"rmdir", g_rmdir},       {"symlink", g_symlink},       {"truncate", g_truncate},
	{"unlink", g_unlink},     {"utimensat", g_utimensat},   {"xattr", g_xattr},
	{"times", g_times},       {"atime", g_atime},           {"nlink", g_nlink},
	{"hardlinks", g_hardlinks}, {"sparse", g_sparse},       {"largefile", g_largefile},
	{"readdir", g_readdir},   {"rmrf", g_rmrf},             {"telldir", g_telldir},
	{"perm_file", g_perm_file}, {"perm_dir", g_perm_dir},   {"perm_owner", g_perm_owner},
	{"sticky", g_sticky},     {"sgid", g_sgid},             {"owner", g_owner},
	{"perm_utimes", g_perm_utimes}, {"perm_xattr", g_perm_xattr}, {"sync", g_sync},
	{"fallocate", g_fallocate}, {"falloc_modes", g_falloc_modes}, {"mmap", g_mmap},   {"coherence", g_coherence},
	{"append", g_append},     {"locks", g_locks},           {"acl", g_acl},
	{"copy_range", g_copy_range}, {"killpriv", g_killpriv},
};

static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: posix_suite [-q] [--only G1,G2] [--skip G1,G2] [--entries N]\n"
		"                   [--max-file-size BYTES] [--fallocate-full] [--list] DIR\n"
		"Runs POSIX checks in a scratch directory under DIR (must run as root).\n");
}

int main(int argc, char **argv)
{
	const char *only = NULL, *skip = NULL, *dir = NULL;
	char base[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-q"))
			opt_quiet = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
			skip = argv[++i];
		else if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			opt_entries = atol(argv[++i]);
		else if (!strcmp(argv[i], "--max-file-size") && i + 1 < argc)
			opt_max_size = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--fallocate-full"))
			opt_falloc_full = 1;
		else if (!strcmp(argv[i], "--list")) {
			for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
				puts(groups[g].name);
			return 0;
		} else if (argv[i][0] == '-') {
			usage();
			return 2;
		} else
			dir = argv[i];
	}
	if (!dir) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		fprintf(stderr, "posix_suite: must run as root (it switches to other users itself)\n");
		test_failed++;
		return test_done();
	}
	umask(022);
	snprintf(base, sizeof(base), "%s/posix.%d", dir, (int)getpid());
	if (mkdir(base, 0777) || chmod(base, 0777) || chdir(base)) {
		fprintf(stderr, "posix_suite: cannot make scratch dir %s: %s\n", base, strerror(errno));
		test_failed++;
		return test_done();
	}
	struct statvfs sv;
	if (statvfs(".", &sv) == 0)
		noatime_mount = (sv.f_flag & ST_NOATIME) != 0;

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const struct suite_group *gr = &groups[g];
		if ((only && !in_list(only, gr->name)) || (skip && in_list(skip, gr->name)))
			continue;
		int p0 = test_passed, f0 = test_failed;
		cur_group = gr->name;
		if (!opt_quiet)
			printf("== %s\n", gr->name);
		if (mkdir(gr->name, 0777) || chmod(gr->name, 0777) || chdir(gr->name)) {
			FAILHDR("making the group's directory");
			fprintf(stderr, ": %s\n", strerror(errno));
			continue;
		}
		gr->run();
		umask(022);
		if (chdir(base)) {
			fprintf(stderr, "posix_suite: cannot return to %s: %s\n", base, strerror(errno));
			return test_done();
		}
		if (rm_rf(gr->name))
			fprintf(stderr, "note [%s]: cleanup of %s/%s incomplete: %s\n", gr->name, base,
				gr->name, strerror(errno));
		if (!opt_quiet || test_failed > f0)
			printf("   %s: %d passed, %d failed\n", gr->name, test_passed - p0,
			       test_failed - f0);
	}
	cur_group = "cleanup";
	if (chdir(dir) == 0)
		OK(rmdir(base), "remove the scratch dir %s", base);
	return test_done();
}
