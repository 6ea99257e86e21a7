"""Seeing a running server: the pyhost-metrics (Prometheus), pyhost-status and pyhost-health
handlers, read from the shared record that Apache's children and the daemons write."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from harness import PREFORK_ONE, group_pids, make_out, read_response, slow_request, wait_for

APP = """
import os
import time

import pytest

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path.startswith('/wait/'):  # until the test says so, 60 seconds at most
        flag = os.path.join(os.path.dirname(__file__), 'out', 'go')
        t0 = time.time()
        while not os.path.exists(flag) and time.time() - t0 < 60:
            time.sleep(0.05)
    if path == '/missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no']
    if path == '/groups':
        import json, mod_wsgi
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(mod_wsgi.server_metrics()['groups']).encode()]
    if path == '/pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if path.startswith('/sleep/'):
        time.sleep(float(path[7:]))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
"""

HANDLERS = """
<Location /metrics>
    SetHandler pyhost-metrics
</Location>
<Location /status>
    SetHandler pyhost-status
</Location>
<Location /health>
    SetHandler pyhost-health
</Location>
"""

CONFIG = """
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess app processes=2 threads=4 display-name=%{GROUP}
WSGIScriptAlias /app @ROOT@/app.wsgi process-group=app application-group=%{GLOBAL}
WSGIScriptAlias /emb @ROOT@/app.wsgi application-group=%{GLOBAL}
""" + HANDLERS

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def value(samples, name, **labels):
    """The sum of the samples of name whose labels include labels."""
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert found, "no sample %s%r" % (name, labels)
    return sum(found)


def start(apache, config=CONFIG, **kw):
    a = apache(config, start=False, **kw)
    a.write("app.wsgi", APP)
    a.start()
    wait_ready(a)
    return a


def wait_ready(a, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = a.get("/health")
        if r.status == 200:
            return r
        time.sleep(0.1)
    raise AssertionError("not healthy: %s" % a.get("/health").text)


def settle():
    """A request is counted as its handler returns, just after the client has the response."""
    time.sleep(0.2)


def metrics(a):
    settle()
    r = a.get("/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    return r.text


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


# ---- pyhost-metrics ------------------------------------------------------------------------

def test_metrics_count_requests_by_group_and_status_and_pass_promtool(apache):
    a = start(apache)
    for _ in range(12):
        assert a.get("/app/").status == 200
    for _ in range(5):
        assert a.get("/emb/").status == 200
    assert a.get("/app/missing").status == 404
    assert a.get("/emb/missing").status == 404
    text = metrics(a)
    promtool_check(text)
    s = parse(text)
    assert value(s, "pyhost_requests_total", mode="daemon", group="app", code="2xx") == 12
    assert value(s, "pyhost_requests_total", mode="daemon", group="app", code="4xx") == 1
    assert value(s, "pyhost_requests_total", mode="embedded", group="", code="2xx") == 5
    assert value(s, "pyhost_requests_total", mode="embedded", group="", code="4xx") == 1
    assert value(s, "pyhost_requests_total", code="5xx") == 0
    # the histograms: count, and the +Inf bucket, are the requests
    assert value(s, "pyhost_request_duration_seconds_count", group="app") == 13
    assert value(s, "pyhost_request_duration_seconds_bucket", group="app", le="+Inf") == 13
    assert value(s, "pyhost_request_duration_seconds_count", mode="embedded") == 6
    assert value(s, "pyhost_queue_seconds_count", group="app") == 13
    # each Apache thread connects once per group and then reuses its connection
    assert 1 <= value(s, "pyhost_daemon_connect_seconds_count", group="app") <= 13
    # the processes: the real pids, their memory and CPU
    pids = group_pids(a, "app")
    assert len(pids) == 2
    assert sorted(v for n, l, v in s
                  if n == "pyhost_process_id" and l["group"] == "app") == pids
    assert value(s, "pyhost_processes", group="app") == 2
    assert value(s, "pyhost_process_requests_total", group="app") == 13
    for n, l, v in s:
        if n == "pyhost_process_resident_memory_bytes":
            assert v > 1 << 20
    assert value(s, "pyhost_threads", group="app", state="busy") == 0
    assert value(s, "pyhost_threads", group="app", state="idle") == 8
    assert value(s, "pyhost_restarts_total", group="app") == 0
    # each response's write releases the GIL; taking it back is a timed wait
    assert value(s, "pyhost_gil_waits_total", group="app") >= 13
    assert value(s, "pyhost_gil_waits_total", mode="embedded") >= 6
    assert 0 <= value(s, "pyhost_gil_wait_seconds_total", group="app") < 1  # often under 1 us


def test_the_handlers_exist_only_where_a_location_maps_them(apache):
    a = start(apache, CONFIG.replace(HANDLERS, """
