/*
 * fsck.h — checks a filesystem's structure and repairs what it can.
 */
#ifndef CASSAFS_FSCK_H
#define CASSAFS_FSCK_H

#include <stdio.h>

#include "meta.h"

struct fsck_report {
	unsigned long long inodes, dirs, files, blocks;
	unsigned long long problems; /* found */
	unsigned long long repaired;
	unsigned long long orphans;  /* unlinked-but-open left by a crash */
};

/* Check (and with repair, fix) the filesystem; print each problem to out.
 * Returns 0 or a negative errno if the check itself could not run. */
int fsck_run(struct meta *m, int repair, FILE *out, struct fsck_report *rep);
/* Report progress on stderr while running (the CLI: when it is a tty). */
void fsck_set_progress(int on);

#endif
