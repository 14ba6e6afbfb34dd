/*
 * acl.c — POSIX.1e ACL values (see acl.h).
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "acl.h"

#define ACL_VERSION 2
#define TAG_USER_OBJ 0x01
#define TAG_USER 0x02
#define TAG_GROUP_OBJ 0x04
#define TAG_GROUP 0x08
#define TAG_MASK 0x10
#define TAG_OTHER 0x20

struct entry {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t count(size_t len)
{
	return len < 4 ? 0 : (len - 4) / 8;
}

static struct entry get(const void *val, size_t i)
{
	const uint8_t *p = (const uint8_t *)val + 4 + 8 * i;
	uint16_t tag, perm;
	uint32_t id;
	memcpy(&tag, p, 2);
	memcpy(&perm, p + 2, 2);
	memcpy(&id, p + 4, 4);
	return (struct entry){le16toh(tag), le16toh(perm), le32toh(id)};
}

static void set_perm(void *val, size_t i, unsigned perm)
{
	uint16_t le = htole16((uint16_t)perm);
	memcpy((uint8_t *)val + 4 + 8 * i + 2, &le, 2);
}

int acl_is_name(const char *name)
{
	return !strcmp(name, ACL_XATTR_ACCESS) || !strcmp(name, ACL_XATTR_DEFAULT);
}

int acl_check(const void *val, size_t len, int allow_empty)
{
	uint32_t version;
	if (len < 4 || (len - 4) % 8)
		return len == 0 && allow_empty ? 0 : -EINVAL;
	memcpy(&version, val, 4);
	if (le32toh(version) != ACL_VERSION)
		return -EINVAL;
	size_t n = count(len);
	if (n == 0)
		return allow_empty ? 0 : -EINVAL;
	int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
	for (size_t i = 0; i < n; i++) {
		struct entry e = get(val, i);
		if (e.perm & ~7u)
			return -EINVAL;
		switch (e.tag) {
		case TAG_USER_OBJ: user_obj++; break;
		case TAG_GROUP_OBJ: group_obj++; break;
		case TAG_OTHER: other++; break;
		case TAG_MASK: mask++; break;
		case TAG_USER:
		case TAG_GROUP: named++; break;
		default: return -EINVAL;
		}
	}
	if (user_obj != 1 || group_obj != 1 || other != 1 || mask > 1 ||
	    (named && !mask))
		return -EINVAL;
	return 0;
}

int acl_mode(const void *val, size_t len, mode_t *perm)
{
	unsigned u = 0, g = 0, o = 0, m = 0;
	int has_mask = 0, equiv = 1;
	for (size_t i = 0; i < count(len); i++) {
		struct entry e = get(val, i);
		switch (e.tag) {
		case TAG_USER_OBJ: u = e.perm; break;
		case TAG_GROUP_OBJ: g = e.perm; break;
		case TAG_OTHER: o = e.perm; break;
		case TAG_MASK: m = e.perm; has_mask = 1; equiv = 0; break;
		default: equiv = 0; break;
		}
	}
	*perm = (mode_t)((u << 6) | ((has_mask ? m : g) << 3) | o);
	return equiv;
}

void acl_chmod(void *val, size_t len, mode_t mode)
{
	size_t group_obj = (size_t)-1, mask = (size_t)-1;
	for (size_t i = 0; i < count(len); i++) {
		struct entry e = get(val, i);
		if (e.tag == TAG_USER_OBJ)
			set_perm(val, i, (mode >> 6) & 7);
		else if (e.tag == TAG_OTHER)
			set_perm(val, i, mode & 7);
		else if (e.tag == TAG_GROUP_OBJ)
			group_obj = i;
		else if (e.tag == TAG_MASK)
			mask = i;
	}
	if (mask != (size_t)-1)
		set_perm(val, mask, (mode >> 3) & 7);
	else if (group_obj != (size_t)-1)
		set_perm(val, group_obj, (mode >> 3) & 7);
}

int acl_create(void *val, size_t len, mode_t *mode)
{
	unsigned m = *mode & 0777;
	size_t group_obj = (size_t)-1, mask = (size_t)-1;
	int not_equiv = 0;
	for (size_t i = 0; i < count(len); i++) {
		struct entry e = get(val, i);
		switch (e.tag) {
		case TAG_USER_OBJ:
			e.perm &= (m >> 6) & 7;
			set_perm(val, i, e.perm);
			m &= (e.perm << 6) | 077;
			break;
		case TAG_OTHER:
			e.perm &= m & 7;
			set_perm(val, i, e.perm);
			m &= e.perm | 0770;
			break;
		case TAG_GROUP_OBJ:
			group_obj = i;
			break;
		case TAG_MASK:
			mask = i;
			not_equiv = 1;
			break;
		default:
			not_equiv = 1;
			break;
		}
	}
	size_t g = mask != (size_t)-1 ? mask : group_obj;
	if (g != (size_t)-1) {
		unsigned p = get(val, g).perm & ((m >> 3) & 7);
		set_perm(val, g, p);
		m &= (p << 3) | 0707;
	}
	*mode = (*mode & ~(mode_t)0777) | m;
	return not_equiv;
}
