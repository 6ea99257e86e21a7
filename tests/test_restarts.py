"""Restarts lose nothing (issue 12): Apache's graceful restart and graceful-stop, and every way a
daemon process recycles, under load from keep-alive clients that retry only what RFC 9112 9.3.1
lets them retry (a request on a reused connection closed before any byte of the answer).

One test of 20 consecutive rounds, each of at least ROUND requests from 6 clients to a group of
processes=2 threads=5, with the restart under way while they run: every request must get its
200. Each round also proves its restart happened during the load (responses from more than the
group's two processes, or the stop seen by the clients).
"""
import os
import re
import signal
import threading
import time
import urllib.request

from keepalive import load

# The rounds: 3,000 requests each (about 20 s for the 20 rounds on a loaded 2-core
# machine); the clients go on past that until the round's restart has been seen to complete.
ROUND = 3000

APP = """
import os

hoard = []

def application(environ, start_response):
    if environ.get('QUERY_STRING') == 'eat':
        hoard.append(bytearray(80 * 1024 * 1024))
        for i in range(0, len(hoard[-1]), 4096):
            hoard[-1][i] = 1
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""

GROUPS = """
WSGIDaemonProcess g processes=2 threads=5 display-name=%{GROUP}
WSGIScriptAlias /g @ROOT@/app.wsgi process-group=g
WSGIDaemonProcess mr processes=2 threads=5 maximum-requests=250 display-name=%{GROUP}
WSGIScriptAlias /mr @ROOT@/app.wsgi process-group=mr
WSGIDaemonProcess ri processes=2 threads=5 restart-interval=1 display-name=%{GROUP}
WSGIScriptAlias /ri @ROOT@/app.wsgi process-group=ri
WSGIDaemonProcess ml processes=2 threads=5 memory-limit=60000000 display-name=%{GROUP}
WSGIScriptAlias /ml @ROOT@/app.wsgi process-group=ml
"""


def group_pids(a, group):
    pids = set()
    for p in a.session_pids():
        try:
            if a.cmdline(p).startswith("(wsgi:%s)" % group):
                pids.add(p)
        except OSError:
            pass  # it has just ended
    return pids


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def replaced(a, group, old, timeout=10):
    """Waits until the group runs 2 processes none of which is in old."""
    return wait_until(lambda: len(group_pids(a, group) - old) >= 2, timeout)


def check(results, kind):
    bad = [r for r in results if not r.ok]
    assert bad == [], (kind, len(bad), bad[:5])
    assert len(results) >= ROUND


def apache_graceful(a):
    def during():
        old = group_pids(a, "g")
        time.sleep(0.2)
        a.graceful()
        assert replaced(a, "g", old), a.error_log()[-3000:]
        # the old processes serve the old generation's children until those have gone
        assert wait_until(lambda: not old & group_pids(a, "g"), 15), a.error_log()[-3000:]
    return "/g/", during


def daemon_sigusr1(a):
    def during():
        old = group_pids(a, "g")
        time.sleep(0.2)
        for pid in old:
            os.kill(pid, signal.SIGUSR1)
        assert replaced(a, "g", old), a.error_log()[-3000:]
        time.sleep(0.2)
    return "/g/", during


def loaded_script(a, pids):
    """Those of pids whose log says they loaded app.wsgi."""
    return {int(m) for m in re.findall(r"\[pid (\d+):tid \d+\].*Loading Python script file",
                                       a.error_log())} & pids


def script_reload(a):
    def during():
        # Only a process that has loaded the script restarts for it (one that has not loads
        # the new file with its first request), and the clients' kept connections may all be
        # with one process: the round waits for the processes that had loaded it.
        old = group_pids(a, "g")
        time.sleep(0.2)
        before = loaded_script(a, old)
        t = time.time() + 10
        os.utime(a.path("app.wsgi"), (t, t))
        after = loaded_script(a, old)  # a load in between may have seen the old file or not
        assert before, a.log_lines(r"group 'g'|app.wsgi")
        assert wait_until(lambda: not before & group_pids(a, "g") and
                          len(group_pids(a, "g")) == 2, 10), a.log_lines(r"group 'g'|app.wsgi")
        time.sleep(0.2)
        during.expected = (before, after)
    return "/g/", during


def maximum_requests(a):
    def during():
        old = group_pids(a, "mr")
        assert replaced(a, "mr", old), a.error_log()[-3000:]
    return "/mr/", during


def restart_interval(a):
    def during():
        old = group_pids(a, "ri")
        assert replaced(a, "ri", old), a.error_log()[-3000:]
    return "/ri/", during


def memory_limit(a):
    def during():
        old = group_pids(a, "ml")
        time.sleep(0.2)
        with urllib.request.urlopen(a.url("/ml/?eat"), timeout=30) as r:
            assert r.status == 200
        assert wait_until(lambda: group_pids(a, "ml") - old, 10), a.error_log()[-3000:]
        time.sleep(0.2)
    return "/ml/", during


# what the error log says of each kind of restart
LOG = {
    apache_graceful: r"the Apache children of the previous configuration have ended: its \d+ "
                     r"daemon process\(es\) stop",
    maximum_requests: r"group 'mr': restarting: maximum-requests \(250\) reached",
    daemon_sigusr1: r"group 'g': restarting: signal USR1",
    restart_interval: r"group 'ri': restarting: restart-interval of 1 seconds passed",
    script_reload: r"group 'g': restarting: script .*app.wsgi changed",
    memory_limit: r"group 'ml': restarting: memory-limit: resident size reached",
}

KINDS = [apache_graceful, maximum_requests, daemon_sigusr1, restart_interval, script_reload,
         memory_limit]


def graceful_stop_round(apache):
    """apache2 -k graceful-stop under load: every request Apache took is answered in full; the
    clients then find it gone."""
    a = apache(GROUPS, files={"app.wsgi": APP})
    load(a.port, "/g/", 60)  # every daemon has started and has connections

    def during():
        time.sleep(0.3)
        a.signal(signal.SIGWINCH)
        a.proc.wait(30)

    results = load(a.port, "/g/", ROUND, during=during, stop_on_refused=True)
    # after the stop, a client's next request finds the connection closed before any byte or
    # no server at all: not a failure, the server is gone. Anything else is.
    bad = [r for r in results if r.error is None and r.status != 200 or
           r.error and "after 0 bytes" not in r.error]
    assert bad == [], bad[:5]
    served = [r for r in results if r.ok]
    assert served and a.proc.poll() is not None
    assert "died while handling" not in a.error_log()
    return len(served)


def test_twenty_rounds_of_restarts_lose_no_request(apache):
    a = apache(GROUPS, files={"app.wsgi": APP})
    for group in ("g", "mr", "ri", "ml"):
        assert wait_until(lambda: len(group_pids(a, group)) == 2, 15)
    rounds = []
    t0 = time.time()
    for i in range(18):
        kind = KINDS[i % len(KINDS)]
        path, during = kind(a)
        started = time.time()
        a.mark_log()
        check(load(a.port, path, ROUND, during=during), kind.__name__)
        # the restart happened while the clients ran
        assert a.log_lines(LOG[kind]), (kind.__name__, a.new_log()[-2000:])
        if kind is script_reload:
            # one restart per process that had loaded the script: a request built before the
            # change (and sent again when a stopping process handed it back) does not make a
            # new process restart again
            time.sleep(0.5)
            before, after = during.expected
            pids = [int(m) for m in re.findall(r"daemon process (\d+) of group 'g': restarting: "
                                                r"script", "\n".join(a.log_lines(LOG[kind])))]
            assert len(pids) == len(set(pids)) and before <= set(pids) <= after, (
                before, after, a.log_lines(r"group 'g': restarting"))
        rounds.append((kind.__name__, round(time.time() - started, 1)))
    a.mark_log()
    for _ in range(2):
        rounds.append(("graceful_stop", graceful_stop_round(apache)))
    assert time.time() - t0 < 90, rounds
    assert "connection failed" not in a.error_log()


def test_graceful_restarts_with_socket_rotation_off_lose_no_request(apache):
    """WSGISocketRotation Off: the socket keeps its path; the new one is renamed over it while
    the retired processes still serve on the old one, so no connection finds it missing."""
    a = apache("WSGISocketRotation Off\n" + GROUPS, files={"app.wsgi": APP})
    assert wait_until(lambda: len(group_pids(a, "g")) == 2, 15)
    socks = sorted(p for p in os.listdir(a.root) if p.endswith(".sock"))
    assert len(socks) == 4, socks
    for _ in range(3):
        path, during = apache_graceful(a)
        a.mark_log()
        check(load(a.port, path, ROUND, during=during), "apache_graceful")
        assert a.log_lines(LOG[apache_graceful])
    assert sorted(p for p in os.listdir(a.root) if p.endswith(".sock")) == socks


def test_a_retired_process_does_no_routine_recycle(apache):
    """After a graceful restart, a process of the old configuration serves the old generation's
    Apache children until they have gone: restart-interval no longer applies to it, since its
    replacement would be of a configuration that no longer exists."""
    a = apache("""
        WSGIDaemonProcess ri threads=2 restart-interval=2 display-name=%{GROUP}
        WSGIScriptAlias /ri @ROOT@/slow.wsgi process-group=ri
    """, files={"slow.wsgi": """
import os, time

def application(environ, start_response):
    if environ.get('QUERY_STRING') == 'slow':
        time.sleep(3)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""})
    # a process just started by restart-interval: its next one is 2 s away
    first = int(a.get("/ri/").body)
    assert wait_until(lambda: int(a.get("/ri/").body) != first, 10)
    out = {}
    t = threading.Thread(target=lambda: out.update(r=a.get("/ri/?slow", timeout=30)))
    t.start()
    time.sleep(0.3)
    a.mark_log()
    a.graceful()
    assert a.wait_log(r"group 'ri': retired: a graceful restart replaced its configuration")
    t.join(30)
    pid = int(out["r"].body)
    assert out["r"].status == 200 and pid != first, out["r"]
    # it outlived its restart-interval, serving, and stopped only when the old children had gone
    assert a.wait_log(r"daemon process %d of group 'ri': stopping: signal TERM \(retired: the "
                      r"Apache children of its configuration have gone\)" % pid)
    assert not a.log_lines(r"daemon process %d of group 'ri': restarting" % pid)
