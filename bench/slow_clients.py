#!/usr/bin/python3
"""Slow clients and large bodies: mod_pyhost beside Debian's mod_wsgi 4.9.4 (issue 13).

Two Apache instances (event MPM, 4 children x 25 threads), one with mod_pyhost and one with
mod_wsgi, each with the same application in embedded mode and in a daemon group (processes=2
threads=15). In interleaved rounds, for each target:

- attacks: the hello-world rate of 8 fast clients (wrk), alone and while slowhttptest holds
  200 slow readers of a 16 MB response (-X) or 60 slow uploaders of a 64 KB body (-B) on the
  same target; the figure is the rate under attack over the rate alone.
- bodies: 16 MB responses yielded in 64 KB blocks and 16 MB uploads read in 64 KB blocks,
  4 connections (wrk), in MB/s, and the CPU time the server's processes (Apache's and the
  daemons') spent per GiB moved: a cost that the load of a shared machine moves far less than
  a rate.

Everything runs on loopback, each run bounded by --duration; the attack tools are stopped
after each run. Figures move with the load of the machine: compare within one run.

    /usr/bin/python3 bench/slow_clients.py [--rounds 3] [--duration 5] [--only attacks|bodies]
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Apache  # noqa: E402

MOD_WSGI = "/usr/lib/apache2/modules/mod_wsgi.so"
MB = 1 << 20

APP = """
BLOCK = 65536
CHUNK = b'x' * BLOCK


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/big':
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(256 * BLOCK))])
        return (CHUNK for _ in range(256))
    if path == '/upload':
        inp, n = environ['wsgi.input'], 0
        while True:
            d = inp.read(BLOCK)
            if not d:
                break
            n += len(d)
        body = str(n).encode()
    else:
        body = b'Hello World!'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

MPM = """
StartServers 4
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 100
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
"""

CONFIG = """
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess bench processes=2 threads=15
WSGIScriptAlias /embedded @ROOT@/app.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /daemon @ROOT@/app.wsgi process-group=bench application-group=%{GLOBAL}
"""

# 200 slow readers of 16 MB each hold up to 3.2 GB; the default is 1 GB per child.
PYHOST_EXTRA = "WSGIBufferDiskLimit 4G\n"

UPLOAD_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("u", 16 * 1024 * 1024)
"""


def server(module, extra=""):
    a = Apache(CONFIG + extra, module=module, mpm_config=MPM, log_level="warn", timeout=60)
    a.write("app.wsgi", APP)
    a.start()
    for path in ("/embedded/hello", "/daemon/hello"):
        r = a.get(path)
        if r.status != 200 or r.body != b"Hello World!":
            raise SystemExit("%s %s: %s" % (module, path, r))
    return a


def wrk(url, duration, connections, script=None):
    cmd = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % duration, "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit("wrk failed on %s:\n%s" % (url, out))
    return float(m.group(1))


def server_cpu(a):
    """CPU seconds used so far by the processes of Apache a (its children and daemons)."""
    total = 0
    for pid in a.session_pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def attack(kind, url, duration):
    """Starts slowhttptest against url; returns its process (stopped by the caller)."""
    if kind == "readers":
        args = ["-X", "-c", "200", "-r", "200", "-w", "512", "-y", "1024", "-n", "5",
                "-z", "32", "-k", "1"]
    else:
        args = ["-B", "-c", "60", "-r", "60", "-s", "65536", "-i", "1", "-x", "1024",
                "-t", "POST"]
    return subprocess.Popen(["slowhttptest"] + args + ["-l", str(duration + 30), "-p", "10",
                                                       "-u", url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--settle", type=int, default=4,
                    help="seconds for an attack's connections to be made before measuring")
    ap.add_argument("--only", choices=["attacks", "bodies"])
    args = ap.parse_args()
    for tool in ("wrk", "slowhttptest"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            raise SystemExit("%s is missing: make deps installs it" % tool)
    if not os.path.exists(MOD_WSGI):
        raise SystemExit("install libapache2-mod-wsgi-py3 for the comparison")
    pyhost = os.environ.get("PYHOST_MODULE", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "mod_pyhost.so"))
    servers = {"pyhost": server(pyhost, PYHOST_EXTRA), "mod_wsgi": server(MOD_WSGI)}
    targets = [("%s %s" % (s, m), servers[s], "/" + m)
               for m in ("embedded", "daemon") for s in ("pyhost", "mod_wsgi")]
    runs = []
    if args.only != "bodies":
        runs += [("readers", "slow readers"), ("uploaders", "slow uploaders")]
    if args.only != "attacks":
        runs += [("download", "16 MB download"), ("upload", "16 MB upload")]
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(UPLOAD_LUA)
    lua.close()
    results = {}
    try:
        for n in range(args.rounds):
            for run, _ in runs:
                for name, a, prefix in targets:
                    if run in ("readers", "uploaders"):
                        alone = wrk(a.url(prefix + "/hello"), args.duration, 8)
                        p = attack(run, a.url(prefix + ("/big" if run == "readers"
                                                         else "/upload")), args.duration)
                        try:
                            time.sleep(args.settle)
                            try:
                                under = wrk(a.url(prefix + "/hello"), args.duration, 8)
                            except SystemExit as e:  # no answer within wrk's timeout
                                print(str(e).splitlines()[0][:300], flush=True)
                                under = 0.0
                        finally:
                            stop(p)
                        value = under / alone
                        print("round %d %-10s %-18s %8.0f req/s alone, %8.0f under attack: "
                              "%.2f" % (n + 1, run, name, alone, under, value), flush=True)
                        time.sleep(2)  # the attack's connections close
                    else:
                        cpu = server_cpu(a)
                        rate = wrk(a.url(prefix + ("/big" if run == "download" else "/upload")),
                                   args.duration, 4, lua.name if run == "upload" else None)
                        value = rate * 16
                        cost = (server_cpu(a) - cpu) / (rate * args.duration * 16 / 1024)
                        results.setdefault((run + " cpu", name), []).append(cost)
                        print("round %d %-10s %-18s %8.0f MB/s, server CPU %.3f s/GiB" % (
                            n + 1, run, name, value, cost), flush=True)
                    results.setdefault((run, name), []).append(value)
    finally:
        os.unlink(lua.name)
        for a in servers.values():
            a.cleanup()
    print("\nmedians of %d rounds (%d s runs, loopback):" % (args.rounds, args.duration))
    for run, title in runs:
        unit = "of the rate alone" if run in ("readers", "uploaders") else "MB/s"
        for name, _, _ in targets:
            med = statistics.median(results[(run, name)])
            print("  %-15s %-18s %8.2f %s" % (title, name, med, unit))
        if run in ("download", "upload"):
            med = {name: statistics.median(results[(run, name)]) for name, _, _ in targets}
            print("  %-15s pyhost daemon / pyhost embedded %.2f, pyhost embedded / mod_wsgi "
                  "embedded %.2f, pyhost daemon / mod_wsgi daemon %.2f" % (
                      title, med["pyhost daemon"] / med["pyhost embedded"],
                      med["pyhost embedded"] / med["mod_wsgi embedded"],
                      med["pyhost daemon"] / med["mod_wsgi daemon"]))
            print("  %-15s server CPU per GiB: %s" % (title, ", ".join(
                "%s %.3f s" % (name, statistics.median(results[(run + " cpu", name)]))
                for name, _, _ in targets)))


if __name__ == "__main__":
    main()
