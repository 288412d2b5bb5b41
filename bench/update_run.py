#!/usr/bin/env python3
"""Time one local update of a running pantavisor (helper of bench/update.sh).

usage: update_run.py SOCKET STORAGE REV FINAL[,FINAL...] [CONTAINER]

Sends LOCAL_RUN for REV over the control socket, then watches, every
millisecond, the progress record of REV (trails/REV/.pv/progress, the
record GET /steps/REV/progress serves) and, if CONTAINER is given, the
first console line of that container in REV (logs/REV/CONTAINER/lxc/
console.log). Prints one line per event, "<seconds after the request>
<event>", and stops at a FINAL status (or after 120 s). A device that
reboots in between is fine: only files are watched after the request.
Times are also printed as wall-clock epoch seconds (third column) so they
can be compared with the runtime's own log timestamps.
"""

import json
import os
import socket
import sys
import time


def request(sock_path, method, path, body=b""):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    s.sendall(head.encode() + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data.split(b"\r\n\r\n", 1)[-1]


def main():
    sock_path, storage, rev, finals = sys.argv[1:5]
    container = sys.argv[5] if len(sys.argv) > 5 else None
    finals = set(finals.split(","))
    progress = os.path.join(storage, "trails", rev, ".pv", "progress")
    console = (
        os.path.join(storage, "logs", rev, container, "lxc", "console.log")
        if container
        else None
    )
    body = json.dumps({"op": "LOCAL_RUN", "payload": rev}).encode()
    wall0 = time.time()
    t0 = time.monotonic()
    status, reply = request(sock_path, "POST", "/commands", body)
    t_reply = time.monotonic() - t0

    def out(t, what):
        print(f"{t:.4f} {what} {wall0 + t:.6f}", flush=True)

    out(0.0, "request")
    out(t_reply, f"reply {status} {reply.decode(errors='replace').strip()}")
    last = None
    console_seen = False
    while time.monotonic() - t0 < 120:
        t = time.monotonic() - t0
        try:
            with open(progress, "rb") as f:
                p = json.loads(f.read() or b"{}")
            cur = (p.get("status"), p.get("status-msg"))
        except (OSError, ValueError):
            cur = last
        if cur != last and cur is not None:
            out(t, f"progress {cur[0]} {cur[1]}")
            last = cur
        if console and not console_seen:
            try:
                if os.path.getsize(console) > 0:
                    console_seen = True
                    out(t, "console")
            except OSError:
                pass
        if last and last[0] in finals and (console_seen or not console):
            return
        time.sleep(0.001)
    out(time.monotonic() - t0, "timeout")
    sys.exit(1)


if __name__ == "__main__":
    main()
