"""The hop between an Apache child and a daemon, and the response both modes give Apache
(issue 12): one connection kept across every kind of complete exchange and replaced after one
left out of step; WSGIEnableSendfile honoured in both modes; response-flush-delay and
response-socket-timeout as mod_wsgi 6 has them; an interpreter whose creation fails is tried
once, answered 500 with its reason, and leaks nothing per request.

One Apache (prefork, one child, so each test's requests share the child's one thread and its
kept connections), with small daemon groups named for their concern."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from harness import PREFORK_ONE, group_pids, make_out

APP = r'''
import json, os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')
BIG = os.path.join(os.path.dirname(__file__), 'big.bin')


def sockets():
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            link = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if link.startswith('socket:'):
            found.add(link)
    return sorted(found)


def endless(name):
    chunk = b'x' * 262144
    try:
        for _ in range(1600):  # at most 400 MB
            yield chunk
    finally:
        with open(os.path.join(OUT, name), 'w') as f:
            f.write(str(time.time()))


def paused():
    yield b'a'
    time.sleep(2.0)
    yield b'b'


def application(environ, start_response):
    case = environ.get('PATH_INFO', '').strip('/')
    ct = [('Content-Type', 'text/plain')]
    if case == 'sockets':
        start_response('200 OK', ct)
        return [json.dumps([os.getpid(), sockets()]).encode()]
    if case == 'post':
        n = len(environ['wsgi.input'].read())
        start_response('200 OK', ct)
        return [str(n).encode()]
    if case == 'missing':
        start_response('404 Not Found', ct)
        return [b'no such thing']
    if case == 'file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(BIG, 'rb'))
    if case == 'fail':
        raise RuntimeError('fails before its response')
    if case == 'cut':
        start_response('200 OK', ct + [('Content-Length', '100')])
        def body():
            yield b'x' * 10
            raise RuntimeError('fails in its body')
        return body()
    if case == 'bighead':
        start_response('200 OK', ct + [('X-Big', 'y' * 20000)])
        return [b'never seen']
    if case == 'paused':
        start_response('200 OK', ct)
        return paused()
    if case == 'endless':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return endless(environ['QUERY_STRING'])
    start_response('200 OK', ct)
    return [b'hello']
'''

BIG = bytes(i * 31 % 256 for i in range(300000))

CONFIG = """
WSGIDaemonProcess keep threads=2 header-buffer-size=8192 display-name=%{GROUP}
WSGIScriptAlias /keep @ROOT@/app.wsgi process-group=keep application-group=%{GLOBAL}

WSGIDaemonProcess sf threads=2 display-name=%{GROUP}
WSGIScriptAlias /daemon-sf-off @ROOT@/app.wsgi process-group=sf application-group=%{GLOBAL}
WSGIScriptAlias /daemon-sf-on @ROOT@/app.wsgi process-group=sf application-group=%{GLOBAL}
WSGIScriptAlias /embedded-sf-off @ROOT@/app.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /embedded-sf-on @ROOT@/app.wsgi application-group=%{GLOBAL}
<Location /daemon-sf-off>
    WSGIEnableSendfile Off
</Location>
<Location /daemon-sf-on>
    WSGIEnableSendfile On
</Location>
<Location /embedded-sf-off>
    WSGIEnableSendfile Off
</Location>
<Location /embedded-sf-on>
    WSGIEnableSendfile On
</Location>

WSGIDaemonProcess fd0 threads=2 display-name=%{GROUP}
WSGIScriptAlias /flush-default @ROOT@/app.wsgi process-group=fd0 application-group=%{GLOBAL}
WSGIDaemonProcess fd3 threads=2 response-flush-delay=3000 display-name=%{GROUP}
WSGIScriptAlias /flush-3000 @ROOT@/app.wsgi process-group=fd3 application-group=%{GLOBAL}

WSGIDaemonProcess rst threads=2 socket-timeout=60 response-socket-timeout=1 display-name=%{GROUP}
WSGIScriptAlias /rst @ROOT@/app.wsgi process-group=rst application-group=%{GLOBAL}
WSGIDaemonProcess st threads=2 socket-timeout=60 display-name=%{GROUP}
WSGIScriptAlias /st @ROOT@/app.wsgi process-group=st application-group=%{GLOBAL}

WSGIDaemonProcess badinterp threads=2 display-name=%{GROUP}
WSGIScriptAlias /daemon-bad @ROOT@/app.wsgi process-group=badinterp application-group=broken
WSGIScriptAlias /embedded-bad @ROOT@/app.wsgi application-group=broken
<Location /access-bad>
    WSGIAccessScript @ROOT@/access.wsgi application-group=broken
