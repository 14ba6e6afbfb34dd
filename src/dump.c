/*
 * dump.c — write a filesystem as JSON lines (jansson) and load it back.
 * The format is described in docs/dump-format.md; in short, one object
 * per line, "t" says which record it is:
 *
 *   cassafs-dump  header: version, format, block_size, uuid, counters
 *   inode         ino and every attribute (timestamps as [sec, nsec])
 *   symlink       ino, target
 *   xattr         ino, name, value_b64
 *   data          ino, off, data_b64 (one stored block; holes are absent)
 *   entry         dir, name, ino, type
 *   end           what was written, so a cut file is refused
 *
 * A record of an inode comes before its symlink, xattr, data and (for a
 * directory) entry records.  Names that are not UTF-8 are written as
 * name_b64 / target_b64 instead of name / target.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "dump.h"
#include "layout.h"
#include "u64vec.h"
#include "store.h"

/* ---- progress on stderr (only when asked: stderr is a terminal) ---- */

struct progress {
	int on;
	const char *verb;
	struct timespec last;
};

static void progress_show(struct progress *p, const struct dump_counts *c,
			  int final)
{
	if (!p->on)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && (now.tv_sec - p->last.tv_sec) * 1000 +
			      (now.tv_nsec - p->last.tv_nsec) / 1000000 < 250)
		return;
	p->last = now;
	fprintf(stderr, "\r%s %llu inodes, %llu entries, %.1f MiB%s", p->verb,
		(unsigned long long)c->inodes, (unsigned long long)c->entries,
		(double)c->bytes / (1 << 20), final ? "\n" : "");
	fflush(stderr);
}

/* ---- base64 (OpenSSL) ---- */

static json_t *b64_json(const void *data, size_t len)
{
	char *buf = malloc(4 * ((len + 2) / 3) + 1);
	if (!buf)
		return NULL;
	int n = EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
	json_t *j = json_stringn(buf, (size_t)n);
	free(buf);
	return j;
}