<Location /health>
    SetHandler pyhost-health
</Location>
<Location /metrics>
    SetHandler pyhost-metrics
    Require all denied
</Location>
"""))
    assert a.get("/status").status == 404
    assert a.get("/status?json").status == 404
    assert a.get("/metrics").status == 403  # Apache's access control applies
    assert a.get("/health", method="POST", body=b"x").status == 405


def test_restarts_are_counted_by_reason_and_counters_survive_them(apache):
    a = start(apache, CONFIG.replace("threads=4", "threads=4 maximum-requests=5"))

    def recycled():
        return value(parse(metrics(a)), "pyhost_restarts_total", group="app",
                     reason="maximum-requests")

    # two processes share the requests as they accept them: 10 make 2 restarts only when each
    # took 5, so requests go on, one at a time, until the second restart is counted
    sent = 0
    while sent < 25:
        assert a.get("/app/").status == 200
        sent += 1
        if sent >= 10 and wait_for(lambda: recycled() == 2, timeout=1):
            break
    assert recycled() == 2
    old = group_pids(a, "app")
    settle()
    os.kill(old[0], signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        s = parse(metrics(a))
        if value(s, "pyhost_restarts_total", group="app", reason="crash") == 1:
            break
        time.sleep(0.1)
    assert value(s, "pyhost_restarts_total", group="app", reason="crash") == 1
    assert value(s, "pyhost_restarts_total", group="app") == 3
    assert value(s, "pyhost_requests_total", group="app", code="2xx") == sent
    settle()
    st = json.loads(a.get("/status?json").text)
    reasons = [e["reason"] for e in st["restarts"]]
    assert reasons[0] == "crash" and sorted(reasons[1:]) == ["maximum-requests"] * 2
    assert "killed by signal 9" in st["restarts"][0]["detail"]
    assert st["restarts"][0]["pid"] == old[0]
    # a graceful restart (reload) keeps the counters and counts each daemon it replaced
    a.mark_log()
    a.graceful()
    assert a.wait_log(r"resuming normal operations", timeout=15)
    wait_ready(a)
    s = parse(metrics(a))
    assert value(s, "pyhost_restarts_total", group="app", reason="reload") == 2
    assert value(s, "pyhost_requests_total", group="app", code="2xx") == sent


def test_shared_metrics_off_keeps_no_request_numbers(apache):
    a = start(apache, "WSGISharedMetrics Off\n" + CONFIG)
    for _ in range(3):
        assert a.get("/app/").status == 200
        assert a.get("/emb/").status == 200
    s = parse(metrics(a))
    assert value(s, "pyhost_requests_total") == 0
    assert value(s, "pyhost_processes", group="app") == 2  # processes are still shown
    rc, out = apache("WSGISharedMetrics Maybe", start=False).configtest()
    assert rc != 0 and "WSGISharedMetrics" in out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_query(port, query):
    import urllib.parse
    import urllib.request
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=5) as f:
        body = json.load(f)
    assert body["status"] == "success", body
    return [float(r["value"][1]) for r in body["data"]["result"]]


def test_a_real_prometheus_scrapes_the_request_count_and_rate(apache, tmp_path):
    a = start(apache)
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text("""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pyhost
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % a.port)
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        ["/usr/bin/prometheus", "--config.file=%s" % conf,
         "--storage.tsdb.path=%s" % (tmp_path / "data"),
         "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        def query(q, want, timeout=30):
            deadline = time.time() + timeout
            got = None
            while time.time() < deadline:
                try:
                    got = prometheus_query(port, q)
                    if want(got):
                        return got
                except OSError:
                    pass
                time.sleep(0.5)
            raise AssertionError("%s: %r (log: %s)" % (q, got,
                                 open(tmp_path / "prometheus.log").read()[-2000:]))

        query('up{job="pyhost"}', lambda v: v == [1.0])
        sent = 0
        t0 = time.time()
        while time.time() - t0 < 4 and sent < 2000:  # a steady stream for a few scrapes
            assert a.get("/app/").status == 200
            sent += 1
            time.sleep(0.01)
        total = 'sum(pyhost_requests_total{mode="daemon",group="app"})'
        assert query(total, lambda v: v == [float(sent)]) == [float(sent)]
        # the rate over the window holding the whole stream: what was sent, per second
        rate = query('sum(increase(pyhost_requests_total{group="app"}[1m]))',
                     lambda v: bool(v) and v[0] > 0)
        assert sent * 0.5 <= rate[0] <= sent * 1.5
        rate = query('sum(rate(pyhost_requests_total{group="app"}[10s]))',
                     lambda v: bool(v) and v[0] > 0)
        assert rate[0] > 0
        h = query('histogram_quantile(0.5, sum by (le) '
                  '(pyhost_request_duration_seconds_bucket{group="app"}))',
                  lambda v: bool(v) and v[0] > 0)
        assert h[0] < 1.0
    finally:
        os.killpg(prom.pid, signal.SIGTERM)
        prom.wait(20)
        log.close()


# ---- pyhost-health -------------------------------------------------------------------------

def test_health_is_503_with_the_reason_while_a_group_has_no_process_taking_requests(apache):
    a = apache("""
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess slow processes=1 threads=2 display-name=%{GROUP}
WSGIImportScript @ROOT@/slow_start.py process-group=slow application-group=%{GLOBAL}
WSGIScriptAlias /app @ROOT@/app.wsgi process-group=slow application-group=%{GLOBAL}
""" + HANDLERS, start=False)
    a.write("app.wsgi", APP)
    a.write("slow_start.py", "import time\ntime.sleep(2)\n")
    a.start()
    r = a.get("/health")
    assert r.status == 503
    assert re.match(r"unavailable: daemon group 'slow' takes no requests: process \d+ is "
                    r"starting\n$", r.text), r.text
    assert r.header("Cache-Control") == "no-store"
    r = wait_ready(a)
    assert r.text == "OK: 1 daemon group(s) taking requests\n"
    # a recycle: no process until the replacement has loaded its scripts
    pid = group_pids(a, "slow")[0]
    os.kill(pid, signal.SIGUSR1)
    deadline = time.time() + 5
    while time.time() < deadline and a.get("/health").status == 200:
        time.sleep(0.02)
    r = a.get("/health")
    assert r.status == 503, r.text
    assert "daemon group 'slow' takes no requests" in r.text
    wait_ready(a)
    assert group_pids(a, "slow") != [pid]


def test_health_names_a_group_that_could_not_start(apache):
    a = apache("""
WSGISocketPrefix @ROOT@/no/such/dir/wsgi
WSGIDaemonProcess broken threads=1
WSGIScriptAlias /app @ROOT@/app.wsgi process-group=broken
""" + HANDLERS, start=False)
    a.write("app.wsgi", APP)
    a.start()
    r = a.get("/health")
    assert r.status == 503
    assert r.text.startswith("unavailable: daemon group 'broken' takes no requests: it was not "
                             "started: its socket '")


def test_health_is_503_from_the_moment_a_graceful_stop_begins(apache):
    a = start(apache)
    assert a.get("/health").status == 200
    # a load balancer's check that reached Apache before the stop and completes after it
    check = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    check.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
    time.sleep(0.3)
    a.mark_log()
    a.signal(signal.SIGWINCH)  # apachectl graceful-stop
    assert a.wait_log(r"caught SIGWINCH, shutting down gracefully", timeout=10)
    check.sendall(b"Connection: close\r\n\r\n")
    data = b""
    while True:
        b = check.recv(65536)
        if not b:
            break
        data += b
    check.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), data
    assert body == b"unavailable: Apache is stopping (graceful stop)\n"


