/*
 * acl.h — POSIX.1e ACLs in the form the Linux kernel hands them to a
 * filesystem: the values of the xattrs system.posix_acl_access and
 * system.posix_acl_default (little-endian: a u32 version 2, then entries
 * of u16 tag, u16 perm, u32 id).  Pure functions on such a value; vfs
 * stores it like any xattr and keeps the mode in step with it.
 */
#ifndef CASSAFS_ACL_H
#define CASSAFS_ACL_H

#include <stddef.h>
#include <sys/types.h>

#define ACL_XATTR_ACCESS "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"

/* 1 for the two ACL xattr names, else 0. */
int acl_is_name(const char *name);

/*
 * Check an ACL value: version, size, known tags and perms, exactly one
 * owner/group/other entry, a mask when named users or groups are there.
 * An empty value or one with no entries is valid only with allow_empty
 * (a default ACL being removed).  0 or -EINVAL.
 */
int acl_check(const void *val, size_t len, int allow_empty);

/*
 * The permission bits (0777) the ACL gives the owner, group class (the
 * mask if there is one, else the owning group) and others; returns 1 if
 * the ACL says nothing more than those bits (owner, group, other only).
 */
int acl_mode(const void *val, size_t len, mode_t *perm);

/* chmod: set the owner, group-class (mask or group) and other entries
 * from mode's permission bits, in place. */
void acl_chmod(void *val, size_t len, mode_t mode);

/*
 * A new inode under a directory with default ACL val (copied into val by
 * the caller, changed in place into the new inode's access ACL): entries
 * are limited by the requested mode and *mode is limited by the ACL, as
 * posix_acl_create does.  Returns 1 if the access ACL must be stored (it
 * has more than the mode says), 0 if the mode alone says it all.
 */
int acl_create(void *val, size_t len, mode_t *mode);

#endif
