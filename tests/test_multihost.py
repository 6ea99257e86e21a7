"""Many hosts (issue 16): Apache + mod_pyhost hosts behind HAProxy, shared state in Redis,
built on this machine with network namespaces, using the files of examples/multi-host.

Topology, made per test with names of its own (phm<pid>-<random>-...):

    namespace <tag>-lb:   bridge br0 10.231.47.1/24, HAProxy on 10.231.47.1:80 (the
                          example's haproxy.cfg: its defaults, frontend and backend sections
                          as they are, the global section, bind line and servers replaced),
                          Redis on 10.231.47.1:6379, the load generator, rolling-deploy
    namespace <tag>-webN: eth0 10.231.47.1N/24 (a veth pair to br0), an Apache with
                          mod_pyhost serving the example's app.wsgi through the example's
                          site (apache-site.conf, its paths and Redis address replaced),
                          daemon mode, from releases/<v> through the link `current`

The addresses exist only inside these namespaces; nothing is added to the machine's own
network. Everything is torn down after each test whatever happens: every process in the
namespaces is killed, the namespaces deleted, the files removed (and namespaces left by an
earlier run that was killed are removed first).

Skipped, with the reason, without root, `ip netns`, haproxy, redis-server, curl or the
redis package for this Python.
"""
import csv
import importlib.machinery
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from harness import APACHE, MODULE, MODULES_DIR, REPO, RUN_USER, apache_env

EXAMPLES = os.path.join(REPO, "examples", "multi-host")
LOAD_SCRIPT = os.path.join(REPO, "tests", "multihost_load.py")
SUBNET = "10.231.47"
LB_ADDR = SUBNET + ".1"
REDIS_URL = "redis://%s:6379/0" % LB_ADDR
HOSTS = 3
THREADS = 4
BACKEND = "app"
TAG_RX = re.compile(r"^phm(\d+)-[0-9a-f]{4}-")


def inside(ns):
    """The command prefix that runs a program in network namespace ns. nsenter switches only
    the network namespace; `ip netns exec` and `ip -n` also remount / and /sys, which fails
    in a chroot whose root is not a mount point (tools/chroot-test's)."""
    return ["nsenter", "--net=/run/netns/" + ns]


def run(cmd, check=True, timeout=30, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited with %d: %s" % (" ".join(cmd), p.returncode,
                                                      (p.stderr or p.stdout).strip()))
    return p


