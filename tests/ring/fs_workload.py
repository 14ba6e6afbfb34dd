#!/usr/bin/env python3
"""fs_workload.py — a write and read workload across two mounts of one
filesystem, for tests/t_ring_fs.sh.

  fs_workload.py run WDIR RDIR LOG STOPFILE MAXSECS
      until STOPFILE exists (or MAXSECS pass): write a file of random size
      in WDIR (fsync, close: then it is acknowledged and goes to LOG as
      "NAME MD5"), read it back through RDIR (the other mount) and one
      earlier file too, checking the MD5.  Exit 1 at the first failed
      write, read or mismatch (message on stderr); prints the counts.
  fs_workload.py verify DIR LOG...
      every file of each LOG reads back in DIR with its MD5.
"""
import hashlib, os, random, sys, time


def md5_of(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def run(wdir, rdir, log, stop, maxsecs):
    rnd = random.Random(os.getpid())
    acked = []
    writes = reads = 0
    t_end = time.time() + maxsecs
    with open(log, "a") as lf:
        while not os.path.exists(stop) and time.time() < t_end:
            name = "f%05d" % writes
            size = rnd.choice([1, 4096, 65536, 300000, 1 << 20, 3 << 20])
            data = os.urandom(size)
            p = os.path.join(wdir, name)
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, data)
                os.fsync(fd)
                os.close(fd)
            except OSError as e:
                sys.stderr.write("write %s: %s\n" % (p, e))
                return 1
            md5 = hashlib.md5(data).hexdigest()
            lf.write("%s %s\n" % (name, md5))
            lf.flush()
            acked.append((name, md5))
            writes += 1
            for n, m in (acked[-1], rnd.choice(acked)):
                q = os.path.join(rdir, n)
                try:
                    got = md5_of(q)
                except OSError as e:
                    sys.stderr.write("read %s: %s\n" % (q, e))
                    return 1
                if got != m:
                    sys.stderr.write("read %s: MD5 %s, written %s\n" % (q, got, m))
                    return 1
                reads += 1
    print("%d writes, %d reads" % (writes, reads))
    return 0 if writes > 0 else 1


def verify(d, logs):
    n = 0
    for log in logs:
        for line in open(log):
            name, m = line.split()
            p = os.path.join(d, name)
            try:
                got = md5_of(p)
            except OSError as e:
                sys.stderr.write("verify %s: %s\n" % (p, e))
                return 1
            if got != m:
                sys.stderr.write("verify %s: MD5 %s, written %s\n" % (p, got, m))
                return 1
            n += 1
    print("%d files verified" % n)
    return 0 if n > 0 else 1


if __name__ == "__main__":
    a = sys.argv
    if len(a) == 7 and a[1] == "run":
        sys.exit(run(a[2], a[3], a[4], a[5], float(a[6])))
    if len(a) >= 4 and a[1] == "verify":
        sys.exit(verify(a[2], a[3:]))
    sys.stderr.write(__doc__)
    sys.exit(2)
