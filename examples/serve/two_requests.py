#!/usr/bin/env python3
"""Two GET requests on one keep-alive connection with Python's http.client.

Usage: two_requests.py HOST:PORT. Prints, for each request, the response or the exception;
stops at the first exception.
"""
import http.client
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=10)
for n in (1, 2):
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        print(f"request {n}: {response.status} {response.read()!r}")
    except Exception as e:
        print(f"request {n}: {type(e).__name__}: {e}")
        break
    time.sleep(0.2)  # the connection waits in the pool, as between a real client's requests