# ---- pyhost-status -------------------------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(REPO, "build", "artifacts")


def chromium(url, *args, timeout=120):
    """Debian's Chromium, headless, with a fresh profile; returns its stdout."""
    import tempfile
    profile = tempfile.mkdtemp(prefix="pyhost-chromium-")
    try:
        p = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=3000",
             "--window-size=1280,1500"] + list(args) + [url],
            capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout
    finally:
        subprocess.run(["rm", "-rf", profile])


class Dom:
    """What the test reads of the rendered page: the plots' points, the tables' cells."""

    def __init__(self, html):
        from html.parser import HTMLParser
        self.svgs, self.polylines, self.tables, self.body = {}, [], {}, {}
        dom = self

        class P(HTMLParser):
            table = row = cell = None

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "svg":
                    dom.svgs[a.get("id")] = a
                elif tag == "polyline":
                    dom.polylines.append(a)
                elif tag == "body":
                    dom.body = a
                elif tag == "table":
                    self.table = dom.tables.setdefault(a.get("id"), [])
                elif tag == "tr" and self.table is not None:
                    self.row = []
                elif tag in ("td", "th") and self.row is not None:
                    self.cell = []

            def handle_endtag(self, tag):
                if tag in ("td", "th") and self.cell is not None:
                    self.row.append("".join(self.cell).strip())
                    self.cell = None
                elif tag == "tr" and self.row is not None:
                    self.table.append(self.row)
                    self.row = None
                elif tag == "table":
                    self.table = None

            def handle_data(self, data):
                if self.cell is not None:
                    self.cell.append(data)

        P().feed(html)

    def rows(self, table):
        """The body rows of a table as dicts by header."""
        head, *rows = self.tables[table]
        return [dict(zip(head, r)) for r in rows]


