#!/usr/bin/python3
"""A CPU-bound app in one daemon process: shared GIL against the own-GIL interpreter pool.

One Apache, two daemon groups of one process and four threads each, the same app in both:
`shared` runs it in one sub interpreter (every thread shares one GIL, as in mod_wsgi);
`pool` has interpreters=2, so the app is loaded into two sub interpreters with their own
GILs and the threads are spread over them. Four client threads keep both groups busy in
interleaved rounds; the script prints the median requests per second of each and their
ratio. Needs Python 3.12 or later (per-interpreter GIL), so on Debian 12 run it in the
Debian 13 chroot:

    /usr/bin/python3 bench/gil_pool.py [--rounds 3] [--duration 5] [--work 200000]
    make bench-gil-trixie        (tools/chroot-test with PYHOST_TARGET=bench-gil)
"""
import argparse
import http.client
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Apache  # noqa: E402

APP = """
def application(environ, start_response):
    n = int(environ.get('QUERY_STRING') or 0)
    total = 0
    for i in range(n):
        total += i * i % 7
    body = str(total).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

CONFIG = """
WSGIDaemonProcess shared processes=1 threads=4
WSGIDaemonProcess pool processes=1 threads=4 interpreters=%(interpreters)d
WSGIScriptAlias /shared @ROOT@/cpu.wsgi process-group=shared application-group=app
WSGIScriptAlias /pool @ROOT@/cpu.wsgi process-group=pool application-group=app
"""


def load(port, path, clients, duration):
    """Requests per second with `clients` keep-alive connections for `duration` seconds."""
    counts = [0] * clients
    failures = []
    stop = time.time() + duration

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.time() < stop and counts[i] < 100000:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    failures.append(r.status)
                    return
                counts[i] += 1
        finally:
            conn.close()

    start = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    if failures:
        raise SystemExit("%s answered %s" % (path, failures[:3]))
    return sum(counts) / (time.time() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5, help="seconds per measurement")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--interpreters", type=int, default=2)
    ap.add_argument("--work", type=int, default=200000, help="loop turns per request")
    args = ap.parse_args()
    if sys.version_info < (3, 12):
        raise SystemExit("needs Python 3.12+ for own GILs; try: make bench-gil-trixie")

    a = Apache(CONFIG % {"interpreters": args.interpreters}, log_level="info")
    a.write("cpu.wsgi", APP)
    a.start()
    try:
        for path in ("/shared", "/pool"):
            r = a.get("%s?%d" % (path, 10))
            if r.status != 200:
                raise SystemExit("%s: %s\n%s" % (path, r, a.error_log()[-2000:]))
        # warm every interpreter of the pool before measuring
        load(a.port, "/pool?%d" % args.work, args.clients, 1)
        if not a.log_lines(r"created with its own GIL"):
            raise SystemExit("the pool's interpreters have no own GIL:\n" +
                             a.error_log()[-2000:])
        results = {"shared": [], "pool": []}
        for n in range(args.rounds):
            for name in ("shared", "pool"):
                rate = load(a.port, "/%s?%d" % (name, args.work), args.clients,
                            args.duration)
                results[name].append(rate)
                print("round %d %-7s %8.1f req/s" % (n + 1, name, rate), flush=True)
    finally:
        a.cleanup()
    shared = statistics.median(results["shared"])
    pool = statistics.median(results["pool"])
    print("\nPython %s, %d cores, one daemon process, 4 threads, %d clients, %d loop turns "
          "per request, median of %d rounds of %gs:" % (
              sys.version.split()[0], os.cpu_count(), args.clients, args.work, args.rounds,
              args.duration))
    print("  shared GIL (1 interpreter)      %8.1f req/s" % shared)
    print("  own-GIL pool (interpreters=%d)   %8.1f req/s" % (args.interpreters, pool))
    print("  pool / shared: %.2f" % (pool / shared))


if __name__ == "__main__":
    main()
