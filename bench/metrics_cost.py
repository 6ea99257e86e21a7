#!/usr/bin/python3
"""What the shared record of metrics costs: hello-world requests with WSGISharedMetrics On
and Off, measured three ways.

1. CPU time per request: two mod_pyhost Apache instances that differ only in that directive
   (bench/bench.py's event MPM settings and app), wrk against embedded and daemon mode in
   many short rounds, the two sides back to back in each round, in an order that alternates.
   Each run reads the CPU time of every thread of the server under test (Apache's parent,
   children and daemon processes: /proc/PID/task/TID/schedstat, in nanoseconds) before and
   after, and divides by the requests wrk completed. A run in which a thread of the server
   ended (its CPU time would be lost) is run again.
2. Throughput, from the same runs.
   For both, each round gives a ratio On / Off of two runs a few seconds apart; printed are
   the medians of each side, the median of the ratios with a 95% confidence interval of that
   median (distribution-free: order statistics of the ratios, from the binomial
   distribution), and the ratios' quartiles and range. With --control, a second server with
   metrics Off runs in the same rounds, and the same figures of Off2 / Off show how far two
   identical servers differ on the machine at the time.
3. The share of the CPU the record's code takes (--profile): perf record samples every thread
   of the metrics-On server (cpu-clock) under wrk, and the samples in the functions of
   src/shared/stats.c are summed. A direct measure, not a difference of two noisy ones; it
   leaves out what the code costs around it (clock reads for the GIL waits, cache misses
   it causes elsewhere).
4. Instructions per request (--instructions): callgrind counts the instructions of Apache
   run as one process (apache2 -X, and the daemon processes it forks) serving keep-alive
   requests from ab; the difference between a run of --calls-long and one of --calls-short
   requests, divided by the difference, so that start-up and shut-down cancel out. It does
   not depend on what else the machine does.

    /usr/bin/python3 bench/metrics_cost.py [--rounds 30] [--duration 2] [--connections 16]
                                           [--control] [--profile] [--instructions] [--no-rounds]
"""
import argparse
import glob
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from bench import CONFIG, HELLO, MPM  # noqa: E402
from harness import MODULE, Apache  # noqa: E402

MODES = ("embedded", "daemon")


# ---- CPU time and throughput -----------------------------------------------------------------

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


def thread_cpu(a):
    """{(pid, tid): nanoseconds of CPU} of every thread of Apache a's processes."""
    out = {}
    for pid in a.session_pids():
        for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
            try:
                with open(path) as f:
                    out[(pid, int(path.split("/")[4]))] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return out


def wrk_run(url, duration, connections, threads):
    """(requests completed, requests per second) of one wrk run."""
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
                          url], capture_output=True, text=True, timeout=duration + 30).stdout
    n = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not n or not rate or re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit("wrk failed on %s:\n%s" % (url, out))
    return int(n.group(1)), float(rate.group(1))


def measure(a, mode, args):
    """(CPU microseconds per request, requests per second) of one run; again if a thread of
    the server ended during it (at most 5 tries)."""
    for _ in range(5):
        before = thread_cpu(a)
        n, rate = wrk_run(a.url("/" + mode), args.duration, args.connections, args.threads)
        time.sleep(0.05)  # the last responses' handlers return
        after = thread_cpu(a)
        if n and all(k in after for k in before):
            return sum(after[k] - before.get(k, 0) for k in after) / 1000.0 / n, rate
        print("  (a thread of the server ended during the run: run again)", flush=True)
    raise SystemExit("threads of the server keep ending: cannot measure CPU time")


def median_ci(values, level=0.95):
    """The median of values and a distribution-free confidence interval of it: the order
    statistics x(k), x(n+1-k) (1-based), k the largest with 1 - 2 P(B < k) >= level for
    B ~ Binomial(n, 1/2). Returns (median, low, high, the interval's coverage)."""
    xs = sorted(values)
    n = len(xs)
    k, cover = 0, 1.0
    while k + 1 <= n // 2:
        c = 1 - 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
        if c < level:
            break
        k, cover = k + 1, c
    lo, hi = (xs[k - 1], xs[n - k]) if k else (xs[0], xs[-1])
    return statistics.median(xs), lo, hi, cover


