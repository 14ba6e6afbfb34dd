/*
 * cli.h — the subcommands of the cassafs binary.  Each takes the argv that
 * starts with its own name and returns the process exit code
 * (0 ok, 1 failure or problems found, 2 usage error).
 */
#ifndef CASSAFS_CLI_H
#define CASSAFS_CLI_H

#include <stddef.h>

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
int cmd_repair(int argc, char **argv);
int cmd_move(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_migrate_data(int argc, char **argv);

struct store;
struct meta;
struct coord;
/* Open store, filesystem and coordinator (the default one for lmdb:///DIR
 * when coord_url is NULL); prints the reason on failure. */
int cli_open_fs(const char *cmd, const char *url, const char *coord_url,
		struct store **s, struct meta **m, struct coord **c);
void cli_close_fs(struct store *s, struct meta *m, struct coord *c);
/* 1 if the store holds the record of a live mount (each mount refreshes
 * its record every few seconds; who names it), 0 if none, or -errno. */
int cli_live_mount_record(struct meta *m, char *who, size_t len);
/* seconds without a refresh after which a mount record is of a dead mount */
#define CLI_SESSION_STALE 30
/* local://DIR for lmdb:///DIR…; -1 for stores that need --coord. */
int cli_default_coord_url(const char *store_url, char *out, size_t len);

#endif
