#!/usr/bin/python3
"""Large bodies, embedded against daemon mode, for one or more builds of mod_pyhost side by side.

One Apache per build (bench/slow_clients.py's configuration: event MPM 4 x 25 threads, a
daemon group processes=2 threads=15, the same application in embedded mode and in the group).
In interleaved rounds (each build, embedded then daemon, download then upload): 16 MB responses
yielded in 64 KB blocks and 16 MB uploads read in 64 KB blocks, 4 connections (wrk), giving the
rate, the server's CPU seconds per GiB (Apache's and the daemons' processes) and wrk's. The last
column estimates daemon/embedded on a quiet machine where everything is CPU-bound: (server +
client CPU per GiB, embedded) / (the same, daemon), which the load of a shared machine moves
far less than the rates. Compare a build before and after a change in one run:

    /usr/bin/python3 bench/bodies_ab.py [--rounds 3] [--duration 4] OLD.so NEW.so
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slow_clients import PYHOST_EXTRA, UPLOAD_LUA, server, server_cpu  # noqa: E402


def client_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    ap.add_argument("modules", nargs="+", help="mod_pyhost.so builds")
    args = ap.parse_args()
    servers = [server(m, PYHOST_EXTRA) for m in args.modules]
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(UPLOAD_LUA)
    lua.close()
    runs = ("download", "upload")
    res = {}
    try:
        for n in range(args.rounds):
            for run in runs:
                for i, a in enumerate(servers):
                    for mode in ("embedded", "daemon"):
                        cmd = ["wrk", "-t2", "-c4", "-d%ds" % args.duration, "--timeout", "10s"]
                        if run == "upload":
                            cmd += ["-s", lua.name]
                        c0, w0 = server_cpu(a), client_cpu()
                        out = subprocess.run(
                            cmd + [a.url("/%s/%s" % (mode, "big" if run == "download"
                                                     else "upload"))],
                            capture_output=True, text=True, timeout=args.duration + 60).stdout
                        c1, w1 = server_cpu(a), client_cpu()
                        m = re.search(r"(\d+) requests in", out)
                        if not m or not int(m.group(1)):
                            raise SystemExit("wrk failed:\n" + out)
                        gib = int(m.group(1)) * 16 / 1024
                        v = (int(m.group(1)) * 16 / args.duration, (c1 - c0) / gib,
                             (w1 - w0) / gib)
                        res.setdefault((run, i, mode), []).append(v)
                        print("round %d %-8s %-24s %-8s %6.0f MB/s, server CPU %.3f s/GiB, "
                              "client %.3f" % ((n + 1, run, os.path.basename(args.modules[i]),
                                                mode) + v), flush=True)
    finally:
        os.unlink(lua.name)
        for a in servers:
            a.cleanup()
    print("\nmedians of %d rounds, wrk -t2 -c4 -d%ds:" % (args.rounds, args.duration))
    for run in runs:
        for i, m in enumerate(args.modules):
            e, d = res[(run, i, "embedded")], res[(run, i, "daemon")]

            def med(xs, k):
                return statistics.median(x[k] for x in xs)
            print("  %-8s %-24s embedded %5.0f MB/s, daemon %5.0f MB/s: %.2f (rounds %s); "
                  "server CPU s/GiB embedded %.3f, daemon %.3f; CPU-bound estimate %.2f" % (
                      run, os.path.basename(m), med(e, 0), med(d, 0), med(d, 0) / med(e, 0),
                      " ".join("%.2f" % (y[0] / x[0]) for x, y in zip(e, d)), med(e, 1),
                      med(d, 1), (med(e, 1) + med(e, 2)) / (med(d, 1) + med(d, 2))))


if __name__ == "__main__":
    main()
