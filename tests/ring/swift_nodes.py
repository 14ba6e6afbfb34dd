#!/usr/bin/python3
"""swift_nodes.py RING.gz [ACCOUNT CONTAINER] < KEYS — where Swift's own
code (swift.common.ring.Ring, hash_path: what swift-get-nodes runs) places
each object, for many keys in one process (swift-get-nodes starts Python
once per key: seconds each on a loaded machine).  Prints one line per key:
    KEY HASH URL URL URL...
with the URL of each primary (http://IP:PORT/DEVICE/PART/ACCOUNT/CONTAINER/
OBJECT, quoted as swift-get-nodes prints it)."""
import sys
from urllib.parse import quote

from swift.common.ring import Ring
from swift.common.utils import hash_path

ring = Ring(sys.argv[1])
acct = sys.argv[2] if len(sys.argv) > 2 else "cassafs"
cont = sys.argv[3] if len(sys.argv) > 3 else "data"
for line in sys.stdin:
    key = line.rstrip("\n")
    if not key:
        continue
    part, nodes = ring.get_nodes(acct, cont, key)
    urls = ["http://%s:%s/%s/%s/%s" % (
        "[%s]" % n["ip"] if ":" in n["ip"] else n["ip"], n["port"],
        quote(n["device"]), part, quote("%s/%s/%s" % (acct, cont, key)))
        for n in nodes]
    print(key, hash_path(acct, cont, key), *urls)
