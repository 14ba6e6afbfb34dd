/*
 * dump.h — a whole filesystem as a stream of JSON lines, and back.
 *
 * The format (docs/dump-format.md) is versioned and engine-neutral: it
 * carries every inode with its attributes, symlink target, extended
 * attributes and data blocks, and every directory entry (hard links are
 * several entries naming one inode), so a dump of an LMDB filesystem loads
 * into Redis and back.  Both directions stream: memory stays bounded by a
 * few blocks whatever the size of the filesystem.
 */
#ifndef CASSAFS_DUMP_H
#define CASSAFS_DUMP_H

#include <stdint.h>
#include <stdio.h>

#include "meta.h"

#define DUMP_VERSION 1

struct dump_counts {
	uint64_t inodes, entries, blocks, bytes, xattrs;
};

/* What the first line of a dump says. */
struct dump_header {
	int version;
	uint32_t format, block_size;
	char uuid[37];
	uint64_t next_ino;
};

/*
 * Write the filesystem to out, all read in one read-only transaction so
 * that the dump is one consistent state.  The closing "end" line is
 * written only if that transaction validates (an optimistic engine such
 * as Redis reports a change by a live mount there): a dump without it is
 * refused by load.  progress: report on stderr while running.
 */
int dump_write(struct meta *m, FILE *out, int progress,
	       struct dump_counts *counts, char *err, size_t err_len);

struct dump_reader;
/* Read and check the header line. */
int dump_reader_open(FILE *in, struct dump_reader **out,
		     struct dump_header *h, char *err, size_t err_len);
void dump_reader_close(struct dump_reader *r);
/*
 * Load every record into m, which must hold an empty filesystem (only an
 * empty root) with the dump's block size; the caller checks that nothing
 * has it mounted.  Inode numbers are kept.  Not atomic: on failure the
 * filesystem holds part of the dump.
 */
int dump_load(struct meta *m, struct dump_reader *r, int progress,
	      struct dump_counts *counts, char *err, size_t err_len);

/* 1 if the filesystem holds nothing but an empty root, 0 if it holds
 * more (*inodes says how many), < 0 on error. */
int dump_fs_is_empty(struct meta *m, uint64_t *inodes);

#endif