def load_rolling_deploy():
    path = os.path.join(EXAMPLES, "rolling-deploy")
    loader = importlib.machinery.SourceFileLoader("rolling_deploy", path)
    spec = importlib.util.spec_from_loader("rolling_deploy", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def netns_pids(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else []


def kill_netns(ns, timeout=10):
    """SIGKILL to every process in namespace ns until none is left; returns their number."""
    killed = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = netns_pids(ns)
        if not pids:
            return len(killed)
        if time.monotonic() > deadline:
            raise RuntimeError("processes left in namespace %s: %s" % (ns, pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def remove_stale_namespaces():
    """Namespaces of earlier runs of this file whose pytest process is gone."""
    p = run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = TAG_RX.match(name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            kill_netns(name)
            run(["ip", "netns", "del", name], check=False)


def prerequisites():
    """Why the test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, Apache as root with User www-data)"
    for tool in ("ip", "nsenter", "haproxy", "redis-server", "redis-cli", "curl"):
        if shutil.which(tool) is None:
            return "%s is not installed (make deps installs it)" % tool
    try:
        import redis  # noqa: F401  (the app, in the module's Python, imports it)
    except ImportError as e:
        return "the redis package is missing for %s: %s (Debian's python3-redis)" % (
            sys.executable, e)
    probe = "phm%d-%s-probe" % (os.getpid(), secrets.token_hex(2))
    p = run(["ip", "netns", "add", probe], check=False)
    if p.returncode != 0:
        return "cannot make a network namespace: %s" % p.stderr.strip()
    p = run(inside(probe) + ["ip", "link", "set", "lo", "up"], check=False)
    run(["ip", "netns", "del", probe], check=False)
    if p.returncode != 0:
        return "cannot enter a network namespace: %s" % p.stderr.strip()
    return None


class Host:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.name = "web%d" % index
        self.addr = "%s.%d" % (SUBNET, 10 + index)
        self.ns = "%s-%s" % (cluster.tag, self.name)
        self.root = os.path.join(cluster.dir, self.name)
        self.conf = os.path.join(self.root, "httpd.conf")
        self.proc = None

    def add_release(self, version):
        rel = os.path.join(self.root, "releases", version)
        os.makedirs(rel, mode=0o755)
        for d in (self.root, os.path.join(self.root, "releases"), rel):
            os.chmod(d, 0o755)
        shutil.copy(os.path.join(EXAMPLES, "app.wsgi"), os.path.join(rel, "app.wsgi"))
        with open(os.path.join(rel, "VERSION"), "w") as f:
            f.write(version + "\n")
        for name in ("app.wsgi", "VERSION"):
            os.chmod(os.path.join(rel, name), 0o644)

    def site(self):
        """The example's site for this host: its paths and Redis address replaced."""
        with open(os.path.join(EXAMPLES, "apache-site.conf")) as f:
            text = f.read()
        for old, new in (("/srv/app", self.root),
                         ("redis://10.0.0.5:6379/0", REDIS_URL)):
            assert old in text, "apache-site.conf no longer holds %r" % old
            text = text.replace(old, new)
        text, n = re.subn(r"(\n\s*SetEnv APP_REDIS_URL [^\n]*)",
                          r"\1\n    SetEnv APP_HOST_NAME %s" % self.name, text)
        assert n == 1, "apache-site.conf no longer sets APP_REDIS_URL"
        return text

    def write_conf(self):
        lines = [
            "ServerRoot %s" % self.root,
            "PidFile %s/httpd.pid" % self.root,
            "ErrorLog %s/error.log" % self.root,
            "LogLevel info",
            "Listen %s:80" % self.addr,
            "ServerName %s" % self.name,
            "DefaultRuntimeDir %s" % self.root,
            "User %s" % RUN_USER,
            "Group %s" % RUN_USER,
            "LoadModule mpm_event_module %s/mod_mpm_event.so" % MODULES_DIR,
            "LoadModule authz_core_module %s/mod_authz_core.so" % MODULES_DIR,
            "LoadModule env_module %s/mod_env.so" % MODULES_DIR,
            "LoadModule wsgi_module %s" % MODULE,
            self.site(),
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf, 0o644)

    def start(self):
        self.add_release("1")
        os.symlink("releases/1", os.path.join(self.root, "current"))
        self.write_conf()
        out = open(os.path.join(self.root, "stdout.log"), "wb")
        self.proc = self.cluster.spawn(self.ns, [APACHE, "-f", self.conf, "-DFOREGROUND"],
                                       env=apache_env(),
                                       stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def version(self):
        """What the host itself answers at /version (from the load balancer's namespace)."""
        p = self.cluster.in_lb(["curl", "-s", "--max-time", "3",
                                "http://%s/version" % self.addr], check=False)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def error_log(self):
        try:
            with open(os.path.join(self.root, "error.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def processes(self):
        """{pid: command line} of the processes in the host's namespace."""
        out = {}
        for pid in netns_pids(self.ns):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    out[pid] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                pass
        return out


class Cluster:
    def __init__(self, hosts=HOSTS):
        self.tag = "phm%d-%s" % (os.getpid(), secrets.token_hex(2))
        self.dir = tempfile.mkdtemp(prefix="pyhost-multihost-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.lb = self.tag + "-lb"
        self.namespaces = []
        self.procs = []
        self.hosts = [Host(self, i) for i in range(1, hosts + 1)]
        self.socket = os.path.join(self.dir, "haproxy.sock")
        self.haproxy = load_rolling_deploy().HAProxy(self.socket, BACKEND)

    # -- processes ---------------------------------------------------------------------
    def spawn(self, ns, cmd, **kw):
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(inside(ns) + cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def in_lb(self, cmd, **kw):
        return run(inside(self.lb) + cmd, **kw)

    # -- set-up ------------------------------------------------------------------------
    def add_netns(self, name):
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(inside(name) + ["ip", "link", "set", "lo", "up"])

    def make_network(self):
        self.add_netns(self.lb)
        ip = inside(self.lb) + ["ip"]
        run(ip + ["link", "add", "br0", "type", "bridge"])
        run(ip + ["addr", "add", LB_ADDR + "/24", "dev", "br0"])
        run(ip + ["link", "set", "br0", "up"])
        for i, h in enumerate(self.hosts, 1):
            self.add_netns(h.ns)
            veth = "v%d" % i
            run(ip + ["link", "add", veth, "type", "veth", "peer", "name", "eth0",
                      "netns", h.ns])
            run(ip + ["link", "set", veth, "master", "br0"])
            run(ip + ["link", "set", veth, "up"])
            run(inside(h.ns) + ["ip", "addr", "add", h.addr + "/24", "dev", "eth0"])
            run(inside(h.ns) + ["ip", "link", "set", "eth0", "up"])

    def haproxy_conf(self):
        """The example's haproxy.cfg with this test's global section, bind and servers."""
        with open(os.path.join(EXAMPLES, "haproxy.cfg")) as f:
            text = f.read()
        start = text.index("\ndefaults")
        body = text[start:]
        body, n = re.subn(r"\n    bind :80\n", "\n    bind %s:80\n" % LB_ADDR, body)
        assert n == 1, "haproxy.cfg no longer binds :80"
        servers = "".join("    server %s %s:80\n" % (h.name, h.addr) for h in self.hosts)
        body, n = re.subn(r"(\n    server [^\n]*)+\n", "\n" + servers, body)
        assert n == 1, "haproxy.cfg no longer lists its servers together"
        assert "\nbackend %s\n" % BACKEND in body
        head = ("global\n    stats socket %s mode 600 level admin\n"
                "    pidfile %s/haproxy.pid\n" % (self.socket, self.dir))
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(head + body)
        return path

    def start(self):
        remove_stale_namespaces()
        self.make_network()
        self.spawn(self.lb, ["redis-server", "--bind", LB_ADDR, "--port", "6379", "--save", "",
                             "--appendonly", "no", "--protected-mode", "no",
                             "--daemonize", "no", "--dir", self.dir,
                             "--logfile", os.path.join(self.dir, "redis.log")])
        for h in self.hosts:
            h.start()
        conf = self.haproxy_conf()
        run(["haproxy", "-c", "-f", conf])
        self.spawn(self.lb, ["haproxy", "-db", "-f", conf],
                   stdout=open(os.path.join(self.dir, "haproxy.log"), "wb"),
                   stderr=subprocess.STDOUT)
        self.wait("Redis to answer", lambda: self.redis("PING") == "PONG")
        for h in self.hosts:
            self.wait("%s to serve release 1" % h.name,
                      lambda: (h.version() or {}).get("version") == "1",
                      detail=h.error_log)
        self.wait("HAProxy to see every server UP",
                  lambda: all(self.status(h.name).startswith("UP") for h in self.hosts))

    def wait(self, what, check, timeout=20, detail=None):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("gave up waiting for %s%s" % (
                    what, ":\n" + detail()[-3000:] if detail else ""))
            time.sleep(0.1)

    # -- state -------------------------------------------------------------------------
    def redis(self, *args):
        return self.in_lb(["redis-cli", "-h", LB_ADDR] + list(args)).stdout.strip()

    def counter(self):
        return int(self.redis("GET", "app:counter") or 0)

    def status(self, server):
        return self.haproxy.stat(server)["status"]

    def backend_stat(self):
        text = self.haproxy.command("show stat").lstrip("# ")
        for row in csv.DictReader(io.StringIO(text)):
            if row["pxname"] == BACKEND and row["svname"] == "BACKEND":
                return row
        raise AssertionError("no BACKEND row in HAProxy's show stat")

    # -- load --------------------------------------------------------------------------
    def start_load(self, max_seconds=150, max_requests=120000):
        """The load generator; 4 ms between a thread's requests keeps it under 1,000
        requests a second, so the bounds are far from a normal run's end (the tests stop it
        and check it was them)."""
        p = self.spawn(self.lb, [sys.executable, LOAD_SCRIPT, LB_ADDR + ":80",
                                 "--threads", str(THREADS), "--max-seconds", str(max_seconds),
                                 "--max-requests", str(max_requests), "--pause", "0.004"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = p.stderr.readline()
        assert line.strip() == b"started", "the load generator said %r" % line
        return p

    @staticmethod
    def stop_load(p):
        out, err = p.communicate(b"stop\n", timeout=120)
        assert p.returncode == 0, "the load generator failed: %s" % err.decode()[-2000:]
        return json.loads(out)

    # -- tear-down ---------------------------------------------------------------------
    def close(self):
        errors = []
        for ns in reversed(self.namespaces):
            try:
                kill_netns(ns)
            except RuntimeError as e:
                errors.append(str(e))
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                errors.append("process %d did not end" % p.pid)
        for ns in reversed(self.namespaces):
            p = run(["ip", "netns", "del", ns], check=False)
            if p.returncode != 0:
                errors.append("ip netns del %s: %s" % (ns, p.stderr.strip()))
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not errors, "; ".join(errors)


@pytest.fixture
def cluster(request):
    reason = prerequisites()
    if reason:
        pytest.skip(reason)
    c = Cluster()
    request.addfinalizer(c.close)
    c.start()
    return c


def failures(records):
    return [r for r in records if r[3] != 200]


def describe(records):
    return "\n".join("key %s start %.3f end %.3f first %s final %s attempts %d host %s" % (
        r[0][:8], r[1], r[2], r[3], r[4], r[5], r[6]) for r in records[:20])


def test_rolling_deploy_under_load(cluster):
    """Each host in turn drained, given release 2, restarted gracefully and put back, while
    four clients keep POSTing increments: not one request fails, every host ends on release
    2, and the counter in Redis equals the successful increments."""
    c = cluster
    for h in c.hosts:
        h.add_release("2")
    switch = os.path.join(c.dir, "switch")
    with open(switch, "w") as f:
        # What `ssh <host> app-switch <version>` does on a real host: point `current` at the
        # release (atomically, with rename) and restart Apache gracefully.
        f.write('#!/bin/sh\nset -e\nroot=%s/$1\n'
                'ln -sfn "releases/$2" "$root/current.new"\n'
                'mv -T "$root/current.new" "$root/current"\n'
                'exec nsenter --net=/run/netns/%s-$1 %s -f "$root/httpd.conf" -k graceful\n'
                % (c.dir, c.tag, APACHE))
    os.chmod(switch, 0o755)

    load = c.start_load()
    time.sleep(1.0)
    t_deploy = time.monotonic()
    servers = []
    for h in c.hosts:
        servers += ["--server", "%s=%s" % (h.name, h.addr)]
    deploy = c.in_lb([sys.executable, os.path.join(EXAMPLES, "rolling-deploy"),
                      "--socket", c.socket, "--backend", BACKEND] + servers +
                     ["--deploy-command", switch + " {name} {version}", "--version", "2",
                      "--drain-timeout", "20", "--ready-timeout", "30"],
                     check=False, timeout=120, env=apache_env())  # the switch runs apache2
    t_deployed = time.monotonic()
    time.sleep(1.0)
    result = c.stop_load(load)
    records = result["requests"]
    assert deploy.returncode == 0, "rolling-deploy failed:\n%s\n%s" % (deploy.stdout,
                                                                      deploy.stderr)
    for h in c.hosts:
        assert "%s (%s): drain" % (h.name, h.addr) in deploy.stdout
        assert "%s: serving release 2" % h.name in deploy.stdout

    # the load really ran through the whole deploy, on every host, and saw both releases
    during = [r for r in records if t_deploy < r[1] < t_deployed]
    assert result["stopped_by"] == "stdin", result["stopped_by"]
    assert len(during) >= 50, "only %d requests during the deploy" % len(during)
    assert {r[7] for r in during} == {"1", "2"}
    assert {r[6] for r in records} == {h.name for h in c.hosts}

    assert failures(records) == [], "failed requests:\n" + describe(failures(records))
    after = [r for r in records if r[1] > t_deployed]
    assert after and {r[7] for r in after} == {"2"}
    assert {r[6] for r in after} == {h.name for h in c.hosts}
    for h in c.hosts:
        v = h.version()
        assert v and v["version"] == "2" and v["host"] == h.name, (h.name, v)
        assert v["multiprocess"] is True
        assert c.status(h.name).startswith("UP")

    keys = {r[0] for r in records}
    assert len(keys) == len(records)
    assert c.counter() == len(records)
    assert sum(1 for r in records if r[8]) == len(records)
    print("rolling deploy: %d requests (%d during the %.1f s deploy), 0 failed, counter %d"
          % (len(records), len(during), t_deployed - t_deploy, c.counter()))


def test_host_killed_under_load(cluster):
    """kill -9 of one host's Apache and daemon processes while four clients POST
    increments: HAProxy sends what that host had in flight or refused to the others
    (retry-on, redispatch), takes it out on its failed checks; a request may fail only if
    it was in flight when the host died; each increment, sent again with its key after
    such a failure, counts once: the Redis counter equals the successful increments."""
    c = cluster
    victim = c.hosts[1]
    procs = victim.processes()
    assert any(cmd.startswith(APACHE) for cmd in procs.values()), procs
    assert any(cmd == "(wsgi:app)" for cmd in procs.values()), procs

    load = c.start_load()
    time.sleep(1.0)
    t_kill = time.monotonic()
    killed = kill_netns(victim.ns)
    t_killed = time.monotonic()
    c.wait("HAProxy to take %s out" % victim.name,
           lambda: c.status(victim.name).startswith("DOWN"), timeout=15)
    t_down = time.monotonic()
    time.sleep(1.0)
    result = c.stop_load(load)
    records = result["requests"]

    assert killed >= len(procs), (killed, procs)
    assert netns_pids(victim.ns) == []
    assert result["stopped_by"] == "stdin", result["stopped_by"]
    assert len([r for r in records if t_killed < r[1] < t_down]) >= 10
    survivors = {h.name for h in c.hosts} - {victim.name}
    assert {r[6] for r in records if r[1] > t_killed} == survivors
    assert any(r[6] == victim.name for r in records if r[2] < t_kill)

    # only requests in flight when the host died may fail, once; then they succeed
    failed = failures(records)
    assert all(r[1] < t_killed and r[2] > t_kill for r in failed), describe(failed)
    assert len(failed) <= THREADS, describe(failed)
    assert [r for r in records if r[4] != 200] == [], describe(records)

    # HAProxy retried: requests on or sent to the dead host went to the others
    be = c.backend_stat()
    assert int(be["wretr"]) + int(be["wredis"]) > 0, be

    keys = {r[0] for r in records}
    assert len(keys) == len(records)
    assert c.counter() == len(records), (c.counter(), len(records))
    print("host killed: %d processes, %d requests, %d failed at first (in flight), HAProxy "
          "retries %s, redispatches %s, DOWN after %.1f s, counter %d"
          % (killed, len(records), len(failed), be["wretr"], be["wredis"], t_down - t_kill,
             c.counter()))


def test_failed_deploy_stops_with_the_host_in_maintenance(cluster):
    """When the deploy command fails on a host, rolling-deploy stops there: that host stays
    in maintenance, the next ones are not touched, and the others keep serving."""
    c = cluster
    first, rest = c.hosts[0], c.hosts[1:]
    servers = []
    for h in c.hosts:
        servers += ["--server", "%s=%s" % (h.name, h.addr)]
    deploy = c.in_lb([sys.executable, os.path.join(EXAMPLES, "rolling-deploy"),
                      "--socket", c.socket, "--backend", BACKEND] + servers +
                     ["--deploy-command", "exit 3", "--version", "2"],
                     check=False, timeout=60)
    assert deploy.returncode == 1, deploy.stdout + deploy.stderr
    assert ("rolling-deploy: error: the deploy command exited with 3; %s stays in maintenance"
            % first.name) in deploy.stdout
    assert not any(h.name + " (" in deploy.stdout for h in rest)
    assert c.status(first.name) == "MAINT"
    for h in rest:
        assert c.status(h.name).startswith("UP")
        assert h.version()["version"] == "1"
    seen = set()
    for _ in range(6):
        p = c.in_lb(["curl", "-s", "--max-time", "5", "-X", "POST", "-H",
                     "Idempotency-Key: " + secrets.token_hex(8), "http://%s/counter" % LB_ADDR])
        seen.add(json.loads(p.stdout)["host"])
    assert seen == {h.name for h in rest}