def test_status_page_draws_live_plots_and_real_processes_in_chromium(apache):
    # the two waiting requests last as long as Chromium takes (slow on a loaded machine):
    # Timeout, and so the daemon's socket-timeout, must not end them first
    a = start(apache, timeout=120)
    make_out(a)
    stop = threading.Event()
    counts, failed = [], []

    def load():
        n = 0
        t0 = time.time()
        while not stop.is_set() and time.time() - t0 < 60:
            for path in ("/app/", "/emb/"):
                r = a.get(path)
                if r.status != 200:
                    failed.append((path, r))
                n += 1
        counts.append(n)

    def slow(path):
        r = a.get(path)
        if r.status != 200:
            failed.append((path, r))

    threads = [threading.Thread(target=load) for _ in range(2)]
    threads += [threading.Thread(target=slow, args=(p,)) for p in ("/app/wait/1", "/emb/wait/1")]
    for t in threads:
        t.start()
    try:
        time.sleep(4)  # a few seconds of history under load
        dom = Dom(chromium(a.url("/status"), "--dump-dom"))
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        chromium(a.url("/status"), "--screenshot=" + shot)
    finally:
        stop.set()
        a.write("out/go", "")
        for t in threads:
            t.join()
    assert not failed and len(counts) == 2, failed
    assert dom.body.get("data-rendered"), "the page's script did not render"
    # each plot drew lines through points of the last seconds
    for plot in ("plot-rate", "plot-latency", "plot-busy"):
        assert int(dom.svgs[plot]["data-points"]) >= 3, dom.svgs[plot]
    rate = [p for p in dom.polylines if p.get("data-series") == "all"][0]
    assert len(rate["points"].split()) >= 3
    ys = [float(pt.split(",")[1]) for pt in rate["points"].split()]
    assert min(ys) < 170 - 34 - 1  # some point above the axis: requests were counted
    # the processes table holds the real pids
    procs = dom.rows("processes")
    assert sorted(int(r["pid"]) for r in procs if r["group"] == "app") == group_pids(a, "app")
    children = [int(r["pid"]) for r in procs if r["group"] == "(embedded)"]
    assert children and set(children) <= set(a.session_pids())
    assert all(r["state"] == "ready" for r in procs)
    # the two slow requests are in flight, each with its thread
    inflight = {r["request"].split(" (")[0]: r for r in dom.rows("inflight")}
    assert set(inflight) >= {"GET /app/wait/1", "GET /emb/wait/1"}, inflight
    assert int(inflight["GET /app/wait/1"]["pid"]) in group_pids(a, "app")
    assert float(inflight["GET /app/wait/1"]["elapsed s"]) >= 3
    groups = {r["group"]: r for r in dom.rows("groups")}
    assert set(groups) == {"(embedded)", "app"}
    assert os.path.getsize(shot) > 10000
    # ?json is the same data
    settle()
    d = json.loads(a.get("/status?json").text)
    assert sum(g["requests"] for g in d["groups"]) >= sum(counts)
    assert sorted(p["pid"] for p in d["processes"] if p["group"] == "app") == group_pids(a, "app")


def test_status_page_is_self_contained(apache):
    a = start(apache)
    r = a.get("/status")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    # no external assets: no src= or href= at all, no URL but the page's own ?json
    assert not re.search(r'\b(src|href)=', r.text)
    assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in r.text
    data = re.search(r"var DATA = (\{.*?\});\n", r.text).group(1)
    assert json.loads(data)["groups"][1]["name"] == "app"


