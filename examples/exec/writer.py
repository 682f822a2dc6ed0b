"""Writes one byte every INTERVAL milliseconds (default 40) to the peer that `rstlab exec` names
in RSTLAB_PEER_HOST and RSTLAB_PEER_PORT, at most COUNT times (default 6), with Nagle's algorithm
off so that each write leaves at once; prints each write's result and when it was made, and
stops at the first error.

    rstlab exec --delay 50ms "client write 1; server read 1; server close; client write 1" \
        -- python3 examples/exec/writer.py 40 6
"""

import errno
import os
import socket
import sys
import time

interval = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.040
count = int(sys.argv[2]) if len(sys.argv) > 2 else 6
peer = (os.environ["RSTLAB_PEER_HOST"], int(os.environ["RSTLAB_PEER_PORT"]))
s = socket.create_connection(peer, timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
start = time.monotonic()
for i in range(count):
    # Python ignores SIGPIPE, so a write on a broken connection raises BrokenPipeError (EPIPE).
    time.sleep(max(0.0, start + i * interval - time.monotonic()))
    at = (time.monotonic() - start) * 1000
    try:
        s.send(b"x")
        print(f"write {i + 1} at {at:5.1f} ms: ok", flush=True)
    except OSError as e:
        print(f"write {i + 1} at {at:5.1f} ms: {errno.errorcode[e.errno]}", flush=True)
        break
