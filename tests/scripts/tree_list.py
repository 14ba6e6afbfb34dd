#!/usr/bin/env python3
"""List a directory tree for comparison: one line per name (path bytes
escaped), with inode number, type, mode, owner, link count, size, blocks,
rdev, mtime/ctime in ns (atime with --atime), symlink target, every
extended attribute and (with --hash) the SHA-256 of a file's contents.
usage: tree_list.py [--atime] [--hash] DIR"""
import hashlib, os, stat, sys

args = sys.argv[1:]
atime = "--atime" in args
want_hash = "--hash" in args
root = os.fsencode([a for a in args if not a.startswith("--")][0])

def esc(b):
    return b.decode("utf-8", "backslashreplace").encode("unicode_escape").decode()

out = []
def walk(rel):
    path = os.path.join(root, rel) if rel else root
    st = os.lstat(path)
    f = [esc(rel or b"."), "ino=%d" % st.st_ino, "mode=%o" % st.st_mode,
         "uid=%d" % st.st_uid, "gid=%d" % st.st_gid, "nlink=%d" % st.st_nlink,
         "size=%d" % st.st_size, "blocks=%d" % st.st_blocks,
         "rdev=%d" % st.st_rdev, "mtime=%d" % st.st_mtime_ns,
         "ctime=%d" % st.st_ctime_ns]
    if atime:
        f.append("atime=%d" % st.st_atime_ns)
    if stat.S_ISLNK(st.st_mode):
        f.append("target=" + esc(os.readlink(path)))
    for name in sorted(os.listxattr(path, follow_symlinks=False)):
        val = os.getxattr(path, name, follow_symlinks=False)
        f.append("xattr:%s=%s" % (name, val.hex()))
    if want_hash and stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        f.append("sha256=" + h.hexdigest())
    out.append(" ".join(f))
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(os.listdir(path)):
            walk(os.path.join(rel, name) if rel else name)

walk(b"")
print("\n".join(out))
