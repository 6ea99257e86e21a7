"""Daemon recycling, timeouts and code reloading, with no request lost (issue 4)."""
import os
import signal
import threading
import time

from harness import TIME_FACTOR, wait_for

PID_APP = """
import os, time

def application(environ, start_response):
    q = environ.get('QUERY_STRING', '')
    if q.startswith('sleep='):
        time.sleep(float(q[6:]))
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""

SLOW_APP = """
import os, time, mod_wsgi

def application(environ, start_response):
    q = environ.get('QUERY_STRING', '')
    if q.startswith('sleep='):
        try:
            time.sleep(float(q[6:]))
        except mod_wsgi.RequestTimeout:
            open(environ['MARKER'], 'w').write('interrupted')
            raise
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""

SPIN_APP = """
import os, time

def application(environ, start_response):
    q = environ.get('QUERY_STRING', '')
    if q.startswith('spin='):
        # CPU seconds, whatever else the machine runs (bounded in wall time too)
        end, give_up = time.process_time() + float(q[5:]), time.time() + 20
        while time.process_time() < end and time.time() < give_up:
            pass
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""

MEMORY_APP = """
import os

hoard = []

def application(environ, start_response):
    if environ.get('QUERY_STRING') == 'eat':
        hoard.append(bytearray(150 * 1024 * 1024))
        for i in range(0, len(hoard[-1]), 4096):
            hoard[-1][i] = 1
    body = ('%d:' % os.getpid()).encode() + b'x' * 100000
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

