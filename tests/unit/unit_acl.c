/*
 * unit_acl — POSIX ACL values (src/acl.c): validation, the mode an ACL
 * implies, chmod on an ACL and inheritance at create, on values built in
 * the kernel's xattr format.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"
#include "test.h"

enum { UO = 0x01, U = 0x02, GO = 0x04, G = 0x08, M = 0x10, O = 0x20 };
struct e {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t build(uint8_t *buf, const struct e *e, int n)
{
	uint32_t v = htole32(2);
	memcpy(buf, &v, 4);
	for (int i = 0; i < n; i++) {
		uint16_t t = htole16(e[i].tag), p = htole16(e[i].perm);
		uint32_t id = htole32(e[i].id);
		memcpy(buf + 4 + 8 * i, &t, 2);
		memcpy(buf + 6 + 8 * i, &p, 2);
		memcpy(buf + 8 + 8 * i, &id, 4);
	}
	return 4 + 8 * (size_t)n;
}

static int perm_of(const uint8_t *buf, size_t len, uint16_t tag, uint32_t id)
{
	for (size_t o = 4; o + 8 <= len; o += 8) {
		uint16_t t, p;
		uint32_t i;
		memcpy(&t, buf + o, 2);
		memcpy(&p, buf + o + 2, 2);
		memcpy(&i, buf + o + 4, 4);
		if (le16toh(t) == tag && (tag != U && tag != G ? 1 : le32toh(i) == id))
			return le16toh(p);
	}
	return -1;
}

int main(void)
{
	uint8_t b[256];
	size_t n;
	mode_t m;

	CHECK(acl_is_name("system.posix_acl_access"), "access name");
	CHECK(acl_is_name("system.posix_acl_default"), "default name");
	CHECK(!acl_is_name("system.posix_acl_accessx"), "longer name");
	CHECK(!acl_is_name("user.posix_acl_access"), "other namespace");

	/* validation */
	struct e base[] = {{UO, 7}, {GO, 5}, {O, 4}};
	n = build(b, base, 3);
	CHECK_EQ(acl_check(b, n, 0), 0);
	CHECK_EQ(acl_check(b, n - 1, 0), -EINVAL);
	CHECK_EQ(acl_check(b, 4, 0), -EINVAL);
	CHECK_EQ(acl_check(b, 4, 1), 0);
	CHECK_EQ(acl_check(b, 0, 1), 0);
	CHECK_EQ(acl_check(b, 0, 0), -EINVAL);
	uint32_t v1 = htole32(1);
	memcpy(b, &v1, 4);
	CHECK_EQ(acl_check(b, n, 0), -EINVAL); /* version */
	struct e nomask[] = {{UO, 7}, {U, 6, 1000}, {GO, 5}, {O, 4}};
	CHECK_EQ(acl_check(b, build(b, nomask, 4), 0), -EINVAL);
	struct e twouo[] = {{UO, 7}, {UO, 7}, {GO, 5}, {O, 4}};
	CHECK_EQ(acl_check(b, build(b, twouo, 4), 0), -EINVAL);
	struct e noother[] = {{UO, 7}, {GO, 5}};
	CHECK_EQ(acl_check(b, build(b, noother, 2), 0), -EINVAL);
	struct e badperm[] = {{UO, 8}, {GO, 5}, {O, 4}};
	CHECK_EQ(acl_check(b, build(b, badperm, 3), 0), -EINVAL);
	struct e badtag[] = {{UO, 7}, {0x40, 1}, {GO, 5}, {O, 4}};
	CHECK_EQ(acl_check(b, build(b, badtag, 4), 0), -EINVAL);

	/* the mode an ACL implies */
	n = build(b, base, 3);
	CHECK_EQ(acl_mode(b, n, &m), 1);
	CHECK_EQ(m, 0754);
	struct e full[] = {{UO, 6}, {U, 7, 1000}, {GO, 4}, {G, 2, 50}, {M, 6}, {O, 0}};
	n = build(b, full, 6);
	CHECK_EQ(acl_check(b, n, 0), 0);
	CHECK_EQ(acl_mode(b, n, &m), 0);
	CHECK_EQ(m, 0660); /* group bits are the mask */

	/* chmod: owner, mask, other; named entries and the group entry stay */
	acl_chmod(b, n, 0751);
	CHECK_EQ(perm_of(b, n, UO, 0), 7);
	CHECK_EQ(perm_of(b, n, M, 0), 5);
	CHECK_EQ(perm_of(b, n, O, 0), 1);
	CHECK_EQ(perm_of(b, n, U, 1000), 7);
	CHECK_EQ(perm_of(b, n, GO, 0), 4);
	CHECK_EQ(perm_of(b, n, G, 50), 2);
	n = build(b, base, 3);
	acl_chmod(b, n, 0640); /* no mask: the group entry */
	CHECK_EQ(perm_of(b, n, GO, 0), 4);
	CHECK_EQ(perm_of(b, n, O, 0), 0);

	/* create: entries limited by the mode, the mode by the ACL */
	struct e def[] = {{UO, 7}, {U, 7, 1000}, {GO, 5}, {M, 7}, {O, 0}};
	n = build(b, def, 5);
	m = S_IFREG | 0666;
	CHECK_EQ(acl_create(b, n, &m), 1);
	CHECK_EQ(m, S_IFREG | 0660);
	CHECK_EQ(perm_of(b, n, UO, 0), 6);
	CHECK_EQ(perm_of(b, n, M, 0), 6);
	CHECK_EQ(perm_of(b, n, O, 0), 0);
	CHECK_EQ(perm_of(b, n, U, 1000), 7); /* named entries stay whole */
	CHECK_EQ(perm_of(b, n, GO, 0), 5);
	n = build(b, base, 3);
	m = S_IFDIR | S_ISGID | 0777;
	CHECK_EQ(acl_create(b, n, &m), 0); /* three entries: the mode says it all */
	CHECK_EQ(m, S_IFDIR | S_ISGID | 0754);
	m = S_IFREG | 0600;
	n = build(b, base, 3);
	CHECK_EQ(acl_create(b, n, &m), 0);
	CHECK_EQ(m, S_IFREG | 0600);
	CHECK_EQ(perm_of(b, n, GO, 0), 0);
	return test_done();
}
