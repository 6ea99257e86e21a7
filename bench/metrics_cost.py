#!/usr/bin/python3
"""What the shared record of metrics costs: hello-world throughput with WSGISharedMetrics On
and Off.

Two mod_pyhost Apache instances that differ only in that directive (the event MPM settings
and the app of bench/bench.py), wrk against embedded and daemon mode in interleaved rounds;
prints each target's median and the ratio On / Off.

    /usr/bin/python3 bench/metrics_cost.py [--rounds 7] [--duration 5] [--connections 32]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from bench import CONFIG, HELLO, MPM, wrk  # noqa: E402
from harness import MODULE, Apache  # noqa: E402


def server(on):
    a = Apache("WSGISharedMetrics %s\n%s" % ("On" if on else "Off", CONFIG), module=MODULE,
               mpm_config=MPM, log_level="warn")
    a.write("hello.wsgi", HELLO)
    a.start()
    for path in ("/embedded", "/daemon"):
        r = a.get(path)
        if r.status != 200:
            raise SystemExit("%s: %s" % (path, r))
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = ap.parse_args()
    servers = {True: server(True), False: server(False)}
    results = {}
    try:
        for n in range(args.rounds):
            # the order alternates between rounds, so that neither side always goes first
            for mode in ("embedded", "daemon"):
                for on in ((True, False) if n % 2 == 0 else (False, True)):
                    rate = wrk(servers[on].url("/" + mode), args.duration, args.connections,
                               args.threads)
                    results.setdefault((mode, on), []).append(rate)
                    print("round %d %-8s metrics %-3s %9.0f req/s" % (
                        n + 1, mode, "on" if on else "off", rate), flush=True)
    finally:
        for a in servers.values():
            a.cleanup()
    print("\nmedian of %d rounds, wrk -t%d -c%d -d%ds, loopback:" % (
        args.rounds, args.threads, args.connections, args.duration))
    for mode in ("embedded", "daemon"):
        on = statistics.median(results[(mode, True)])
        off = statistics.median(results[(mode, False)])
        print("  %-8s on %9.0f  off %9.0f  on/off %.3f" % (mode, on, off, on / off))


if __name__ == "__main__":
    main()
