"""Supervision that never needs the GIL (issue 12): the watch of a daemon process answers for a
request stuck in C code that holds the GIL, stops the process in time, and notices a GIL that
no one can take (deadlock-timeout).

The same holds on a free-threaded build: there, as in mod_wsgi 6, the GIL stays on unless
WSGIFreeThreading On."""
import json
import signal
import socket
import sysconfig
import threading
import time

import pytest


# /stuck: a regular expression that backtracks for minutes in C, holding the GIL all along
# (mod_wsgi.RequestTimeout cannot interrupt it); /hold: a C call made with the GIL held, for a
# minute (ctypes.PyDLL does not let go of it).
APP = """
import ctypes, os, re, time

class After(list):
    # a complete response whose close() does not come back for a minute
    def __init__(self):
        super().__init__([b'sent'])
    def close(self):
        time.sleep(60)

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/stuck':
        re.match(r'(a+)+$', 'a' * 31 + 'b')
    elif path == '/hold':
        ctypes.PyDLL(None).sleep(60)
    elif path == '/slow':
        time.sleep(2)
    elif path == '/after':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return After()
    elif path == '/big':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return (b'x' * (1 << 20) for _ in range(200))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""


def background(a, path, out, timeout=60):
    def run():
        t0 = time.time()
        try:
            out["r"] = a.get(path, timeout=timeout)
        except OSError as e:  # Apache stopped with the request in hand
            out["e"] = e
        out["t"] = time.time() - t0
    t = threading.Thread(target=run)
    t.start()
    return t


def served_pid(a, path):
    r = a.get(path, timeout=30)
    assert r.status == 200, (r, a.error_log()[-3000:])
    return int(r.body)


@pytest.mark.parametrize("interrupt", [0, 1])
def test_request_stuck_holding_the_gil_gets_504_in_time_and_the_group_serves_again(
        apache, interrupt):
    a = apache("""
        WSGIDaemonProcess st threads=3 request-timeout=3 interrupt-timeout=%d \\
            display-name=%%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """ % interrupt, files={"app.wsgi": APP})
    first = served_pid(a, "/st/pid")
    # the thread of /st/pid ends it after the response: once /stuck holds the GIL it could not,
    # and would be judged stuck too (test_request_stuck_after_its_response_...)
    time.sleep(0.3)
    a.mark_log()
    out, other = {}, {}
    t = background(a, "/st/stuck", out)
    time.sleep(0.5)
    # another request of the same process: it waits for the GIL, and the watch answers for it
    # too when its own request-timeout has passed
    background(a, "/st/other", other).join(60)
    t.join(60)
    assert out["r"].status == 504, out["r"]
    assert out["t"] < 3 + interrupt + 1, out["t"]
    assert other["r"].status == 504, other["r"]
    assert other["t"] < 3 + interrupt + 1, other["t"]
    assert a.wait_log(r"request-timeout: GET /st/other \(client 127\.0\.0\.1:\d+\) has "
                      r"run [\d.]+ seconds")
    assert a.wait_log(r"request-timeout: GET /st/stuck \(client 127\.0\.0\.1:\d+\) has run "
                      r"[\d.]+ seconds \(request-timeout=3\)%s; answered with 504, the process "
                      r"restarts" % (" and did not stop when interrupted" if interrupt else ""))
    # (on a loaded machine, one tick of the watch may see both requests past the limit)
    assert a.wait_log(r"restarting: request-timeout on GET /st/(stuck|other)")
    if interrupt:
        assert a.log_lines(r"raising mod_wsgi\.RequestTimeout in its thread")
    # the process restarts; its replacement serves
    t0 = time.time()
    pid = served_pid(a, "/st/pid")
    assert pid != first
    assert time.time() - t0 < 5, (time.time() - t0, a.error_log()[-3000:])


@pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"),
                    reason="WSGIFreeThreading On needs a free-threaded Python build")
def test_request_stuck_in_c_without_a_gil_gets_504_while_the_others_are_served(apache):
    """WSGIFreeThreading On: no GIL, so the process's other threads serve on while one is stuck
    in C code (the collector is off: a collection, a stop-the-world pause, would wait for it).
    The stuck request gets its 504 in time; its stack is asked for only once nothing else
    runs (that stops the world too, and a request still running would wait for it forever),
    then the process restarts and the group serves again."""
    a = apache("""
        WSGIDaemonProcess st threads=3 request-timeout=3 display-name=%{GROUP}
        <WSGIInterpreterOptions process-group=st>
            WSGIFreeThreading On
        </WSGIInterpreterOptions>
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st application-group=%{GLOBAL}
    """, files={"app.wsgi": APP + "\nimport gc\ngc.disable()\n"})
    first = served_pid(a, "/st/pid")
    time.sleep(0.3)
    a.mark_log()
    out, slow = {}, {}
    started = time.time()
    t = background(a, "/st/stuck", out)
    time.sleep(0.5)
    for _ in range(5):  # served at once, in parallel with the stuck thread
        t0 = time.time()
        assert served_pid(a, "/st/pid") == first
        assert time.time() - t0 < 1
    # a request running when the 504 is given, that needs Python again after it: it ends
    time.sleep(max(0, started + 2 - time.time()))
    s = background(a, "/st/slow", slow)
    t.join(60)
    s.join(60)
    assert out["r"].status == 504, out["r"]
    assert out["t"] < 3 + 1, out["t"]
    assert (slow["r"].status, int(slow["r"].body)) == (200, first), slow
    assert a.wait_log(r"restarting: request-timeout on GET /st/stuck")
    assert a.wait_log(r"Python stack of the stuck thread of GET /st/stuck")
    t1 = time.time()
    pid = served_pid(a, "/st/pid")
    assert pid != first
    assert time.time() - t1 < 5, (time.time() - t1, a.error_log()[-3000:])


def test_request_stuck_after_its_response_is_not_answered_again_and_the_group_serves(apache):
    """A thread that does not come back after the whole response was sent (here in close()) is
    past request-timeout all the same: the process restarts, but nothing more is written to the
    connection (Apache would read it as the answer to its next request there)."""
    a = apache("""
        WSGIDaemonProcess st threads=2 request-timeout=2 display-name=%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": APP})
    first = served_pid(a, "/st/pid")
    a.mark_log()
    t0 = time.time()
    r = a.get("/st/after", timeout=30)
    assert (r.status, r.body) == (200, b"sent")
    assert time.time() - t0 < 2
    assert a.wait_log(r"request-timeout: GET /st/after \(client 127\.0\.0\.1:\d+\) has run "
                      r"[\d.]+ seconds \(request-timeout=2\); its response had been sent, but its "
                      r"thread has not come back \(from close\(\) or the request's end\), the "
                      r"process restarts")
    assert not a.log_lines(r"answered with 504")
    t1 = time.time()
    pid = served_pid(a, "/st/pid")
    assert pid != first
    assert time.time() - t1 < 5, (time.time() - t1, a.error_log()[-3000:])


