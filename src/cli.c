/* placeholder until the filesystem commands land (same session) */
#include <stdio.h>
#include "cli.h"
static int later(const char *n) { fprintf(stderr, "cassafs %s: not built yet\n", n); return 1; }
int cmd_mkfs(int argc, char **argv) { return later(argv[0]); }
int cmd_mount(int argc, char **argv) { return later(argv[0]); }
int cmd_umount(int argc, char **argv) { return later(argv[0]); }
int cmd_status(int argc, char **argv) { return later(argv[0]); }
int cmd_fsck(int argc, char **argv) { return later(argv[0]); }
