#!/usr/bin/python3
"""Throughput of mod_pyhost against Apache's static files and Debian's mod_wsgi 4.9.4.

Two Apache instances with the same event MPM settings, one with mod_pyhost and one with
mod_wsgi (libapache2-mod-wsgi-py3, for comparison only), each serving a static file, a
hello-world app in embedded mode and the same app in daemon mode (processes=2 threads=15).
wrk runs against every target in interleaved rounds on loopback; the script prints the
median requests per second of each target and its ratio to the static-file rate.

    /usr/bin/python3 bench/bench.py [--rounds 5] [--duration 5] [--connections 32]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Apache  # noqa: E402

MOD_WSGI = "/usr/lib/apache2/modules/mod_wsgi.so"

HELLO = """
def application(environ, start_response):
    body = b'Hello World!'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

MPM = """
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadsPerChild 25
MaxRequestWorkers 150
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
"""

CONFIG = """
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess bench processes=2 threads=15
WSGIScriptAlias /embedded @ROOT@/hello.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /daemon @ROOT@/hello.wsgi process-group=bench application-group=%{GLOBAL}
"""


def server(module):
    a = Apache(CONFIG, module=module, mpm_config=MPM, log_level="warn")
    a.write("hello.wsgi", HELLO)
    a.write("htdocs/static.txt", "Hello World!")
    a.start()
    for path in ("/static.txt", "/embedded", "/daemon"):
        r = a.get(path)
        if r.status != 200 or r.body != b"Hello World!":
            raise SystemExit("%s %s: %s" % (module, path, r))
    return a


def wrk(url, duration, connections, threads):
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
                          url], capture_output=True, text=True, timeout=duration + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or errors:
        raise SystemExit("wrk failed on %s:\n%s" % (url, out))
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--only", help="comma-separated target names")
    args = ap.parse_args()
    if not os.path.exists(MOD_WSGI):
        raise SystemExit("install libapache2-mod-wsgi-py3 for the comparison")

    pyhost = os.environ.get("PYHOST_MODULE", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "mod_pyhost.so"))
    servers = {"pyhost": server(pyhost), "mod_wsgi": server(MOD_WSGI)}
    targets = [
        ("static", servers["pyhost"], "/static.txt"),
        ("pyhost embedded", servers["pyhost"], "/embedded"),
        ("mod_wsgi embedded", servers["mod_wsgi"], "/embedded"),
        ("pyhost daemon", servers["pyhost"], "/daemon"),
        ("mod_wsgi daemon", servers["mod_wsgi"], "/daemon"),
    ]
    if args.only:
        keep = set(args.only.split(","))
        targets = [t for t in targets if t[0] in keep or t[0] == "static"]
    results = {name: [] for name, _, _ in targets}
    try:
        for n in range(args.rounds):
            for name, a, path in targets:
                rate = wrk(a.url(path), args.duration, args.connections, args.threads)
                results[name].append(rate)
                print("round %d %-18s %9.0f req/s" % (n + 1, name, rate), flush=True)
    finally:
        for a in servers.values():
            a.cleanup()
    static = statistics.median(results["static"])
    print("\nmedian of %d rounds, wrk -t%d -c%d -d%ds, loopback:" % (
        args.rounds, args.threads, args.connections, args.duration))
    for name, _, _ in targets:
        med = statistics.median(results[name])
        print("  %-18s %9.0f req/s  %.2f of static" % (name, med, med / static))
    pd = results.get("pyhost daemon")
    wd = results.get("mod_wsgi daemon")
    if pd and wd:
        print("  pyhost daemon / mod_wsgi daemon: %.2f" % (statistics.median(pd) /
                                                         statistics.median(wd)))


if __name__ == "__main__":
    main()
