#!/usr/bin/python3
"""Swift itself as the test oracle for `cassafs ring` (run with Debian's
/usr/bin/python3 and python3-swift).

  swift_oracle.py parts RING NSAMPLE SEED     primaries + all handoffs of
                                             partitions (all if NSAMPLE=0)
  swift_oracle.py keys RING PREFIX SUFFIX FILE  partition, primaries and
                                             handoffs of each /a[/c[/o]] line
  swift_oracle.py metrics RING               balance and dispersion as
                                             Swift's RingBuilder computes them
  swift_oracle.py moved OLD NEW              moved part-replicas and the most
                                             replicas of one partition moved
  swift_oracle.py serve                      read "OUTFILE COMMAND ARGS..."
                                             lines, answer "ok" or "error"
                                             (one Python start for a test)
Output lines are "KEY|PART|PRIMARY,IDS|HANDOFF,IDS" or "NAME VALUE".
"""
import random
import sys
from array import array

from swift.common import utils
from swift.common.ring import Ring, RingBuilder, RingData


def nodes_line(ring, key, part):
    prim = [d['id'] for d in ring.get_part_nodes(part)]
    hand = [d['id'] for d in ring.get_more_nodes(part)]
    return '%s|%d|%s|%s' % (key, part, ','.join(map(str, prim)),
                             ','.join(map(str, hand)))


def cmd_parts(path, nsample, seed):
    ring = Ring(path)
    parts = ring.partition_count
    if nsample <= 0 or nsample >= parts:
        sample = range(parts)
    else:
        sample = sorted(random.Random(seed).sample(range(parts), nsample))
    for p in sample:
        print(nodes_line(ring, str(p), p))


def cmd_keys(path, prefix, suffix, keyfile):
    # pass the hash path secrets explicitly instead of via swift.conf
    utils.HASH_PATH_PREFIX = prefix.encode('utf-8')
    utils.HASH_PATH_SUFFIX = suffix.encode('utf-8')
    ring = Ring(path)
    with open(keyfile, encoding='utf-8') as f:
        for line in f:
            key = line.rstrip('\n')
            if not key:
                continue
            parts = key[1:].split('/', 2)
            part = ring.get_part(*parts)
            print(nodes_line(ring, key, part))


def builder_from_ring(path):
    rd = RingData.load(path)
    rows = rd._replica2part2dev_id
    nparts = len(rows[0])
    replicas = sum(len(r) for r in rows) / float(nparts)
    b = RingBuilder(32 - rd._part_shift, replicas, 1)
    for dev in rd.devs:
        if dev is not None:
            b.add_dev(dict(dev))
    b._replica2part2dev = [array('H', r) for r in rows]
    for dev in b._iter_devs():
        dev['parts'] = 0
    for row in b._replica2part2dev:
        for d in row:
            b.devs[d]['parts'] += 1
    return b


def cmd_metrics(path):
    b = builder_from_ring(path)
    b._build_dispersion_graph()
    print('balance %.6f' % b.get_balance())
    print('dispersion %.6f' % b.dispersion)


def cmd_moved(old, new):
    a = RingData.load(old)._replica2part2dev_id
    b = RingData.load(new)._replica2part2dev_id
    moved, worst = 0, 0
    for p in range(len(a[0])):
        n = sum(1 for r in range(len(a)) if p < len(a[r]) and p < len(b[r])
                and a[r][p] != b[r][p])
        moved += n
        worst = max(worst, n)
    print('moved %d' % moved)
    print('max_per_part %d' % worst)


def run(argv):
    cmd = argv[0]
    if cmd == 'parts':
        cmd_parts(argv[1], int(argv[2]), int(argv[3]))
    elif cmd == 'keys':
        cmd_keys(*argv[1:5])
    elif cmd == 'metrics':
        cmd_metrics(argv[1])
    elif cmd == 'moved':
        cmd_moved(argv[1], argv[2])
    else:
        raise ValueError('unknown command %s' % cmd)


def serve():
    import shlex
    import traceback
    real = sys.stdout
    for line in sys.stdin:
        args = shlex.split(line)
        if not args:
            continue
        try:
            with open(args[0], 'w') as out:
                sys.stdout = out
                run(args[1:])
            answer = 'ok'
        except Exception:
            traceback.print_exc(file=sys.stderr)
            answer = 'error'
        finally:
            sys.stdout = real
        real.write(answer + '\n')
        real.flush()


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve()
    else:
        run(sys.argv[1:])
