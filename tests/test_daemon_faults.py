"""Daemon faults injected from outside: SIGKILL at each step of a request, SIGSTOP, a full
listen backlog.

Each fault gives the status and the error-log line of the README's "Daemon mode" table, the
group serves the next request, and no Apache child keeps a thread or a connection
afterwards: each child has the threads it had, and at most the one connection to the group
that it keeps for its next request.
"""
import concurrent.futures
import os
import re
import signal
import socket
import time

import pytest

from harness import PREFORK_ONE, group_pids, make_out, stop_process

APP = r'''
import os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')

def mark(name):
    open(os.path.join(OUT, '%s-%d' % (name, os.getpid())), 'w').close()

def application(environ, start_response):
    step = environ['PATH_INFO'].strip('/')
    if step == 'pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if step == 'read':
        data = environ['wsgi.input'].read(5)
        mark('read')
        data += environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [data]
    if step == 'sleep':
        time.sleep(float(environ['QUERY_STRING'] or 3))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'slept']
    if step == 'head':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        def head():
            yield b'x'
            mark('head')
            time.sleep(30)
            yield b'never'
        return head()
    if step == 'mid':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '1000')])
        def mid():
            yield b'm' * 500
            mark('mid')
            time.sleep(30)
            yield b'n' * 500
        return mid()
    start_response('404 Not Found', [])
    return [b'']
'''

DIED = ("daemon process %d of group 'fg' died while handling the request: killed by signal 9 "
        "(KILL; possibly the kernel's out-of-memory killer)")


def serve(apache, options="threads=2", mpm_config=PREFORK_ONE):
    a = apache("""
        WSGIDaemonProcess fg %s display-name=%%{GROUP}
        WSGIScriptAlias /f @ROOT@/app.wsgi process-group=fg
    """ % options, mpm="prefork", mpm_config=mpm_config, modules=["alias"],
               files={"app.wsgi": APP}, start=False)
    make_out(a)
    a.start()
    wait(lambda: len(group_pids(a, "fg")) == 1)
    return a