SHUTDOWN_APP = """
import os, mod_wsgi

def stopping(event, **kw):
    with open(os.path.join(os.path.dirname(__file__), 'stop.%d' % os.getpid()), 'w') as f:
        f.write(event + ' ' + kw.get('shutdown_reason', ''))

mod_wsgi.subscribe_shutdown(stopping)

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""


def pid_of(r):
    assert r.status == 200, r
    return int(r.body.split(b":")[0])


def daemon_pids(a, group):
    return sorted(p for p in a.session_pids()
                  if a.cmdline(p).startswith("(wsgi:%s)" % group))


def test_maximum_requests_recycles_without_failure(apache):
    a = apache("""
        WSGIDaemonProcess mr threads=2 maximum-requests=5 display-name=%{GROUP}
        WSGIScriptAlias /pid @ROOT@/pid.wsgi process-group=mr
    """, files={"pid.wsgi": PID_APP})
    a.mark_log()
    # The process takes no more requests once the ones running when the fifth ended have
    # ended too: on a loaded machine the first request's thread can still be finishing while
    # a few more are served by the other thread, so the client goes on until the new pid.
    pids = []
    while len(set(pids)) < 2 and len(pids) < 200:
        pids.append(pid_of(a.get("/pid")))
    assert len(set(pids)) >= 2 and pids.count(pids[0]) >= 5, pids
    assert a.wait_log(r"daemon process \d+ of group 'mr': restarting: maximum-requests \(5\) reached")


def test_graceful_recycle_of_a_never_idle_process_ends_with_its_running_requests(apache):
    """Six clients keep both threads busy (a queue waits), so the process is never idle. A
    graceful recycle (SIGUSR1) takes requests only until those running when it began have
    ended, then the replacement serves: well before graceful-timeout (15 s), and nothing
    fails."""
    a = apache("""
        WSGIDaemonProcess busy threads=2 graceful-timeout=15 display-name=%{GROUP}
        WSGIScriptAlias /pid @ROOT@/pid.wsgi process-group=busy
    """, files={"pid.wsgi": PID_APP})
    old = pid_of(a.get("/pid"))
    seen, stop = [], threading.Event()

    def client():
        conn = a.connection(timeout=20)
        while not stop.is_set():
            conn.request("GET", "/pid?sleep=0.05")
            r = conn.getresponse()
            seen.append((r.status, r.read(), time.time()))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    signalled = time.time()
    os.kill(old, signal.SIGUSR1)
    deadline = signalled + 12
    while time.time() < deadline and not any(
            st == 200 and int(body) != old for st, body, _ in list(seen)):
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(20)
    assert all(st == 200 for st, _, _ in seen), [x for x in seen if x[0] != 200][:3]
    new = [when for st, body, when in seen if int(body) != old]
    assert new, "no request reached a new process within 12 s"
    assert new[0] - signalled < 5, new[0] - signalled


def test_maximum_requests_under_steady_load_and_sigusr1_lose_nothing(apache):
    """A bounded stream of requests across several recycles and a SIGUSR1: zero failures."""
    a = apache("""
        WSGIDaemonProcess load processes=2 threads=4 maximum-requests=30 graceful-timeout=0 \
            display-name=%{GROUP}
        WSGIScriptAlias /pid @ROOT@/pid.wsgi process-group=load
    """, files={"pid.wsgi": PID_APP})
    results, lock = [], threading.Lock()
    deadline = time.time() + 60

    def client(n):
        conn = a.connection(timeout=20)
        for i in range(n):
            if time.time() > deadline:
                break
            try:
                conn.request("GET", "/pid")
                r = conn.getresponse()
                body = r.read()
                status = r.status
            except Exception as e:  # noqa: BLE001 - any failure counts
                status, body = repr(e), b""
                conn.close()
                conn = a.connection(timeout=20)
            with lock:
                results.append((status, body))
        conn.close()

    threads = [threading.Thread(target=client, args=(75,)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for pid in daemon_pids(a, "load"):
        os.kill(pid, signal.SIGUSR1)
    for t in threads:
        t.join(90)
    failures = [s for s, b in results if s != 200]
    assert len(results) == 300
    assert not failures, failures[:5]
    assert len({b for s, b in results}) >= 6


def test_inactivity_timeout_gives_new_process(apache):
    a = apache("""
        WSGIDaemonProcess idle threads=2 inactivity-timeout=2 display-name=%{GROUP}
        WSGIScriptAlias /pid @ROOT@/pid.wsgi process-group=idle
    """, files={"pid.wsgi": PID_APP})
    a.mark_log()
    first = pid_of(a.get("/pid"))
    assert a.wait_log(r"restarting: inactivity-timeout: no request activity for 2 seconds",
                      timeout=6)
    second = pid_of(a.get("/pid"))
    assert second != first


def test_request_timeout_gives_504_and_next_request_succeeds(apache):
    a = apache("""
        WSGIDaemonProcess rt threads=1 request-timeout=2 display-name=%{GROUP}
        WSGIScriptAlias /slow @ROOT@/slow.wsgi process-group=rt
    """, files={"slow.wsgi": PID_APP})
    a.mark_log()
    first = pid_of(a.get("/slow"))
    start = time.time()
    r = a.get("/slow?sleep=30")
    elapsed = time.time() - start
    assert r.status == 504
    assert elapsed < 5, elapsed
    line = a.wait_log(r"request-timeout: GET /slow\?sleep=30 \(client 127\.0\.0\.1:\d+\) has "
                      r"run [\d.]+ seconds \(request-timeout=2\); answered with 504")
    assert line
    assert a.wait_log(r'File ".*slow\.wsgi", line 7, in application')
    assert a.wait_log(r"time\.sleep\(float\(q\[6:\]\)\)")
    r = a.get("/slow")
    assert r.status == 200, (r, a.error_log()[-3000:])
    assert int(r.body) != first
    assert a.wait_log(r"restarting: request-timeout on GET /slow\?sleep=30")


def test_request_timeout_with_interrupt_raises_in_thread(apache):
    a = apache("""
        SetEnv MARKER @ROOT@/marker
        WSGIDaemonProcess it threads=1 request-timeout=1 interrupt-timeout=3 display-name=%{GROUP}
        WSGIScriptAlias /slow @ROOT@/slow.wsgi process-group=it
    """, files={"slow.wsgi": SLOW_APP}, modules=["env"])
    os.chmod(a.root, 0o777)
    a.mark_log()
    first = pid_of(a.get("/slow"))
    r = a.get("/slow?sleep=2.5")
    assert r.status == 504
    assert a.wait_log(r"raising mod_wsgi\.RequestTimeout in its thread")
    assert a.wait_log(r"interrupted by mod_wsgi\.RequestTimeout")
    with open(a.path("marker")) as f:
        assert f.read() == "interrupted"
    # the thread recovered: same process, no restart
    assert pid_of(a.get("/slow")) == first
    assert not a.log_lines(r"restarting: request-timeout")


def test_request_timeout_is_judged_per_thread(apache):
    """A long request does not make short ones on other threads time out."""
    a = apache("""
        WSGIDaemonProcess pt threads=3 request-timeout=2 display-name=%{GROUP}
        WSGIScriptAlias /slow @ROOT@/slow.wsgi process-group=pt
    """, files={"slow.wsgi": PID_APP})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("long", a.get("/slow?sleep=1.5")))
    t.start()
    statuses = [a.get("/slow?sleep=0.5").status for _ in range(3)]
    t.join(10)
    assert statuses == [200, 200, 200]
    assert out["long"].status == 200


def test_cpu_time_limit_restarts(apache):
    a = apache("""
        WSGIDaemonProcess cpu threads=1 cpu-time-limit=1 display-name=%{GROUP}
        WSGIScriptAlias /spin @ROOT@/spin.wsgi process-group=cpu
    """, files={"spin.wsgi": SPIN_APP})
    a.mark_log()
    first = pid_of(a.get("/spin"))
    r = a.get("/spin?spin=1.5")
    assert r.status == 200
    assert a.wait_log(r"restarting: cpu-time-limit reached", timeout=5)
    second = wait_for(lambda: (lambda p: p if p != first else None)(pid_of(a.get("/spin"))), 5)
    assert second and second != first


def test_memory_limit_recycles_after_request_with_intact_response(apache):
    a = apache("""
        WSGIDaemonProcess mem threads=2 memory-limit=100M display-name=%{GROUP}
        WSGIScriptAlias /mem @ROOT@/mem.wsgi process-group=mem
    """, files={"mem.wsgi": MEMORY_APP})
    a.mark_log()
    first = pid_of(a.get("/mem"))
    r = a.get("/mem?eat")
    assert r.status == 200 and r.error is None
    assert r.body == ("%d:" % first).encode() + b"x" * 100000
    line = a.wait_log(r"daemon process %d of group 'mem': restarting: memory-limit: resident "
                      r"size reached (\d+) MB \(memory-limit 100 MB\)" % first)
    assert line and int(line.group(1)) > 100
    second = wait_for(lambda: (lambda p: p if p != first else None)(pid_of(a.get("/mem"))), 5)
    assert second and second != first


def test_touching_script_gives_new_code_within_a_second(apache):
    a = apache("""
        WSGIDaemonProcess reload threads=2 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=reload
    """, files={"app.wsgi": "def application(e, s):\n    s('200 OK', [])\n    return [b'one']\n"})
    assert a.get("/app").body == b"one"
    a.mark_log()
    a.write("app.wsgi", "def application(e, s):\n    s('200 OK', [])\n    return [b'two']\n")
    st = os.stat(a.path("app.wsgi"))
    os.utime(a.path("app.wsgi"), (st.st_atime, st.st_mtime + 5))
    start = time.time()
    r = a.get("/app")
    assert r.status == 200 and r.body == b"two"
    assert time.time() - start < 1.0 * TIME_FACTOR
    assert a.wait_log(r"restarting: script .*app\.wsgi changed")


def test_script_change_lets_running_requests_finish(apache):
    a = apache("""
        WSGIDaemonProcess reload2 threads=2 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=reload2
    """, files={"app.wsgi": PID_APP})
    first = pid_of(a.get("/app"))
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("slow", a.get("/app?sleep=1.5")))
    t.start()
    time.sleep(0.3)
    st = os.stat(a.path("app.wsgi"))
    os.utime(a.path("app.wsgi"), (st.st_atime, st.st_mtime + 5))
    second = pid_of(a.get("/app"))
    t.join(10)
    assert second != first
    assert out["slow"].status == 200 and int(out["slow"].body) == first


def test_sigusr1_drains_and_restarts(apache):
    a = apache("""
        WSGIDaemonProcess usr1 threads=2 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=usr1
    """, files={"app.wsgi": PID_APP})
    first = pid_of(a.get("/app"))
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("slow", a.get("/app?sleep=1")))
    t.start()
    time.sleep(0.2)
    a.mark_log()
    os.kill(first, signal.SIGUSR1)
    t.join(10)
    assert out["slow"].status == 200 and int(out["slow"].body) == first
    assert a.wait_log(r"daemon process %d of group 'usr1': restarting: signal USR1" % first)
    second = wait_for(lambda: (lambda p: p if p != first else None)(pid_of(a.get("/app"))), 5)
    assert second and second != first


def test_graceful_timeout_bounds_the_drain(apache):
    a = apache("""
        WSGIDaemonProcess gt threads=2 graceful-timeout=1 shutdown-timeout=1 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=gt
    """, files={"app.wsgi": PID_APP})
    first = pid_of(a.get("/app"))
    out = {}
    t = threading.Thread(target=lambda: out.update(r=a.get("/app?sleep=20", timeout=30)))
    t.start()
    time.sleep(0.2)
    start = time.time()
    os.kill(first, signal.SIGUSR1)
    def ended():
        try:
            with open("/proc/%d/stat" % first) as f:
                return f.read().split()[2] == "Z"
        except OSError:
            return True

    gone = wait_for(ended, 6)
    assert gone
    assert time.time() - start < 4
    # the request it was still running ended with the process: a 502 that says so
    t.join(15)
    assert out["r"].status == 502, out
    assert a.wait_log(r"daemon process %d of group 'gt' died while handling the request" % first)


def test_restart_interval(apache):
    a = apache("""
        WSGIDaemonProcess ri threads=1 restart-interval=1 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=ri
    """, files={"app.wsgi": PID_APP})
    a.mark_log()
    first = pid_of(a.get("/app"))
    assert a.wait_log(r"restarting: restart-interval of 1 seconds passed", timeout=4)
    second = wait_for(lambda: (lambda p: p if p != first else None)(pid_of(a.get("/app"))), 5)
    assert second and second != first


def test_shutdown_callbacks_run_on_recycle(apache):
    a = apache("""
        WSGIDaemonProcess sd threads=1 maximum-requests=1 display-name=%{GROUP}
        WSGIImportScript @ROOT@/app.wsgi process-group=sd application-group=%{GLOBAL}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=sd application-group=%{GLOBAL}
    """, files={"app.wsgi": SHUTDOWN_APP})
    os.chmod(a.root, 0o777)
    first = pid_of(a.get("/app"))
    marker = a.path("stop.%d" % first)

    def written():
        return os.path.exists(marker) and open(marker).read()

    assert wait_for(written, 5) == "process_stopping maximum_requests"


def test_startup_timeout_restarts_a_process_whose_script_never_loads(apache):
    a = apache("""
        WSGIDaemonProcess st threads=1 startup-timeout=1 display-name=%{GROUP}
        WSGIScriptAlias /app @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": "raise RuntimeError('database not up')\n"})
    a.mark_log()
    first = daemon_pids(a, "st")
    assert a.get("/app").status == 500
    assert a.wait_log(r"restarting: startup-timeout: no WSGI script loaded within 1 seconds",
                      timeout=4)
    assert wait_for(lambda: daemon_pids(a, "st") and daemon_pids(a, "st") != first, 5)