def stop_with_a_stuck_request(a, sig):
    """Starts /st/hold (the GIL held for a minute), then sends sig to Apache's parent; returns
    the seconds Apache took to end."""
    served_pid(a, "/st/pid")
    out = {}
    background(a, "/st/hold", out)
    time.sleep(1)
    t0 = time.time()
    a.signal(sig)
    a.proc.wait(30)
    return time.time() - t0


def test_stop_while_a_thread_holds_the_gil_takes_at_most_shutdown_timeout(apache):
    """apache2 -k stop while a request holds the GIL and request-timeout passes: the watch,
    which no longer waits for the GIL, ends the process within shutdown-timeout (5) + 1 s."""
    a = apache("""
        WSGIDaemonProcess st threads=2 request-timeout=3 display-name=%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": APP})
    elapsed = stop_with_a_stuck_request(a, signal.SIGTERM)
    assert elapsed < 5 + 1, (elapsed, a.error_log()[-3000:])
    assert "answered with 504" in a.error_log()


def test_graceful_stop_while_a_thread_holds_the_gil_takes_at_most_shutdown_timeout(apache):
    """graceful-stop lets Apache's children finish: the stuck request's is answered at
    request-timeout, and the daemons stop within shutdown-timeout (5) + 1 s of the signal."""
    a = apache("""
        WSGIDaemonProcess st threads=2 request-timeout=3 display-name=%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": APP})
    elapsed = stop_with_a_stuck_request(a, signal.SIGWINCH)
    assert elapsed < 5 + 1, (elapsed, a.error_log()[-3000:])
    assert "answered with 504" in a.error_log()


def test_deadlock_timeout_restarts_a_process_whose_gil_is_held(apache):
    a = apache("""
        WSGIDaemonProcess st threads=2 deadlock-timeout=2 shutdown-timeout=1 \\
            display-name=%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": APP})
    first = served_pid(a, "/st/pid")
    a.mark_log()
    out = {}
    t = background(a, "/st/hold", out)
    t0 = time.time()
    assert a.wait_log(r"daemon process %d of group 'st': restarting: deadlock-timeout: the "
                      r"Python GIL could not be taken for 2 seconds" % first, timeout=10)
    assert time.time() - t0 < 2 + 2
    t.join(30)
    # the request that held the GIL ends with the process, after shutdown-timeout
    assert out["r"].status == 502, out["r"]
    assert a.log_lines(r"daemon process %d of group 'st' died while handling the request: "
                       r"exited with status 0" % first)
    assert served_pid(a, "/st/pid") != first


def test_request_blocked_writing_to_a_client_that_does_not_read_is_cut_at_request_timeout(
        apache):
    """The worker is blocked writing its response (Apache cannot pass it on to a client that
    does not read): the watch, which never waits for the worker, cuts the connection at
    request-timeout, the worker is freed, and the process restarts. Response buffering is
    off: with it, Apache would hold the response for the slow client and free the worker."""
    a = apache("""
        WSGIResponseBuffering Off
        WSGIDaemonProcess st threads=2 request-timeout=2 display-name=%{GROUP}
        WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st
    """, files={"app.wsgi": APP})
    first = served_pid(a, "/st/pid")
    a.mark_log()
    with socket.create_connection(("127.0.0.1", a.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /st/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert a.wait_log(r"request-timeout: GET /st/big \(client 127\.0\.0\.1:\d+\) has "
                          r"run [\d.]+ seconds \(request-timeout=2\); its connection was cut "
                          r"\(its thread was blocked writing the response\), the process "
                          r"restarts", timeout=10), a.new_log()[-3000:]
        assert a.wait_log(r"restarting: request-timeout on GET /st/big")
    t0 = time.time()
    assert served_pid(a, "/st/pid") != first
    assert time.time() - t0 < 5


METRICS_APP = """
import json, mod_wsgi

def application(environ, start_response):
    m = mod_wsgi.server_metrics()
    if m is not None:
        m['processes'] = [[p['pid'], len(p['workers'])] for p in m['processes']]
        del m['groups']
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(m).encode()]
"""


def test_server_metrics_in_a_daemon_process_reads_apaches_scoreboard(apache):
    """server-metrics=On: mod_wsgi.server_metrics() in a daemon process is Apache's scoreboard,
    as in mod_wsgi 6 (the parent forks the processes once the scoreboard exists, which on the
    first start is after the configuration hooks); without the option it is None."""
    a = apache("""
        WSGIDaemonProcess on threads=2 server-metrics=On display-name=%{GROUP}
        WSGIScriptAlias /on @ROOT@/app.wsgi process-group=on
        WSGIDaemonProcess off threads=2 display-name=%{GROUP}
        WSGIScriptAlias /off @ROOT@/app.wsgi process-group=off
    """, files={"app.wsgi": METRICS_APP})
    m = json.loads(a.get("/on").body)
    assert sorted(m) == ["current_time", "processes", "restart_time", "running_generation",
                         "running_time", "server_limit", "thread_limit"]
    assert len(m["processes"]) == m["server_limit"]
    assert {n for _, n in m["processes"]} == {m["thread_limit"]}
    assert m["restart_time"] <= m["current_time"]
    children = {p for p in a.session_pids()
                if p != a.proc.pid and a.cmdline(p).startswith("/usr/sbin/apache2")}
    assert {pid for pid, _ in m["processes"] if pid} == children
    assert json.loads(a.get("/off").body) is None
    # after a graceful restart too (the processes of the new configuration start at once)
    a.graceful()
    deadline = time.time() + 10
    while time.time() < deadline:
        m = json.loads(a.get("/on").body)
        if m and m["running_generation"] == 1:
            break
        time.sleep(0.1)
    assert m["running_generation"] == 1, m
