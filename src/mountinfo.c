/*
 * mountinfo.c — look a mount point up in /proc/PID/mountinfo.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mountinfo.h"

/* mountinfo writes space, tab, newline and backslash as \ooo (octal). */
static void unescape(const char *in, char *out, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; in[i] && j < len - 1; i++) {
		if (in[i] == '\\' && in[i + 1] >= '0' && in[i + 1] <= '3' &&
		    in[i + 2] >= '0' && in[i + 2] <= '7' && in[i + 3] >= '0' &&
		    in[i + 3] <= '7') {
			out[j++] = (char)(((in[i + 1] - '0') << 6) |
					  ((in[i + 2] - '0') << 3) | (in[i + 3] - '0'));
			i += 3;
		} else {
			out[j++] = in[i];
		}
	}
	out[j] = 0;
}

int mountinfo_find(pid_t pid, const char *path, char *fstype, size_t len)
{
	char fn[64], line[8192];
	if (pid)
		snprintf(fn, sizeof(fn), "/proc/%d/mountinfo", (int)pid);
	else
		snprintf(fn, sizeof(fn), "/proc/self/mountinfo");
	FILE *f = fopen(fn, "r");
	if (!f)
		return -errno;
	int found = 0;
	if (fstype && len)
		fstype[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		char mp[4096], un[4096], t[256];
		const char *sep = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp, un, sizeof(un));
		if (strcmp(un, path))
			continue;
		found = 1;
		/* the last line for a path is the topmost mount there */
		if (fstype && len && sep && sscanf(sep + 3, "%255s", t) == 1)
			snprintf(fstype, len, "%s", t);
	}
	fclose(f);
	return found;
}