</Location>
WSGIScriptAlias /access-bad @ROOT@/app.wsgi
<WSGIInterpreterOptions application-group=broken>
    WSGIPythonPath @ROOT@/badsite
</WSGIInterpreterOptions>
"""

# A site directory whose .pth stops the interpreter's set-up (SystemExit is not one of the
# exceptions site.addpackage forgives): a sub interpreter that cannot be made.
BAD_PTH = "import sys; raise SystemExit('this site refuses interpreters')\n"


@pytest.fixture(scope="module")
def srv(module_apache):
    a = module_apache(CONFIG, mpm="prefork", mpm_config=PREFORK_ONE, start=False,
                      files={"app.wsgi": APP, "big.bin": BIG, "badsite/refuse.pth": BAD_PTH,
                             "access.wsgi": "def allow_access(environ, host):\n    return True\n"},
                      timeout=20)
    make_out(a)
    a.start()
    return a


def daemon_sockets(a, path):
    r = a.get(path)
    assert r.status == 200, (r, a.error_log()[-2000:])
    return json.loads(r.body)


def apache_child(a):
    """The one Apache child (prefork, one child), once the daemons have taken their names."""
    deadline = time.time() + 10
    while True:
        kids = []
        for pid in a.session_pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == a.proc.pid and not a.cmdline(pid).startswith("(wsgi:"):
                    kids.append(pid)
            except OSError:
                pass
        if len(kids) == 1 or time.time() > deadline:
            assert len(kids) == 1, kids
            return kids[0]
        time.sleep(0.05)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([l.split()[1] for l in f if l.startswith("VmRSS:")][0])


# ---- one kept connection: the reuse checklist -----------------------------------------------

def test_connection_kept_across_every_complete_exchange(srv):
    """GET, POST (body pulled with MORE), HEAD, an application's 404, a file_wrapper file, a
    500 the daemon refused with, a body the application cut short (END FAILED is in step):
    every one ends in step, so the Apache thread keeps its one connection to the group."""
    first = daemon_sockets(srv, "/keep/sockets")
    assert srv.get("/keep/").body == b"hello"
    assert srv.get("/keep/post", method="POST", body=b"p" * 300000).body == b"300000"
    assert srv.get("/keep/", method="HEAD").status == 200
    assert srv.get("/keep/missing").status == 404
    assert srv.get("/keep/file").body == BIG
    assert srv.get("/keep/fail").status == 500
    cut = srv.get("/keep/cut")
    assert cut.error is not None and len(cut.body) == 10
    assert daemon_sockets(srv, "/keep/sockets") == first


def test_connection_replaced_after_an_exchange_left_out_of_step(srv):
    """A head refused by Apache (a header line over header-buffer-size) leaves the rest of the
    daemon's response unread: that connection is closed and the next request makes one."""
    first = daemon_sockets(srv, "/keep/sockets")
    srv.mark_log()
    assert srv.get("/keep/bighead").status == 500
    assert srv.wait_log(r"over header-buffer-size 8192")
    pid, after = daemon_sockets(srv, "/keep/sockets")
    assert pid == first[0]
    assert set(after) - set(first[1]), "the request after it came on the old connection"
    # and the old one goes (the daemon sees Apache's close when its thread looks again)
    deadline = time.time() + 5
    while len(after) != len(first[1]) and time.time() < deadline:
        time.sleep(0.05)
        after = daemon_sockets(srv, "/keep/sockets")[1]
    assert len(after) == len(first[1]), (first, after)


# ---- WSGIEnableSendfile, both modes ---------------------------------------------------------

def sendfile_calls(a, path):
    """The body of path, and the sendfile system calls Apache's child made serving it."""
    child = apache_child(a)
    out = a.path("strace-%s.txt" % path.strip("/").replace("/", "-"))
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", out,
                               "-p", str(child)], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while True:  # attached once the child shows its tracer
            with open("/proc/%d/status" % child) as f:
                if [l for l in f if l.startswith("TracerPid:")][0].split()[1] != "0":
                    break
            if time.time() > deadline or tracer.poll() is not None:
                pytest.skip("strace cannot attach here: %s" % tracer.stderr.read(500))
            time.sleep(0.02)
        r = a.get(path)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    with open(out) as f:
        return r, [l for l in f if "sendfile(" in l]


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_enable_sendfile_honoured_in_both_modes(srv, mode):
    r, calls = sendfile_calls(srv, "/%s-sf-off/file" % mode)
    assert r.status == 200 and r.body == BIG
    assert calls == []
    r, calls = sendfile_calls(srv, "/%s-sf-on/file" % mode)
    assert r.status == 200 and r.body == BIG
    assert calls, "WSGIEnableSendfile On: the file went out without sendfile"


