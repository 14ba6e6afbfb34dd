/*
 * posix_fhandle — file handles across a remount, for tests/t_posix.sh.
 *
 *   posix_fhandle save PATH OUT     name_to_handle_at(PATH) into file OUT
 *   posix_fhandle open MNT IN       open_by_handle_at(MNT, handle in IN)
 *
 * open prints one line: "ok ino=N path=P data=D" (path: where the kernel
 * reconnected the inode, from /proc/self/fd; data: the first 64 bytes of
 * a file, "-" for a directory) or "error ENAME" for a failed open, and
 * exits 0 either way; 1 means the tool itself could not run.  The kernel
 * needs the handle's filesystem to be mounted at MNT and the caller to
 * hold CAP_DAC_READ_SEARCH (root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case ESTALE: return "ESTALE";
	case ENOENT: return "ENOENT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EIO: return "EIO";
	default: return strerror(e);
	}
}

static int save(const char *path, const char *out)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) < 0) {
		fprintf(stderr, "posix_fhandle: name_to_handle_at %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	FILE *f = fopen(out, "wb");
	if (!f || fwrite(fh, sizeof(*fh) + fh->handle_bytes, 1, f) != 1 || fclose(f)) {
		fprintf(stderr, "posix_fhandle: cannot write %s\n", out);
		return 1;
	}
	return 0;
}

static int open_handle(const char *mnt, const char *in)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
	FILE *f = fopen(in, "rb");
	if (!f || fread(fh, sizeof(*fh), 1, f) != 1 || fh->handle_bytes > MAX_HANDLE_SZ ||
	    fread(fh->f_handle, 1, fh->handle_bytes, f) != fh->handle_bytes) {
		fprintf(stderr, "posix_fhandle: cannot read handle from %s\n", in);
		return 1;
	}
	fclose(f);
	int mfd = open(mnt, O_RDONLY | O_DIRECTORY);
	if (mfd < 0) {
		fprintf(stderr, "posix_fhandle: %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	int fd = open_by_handle_at(mfd, fh, O_RDONLY);
	if (fd < 0) {
		printf("error %s\n", errname(errno));
		return 0;
	}
	struct stat st;
	char link[64], path[4096] = "?", data[65] = "-";
	fstat(fd, &st);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 1] = 0;
	if (S_ISREG(st.st_mode)) {
		n = pread(fd, data, 64, 0);
		data[n > 0 ? n : 0] = 0;
		data[strcspn(data, "\n")] = 0;
	}
	printf("ok ino=%llu path=%s data=%s\n", (unsigned long long)st.st_ino, path, data);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "save"))
		return save(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "open"))
		return open_handle(argv[2], argv[3]);
	fprintf(stderr, "usage: posix_fhandle save PATH OUT | open MNT IN\n");
	return 2;
}
