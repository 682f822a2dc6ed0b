#!/usr/bin/env python3
"""What Python says in each situation of the book's chapter "Your runtime's words".

Usage: client.py socket|http.client|requests PLAN HOST:PORT. PLAN is the steps to take, as every
client of examples/runtimes/ reads it: `write:5 sleep:100 read` for a socket, `get sleep:200
get` or `post:20000` for HTTP (one keep-alive connection, as a pool keeps it). One line per
step: `write 5: ok`, `read: ok(30)`, `read: EOF (recv returned b'')`, `get: 200 'hello\\n'`,
or the step and `ERROR` with the exception as a traceback's last line shows it.
`rstlab runtimes` runs it against the peer; it checks nothing itself.
"""
import socket
import sys
import time


def error(e):
    return f"ERROR {type(e).__name__}: {e}"


def socket_client(addr, steps):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for op, n in steps:
        if op == "write":
            try:
                s.send(b"x" * n)
                print(f"write {n}: ok")
            except Exception as e:
                print(f"write {n}: {error(e)}")
        elif op == "read":
            try:
                data = s.recv(4096)
                print(f"read: ok({len(data)})" if data else "read: EOF (recv returned b'')")
            except Exception as e:
                print(f"read: {error(e)}")
        elif op == "sleep":
            time.sleep(n / 1000)


def http_client_client(addr, steps):
    import http.client

    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=3)
    for op, n in steps:
        if op == "sleep":
            time.sleep(n / 1000)
            continue
        try:
            if op == "get":
                conn.request("GET", "/")
            else:
                conn.request("POST", "/", body=b"x" * n)
            response = conn.getresponse()
            print(f"{op}: {response.status} {response.read()!r}")
        except Exception as e:
            print(f"{op}: {error(e)}")
            conn.close()


def requests_client(addr, steps):
    import requests

    session = requests.Session()
    url = f"http://{addr}/"
    for op, n in steps:
        if op == "sleep":
            time.sleep(n / 1000)
            continue
        try:
            if op == "get":
                response = session.get(url, timeout=3)
            else:
                response = session.post(url, data=b"x" * n, timeout=3)
            print(f"{op}: {response.status_code} {response.content!r}")
        except Exception as e:
            print(f"{op}: {error(e)}")


def main():
    api, plan, addr = sys.argv[1:4]
    steps = []
    for step in plan.split():
        op, _, n = step.partition(":")
        steps.append((op, int(n) if n else 0))
    {"socket": socket_client, "http.client": http_client_client, "requests": requests_client}[
        api
    ](addr, steps)


if __name__ == "__main__":
    main()
