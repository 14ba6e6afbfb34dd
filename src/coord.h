/*
 * coord.h — coordination: who has the filesystem mounted, locks that the
 * store cannot provide, POSIX record locks across mounts, change notices.
 *
 * Engines: coord_local.c ("local:///DIR": one host, one mount, a lock file
 * in DIR names the holder) and coord_zk.c ("zk://HOST:PORT[,…]/CHROOT").
 * Optional operations are NULL in engines that do not need them; callers
 * test with coord_has_*().  All functions return 0 or a negative errno.
 */
#ifndef CASSAFS_COORD_H
#define CASSAFS_COORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct coord;

struct coord_mount_info {
	char host[256];
	char mountpoint[1024];
	char version[32];
	pid_t pid;
	int64_t since; /* seconds since the epoch */
	uint64_t id;   /* the mount's session id in the store (0: none) */
	int64_t seen;  /* store records: last sign of life (epoch seconds) */
	uint64_t floor; /* store records: lowest object id the mount may still
			 * commit (layout_floor_txn; 0: not published) */
};

typedef int (*coord_mount_fn)(void *arg, const struct coord_mount_info *m);

enum coord_lock_mode { COORD_SHARED, COORD_EXCLUSIVE };
struct coord_lock;

/* A POSIX record lock (fcntl) or a whole-file flock; end is inclusive,
 * UINT64_MAX = to end of file.  type is F_RDLCK, F_WRLCK or F_UNLCK. */
struct coord_plock {
	uint64_t ino;
	uint64_t owner; /* lock owner as FUSE gives it */
	uint64_t start, end;
	int type;
	pid_t pid;
	int flock; /* 1 = flock(2) semantics */
};

/* A change notice: ino's data or attributes changed, or the entry
 * (parent, name) changed.  parent 0 = no entry part.  ino 0 = notices may
 * have been lost (e.g. the coordination session was replaced): drop every
 * cached entry and attribute.  Called on a thread of the engine's own, never
 * on a thread that the engine needs to make progress. */
typedef void (*coord_notice_fn)(void *arg, uint64_t ino, uint64_t parent,
				const char *name, size_t name_len);

struct coord_ops {
	const char *scheme;
	/* fsid: the filesystem's uuid (string), used to name its namespace */
	int (*open)(const char *url, const char *fsid, struct coord **out,
		    char *err, size_t err_len);
	void (*close)(struct coord *c);
	/* Announce this mount; -EBUSY (err names the holder) if the engine
	 * allows one mount only and another holds it. */
	int (*register_mount)(struct coord *c, const struct coord_mount_info *m,
			      char *err, size_t err_len);
	int (*list_mounts)(struct coord *c, coord_mount_fn fn, void *arg);
	/* optional: named locks (names, inodes, blocks) */
	int (*lock)(struct coord *c, const char *name, enum coord_lock_mode mode,
		    int timeout_ms, struct coord_lock **out);
	void (*unlock)(struct coord_lock *l);
	/* optional: POSIX record locks and flock across mounts */
	int (*plock_get)(struct coord *c, struct coord_plock *inout);
	int (*plock_set)(struct coord *c, const struct coord_plock *pl, int wait);
	/* optional: change notices between mounts */
	int (*watch)(struct coord *c, coord_notice_fn fn, void *arg);
	int (*publish)(struct coord *c, uint64_t ino, uint64_t parent,
		       const char *name, size_t name_len);
	/* optional: end a blocked plock_set(wait=1) of (ino, owner) with
	 * -EINTR (FUSE interrupt); -ENOENT if none is waiting */
	int (*plock_cancel)(struct coord *c, uint64_t ino, uint64_t owner);
};

struct coord {
	const struct coord_ops *ops;
};

int coord_open(const char *url, const char *fsid, struct coord **out,
	       char *err, size_t err_len);
void coord_close(struct coord *c);
int coord_register_mount(struct coord *c, const struct coord_mount_info *m,
			 char *err, size_t err_len);
int coord_list_mounts(struct coord *c, coord_mount_fn fn, void *arg);
/* The "key=value" lines a mount record is stored as, and back. */
int coord_format_mount_info(char *buf, size_t len,
			    const struct coord_mount_info *m);
void coord_parse_mount_info(const char *buf, struct coord_mount_info *m);
/* Fill host, pid, version, since for this process. */
void coord_fill_mount_info(struct coord_mount_info *m, const char *mountpoint);

int coord_has_locks(const struct coord *c);
int coord_lock(struct coord *c, const char *name, enum coord_lock_mode mode,
	       int timeout_ms, struct coord_lock **out);
void coord_unlock(struct coord *c, struct coord_lock *l);

int coord_has_plocks(const struct coord *c);
int coord_plock_get(struct coord *c, struct coord_plock *inout);
int coord_plock_set(struct coord *c, const struct coord_plock *pl, int wait);
/* For a FUSE interrupt of F_SETLKW / blocking flock: the waiting call
 * returns -EINTR.  A request interrupted just before it started waiting,
 * or just after it got the lock, is not affected: if fuse_req_interrupted()
 * and plock_set returned 0, unlock again and reply EINTR. */
int coord_plock_cancel(struct coord *c, uint64_t ino, uint64_t owner);

int coord_has_notices(const struct coord *c);
int coord_watch(struct coord *c, coord_notice_fn fn, void *arg);
int coord_publish(struct coord *c, uint64_t ino, uint64_t parent,
		  const char *name, size_t name_len);

#endif