def throughput_and_cpu(args):
    # "off2": a second server with metrics Off (--control), to show how far two identical
    # servers differ on this machine: the floor below which On / Off says nothing
    sides = ["on", "off"] + (["off2"] if args.control else [])
    servers = {side: server(side == "on") for side in sides}
    runs = {}  # (mode, side) -> [(cpu_us, rate)], one per round
    try:
        for n in range(args.rounds):
            # each side goes first as often as the others, and after each of them
            order = sides[n % len(sides):] + sides[:n % len(sides)]
            if (n // len(sides)) % 2:
                order.reverse()
            for mode in MODES:
                for side in order:
                    cpu, rate = measure(servers[side], mode, args)
                    runs.setdefault((mode, side), []).append((cpu, rate))
                    print("round %2d %-8s metrics %-4s %8.1f us CPU/request %9.0f req/s" % (
                        n + 1, mode, side, cpu, rate), flush=True)
    finally:
        for a in servers.values():
            a.cleanup()
    print("\n%d rounds, wrk -t%d -c%d -d%ds on loopback, load average now %s" % (
        args.rounds, args.threads, args.connections, args.duration,
        " ".join(open("/proc/loadavg").read().split()[:3])))
    for mode in MODES:
        for i, (what, unit, fmt) in enumerate((("CPU/request", "us", "%.1f"),
                                               ("throughput", "req/s", "%.0f"))):
            print(("  %-8s %-11s medians: " % (mode, what)) + ", ".join(
                ("%s " + fmt) % (side, statistics.median(x[i] for x in runs[(mode, side)]))
                for side in sides) + " " + unit)
            for side in sides[:1] + sides[2:]:
                ratios = [x[i] / y[i] for x, y in zip(runs[(mode, side)], runs[(mode, "off")])]
                med, lo, hi, cover = median_ci(ratios)
                q = statistics.quantiles(ratios, n=4)
                print("    %s/off per round: median %.3f, %.0f%% CI %.3f-%.3f; quartiles "
                      "%.3f-%.3f, range %.3f-%.3f" % (side, med, cover * 100, lo, hi, q[0], q[2],
                                                      min(ratios), max(ratios)))


# ---- the record's share of the CPU, sampled --------------------------------------------------

def record_functions():
    """Names of the functions defined in src/shared/stats.c (the shared record's code)."""
    with open(os.path.join(HERE, "..", "src", "shared", "stats.c")) as f:
        return set(re.findall(r"^(?:static )?(?:inline )?[a-z_][\w ]*?[ *]+(\w+)\([^;{]*\)\n\{",
                              f.read(), re.M))


def profile(args):
    """The share of the metrics-On server's CPU samples (perf record, cpu-clock, every thread
    of Apache's processes) that falls in the shared record's functions, under wrk."""
    funcs = record_functions()
    a = server(True)
    data = tempfile.mkdtemp(prefix="pyhost-perf-")
    print("\nCPU samples in the shared record's code (src/shared/stats.c), perf record -e cpu-clock,"
          " WSGISharedMetrics On, wrk -t%d -c%d -d%ds:" % (args.threads, args.connections,
                                                          args.profile_duration))
    try:
        for mode in MODES:
            out = os.path.join(data, mode + ".data")
            rec = subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-o", out, "-p",
                 ",".join(str(p) for p in a.session_pids()), "--", "sleep",
                 str(args.profile_duration + 1)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            n, rate = wrk_run(a.url("/" + mode), args.profile_duration, args.connections,
                              args.threads)
            if rec.wait(60):
                print("  perf record failed (is perf_event_open allowed here?)")
                return
            report = subprocess.run(
                ["perf", "report", "-i", out, "--stdio", "--sort", "dso,sym", "--percent-limit",
                 "0"], capture_output=True, text=True, timeout=300).stdout
            share, top = 0.0, []
            for line in report.splitlines():
                m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(\S+)", line)
                if m and m.group(2) == "mod_pyhost.so" and m.group(3) in funcs:
                    share += float(m.group(1))
                    top.append("%s %.2f%%" % (m.group(3), float(m.group(1))))
            print("  %-8s %.2f%% of the samples (%d requests, %.0f req/s): %s" % (
                mode, share, n, rate, ", ".join(top[:6])), flush=True)
    finally:
        a.cleanup()
        shutil.rmtree(data, ignore_errors=True)


# ---- instructions per request ----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def callgrind_total(root, on, mode, requests):
    """Instructions callgrind counts in Apache (-X) and its daemon processes from start to
    stop, having served requests keep-alive requests."""
    run = tempfile.mkdtemp(dir=root)
    os.chmod(run, 0o777)
    port = free_port()
    conf = os.path.join(run, "httpd.conf")
    with open(conf, "w") as f:
        f.write("""ServerRoot {run}
PidFile {run}/httpd.pid
ErrorLog {run}/error.log
LogLevel warn
Listen 127.0.0.1:{port}
ServerName localhost
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule wsgi_module {module}
WSGISharedMetrics {on}
WSGIApplicationGroup %{{GLOBAL}}
WSGIScriptAlias /hello {root}/hello.wsgi
<Directory {root}>
Require all granted
</Directory>
""".format(run=run, port=port, module=os.path.abspath(MODULE), root=root,
           on="On" if on else "Off"))
        if mode == "daemon":
            f.write("WSGISocketPrefix %s/wsgi\nWSGIDaemonProcess d threads=4\n"
                    "WSGIProcessGroup d\n" % run)
    # as www-data from the start: apache2 -X would switch users and lose its right to write
    # the profile; one hash seed, so that Python's start-up costs the same in both runs
    vg = subprocess.Popen(
        ["runuser", "-u", "www-data", "--", "env", "PYTHONHASHSEED=0", "valgrind", "--tool=callgrind", "--vgdb=no",
         "--callgrind-out-file=%s/cg.%%p" % run, "/usr/sbin/apache2", "-X", "-f", conf],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = "http://127.0.0.1:%d/hello" % port
        deadline = time.time() + 180
        while True:
            try:
                if urllib.request.urlopen(url, timeout=60).read() == b"Hello World!":
                    break
            except OSError:
                pass
            if time.time() > deadline or vg.poll() is not None:
                raise SystemExit("Apache under callgrind did not answer; see %s" % run)
            time.sleep(0.5)
        out = subprocess.run(["ab", "-q", "-k", "-n", str(requests), url], capture_output=True,
                             text=True, timeout=900).stdout
        if not re.search(r"Complete requests:\s+%d\b" % requests, out) or re.search(
                r"Non-2xx responses", out) or not re.search(r"Failed requests:\s+0\b", out):
            raise SystemExit("ab failed:\n" + out)
        with open(os.path.join(run, "httpd.pid")) as f:
            os.kill(int(f.read()), 15)
        vg.wait(180)
    finally:
        if vg.poll() is None:
            os.killpg(vg.pid, 9)
            vg.wait()
    totals = []
    for path in glob.glob(os.path.join(run, "cg.*")):
        with open(path) as f:
            totals += [int(line.split()[1]) for line in f if line.startswith("summary:")]
    shutil.rmtree(run, ignore_errors=True)
    # Apache, and in daemon mode its daemon process: a process that did not write its profile
    # (killed as it stopped) would leave its instructions out
    return sum(totals) if len(totals) == (2 if mode == "daemon" else 1) else None


def callgrind_requests(root, on, mode, short, long_):
    """Instructions per request: (long_ run - short run) / (long_ - short), each run again
    (at most 3 times) when a process left no profile."""
    got = []
    for n in (short, long_):
        for _ in range(3):
            total = callgrind_total(root, on, mode, n)
            if total is not None:
                got.append(total)
                break
            print("  (a process left no callgrind profile: run again)", flush=True)
        else:
            raise SystemExit("callgrind profiles keep missing")
    return (got[1] - got[0]) / (long_ - short)


def instructions(args):
    root = tempfile.mkdtemp(prefix="pyhost-ipr-")
    os.chmod(root, 0o755)
    with open(os.path.join(root, "hello.wsgi"), "w") as f:
        f.write(HELLO)
    os.chmod(os.path.join(root, "hello.wsgi"), 0o644)
    got = {}
    try:
        for n in range(args.instructions_runs):
            for mode in MODES:
                for on in ((True, False) if n % 2 == 0 else (False, True)):
                    ipr = callgrind_requests(root, on, mode, args.calls_short, args.calls_long)
                    got.setdefault((mode, on), []).append(ipr)
                    print("run %d %-8s metrics %-3s %9.0f instructions/request" % (
                        n + 1, mode, "on" if on else "off", ipr), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\ninstructions per request (callgrind, apache2 -X, ab -k, (%d - %d requests) / %d):"
          % (args.calls_long, args.calls_short, args.calls_long - args.calls_short))
    for mode in MODES:
        on, off = got[(mode, True)], got[(mode, False)]
        print("  %-8s on %s  off %s  on - off (medians) %+.0f" % (
            mode, " ".join("%.0f" % x for x in on), " ".join("%.0f" % x for x in off),
            statistics.median(on) - statistics.median(off)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--control", action="store_true",
                    help="a second server with metrics Off, compared with the first")
    ap.add_argument("--profile", action="store_true",
                    help="also sample where the metrics-On server's CPU goes (perf record)")
    ap.add_argument("--profile-duration", type=int, default=10)
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions per request with callgrind")
    ap.add_argument("--no-rounds", action="store_true",
                    help="leave out the CPU time and throughput rounds")
    ap.add_argument("--instructions-runs", type=int, default=2,
                    help="callgrind runs per mode and side")
    ap.add_argument("--calls-short", type=int, default=200)
    ap.add_argument("--calls-long", type=int, default=2200)
    args = ap.parse_args()
    if args.rounds < 4 and not args.no_rounds:
        raise SystemExit("--rounds: at least 4 (for quartiles)")
    if not args.no_rounds:
        throughput_and_cpu(args)
    if args.profile:
        profile(args)
    if args.instructions:
        instructions(args)


if __name__ == "__main__":
    main()
