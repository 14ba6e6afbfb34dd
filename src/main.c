/*
 * main.c — `cassafs SUBCOMMAND …`: finds the subcommand and runs it.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
	{"mkfs", cmd_mkfs, "create a filesystem in a store"},
	{"mount", cmd_mount, "mount a filesystem"},
	{"umount", cmd_umount, "unmount a mounted filesystem"},
	{"status", cmd_status, "show format, usage and who has it mounted"},
	{"fsck", cmd_fsck, "check (and repair) a filesystem"},
	{"gc", cmd_gc, "delete data-tier objects no file refers to"},
	{"migrate-data", cmd_migrate_data, "move a format-1 filesystem's blocks into a data tier"},
	{"dump", cmd_dump, "write a whole filesystem to stdout (docs/dump-format.md)"},
	{"load", cmd_load, "fill an empty filesystem from a dump on stdin"},
	{"stats", cmd_stats, "live per-operation counters of a mount"},
	{"bench", cmd_bench, "quick throughput and metadata check of a mount"},
	{"ring", cmd_ring, "build and query Swift-compatible rings"},
	{"repair", cmd_repair, "restore the replicas of a ring data tier"},
	{"move", cmd_move, "after a rebalance, move a ring tier's replicas"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cassafs COMMAND [ARGS…]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  (cassafs URL MOUNTPOINT [-o OPTIONS] is cassafs mount, for "
		   "fstab type fuse.cassafs)\n");
	fprintf(f, "\n'cassafs COMMAND --help' describes each command.\n"
		   "Store URLs: lmdb:///ABSOLUTE/DIR (embedded, default),\n"
		   "  redis://[:PASSWORD@]HOST:PORT[/DB], redis-cluster://H:P,H:P/NAME\n"
		   "  (with --coord zk://HOST:PORT[,HOST:PORT]/CHROOT)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cassafs %s\n", CASSAFS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* mount.fuse3 (mount(8) for type fuse.cassafs, and every remount of
	 * a mount, whose type is fuse.cassafs) runs `cassafs URL MOUNTPOINT
	 * -o OPTIONS`. */
	if (strstr(argv[1], "://"))
		return cmd_mount(argc, argv);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	/*
	 * mount(8) with type fuse.cassafs (what /proc/mounts shows) runs
	 * mount.fuse3, which runs `cassafs URL MOUNTPOINT -o OPTIONS`: a
	 * store URL in place of a command means mount.
	 */
	if (argc >= 3 && strstr(argv[1], "://"))
		return cmd_mount(argc, argv);
	fprintf(stderr, "cassafs: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