/* Decode a base64 string into a new buffer; -EINVAL if it is not one. */
static int b64_decode(const char *s, size_t len, unsigned char **out,
		      size_t *out_len)
{
	if (len % 4)
		return -EINVAL;
	unsigned char *buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : 0;
	if (n < 0) {
		free(buf);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (len && s[len - 1] == '=')
		n--;
	if (len > 1 && s[len - 2] == '=')
		n--;
	*out = buf;
	*out_len = (size_t)n;
	return 0;
}

/* ---- writing ---- */

struct dumper {
	FILE *out;
	struct store_txn *t;
	uint32_t bs;
	uint64_t ino; /* the inode being written */
	struct dump_counts c;
	struct progress p;
	/* format 2: contents come from the data tier, read after the
	 * inode's transaction (objects are not read inside one) */
	struct layout *layout;
	uint64_t data_size; /* of the regular file just emitted */
};

/* Write one record (stealing o) as one line. */
static int emit(struct dumper *d, json_t *o)
{
	if (!o)
		return -ENOMEM;
	int r = json_dumpf(o, d->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (r < 0 || fputc('\n', d->out) == EOF)
		return -EIO;
	return 0;
}

/* o[key] = the bytes as a string, or o[key_b64] when they are not UTF-8. */
static int set_bytes(json_t *o, const char *key, const void *p, size_t len)
{
	json_t *s = json_stringn(p, len);
	if (s)
		return json_object_set_new(o, key, s) < 0 ? -ENOMEM : 0;
	char k[32];
	snprintf(k, sizeof(k), "%s_b64", key);
	s = b64_json(p, len);
	return !s || json_object_set_new(o, k, s) < 0 ? -ENOMEM : 0;
}

static json_t *ts_json(const struct timespec *ts)
{
	return json_pack("[I,i]", (json_int_t)ts->tv_sec, (int)ts->tv_nsec);
}

static int emit_block(void *arg, uint64_t idx, const void *data, size_t len)
{
	struct dumper *d = arg;
	json_t *o = json_pack("{s:s, s:I, s:I, s:o}", "t", "data", "ino",
			      (json_int_t)d->ino, "off",
			      (json_int_t)(idx * d->bs), "data_b64",
			      b64_json(data, len));
	d->c.blocks++;
	d->c.bytes += len;
	int r = emit(d, o);
	progress_show(&d->p, &d->c, 0);
	return r;
}

static int emit_entry(void *arg, const char *name, size_t len, uint64_t ino,
		      uint8_t type, uint64_t cookie)
{
	struct dumper *d = arg;
	json_t *o = json_pack("{s:s, s:I}", "t", "entry", "dir",
			      (json_int_t)d->ino);
	int r;
	if (!o)
		return -ENOMEM;
	if ((r = set_bytes(o, "name", name, len)) < 0) {
		json_decref(o);
		return r;
	}
	json_object_set_new(o, "ino", json_integer((json_int_t)ino));
	json_object_set_new(o, "type", json_integer(type));
	d->c.entries++;
	return emit(d, o);
}

static int emit_xattrs(struct dumper *d, uint64_t ino)
{
	size_t len;
	int r = meta_xattr_list(d->t, ino, NULL, 0, &len);
	if (r < 0 || len == 0)
		return r;
	char *names = malloc(len);
	if (!names)
		return -ENOMEM;
	if ((r = meta_xattr_list(d->t, ino, names, len, &len)) < 0)
		goto out;
	for (size_t i = 0; i < len; i += strlen(names + i) + 1) {
		const void *val;
		size_t vlen;
		if ((r = meta_xattr_get(d->t, ino, names + i, &val, &vlen)) < 0)
			goto out;
		json_t *o = json_pack("{s:s, s:I}", "t", "xattr", "ino",
				      (json_int_t)ino);
		if (!o || (r = set_bytes(o, "name", names + i,
					 strlen(names + i))) < 0 ||
		    json_object_set_new(o, "value_b64", b64_json(val, vlen)) < 0) {
			json_decref(o);
			r = r < 0 ? r : -ENOMEM;
			goto out;
		}
		d->c.xattrs++;
		if ((r = emit(d, o)) < 0)
			goto out;
	}
out:
	free(names);
	return r;
}

static int emit_inode(void *arg, uint64_t ino)
{
	struct dumper *d = arg;
	struct meta_inode in;
	int r = meta_inode_get(d->t, ino, &in);
	if (r < 0)
		return r;
	/* Unlinked while open on a mount: not part of the tree (the next
	 * mount reclaims it). */
	if (in.nlink == 0)
		return 0;
	d->ino = ino;
	json_t *o = json_pack(
		"{s:s, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
		"t", "inode", "ino", (json_int_t)ino, "mode", (int)in.mode, "uid",
		(int)in.uid, "gid", (int)in.gid, "nlink", (int)in.nlink, "size",
		(json_int_t)in.size, "rdev", (json_int_t)in.rdev, "parent",
		(json_int_t)in.parent, "atime", ts_json(&in.atime), "mtime",
		ts_json(&in.mtime), "ctime", ts_json(&in.ctime), "btime",
		ts_json(&in.btime));
	if ((r = emit(d, o)) < 0)
		return r;
	d->c.inodes++;
	if (S_ISLNK(in.mode)) {
		char target[META_SYMLINK_MAX + 1];
		size_t len;
		if ((r = meta_symlink_get(d->t, ino, target, sizeof(target), &len)) < 0)
			return r;
		o = json_pack("{s:s, s:I}", "t", "symlink", "ino", (json_int_t)ino);
		if (!o || (r = set_bytes(o, "target", target, len)) < 0) {
			json_decref(o);
			return r < 0 ? r : -ENOMEM;
		}
		if ((r = emit(d, o)) < 0)
			return r;
	}
	if ((r = emit_xattrs(d, ino)) < 0)
		return r;
	if (S_ISREG(in.mode) && d->layout)
		d->data_size = in.size;
	else if (S_ISREG(in.mode) &&
		 (r = meta_block_scan(d->t, ino, 0, emit_block, d)) < 0)
		return r;
	if (S_ISDIR(in.mode) && (r = meta_dir_scan(d->t, ino, 0, emit_entry, d)) < 0)
		return r;
	progress_show(&d->p, &d->c, 0);
	return 0;
}

static int push_ino(void *arg, uint64_t ino)
{
	return u64vec_push(arg, ino);
}

/*
 * Format 2: the inode numbers in one transaction, then each inode's
 * records in its own, each file's data blocks read from the data tier
 * right after (so they follow the file's records, as load wants).  A
 * change by a live mount can make such a dump mix states: dump an
 * unmounted filesystem.
 */
static int dump_inodes_layout(struct meta *m, struct dumper *d,
			      uint64_t next_ino, char *err, size_t err_len)
{
	struct u64vec inos = {0};
	int r = meta_inode_scan_all(d->t, next_ino, push_ino, &inos);
	if (r < 0)
		goto out;
	if ((r = store_commit(d->t)) < 0) {
		d->t = NULL;
		goto out;
	}
	d->t = NULL;
	for (size_t i = 0; i < inos.n; i++) {
		if ((r = store_txn_begin(meta_store(m), STORE_RDONLY, &d->t)) < 0)
			goto out;
		d->data_size = 0;
		r = emit_inode(d, inos.v[i]);
		if (r == -ENOENT)
			r = 0; /* removed since the listing */
		int c = r < 0 ? (store_abort(d->t), 0) : store_commit(d->t);
		d->t = NULL;
		if (r == 0)
			r = c;
		if (r == 0 && d->data_size)
			r = layout_scan_blocks(d->layout, inos.v[i], d->data_size,
					       emit_block, d);
		if (r < 0)
			goto out;
	}
out:
	if (r < 0 && r != -EAGAIN)
		snprintf(err, err_len, "cannot dump %s: %s", meta_store(m)->url,
			 strerror(-r));
	u64vec_free(&inos);
	return r;
}

int dump_write(struct meta *m, FILE *out, int progress,
	       struct dump_counts *counts, char *err, size_t err_len)
{
	const struct meta_super *sb = meta_super(m);
	struct dumper d = {.out = out, .bs = sb->block_size,
			   .p = {.on = progress, .verb = "dumped"}};
	uint64_t inodes, blocks, next_ino;
	int r = store_txn_begin(meta_store(m), STORE_RDONLY, &d.t);
	if (r < 0) {
		snprintf(err, err_len, "cannot read %s: %s", meta_store(m)->url,
			 strerror(-r));
		return r;
	}
	if ((r = meta_usage(d.t, &inodes, &blocks, &next_ino)) < 0)
		goto fail;
	json_t *h = json_pack("{s:s, s:i, s:i, s:i, s:s, s:I, s:I, s:I, s:I, s:I}",
			      "t", "cassafs-dump", "version", DUMP_VERSION,
			      "format", (int)sb->format, "block_size",
			      (int)sb->block_size, "uuid", sb->uuid, "created",
			      (json_int_t)sb->created, "dumped",
			      (json_int_t)time(NULL), "next_inode",
			      (json_int_t)next_ino, "inodes", (json_int_t)inodes,
			      "blocks", (json_int_t)blocks);
	if ((r = emit(&d, h)) < 0)
		goto fail;
	if (sb->migrating) {
		snprintf(err, err_len, "%s is being moved into a data tier: run "
			 "'cassafs migrate-data' again to finish first",
			 meta_store(m)->url);
		r = -EBUSY;
		goto fail_msg;
	}
	if (sb->data_url[0]) {
		struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
		if ((r = layout_open(m, sb->data_url, &o, &d.layout, err,
				     err_len)) < 0)
			goto fail_msg;
		r = dump_inodes_layout(m, &d, next_ino, err, err_len);
		layout_close(d.layout);
		d.layout = NULL;
		if (r < 0 && r != -EAGAIN)
			goto fail_msg;
	} else {
		if ((r = meta_inode_scan_all(d.t, next_ino, emit_inode, &d)) < 0)
			goto fail;
		/* An optimistic engine validates every read here. */
		r = store_commit(d.t);
		d.t = NULL;
	}
	if (r == -EAGAIN) {
		snprintf(err, err_len,
			 "%s changed while it was being dumped (a mount wrote to "
			 "it), so this dump is not one consistent state and has "
			 "no end record; run the dump again, or unmount first",
			 meta_store(m)->url);
		return r;
	}
	if (r < 0)
		goto fail;
	json_t *e = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "t", "end",
			      "inodes", (json_int_t)d.c.inodes, "entries",
			      (json_int_t)d.c.entries, "xattrs",
			      (json_int_t)d.c.xattrs, "blocks",
			      (json_int_t)d.c.blocks, "bytes",
			      (json_int_t)d.c.bytes);
	if ((r = emit(&d, e)) < 0 || fflush(out) == EOF) {
		r = -EIO;
		goto fail;
	}
	progress_show(&d.p, &d.c, 1);
	*counts = d.c;
	return 0;
fail:
	if (d.t)
		store_abort(d.t);
	if (d.p.on)
		fputc('\n', stderr);
	snprintf(err, err_len, "cannot dump %s: %s", meta_store(m)->url,
		 r == -EIO && ferror(out) ? "write error on stdout" : strerror(-r));
	return r;
fail_msg: /* err says why already */
	if (d.t)
		store_abort(d.t);
	return r;
}

/* ---- reading ---- */

struct dump_reader {
	FILE *in;
	char *line;
	size_t cap;
	uint64_t lineno;
	struct dump_header h;
};

/* Next record as a JSON object; NULL at end of file (*r = 0) or on
 * error (*r < 0, message in err). */
static json_t *read_record(struct dump_reader *rd, int *r, char *err,
			   size_t err_len)
{
	ssize_t n = getline(&rd->line, &rd->cap, rd->in);
	*r = 0;
	if (n < 0) {
		if (ferror(rd->in)) {
			snprintf(err, err_len, "read error on stdin after line %llu",
				 (unsigned long long)rd->lineno);
			*r = -EIO;
		}
		return NULL;
	}
	rd->lineno++;
	json_error_t je;
	json_t *o = json_loadb(rd->line, (size_t)n, 0, &je);
	if (!o || !json_is_object(o)) {
		snprintf(err, err_len, "line %llu: not a dump record (%s)",
			 (unsigned long long)rd->lineno,
			 o ? "not a JSON object" : je.text);
		json_decref(o);
		*r = -EINVAL;
		return NULL;
	}
	return o;
}

int dump_reader_open(FILE *in, struct dump_reader **out,
		     struct dump_header *h, char *err, size_t err_len)
{
	struct dump_reader *rd = calloc(1, sizeof(*rd));
	int r;
	if (!rd)
		return -ENOMEM;
	rd->in = in;
	json_t *o = read_record(rd, &r, err, err_len);
	if (!o) {
		if (r == 0)
			snprintf(err, err_len, "the input is empty (expected a "
					       "dump from 'cassafs dump')");
		else if (r == -EINVAL)
			snprintf(err, err_len, "line 1 is not a cassafs dump header "
					       "(was the file written by 'cassafs "
					       "dump'?)");
		dump_reader_close(rd);
		return r < 0 ? r : -EINVAL;
	}
	const char *t = NULL, *uuid = NULL;
	json_int_t version = 0, format = 0, bs = 0, next = 0;
	if (json_unpack(o, "{s:s, s:I, s:I, s:I, s:s, s:I}", "t", &t, "version",
			&version, "format", &format, "block_size", &bs, "uuid",
			&uuid, "next_inode", &next) < 0 ||
	    strcmp(t, "cassafs-dump")) {
		snprintf(err, err_len, "line 1 is not a cassafs dump header "
				       "(was the file written by 'cassafs dump'?)");
		r = -EINVAL;
	} else if (version != DUMP_VERSION) {
		snprintf(err, err_len, "the dump has version %lld; this cassafs "
				       "reads version %d", (long long)version,
			 DUMP_VERSION);
		r = -EPROTONOSUPPORT;
	} else if (bs < META_MIN_BLOCK_SIZE || bs > META_MAX_BLOCK_SIZE ||
		   (bs & (bs - 1))) {
		snprintf(err, err_len, "the dump header has a bad block size %lld",
			 (long long)bs);
		r = -EINVAL;
	} else {
		rd->h.version = (int)version;
		rd->h.format = (uint32_t)format;
		rd->h.block_size = (uint32_t)bs;
		snprintf(rd->h.uuid, sizeof(rd->h.uuid), "%s", uuid);
		rd->h.next_ino = (uint64_t)next;
		*h = rd->h;
		r = 0;
	}
	json_decref(o);
	if (r < 0)
		dump_reader_close(rd);
	else
		*out = rd;
	return r;
}

void dump_reader_close(struct dump_reader *rd)
{
	if (!rd)
		return;
	free(rd->line);
	free(rd);
}

/* A record checked and decoded, ready to apply in a transaction. */
enum rec_kind { REC_INODE, REC_SYMLINK, REC_XATTR, REC_DATA, REC_ENTRY };
struct rec {
	enum rec_kind kind;
	uint64_t ino, dir, off;
	uint8_t type;
	struct meta_inode in;
	unsigned char *name; /* entry or xattr name (NUL-terminated), target */
	size_t name_len;
	unsigned char *data; /* xattr value, block data */
	size_t data_len;
	/* format 2: the first data record of a run of one inode's records
	 * carries the run's uploaded objects */
	struct layout_batch *lb;
	int in_run;
};

struct loader {
	struct meta *m;
	struct dump_reader *rd;
	uint32_t bs;
	struct rec *batch;
	size_t n, cap, bytes;
	/* the inode whose records are being read (blocks counted) */
	struct meta_inode cur, work;
	int have_cur, have_work;
	uint64_t read_ino, read_mode, max_ino;
	struct dump_counts c;
	struct progress p;
	struct layout *layout; /* format 2: contents go to the data tier */
};

#define BATCH_RECORDS 2000
#define BATCH_BYTES (8u << 20)

static void rec_free(struct rec *r)
{
	free(r->name);
	free(r->data);
}

/* field getters that leave a message naming the line */
static int get_u64(struct dump_reader *rd, json_t *o, const char *key,
		   uint64_t *v, char *err, size_t err_len)
{
	json_t *j = json_object_get(o, key);
	if (!json_is_integer(j) || json_integer_value(j) < 0) {
		snprintf(err, err_len, "line %llu: field '%s' missing or not a "
				       "non-negative integer",
			 (unsigned long long)rd->lineno, key);
		return -EINVAL;
	}
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static int get_ts(struct dump_reader *rd, json_t *o, const char *key,
		  struct timespec *ts, char *err, size_t err_len)
{
	json_int_t sec, nsec;
	if (json_unpack(json_object_get(o, key), "[II]", &sec, &nsec) < 0 ||
	    nsec < 0 || nsec >= 1000000000) {
		snprintf(err, err_len, "line %llu: field '%s' is not [seconds, "
				       "nanoseconds]",
			 (unsigned long long)rd->lineno, key);
		return -EINVAL;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return 0;
}

/* key as text or key_b64 as base64 → new NUL-terminated buffer */
static int get_bytes(struct dump_reader *rd, json_t *o, const char *key,
		     unsigned char **out, size_t *len, char *err,
		     size_t err_len)
{
	char k[32];
	json_t *j = json_object_get(o, key);
	if (json_is_string(j)) {
		*len = json_string_length(j);
		if (!(*out = malloc(*len + 1)))
			return -ENOMEM;
		memcpy(*out, json_string_value(j), *len);
		(*out)[*len] = 0;
		return 0;
	}
	snprintf(k, sizeof(k), "%s_b64", key);
	j = json_object_get(o, k);
	int r = json_is_string(j) ? b64_decode(json_string_value(j),
					       json_string_length(j), out, len)
				  : -EINVAL;
	if (r == -EINVAL)
		snprintf(err, err_len, "line %llu: field '%s' missing or not "
				       "base64", (unsigned long long)rd->lineno,
			 json_is_string(json_object_get(o, key)) ? key : k);
	return r;
}

/* Check one record and decode it into rec.  1 = it was the end record. */
static int parse_record(struct loader *L, json_t *o, struct rec *rec,
			char *err, size_t err_len)
{
	struct dump_reader *rd = L->rd;
	const char *t = json_string_value(json_object_get(o, "t"));
	uint64_t v;
	int r;
	memset(rec, 0, sizeof(*rec));
	if (!t) {
		snprintf(err, err_len, "line %llu: record without a type ('t')",
			 (unsigned long long)rd->lineno);
		return -EINVAL;
	}
	if (!strcmp(t, "end")) {
		struct dump_counts e;
		if ((r = get_u64(rd, o, "inodes", &e.inodes, err, err_len)) ||
		    (r = get_u64(rd, o, "entries", &e.entries, err, err_len)) ||
		    (r = get_u64(rd, o, "blocks", &e.blocks, err, err_len)) ||
		    (r = get_u64(rd, o, "bytes", &e.bytes, err, err_len)))
			return r;
		if (e.inodes != L->c.inodes || e.entries != L->c.entries ||
		    e.blocks != L->c.blocks || e.bytes != L->c.bytes) {
			snprintf(err, err_len,
				 "line %llu: the end record counts %llu inodes, %llu "
				 "entries, %llu blocks, %llu bytes, but the dump holds "
				 "%llu, %llu, %llu, %llu",
				 (unsigned long long)rd->lineno,
				 (unsigned long long)e.inodes,
				 (unsigned long long)e.entries,
				 (unsigned long long)e.blocks,
				 (unsigned long long)e.bytes,
				 (unsigned long long)L->c.inodes,
				 (unsigned long long)L->c.entries,
				 (unsigned long long)L->c.blocks,
				 (unsigned long long)L->c.bytes);
			return -EINVAL;
		}
		return 1;
	}
	if ((r = get_u64(rd, o, !strcmp(t, "entry") ? "dir" : "ino", &v, err,
			 err_len)))
		return r;
	if (v == 0) {
		snprintf(err, err_len, "line %llu: inode number 0",
			 (unsigned long long)rd->lineno);
		return -EINVAL;
	}
	if (!strcmp(t, "inode")) {
		struct meta_inode *in = &rec->in;
		uint64_t mode, uid, gid, nlink;
		rec->kind = REC_INODE;
		in->ino = rec->ino = v;
		if (v <= L->read_ino) {
			snprintf(err, err_len, "line %llu: inode %llu out of order "
					       "(after %llu)",
				 (unsigned long long)rd->lineno,
				 (unsigned long long)v,
				 (unsigned long long)L->read_ino);
			return -EINVAL;
		}
		if ((r = get_u64(rd, o, "mode", &mode, err, err_len)) ||
		    (r = get_u64(rd, o, "uid", &uid, err, err_len)) ||
		    (r = get_u64(rd, o, "gid", &gid, err, err_len)) ||
		    (r = get_u64(rd, o, "nlink", &nlink, err, err_len)) ||
		    (r = get_u64(rd, o, "size", &in->size, err, err_len)) ||
		    (r = get_u64(rd, o, "rdev", &in->rdev, err, err_len)) ||
		    (r = get_u64(rd, o, "parent", &in->parent, err, err_len)) ||
		    (r = get_ts(rd, o, "atime", &in->atime, err, err_len)) ||
		    (r = get_ts(rd, o, "mtime", &in->mtime, err, err_len)) ||
		    (r = get_ts(rd, o, "ctime", &in->ctime, err, err_len)) ||
		    (r = get_ts(rd, o, "btime", &in->btime, err, err_len)))
			return r;
		if (mode > 0177777 || uid > UINT32_MAX || gid > UINT32_MAX ||
		    nlink == 0 || nlink > UINT32_MAX || in->size > META_MAX_FILE_SIZE) {
			snprintf(err, err_len, "line %llu: inode %llu has a bad "
					       "mode, owner, link count or size",
				 (unsigned long long)rd->lineno,
				 (unsigned long long)v);
			return -EINVAL;
		}
		if (v == META_ROOT_INO && !S_ISDIR(mode)) {
			snprintf(err, err_len, "line %llu: the root is not a "
					       "directory",
				 (unsigned long long)rd->lineno);
			return -EINVAL;
		}
		in->mode = (uint32_t)mode;
		in->uid = (uint32_t)uid;
		in->gid = (uint32_t)gid;
		in->nlink = (uint32_t)nlink;
		L->read_ino = v;
		L->read_mode = mode;
		if (v > L->max_ino)
			L->max_ino = v;
		L->c.inodes++;
		return 0;
	}
	/* every other record belongs to the inode just read */
	if (v != L->read_ino) {
		snprintf(err, err_len, "line %llu: '%s' record of inode %llu does "
				       "not follow that inode's record",
			 (unsigned long long)rd->lineno, t, (unsigned long long)v);
		return -EINVAL;
	}
	rec->ino = v;
	if (!strcmp(t, "symlink")) {
		rec->kind = REC_SYMLINK;
		if ((r = get_bytes(rd, o, "target", &rec->name, &rec->name_len,
				   err, err_len)))
			return r;
		if (!S_ISLNK(L->read_mode) || rec->name_len == 0 ||
		    rec->name_len > META_SYMLINK_MAX) {
			snprintf(err, err_len, "line %llu: bad symlink record",
				 (unsigned long long)rd->lineno);
			return -EINVAL;
		}
	} else if (!strcmp(t, "xattr")) {
		rec->kind = REC_XATTR;
		if ((r = get_bytes(rd, o, "name", &rec->name, &rec->name_len, err,
				   err_len)) ||
		    (r = get_bytes(rd, o, "value", &rec->data, &rec->data_len, err,
				   err_len)))
			return r;
		if (rec->name_len == 0 || rec->name_len > META_XATTR_NAME_MAX ||
		    memchr(rec->name, 0, rec->name_len) ||
		    rec->data_len > META_XATTR_SIZE_MAX) {
			snprintf(err, err_len, "line %llu: bad extended attribute",
				 (unsigned long long)rd->lineno);
			return -EINVAL;
		}
		L->c.xattrs++;
	} else if (!strcmp(t, "data")) {
		rec->kind = REC_DATA;
		if ((r = get_u64(rd, o, "off", &rec->off, err, err_len)) ||
		    (r = get_bytes(rd, o, "data", &rec->data, &rec->data_len, err,
				   err_len)))
			return r;
		if (!S_ISREG(L->read_mode) || rec->off % L->bs ||
		    rec->data_len > L->bs || rec->off >= META_MAX_FILE_SIZE) {
			snprintf(err, err_len, "line %llu: data record of inode %llu "
					       "is not one block of a regular file "
					       "at a block boundary (block size %u)",
				 (unsigned long long)rd->lineno,
				 (unsigned long long)v, L->bs);
			return -EINVAL;
		}
		L->c.blocks++;
		L->c.bytes += rec->data_len;
	} else if (!strcmp(t, "entry")) {
		uint64_t type;
		rec->kind = REC_ENTRY;
		rec->dir = v;
		if ((r = get_bytes(rd, o, "name", &rec->name, &rec->name_len, err,
				   err_len)) ||
		    (r = get_u64(rd, o, "ino", &rec->ino, err, err_len)) ||
		    (r = get_u64(rd, o, "type", &type, err, err_len)))
			return r;
		rec->type = (uint8_t)type;
		if (!S_ISDIR(L->read_mode) || rec->name_len == 0 ||
		    rec->name_len > META_NAME_MAX ||
		    memchr(rec->name, '/', rec->name_len) ||
		    memchr(rec->name, 0, rec->name_len) || rec->ino == 0 ||
		    type > 255) {
			snprintf(err, err_len, "line %llu: bad directory entry",
				 (unsigned long long)rd->lineno);
			return -EINVAL;
		}
		L->c.entries++;
	} else {
		snprintf(err, err_len, "line %llu: unknown record type '%s'",
			 (unsigned long long)rd->lineno, t);
		return -EINVAL;
	}
	return 0;
}

/* Apply the batch; runs again from the start on a conflict. */
static int apply_txn(struct store_txn *t, void *arg)
{
	struct loader *L = arg;
	struct meta_inode w = L->cur;
	int have = L->have_cur, r = 0;
	for (size_t i = 0; i < L->n && r == 0; i++) {
		struct rec *x = &L->batch[i];
		switch (x->kind) {
		case REC_INODE:
			if (have && (r = meta_inode_put(t, &w)) < 0)
				break;
			w = x->in;
			w.blocks = 0;
			have = 1;
			/* mkfs counted the root already */
			if (x->ino != META_ROOT_INO)
				r = meta_count_inodes(t, 1);
			break;
		case REC_SYMLINK:
			r = meta_symlink_put(t, x->ino, (const char *)x->name,
					     x->name_len);
			break;
		case REC_XATTR:
			r = meta_xattr_put(t, x->ino, (const char *)x->name,
					   x->data, x->data_len);
			break;
		case REC_DATA:
			if (!L->layout)
				r = meta_block_put(t, &w, x->off / L->bs, x->data,
						   x->data_len);
			else if (x->lb)
				r = layout_commit_txn(t, L->layout, x->lb, &w);
			break;
		case REC_ENTRY:
			r = meta_dentry_put(t, x->dir, (const char *)x->name,
					    x->name_len, x->ino, x->type);
			break;
		}
	}
	if (r == 0 && have)
		r = meta_inode_put(t, &w);
	L->work = w;
	L->have_work = have;
	return r;
}

static int reserve_txn(struct store_txn *t, void *arg)
{
	return meta_reserve_inos(t, *(uint64_t *)arg);
}

/* Format 2: upload each run of one inode's data records as objects. */
static int upload_batch(struct loader *L)
{
	struct layout_piece *p = NULL;
	int r = 0;
	if (!(p = malloc(L->n * sizeof(*p))))
		return -ENOMEM;
	for (size_t i = 0; i < L->n && r == 0;) {
		struct rec *x = &L->batch[i];
		if (x->kind != REC_DATA) {
			i++;
			continue;
		}
		size_t j = i, np = 0;
		while (j < L->n && L->batch[j].kind == REC_DATA &&
		       L->batch[j].ino == x->ino) {
			p[np++] = (struct layout_piece){L->batch[j].off,
							L->batch[j].data,
							L->batch[j].data_len};
			j++;
		}
		r = layout_upload(L->layout, x->ino, p, np, &x->lb);
		i = j;
	}
	free(p);
	return r;
}

static int flush_batch(struct loader *L, char *err, size_t err_len)
{
	int r = L->layout && L->n ? upload_batch(L) : 0;
	if (r == 0)
		r = L->n ? meta_write(L->m, apply_txn, L) : 0;
	for (size_t i = 0; L->layout && i < L->n; i++)
		if (L->batch[i].lb) {
			layout_batch_done(L->layout, L->batch[i].lb, r);
			L->batch[i].lb = NULL;
		}
	if (r < 0)
		snprintf(err, err_len, "cannot write to %s after line %llu: %s",
			 meta_store(L->m)->url, (unsigned long long)L->rd->lineno,
			 strerror(-r));
	else if (L->n) {
		L->cur = L->work;
		L->have_cur = L->have_work;
	}
	for (size_t i = 0; i < L->n; i++)
		rec_free(&L->batch[i]);
	L->n = 0;
	L->bytes = 0;
	progress_show(&L->p, &L->c, 0);
	return r;
}

int dump_load(struct meta *m, struct dump_reader *rd, int progress,
	      struct dump_counts *counts, char *err, size_t err_len)
{
	struct loader L = {.m = m, .rd = rd, .bs = meta_super(m)->block_size,
			   .p = {.on = progress, .verb = "loaded"}};
	int r = 0, ended = 0;
	if (rd->h.block_size != L.bs) {
		snprintf(err, err_len, "the dump has block size %u but %s has %u "
				       "(run 'cassafs mkfs --force --block-size %u')",
			 rd->h.block_size, meta_store(m)->url, L.bs,
			 rd->h.block_size);
		return -EINVAL;
	}
	if (meta_super(m)->data_url[0]) {
		struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
		if ((r = layout_open(m, meta_super(m)->data_url, &o, &L.layout, err,
				     err_len)) < 0)
			return r;
	}
	if (!(L.batch = calloc(BATCH_RECORDS, sizeof(*L.batch)))) {
		layout_close(L.layout);
		return -ENOMEM;
	}
	L.cap = BATCH_RECORDS;
	for (;;) {
		json_t *o = read_record(rd, &r, err, err_len);
		if (!o)
			break;
		if (ended) {
			snprintf(err, err_len, "line %llu: a record after the end "
					       "record", (unsigned long long)rd->lineno);
			json_decref(o);
			r = -EINVAL;
			break;
		}
		struct rec *x = &L.batch[L.n];
		r = parse_record(&L, o, x, err, err_len);
		json_decref(o);
		if (r < 0)
			break;
		if (r == 1) {
			ended = 1;
			r = 0;
			continue;
		}
		L.bytes += x->data_len + x->name_len;
		if (++L.n == L.cap || L.bytes >= BATCH_BYTES)
			if ((r = flush_batch(&L, err, err_len)) < 0)
				break;
	}
	if (r == 0 && !ended) {
		snprintf(err, err_len, "the dump ends at line %llu without its end "
				       "record: it was cut short, or the dump "
				       "failed (see its messages)",
			 (unsigned long long)rd->lineno);
		r = -EINVAL;
	}
	if (r == 0 && L.c.inodes == 0) {
		snprintf(err, err_len, "the dump holds no inodes");
		r = -EINVAL;
	}
	if (r == 0)
		r = flush_batch(&L, err, err_len);
	else
		for (size_t i = 0; i < L.n; i++)
			rec_free(&L.batch[i]);
	uint64_t upto = rd->h.next_ino > L.max_ino ? rd->h.next_ino : L.max_ino;
	if (r == 0 && (r = meta_write(m, reserve_txn, &upto)) < 0)
		snprintf(err, err_len, "cannot write to %s: %s",
			 meta_store(m)->url, strerror(-r));
	if (r == 0 && (r = store_sync(meta_store(m))) < 0)
		snprintf(err, err_len, "cannot make %s durable: %s",
			 meta_store(m)->url, strerror(-r));
	if (r == 0)
		progress_show(&L.p, &L.c, 1);
	else if (L.p.on)
		fputc('\n', stderr);
	free(L.batch);
	layout_close(L.layout);
	*counts = L.c;
	return r;
}

struct empty_check {
	uint64_t inodes, blocks;
	int root_empty;
};

static int empty_txn(struct store_txn *t, void *arg)
{
	struct empty_check *e = arg;
	int r = meta_usage(t, &e->inodes, &e->blocks, NULL);
	if (r < 0)
		return r;
	r = meta_dir_is_empty(t, META_ROOT_INO);
	if (r < 0)
		return r;
	e->root_empty = r;
	return 0;
}

int dump_fs_is_empty(struct meta *m, uint64_t *inodes)
{
	struct empty_check e;
	int r = meta_read(m, empty_txn, &e);
	if (r < 0)
		return r;
	*inodes = e.inodes;
	return e.inodes <= 1 && e.blocks == 0 && e.root_empty;
}
