#!/usr/bin/env python3
"""Stand in for systemd's notify socket: bind a unix datagram socket at
SOCKET, print every message (one 'MSG key=value|key=value' line), and when
READY=1 arrives check at that instant that MOUNTPOINT is answered by the
FUSE daemon (a FUSE root has inode 1; the bare directory does not):
prints 'READY live' or 'READY early'.  Ends after STOPPING=1 or TIMEOUT s.
usage: notify_listen.py SOCKET MOUNTPOINT TIMEOUT"""
import os, socket, sys, time

path, mp, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(path + ".bound", "w").close()
end = time.time() + timeout
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        data = s.recv(4096).decode()
    except socket.timeout:
        break
    fields = data.strip().split("\n")
    print("MSG " + "|".join(fields), flush=True)
    if "READY=1" in fields:
        try:
            live = os.stat(mp).st_ino == 1
        except OSError as e:
            live = False
            print("stat error", e, flush=True)
        print("READY live" if live else "READY early", flush=True)
    if "STOPPING=1" in fields:
        print("STOPPING seen", flush=True)
        break
print("listener done", flush=True)
