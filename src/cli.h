/*
 * cli.h — the subcommands of the cassafs binary.  Each takes the argv that
 * starts with its own name and returns the process exit code
 * (0 ok, 1 failure or problems found, 2 usage error).
 */
#ifndef CASSAFS_CLI_H
#define CASSAFS_CLI_H

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_mkfs(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_ring(int argc, char **argv);

#endif
