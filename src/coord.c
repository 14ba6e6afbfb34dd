/*
 * coord.c — picks the coordination engine from the URL scheme.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"

extern const struct coord_ops coord_local_ops;
extern const struct coord_ops coord_zk_ops;

static const struct coord_ops *const engines[] = {
	&coord_local_ops,
	&coord_zk_ops,
};

int coord_open(const char *url, const char *fsid, struct coord **out,
	       char *err, size_t err_len)
{
	const char *sep = strstr(url, "://");
	size_t n = sep ? (size_t)(sep - url) : 0;
	for (size_t i = 0; sep && i < sizeof(engines) / sizeof(engines[0]); i++) {
		if (strlen(engines[i]->scheme) != n ||
		    strncmp(engines[i]->scheme, url, n))
			continue;
		int r = engines[i]->open(url, fsid, out, err, err_len);
		if (r == 0)
			(*out)->ops = engines[i];
		return r;
	}
	snprintf(err, err_len,
		 "'%s' is not a coordinator URL (expected local:///DIR or "
		 "zk://HOST:PORT[,HOST:PORT]/CHROOT)", url);
	return -EINVAL;
}

void coord_close(struct coord *c)
{
	if (c)
		c->ops->close(c);
}

int coord_register_mount(struct coord *c, const struct coord_mount_info *m,
			 char *err, size_t err_len)
{
	return c->ops->register_mount(c, m, err, err_len);
}

int coord_list_mounts(struct coord *c, coord_mount_fn fn, void *arg)
{
	return c->ops->list_mounts(c, fn, arg);
}

void coord_fill_mount_info(struct coord_mount_info *m, const char *mountpoint)
{
	memset(m, 0, sizeof(*m));
	gethostname(m->host, sizeof(m->host) - 1);
	snprintf(m->mountpoint, sizeof(m->mountpoint), "%s",
		 mountpoint ? mountpoint : "");
	snprintf(m->version, sizeof(m->version), "%s", CASSAFS_VERSION);
	m->pid = getpid();
	m->since = (int64_t)time(NULL);
}

int coord_format_mount_info(char *buf, size_t len, const struct coord_mount_info *m)
{
	int n = snprintf(buf, len, "host=%s\npid=%d\nsince=%" PRId64
			 "\nversion=%s\nid=%016" PRIx64 "\nseen=%" PRId64
			 "\nmountpoint=%s\n",
			 m->host, (int)m->pid, m->since, m->version, m->id,
			 m->seen, m->mountpoint);
	if (n >= 0 && (size_t)n < len && m->floor)
		n += snprintf(buf + n, len - (size_t)n, "floor=%016" PRIx64 "\n",
			      m->floor);
	return n;
}

void coord_parse_mount_info(const char *buf, struct coord_mount_info *m)
{
	memset(m, 0, sizeof(*m));
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		if (!strncmp(p, "host=", 5))
			snprintf(m->host, sizeof(m->host), "%.*s", n - 5, p + 5);
		else if (!strncmp(p, "pid=", 4))
			m->pid = atoi(p + 4);
		else if (!strncmp(p, "since=", 6))
			m->since = strtoll(p + 6, NULL, 10);
		else if (!strncmp(p, "id=", 3))
			m->id = strtoull(p + 3, NULL, 16);
		else if (!strncmp(p, "seen=", 5))
			m->seen = strtoll(p + 5, NULL, 10);
		else if (!strncmp(p, "floor=", 6))
			m->floor = strtoull(p + 6, NULL, 16);
		else if (!strncmp(p, "version=", 8))
			snprintf(m->version, sizeof(m->version), "%.*s", n - 8, p + 8);
		else if (!strncmp(p, "mountpoint=", 11))
			snprintf(m->mountpoint, sizeof(m->mountpoint), "%.*s",
				 n - 11, p + 11);
	}
}

int coord_has_locks(const struct coord *c)
{
	return c->ops->lock != NULL;
}

int coord_lock(struct coord *c, const char *name, enum coord_lock_mode mode,
	       int timeout_ms, struct coord_lock **out)
{
	if (!c->ops->lock)
		return -EOPNOTSUPP;
	return c->ops->lock(c, name, mode, timeout_ms, out);
}

void coord_unlock(struct coord *c, struct coord_lock *l)
{
	if (l)
		c->ops->unlock(l);
}

int coord_has_plocks(const struct coord *c)
{
	return c->ops->plock_set != NULL;
}

int coord_plock_get(struct coord *c, struct coord_plock *inout)
{
	return c->ops->plock_get ? c->ops->plock_get(c, inout) : -EOPNOTSUPP;
}

int coord_plock_set(struct coord *c, const struct coord_plock *pl, int wait)
{
	return c->ops->plock_set ? c->ops->plock_set(c, pl, wait) : -EOPNOTSUPP;
}

int coord_plock_cancel(struct coord *c, uint64_t ino, uint64_t owner)
{
	return c->ops->plock_cancel ? c->ops->plock_cancel(c, ino, owner)
				    : -ENOENT;
}

int coord_has_notices(const struct coord *c)
{
	return c->ops->publish != NULL;
}

int coord_watch(struct coord *c, coord_notice_fn fn, void *arg)
{
	return c->ops->watch ? c->ops->watch(c, fn, arg) : -EOPNOTSUPP;
}

int coord_publish(struct coord *c, uint64_t ino, uint64_t parent,
		  const char *name, size_t name_len)
{
	return c->ops->publish ? c->ops->publish(c, ino, parent, name, name_len)
			       : 0;
}