# ---- response-flush-delay -------------------------------------------------------------------

def head_and_body_times(a, path):
    """Seconds until the response head arrived, and until its body ended."""
    conn = a.connection(timeout=30)
    try:
        start = time.monotonic()
        conn.request("GET", path)
        resp = conn.getresponse()
        head = time.monotonic() - start
        body = resp.read()
        return head, time.monotonic() - start, body
    finally:
        conn.close()


def test_response_flush_delay(srv):
    """The application yields 'a', pauses two seconds, yields 'b'. With the default delay (5 ms)
    the client has the head and 'a' as soon as the daemon's socket stays dry that long; with
    response-flush-delay=3000 the pause is shorter than the delay, so nothing is flushed
    until the response ends."""
    head, end, body = head_and_body_times(srv, "/flush-default/paused")
    assert body == b"ab"
    assert head < 1.2 and end >= 1.9, (head, end)
    head, end, body = head_and_body_times(srv, "/flush-3000/paused")
    assert body == b"ab"
    assert head >= 1.9, (head, end)


# ---- response-socket-timeout ----------------------------------------------------------------

def stalled_client(a, path, marker, wait):
    """A client that sends its request and never reads: seconds until the application's
    response generator was closed (marker written), or None within wait."""
    s = socket.create_connection(("127.0.0.1", a.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        start = time.monotonic()
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
        deadline = start + wait
        while time.monotonic() < deadline:
            if os.path.exists(a.path("out/" + marker)):
                return time.monotonic() - start
            time.sleep(0.05)
        return None
    finally:
        s.close()


def test_response_socket_timeout_ends_a_response_its_client_does_not_read(srv):
    """response-socket-timeout=1: the write to a client that reads nothing gives up after a
    second, the daemon's connection is closed, and the application's generator is closed
    (with socket-timeout=60 and Apache's Timeout 20, that took 20 seconds)."""
    took = stalled_client(srv, "/rst/endless?rst-closed", "rst-closed", 12)
    assert took is not None and took < 8, took


def test_response_socket_timeout_defaults_to_socket_timeout(srv):
    """Unset, it is socket-timeout (60 here), not Apache's Timeout: after 4 seconds of a
    client reading nothing the response is still waiting to be written."""
    assert stalled_client(srv, "/st/endless?st-closed", "st-closed", 4) is None


# ---- an interpreter that cannot be created --------------------------------------------------

@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_failed_interpreter_is_remembered_answered_500_and_leaks_nothing(srv, mode):
    """Its creation is tried once: the traceback is logged once, every request gets a 500 and
    a line with the reason, and the resident memory of the process that tried stays flat over
    2,000 requests (each try used to leave a half-made interpreter behind)."""
    path = "/%s-bad/" % mode
    srv.mark_log()
    conn = srv.connection()
    try:
        def requests(n):
            for _ in range(n):
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 500
        requests(50)
        pid = apache_child(srv) if mode == "embedded" else group_pids(srv, "badinterp")[0]
        before = rss_kb(pid)
        requests(2000)
        after = rss_kb(pid)
    finally:
        conn.close()
    assert after - before < 2048, (before, after)
    # the traceback once in this process's life (a daemon tried at start-up, to preload the
    # script), the reason with each request
    tried = [l for l in srv.error_log().splitlines()
             if "cannot set up Python interpreter 'broken'" in l and "[pid %d:" % pid in l]
    assert len(tried) == 1, tried
    assert "SystemExit: this site refuses interpreters" in tried[0]
    reason = ("Python interpreter 'broken' could not be created: "
              "SystemExit: this site refuses interpreters")
    lines = [l for l in srv.log_lines(reason) if "[pid %d:" % pid in l]
    assert len(lines) == 2050, len(lines)


def test_access_script_in_a_failed_interpreter_denies_and_says_why(srv):
    srv.mark_log()
    assert srv.get("/access-bad/").status == 403
    assert srv.wait_log(r"access\.wsgi: Python interpreter 'broken' could not be created: "
                        r"SystemExit: this site refuses interpreters")