OTHER_GROUP = """
WSGIDaemonProcess other threads=2 display-name=%{GROUP}
WSGIScriptAlias /other @ROOT@/app.wsgi process-group=other application-group=%{GLOBAL}
WSGIScriptAlias /app"""


def counted(a, **labels):
    return value(parse(metrics(a)), "pyhost_requests_total", **labels)


def test_a_restart_that_changes_the_groups_carries_counters_over_by_name(apache):
    a = start(apache)
    for _ in range(4):
        assert a.get("/app/").status == 200
        assert a.get("/emb/").status == 200
    a.config = CONFIG.replace("WSGIScriptAlias /app", OTHER_GROUP)
    a.write_conf()
    a.mark_log()
    a.graceful()
    assert a.wait_log(r"resuming normal operations", timeout=15)
    wait_ready(a)
    assert a.get("/other/").status == 200
    # a request counted by an old child just after the record was carried over is folded in
    # by Apache's parent within a second
    assert wait_for(lambda: counted(a, mode="embedded", code="2xx") == 4, timeout=5)
    s = parse(metrics(a))
    assert value(s, "pyhost_requests_total", group="app", code="2xx") == 4
    assert value(s, "pyhost_requests_total", mode="embedded", code="2xx") == 4
    assert value(s, "pyhost_requests_total", group="other", code="2xx") == 1
    assert value(s, "pyhost_restarts_total", group="app", reason="reload") == 2
    assert value(s, "pyhost_processes", group="other") == 1


def test_requests_in_flight_across_a_restart_that_changes_the_groups_are_counted(apache):
    """The old generation's children finish their requests in the old record; what they add
    there after the restart reaches the new one."""
    a = start(apache)
    make_out(a)
    results = []
    t = threading.Thread(target=lambda: results.append(a.get("/emb/wait/1", timeout=30).status))
    t.start()
    assert wait_for(lambda: "GET /emb/wait/1" in a.get("/status?json").text, timeout=10)
    a.config = CONFIG.replace("WSGIScriptAlias /app", OTHER_GROUP)
    a.write_conf()
    a.mark_log()
    a.graceful()
    assert a.wait_log(r"resuming normal operations", timeout=15)
    wait_ready(a)
    assert counted(a, mode="embedded", code="2xx") == 0
    a.write("out/go", "")
    t.join(30)
    assert results == [200]
    assert wait_for(lambda: counted(a, mode="embedded", code="2xx") == 1, timeout=5)


def test_prefork_children_are_counted_with_their_requests(apache):
    a = start(apache, mpm="prefork", mpm_config=PREFORK_ONE)
    pids = {int(a.get("/emb/pid").body) for _ in range(6)}
    assert len(pids) == 1
    settle()
    d = json.loads(a.get("/status?json").text)
    children = [p for p in d["processes"] if p["mode"] == "embedded"]
    assert [p["pid"] for p in children] == list(pids)
    assert children[0]["requests"] == 6
    s = parse(metrics(a))
    assert value(s, "pyhost_requests_total", mode="embedded", code="2xx") == 6
    assert value(s, "pyhost_threads", mode="embedded", state="busy") == 0
    assert value(s, "pyhost_threads", mode="embedded", state="idle") == 1


def test_mod_wsgi_server_metrics_reads_the_same_groups(apache):
    a = start(apache, "WSGIServerMetrics On\n" + CONFIG.replace(
        "threads=4", "threads=4 server-metrics=On maximum-requests=3"))
    assert a.get("/emb/missing").status == 404
    sent = 0
    deadline = time.time() + 15
    while time.time() < deadline:  # until each first process has been recycled
        assert a.get("/app/").status == 200
        sent += 1
        groups = json.loads(a.get("/emb/groups").body)
        if all(p["last_restart"] for p in groups[1]["processes"]):
            break
    settle()
    emb, app = json.loads(a.get("/emb/groups").body)
    assert (emb["name"], emb["mode"], emb["status_4xx"], emb["processes"]) == (
        "", "embedded", 1, [])
    assert (app["name"], app["mode"], app["status_2xx"]) == ("app", "daemon", sent)
    assert app["restarts"]["maximum-requests"] >= 2 and app["restarts"]["crash"] == 0
    assert sorted(p["pid"] for p in app["processes"]) == group_pids(a, "app")
    assert all(p["last_restart"] == "maximum-requests" for p in app["processes"])
    # in a daemon the same
    groups = json.loads(a.get("/app/groups").body)
    assert groups[1]["status_2xx"] == sent
    s = parse(metrics(a))
    assert value(s, "pyhost_restarts_total", group="app", reason="maximum-requests") == \
        app["restarts"]["maximum-requests"]


