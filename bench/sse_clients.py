#!/usr/bin/env python3
"""Simulated wallboards: signs in once as a supervisor, then holds N connections to the
wallboard's live stream (Server-Sent Events) for SECONDS, reading everything, as N browsers
on wall TVs would. Prints how many were connected, the events and bytes received.
Usage: sse_clients.py HOST:PORT USER PASSWORD N SECONDS"""
import asyncio
import sys
import urllib.parse
import http.client


def sign_in(addr, user, password):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    body = urllib.parse.urlencode({"name": user, "password": password})
    c.request("POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    cookie = r.getheader("Set-Cookie") or ""
    if r.status != 303 or "sb_session=" not in cookie:
        sys.exit(f"sign-in refused: {r.status}")
    return cookie.split(";", 1)[0]


async def watch(addr, cookie, seconds, totals):
    host, port = addr.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (f"GET /console/live/wallboard HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n"
         "Accept: text/event-stream\r\n\r\n").encode()
    )
    await writer.drain()
    totals["connected"] += 1
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while True:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
            totals["bytes"] += len(chunk)
            totals["events"] += chunk.count(b"event: wallboard")
    finally:
        writer.close()


async def main():
    addr, user, password, n, seconds = sys.argv[1:6]
    cookie = sign_in(addr, user, password)
    totals = {"connected": 0, "events": 0, "bytes": 0}
    await asyncio.gather(*(watch(addr, cookie, float(seconds), totals) for _ in range(int(n))))
    print(f"sse clients {totals['connected']} connected, {totals['events']} wallboard events, "
          f"{totals['bytes'] / 1e6:.1f} MB received")


asyncio.run(main())
