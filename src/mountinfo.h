/*
 * mountinfo.h — the kernel's mount table of a process's mount namespace
 * (/proc/PID/mountinfo), as the CLI and the local coordinator read it.
 */
#ifndef CASSAFS_MOUNTINFO_H
#define CASSAFS_MOUNTINFO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Is path a mount point in the mount namespace of process pid (0: this
 * process)?  1 if so, with the filesystem type of the topmost mount there
 * in fstype (if given); 0 if not; -errno if the table cannot be read.
 */
int mountinfo_find(pid_t pid, const char *path, char *fstype, size_t len);

#endif