def test_without_embedded_mode_only_daemon_groups_are_shown(apache):
    a = start(apache, "WSGIRestrictEmbedded On\n" + CONFIG.replace(
        "WSGIScriptAlias /emb @ROOT@/app.wsgi application-group=%{GLOBAL}\n", ""))
    assert a.get("/app/").status == 200
    text = metrics(a)
    promtool_check(text)
    assert 'mode="embedded"' not in text
    d = json.loads(a.get("/status?json").text)
    assert [g["name"] for g in d["groups"]] == ["app"]
    assert {p["group"] for p in d["processes"]} == {"app"}


def haproxy_server(sock_path):
    """HAProxy's view of its one server: (status, the last check's result and HTTP code)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        if row.get("pxname") == "web" and row.get("svname") == "apache":
            return row["status"], row["check_status"], row["check_code"]
    raise AssertionError(data)


def test_haproxy_httpchk_takes_the_host_out_while_a_group_has_no_process(apache, tmp_path):
    a = apache("""
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess slow processes=1 threads=2 display-name=%{GROUP}
WSGIImportScript @ROOT@/slow_start.py process-group=slow application-group=%{GLOBAL}
WSGIScriptAlias /app @ROOT@/app.wsgi process-group=slow application-group=%{GLOBAL}
""" + HANDLERS, start=False)
    a.write("app.wsgi", APP)
    a.write("slow_start.py", "import time\ntime.sleep(3)\n")
    front = free_port()
    sock = str(tmp_path / "haproxy.sock")
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("""
global
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 5s
backend web
    option httpchk GET /health
    server apache 127.0.0.1:%d check inter 200ms fall 1 rise 1
frontend fe
    bind 127.0.0.1:%d
    default_backend web