def wait(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def children(a):
    """Apache's children: the session's processes that are neither the parent nor daemons."""
    return sorted(p for p in a.session_pids()
                  if p != a.proc.pid and not a.cmdline(p).startswith("(wsgi:"))


def unix_inodes():
    with open("/proc/net/unix") as f:
        return {line.split()[6] for line in f.readlines()[1:]}


def census(a):
    """{pid: (threads, UNIX sockets)} of Apache's children; a child's UNIX sockets are its
    connections to daemon groups (its listener is TCP, its pipe of death a pipe)."""
    out = {}
    unix = unix_inodes()
    for pid in children(a):
        try:
            threads = len(os.listdir("/proc/%d/task" % pid))
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue  # it has just exited
        links = []
        for fd in fds:
            try:
                links.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
            except OSError:
                pass  # closed in the meantime
        out[pid] = (threads, sum(1 for l in links if l.startswith("socket:[") and
                                 l[8:-1] in unix))
    return out


def assert_nothing_kept(a, before):
    """Each child of before still runs, with the threads it had, and with at most one
    connection to the group (the one it keeps)."""
    def settled():
        after = census(a)
        return all(after.get(p, (0, 0))[0] == t and after.get(p, (0, 0))[1] <= 1
                   for p, (t, _) in before.items())

    deadline = time.time() + 5  # a child may still be ending the last request
    while not settled() and time.time() < deadline:
        time.sleep(0.1)
    after = census(a)
    assert set(after) == set(before), (before, after, {p: a.cmdline(p) for p in a.session_pids()},
                                       a.new_log())
    for pid, (threads, _) in before.items():
        assert after[pid][0] == threads, (pid, before, after)
        assert after[pid][1] <= 1, (pid, before, after)


def served(a, old_pid=None):
    r = a.get("/f/pid")
    assert r.status == 200, (r, a.new_log())
    if old_pid is not None:
        assert int(r.body) != old_pid
    return int(r.body)


def marker(a, name, pid):
    return wait(lambda: os.path.exists(a.path("out/%s-%d" % (name, pid))))


def start_request(a, head, body=b""):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.sendall(head + body)
    return s


def read_all(s):
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return data


def test_killed_before_it_reads_the_request(apache):
    a = serve(apache)
    pid = served(a)  # the child now keeps a connection to the daemon
    before = census(a)
    assert [n for _, n in before.values()] == [1], before  # which census() sees
    a.mark_log()
    try:
        stop_process(pid)  # it cannot read what comes
        s = start_request(a, b"GET /f/pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # the request waits in the daemon's socket
    finally:
        os.kill(pid, signal.SIGKILL)
    raw = read_all(s)
    assert raw.startswith(b"HTTP/1.1 502 "), raw[:200]
    assert a.wait_log(re.escape(DIED % pid)), a.new_log()
    served(a, pid)
    assert_nothing_kept(a, before)


def test_killed_while_the_app_reads_the_body(apache):
    # request-buffer-size=0: the body streams to the daemon as the app reads it (a body
    # Apache's child buffers first never reaches an app that is still reading it)
    a = serve(apache, "threads=2 request-buffer-size=0")
    pid = served(a)  # the child now keeps a connection to the daemon
    before = census(a)
    assert [n for _, n in before.values()] == [1], before  # which census() sees
    a.mark_log()
    s = start_request(a, b"POST /f/read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Content-Length: 10\r\n\r\n", b"12345")
    marker(a, "read", pid)  # the app has the first half and waits for the rest
    os.kill(pid, signal.SIGKILL)
    s.sendall(b"67890")
    raw = read_all(s)
    assert raw.startswith(b"HTTP/1.1 502 "), raw[:200]
    assert a.wait_log(re.escape(DIED % pid)), a.new_log()
    served(a, pid)
    assert_nothing_kept(a, before)


@pytest.mark.parametrize("step,sent", [("head", b"x"), ("mid", b"m" * 500)])
def test_killed_after_the_headers_or_mid_body(apache, step, sent):
    a = serve(apache)
    pid = served(a)  # the child now keeps a connection to the daemon
    before = census(a)
    assert [n for _, n in before.values()] == [1], before  # which census() sees
    a.mark_log()
    s = start_request(a, b"GET /f/%s HTTP/1.1\r\nHost: x\r\n\r\n" % step.encode())
    marker(a, step, pid)
    os.kill(pid, signal.SIGKILL)
    raw = read_all(s)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), raw[:300]
    if step == "mid":
        assert b"Content-Length: 1000" in head and body == sent  # short of its length
    else:
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"1\r\nx\r\n"  # and no last chunk
    assert a.wait_log(re.escape(DIED % pid + "; the response was cut short")), a.new_log()
    served(a, pid)
    assert_nothing_kept(a, before)


def test_stopped_daemon_gives_socket_timeout_then_serves(apache):
    a = serve(apache, "threads=2 socket-timeout=2")
    pid = served(a)  # the child now keeps a connection to the daemon
    before = census(a)
    assert [n for _, n in before.values()] == [1], before  # which census() sees
    a.mark_log()
    try:
        stop_process(pid)  # all its threads: one could otherwise still take the request
        t0 = time.time()
        r = a.get("/f/pid")
        elapsed = time.time() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.status == 504
    assert 1.5 < elapsed < 4, elapsed
    assert a.wait_log(re.escape("daemon process %d of group 'fg' socket-timeout of 2 seconds "
                                "passed waiting for the response" % pid)), a.new_log()
    assert served(a) == pid  # it goes on once continued
    assert_nothing_kept(a, before)


def test_full_listen_backlog_gives_503_within_connect_timeout(apache):
    a = serve(apache, "threads=1 listen-backlog=1 connect-timeout=2 socket-timeout=20",
              mpm_config="""
        StartServers 6
        ServerLimit 6
        MaxRequestWorkers 6
        MinSpareServers 6
        MaxSpareServers 6
    """)
    wait(lambda: len(children(a)) == 6)
    pid = group_pids(a, "fg")[0]
    time.sleep(0.3)
    before = census(a)  # no child has a connection to the group yet
    a.mark_log()

    def timed(path):
        status = a.get(path).status
        return status, time.time()  # when it was answered

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        busy = ex.submit(timed, "/f/sleep?8")  # holds the daemon's one thread
        time.sleep(0.5)
        rest = [ex.submit(timed, "/f/pid") for _ in range(5)]
        got = [f.result() for f in rest]
        busy_status, busy_end = busy.result()
        assert busy_status == 200
    statuses = sorted(s for s, _ in got)
    # the backlog holds what it can (served once the thread is free); the rest are refused
    # when connect-timeout has passed
    assert statuses.count(503) >= 2, got
    assert set(statuses) <= {200, 503}, got
    assert all(t < busy_end for s, t in got if s == 503), (got, busy_end)  # not waiting
    assert a.wait_log(r"no process of daemon group 'fg' accepted (a|the) connection within "
                      r"connect-timeout \(2 seconds\)"), a.new_log()
    assert served(a) == pid
    assert_nothing_kept(a, before)