""" % (sock, a.port, front))
    a.start()
    log = open(tmp_path / "haproxy.log", "wb")
    hap = subprocess.Popen(["haproxy", "-db", "-f", str(conf)], stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)

    def wait_state(want, timeout=15):
        deadline = time.time() + timeout
        state = None
        while time.time() < deadline:
            try:
                state = haproxy_server(sock)
                if state[0] == want:
                    return state
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("HAProxy: %r, not %s" % (state, want))

    try:
        # Apache answers, but its daemon group is still starting: out of the pool
        status, check, code = wait_state("DOWN")
        assert (check, code) == ("L7STS", "503")  # a layer-7 check that got the wrong status
        wait_state("UP")
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/app/" % front, timeout=10) as f:
            assert f.read() == b"hello"
        # the group's only process recycles: out of the pool until the replacement is ready
        os.kill(group_pids(a, "slow")[0], signal.SIGUSR1)
        status, check, code = wait_state("DOWN")
        assert (check, code) == ("L7STS", "503")  # a layer-7 check that got the wrong status
        wait_state("UP")
    finally:
        os.killpg(hap.pid, signal.SIGTERM)
        hap.wait(10)
        log.close()


# ---- responses held for slow clients --------------------------------------------------------

BIG_APP = r'''
import os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')
BLOCK = 65536


def application(environ, start_response):
    if environ['REQUEST_METHOD'] == 'POST':
        n = str(len(environ['wsgi.input'].read())).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(n)))])
        return [n]
    name = environ.get('PATH_INFO', '').strip('/')
    n = int(environ.get('QUERY_STRING') or 256)

    def body():
        try:
            for i in range(n):
                yield (b'%07d\n' % i) * (BLOCK // 8)
        finally:
            with open(os.path.join(OUT, name), 'w') as f:
                f.write(str(time.time()))

    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(n * BLOCK))])
    return body()
'''

# two Apache children (event MPM, write completion), so the numbers are sums over children
TWO_CHILDREN = """
StartServers 2
ServerLimit 2
ThreadsPerChild 4
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
"""

BUFFER_CONFIG = """
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess app processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /daemon @ROOT@/big.wsgi process-group=app application-group=%{GLOBAL}
WSGIScriptAlias /embedded @ROOT@/big.wsgi application-group=%{GLOBAL}
WSGIBufferDirectory @ROOT@/spool
""" + HANDLERS

GROUP_OF = {"daemon": {"mode": "daemon", "group": "app"},
            "embedded": {"mode": "embedded", "group": ""}}


def start_buffering(apache, extra=""):
    a = apache(BUFFER_CONFIG + extra, start=False, mpm_config=TWO_CHILDREN,
               files={"big.wsgi": BIG_APP})
    make_out(a)
    os.makedirs(a.path("spool"))
    os.chmod(a.path("spool"), 0o777)
    a.start()
    wait_ready(a)
    return a


def held_on_the_machine(a):
    """What Apache's processes really hold: bytes of the spools' memory files and of the
    temporary files in spool/ they have open."""
    mem = disk = 0
    for pid in a.session_pids():
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                size = os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size
            except OSError:
                continue
            if link.startswith("/memfd:pyhost-response"):
                mem += size
            elif link.startswith(a.path("spool/")):
                disk += size
    return mem, disk


def seen_alike(a, last=False):
    """(the metrics, memory bytes, disk bytes) when the files Apache's processes hold are the
    same before and after a scrape (else None, or on the last try the scrape anyway)."""
    before = held_on_the_machine(a)
    text = metrics(a)
    if before == held_on_the_machine(a) or last:
        return (text,) + before
    return None


def buffer_numbers(s, **labels):
    return {"memory": value(s, "pyhost_response_buffer_bytes", where="memory", **labels),
            "disk": value(s, "pyhost_response_buffer_bytes", where="disk", **labels),
            "responses": value(s, "pyhost_response_buffer_responses", **labels),
            "held": value(s, "pyhost_response_buffered_total", **labels),
            "bytes": value(s, "pyhost_response_buffered_bytes_total", **labels),
            "memory_limit": value(s, "pyhost_response_buffer_limit_total", limit="memory",
                                  **labels),
            "disk_limit": value(s, "pyhost_response_buffer_limit_total", limit="disk", **labels)}


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_responses_held_for_slow_readers_show_in_the_metrics_and_go_back_to_zero(apache, mode):
    """Two clients that stop reading a 16 MB response: once the application has ended, the
    gauges show the two responses and exactly the bytes of memory files and temporary files
    Apache's children hold for them (summed over the children), in the request's group and
    no other; when the clients have read everything, the gauges are 0 and the counters keep
    the two responses."""
    a = start_buffering(apache)
    other = GROUP_OF["daemon" if mode == "embedded" else "embedded"]
    s = parse(metrics(a))
    assert buffer_numbers(s, **GROUP_OF[mode]) == dict.fromkeys(
        ("memory", "disk", "responses", "held", "bytes", "memory_limit", "disk_limit"), 0)
    socks = [slow_request(a, "/%s/r%d" % (mode, i)) for i in range(2)]
    try:
        assert wait_for(lambda: all(os.path.exists(a.path("out/r%d" % i)) for i in range(2)),
                        15), a.error_log()[-2000:]
        # in daemon mode Apache's thread may still take the daemon's last frames: until the
        # files stay as they are, around a scrape
        text, mem, disk = wait_for(lambda: seen_alike(a), 10) or seen_alike(a, True)
        promtool_check(text)
        s = parse(text)
        held = buffer_numbers(s, **GROUP_OF[mode])
        # 256 KB (WSGIResponseBufferMemory's default) in memory each, the rest on disk
        assert (held["memory"], held["disk"]) == (mem, disk) == (2 * 256 * 1024, disk)
        # the rest of each 16 MB but what the socket buffers took before the client was found slow
        assert 0 < disk and mem + disk <= 2 * (16 << 20), (mem, disk)
        assert held["responses"] == 2 and held["held"] == 2
        assert held["bytes"] == mem + disk
        assert (held["memory_limit"], held["disk_limit"]) == (2, 0)
        assert buffer_numbers(s, **other) == dict.fromkeys(held, 0)
        # the status page's JSON shows the same
        j = json.loads(a.get("/status?json").body)
        g = [g for g in j["groups"] if g["mode"] == mode][0]["buffers"]
        assert g == {"memory": mem, "disk": disk, "responses": 2, "held": 2, "memory_limit": 2,
                     "disk_limit": 0, "body_memory": 0, "body_disk": 0, "bodies": 0}
        for sock in socks:
            assert len(read_response(sock)[1]) == 256 * 65536
        assert wait_for(lambda: held_on_the_machine(a) == (0, 0), 10)
        s = parse(metrics(a))
        after = buffer_numbers(s, **GROUP_OF[mode])
        assert (after["memory"], after["disk"], after["responses"]) == (0, 0, 0), after
        assert (after["held"], after["bytes"], after["memory_limit"]) == (2, mem + disk, 2)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_back_pressure_at_the_disk_limit_is_counted(apache, mode):
    """WSGIResponseBufferMemory 128K, WSGIBufferDiskLimit 1M and a 32 MB response to a client
    that reads nothing: the response meets the disk limit once (counted), the gauges stay
    within the limits while the application waits for the client, and return to 0."""
    a = start_buffering(apache, "WSGIResponseBufferMemory 128K\nWSGIBufferDiskLimit 1M\n")
    sock = slow_request(a, "/%s/limit?512" % mode)
    try:
        assert wait_for(lambda: value(parse(metrics(a)), "pyhost_response_buffer_limit_total",
                                      limit="disk", **GROUP_OF[mode]) == 1, 15)
        held = buffer_numbers(parse(metrics(a)), **GROUP_OF[mode])
        assert held["memory"] == 128 * 1024 and held["responses"] == 1, held
        assert (1024 - 64) * 1024 < held["disk"] <= 1024 * 1024, held
        assert held["memory_limit"] == 1
        assert not os.path.exists(a.path("out/limit"))  # the application waits for the client
        assert len(read_response(sock)[1]) == 512 * 65536
        assert wait_for(lambda: os.path.exists(a.path("out/limit")), 5)
        assert wait_for(lambda: buffer_numbers(parse(metrics(a)), **GROUP_OF[mode])["responses"]
                        == 0, 10)
        after = buffer_numbers(parse(metrics(a)), **GROUP_OF[mode])
        assert (after["memory"], after["disk"], after["disk_limit"], after["held"]) == (
            0, 0, 1, 1), after
    finally:
        sock.close()


def test_held_responses_are_shown_with_shared_metrics_off(apache):
    """WSGISharedMetrics Off keeps no per-request numbers, but what is held for slow clients
    is still shown (only held responses pay for it)."""
    a = start_buffering(apache, "WSGISharedMetrics Off\n")
    sock = slow_request(a, "/embedded/off")
    try:
        assert wait_for(lambda: os.path.exists(a.path("out/off")), 15)
        text, mem, disk = wait_for(lambda: seen_alike(a), 10) or seen_alike(a, True)
        s = parse(text)
        assert value(s, "pyhost_requests_total", mode="embedded") == 0
        held = buffer_numbers(s, **GROUP_OF["embedded"])
        assert (held["memory"], held["disk"], held["responses"]) == (mem, disk, 1) == (
            256 * 1024, disk, 1)
        assert len(read_response(sock)[1]) == 256 * 65536
        assert wait_for(lambda: buffer_numbers(parse(metrics(a)), **GROUP_OF["embedded"])[
            "responses"] == 0, 10)
    finally:
        sock.close()


def test_request_bodies_read_before_the_hop_show_while_a_slow_uploader_sends(apache):
    """A slow uploader of a 300 KB body to a daemon group (read whole before the hop, the first
    64 KB in memory, the rest in a temporary file): while it has sent 200 KB, the gauges show
    one body and exactly the bytes the Apache child holds; once the response is out, 0."""
    a = start_buffering(apache)
    size, first = 300 * 1024, 200 * 1024
    s = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    try:
        s.sendall(("POST /daemon/up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   "Content-Length: %d\r\n\r\n" % size).encode() + b"x" * first)

        def body_held():
            text, mem, disk = seen_alike(a, True)
            n = parse(text)
            got = (value(n, "pyhost_request_buffer_bytes", where="memory", group="app"),
                   value(n, "pyhost_request_buffer_bytes", where="disk", group="app"),
                   value(n, "pyhost_request_buffer_bodies", group="app"))
            return got if got == (64 * 1024, first - 64 * 1024, 1) and disk == got[1] else None

        assert wait_for(body_held, 10), seen_alike(a, True)
        s.sendall(b"x" * (size - first))
        assert read_response(s)[1] == str(size).encode()
        assert wait_for(lambda: held_on_the_machine(a) == (0, 0), 10)
        n = parse(metrics(a))
        assert value(n, "pyhost_request_buffer_bytes", group="app") == 0
        assert value(n, "pyhost_request_buffer_bodies", group="app") == 0
    finally:
        s.close()
