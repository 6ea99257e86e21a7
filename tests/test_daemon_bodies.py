"""Large bodies on the daemon data path (shared/protocol.h): responses whose large blocks travel
in the memory ring each connection shares with its daemon (RING and RDATA frames), request
bodies pulled ahead through it (MORE with AHEAD and RING, RBODY frames, at most two exchanges
open).

Behaviour only: every byte arrives, in order, across ring wrap-arounds and kept connections;
a body the application leaves half read leaves the connection in step; a client that goes
away mid-response frees the daemon's thread; a daemon killed mid-response gives the
documented cut-short response. Speed is bench/slow_clients.py's.
"""
import hashlib
import os
import random
import re
import signal
import socket
import time

import pytest

from harness import PREFORK_ONE, group_pids, make_out, wait_for

APP = r'''
import hashlib, os, random, time
OUT = os.path.join(os.path.dirname(__file__), 'out')

def mark(name):
    open(os.path.join(OUT, '%s-%d' % (name, os.getpid())), 'w').close()

def block(i, n):
    return random.Random(i).randbytes(n)

def application(environ, start_response):
    step = environ['PATH_INFO'].strip('/')
    q = dict(p.split('=') for p in environ['QUERY_STRING'].split('&') if p)
    if step == 'pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if step == 'down':
        sizes = [int(s) for s in q['sizes'].split(',')]
        headers = [('Content-Type', 'application/octet-stream')]
        if q.get('cl'):
            headers.append(('Content-Length', str(sum(sizes))))
        start_response('200 OK', headers)
        return (block(i, n) for i, n in enumerate(sizes))
    if step == 'up':
        inp, h, n, limit = environ['wsgi.input'], hashlib.sha256(), 0, int(q.get('limit', -1))
        reads = [int(s) for s in q.get('reads', '65536').split(',')]
        if q.get('whole'):
            data = inp.read()
            h.update(data)
            n = len(data)
        i = 0
        while not q.get('whole') and (limit < 0 or n < limit):
            k = reads[i % len(reads)]
            i += 1
            d = inp.read(k if limit < 0 else min(k, limit - n))
            if not d:
                break
            h.update(d)
            n += len(d)
        body = ('%d %s' % (n, h.hexdigest())).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    if step == 'stream':
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(256 << 20))])
        class Stream:
            def __iter__(self):
                for i in range(256):
                    if i == 1:
                        mark('stream')
                    yield b'%c' % (97 + i % 26) * (1 << 20)
            def close(self):
                mark('closed')
        return Stream()
    start_response('404 Not Found', [])
    return [b'']
'''

# Blocks around every size the daemon treats differently: copied into its frame buffer (up to
# 32 KB), one RDATA frame (up to 256 KB, half the ring), several; 2.9 MB in all, so one
# response wraps the 512 KB ring five times and never fits it whole.
SIZES = [1, 32768, 32769, 65536, 262144, 262145, 300000, 1048576, 70000, 5, 524288, 200000,
         131072, 0, 65537]


def expected(sizes):
    return b"".join(random.Random(i).randbytes(n) for i, n in enumerate(sizes))


def serve(apache, options="threads=2", mpm="event", mpm_config=None, extra=""):
    a = apache("""
        WSGIDaemonProcess fg %s display-name=%%{GROUP}
        WSGIScriptAlias /f @ROOT@/app.wsgi process-group=fg
        WSGIScriptAlias /e @ROOT@/app.wsgi
        WSGIChunkedRequest On
        %s
    """ % (options, extra), mpm=mpm, mpm_config=mpm_config, modules=["alias"],
               files={"app.wsgi": APP}, start=False)
    make_out(a)
    a.start()
    wait_for(lambda: len(group_pids(a, "fg")) == 1)
    return a


def marker(a, name, pid, timeout=10):
    return wait_for(lambda: os.path.exists(a.path("out/%s-%d" % (name, pid))), timeout)


@pytest.mark.parametrize("prefix", ["/f", "/e"], ids=["daemon", "embedded"])
def test_large_responses_arrive_byte_exact_on_a_kept_connection(apache, prefix):
    """Three responses on one client connection (so on one kept daemon connection and ring),
    with a Content-Length and chunked, and one with the blocks in another order."""
    a = serve(apache)
    path = prefix + "/down?sizes=" + ",".join(map(str, SIZES))
    other = list(reversed(SIZES))
    conn = a.connection()
    try:
        for url, sizes in ((path + "&cl=1", SIZES), (path, SIZES),
                           (prefix + "/down?sizes=" + ",".join(map(str, other)), other)):
            conn.request("GET", url)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200
            assert (r.getheader("Content-Length") is not None) == ("cl=1" in url)
            assert len(body) == sum(sizes)
            assert body == expected(sizes)
    finally:
        conn.close()
    assert "sent a response ring frame" not in a.new_log()


@pytest.mark.parametrize("options", ["threads=2", "threads=2 request-buffer-size=0"],
                         ids=["buffered-up-to-1M", "streamed"])
@pytest.mark.parametrize("how", ["blocks", "whole", "chunked"])
def test_large_uploads_arrive_byte_exact(apache, options, how):
    """6 MB, read in 64 KB blocks or at once, sent with a Content-Length or chunked: the body
    is pulled ahead while the application reads, every byte in order."""
    a = serve(apache, options)
    body = random.Random(7).randbytes(6 << 20)
    want = ("%d %s" % (len(body), hashlib.sha256(body).hexdigest())).encode()
    for _ in range(2):  # the second on the connection the first left
        if how == "chunked":
            chunks = [body[i:i + 100000] for i in range(0, len(body), 100000)]
            r = a.request("/f/up", method="POST", body=iter(chunks), chunked=True)
        else:
            r = a.request("/f/up" + ("?whole=1" if how == "whole" else ""), method="POST",
                         body=body)
        assert (r.status, r.body) == (200, want)


def test_half_read_large_body_leaves_the_kept_connection_in_step(apache):
    """The application reads 300 KB of 4 MB and answers: the body the daemon asked ahead for
    is drained, the one connection of the one Apache child is kept, and the next requests on
    it get their own answers, byte-exact."""
    a = serve(apache, "threads=1 request-buffer-size=0", mpm="prefork", mpm_config=PREFORK_ONE)
    pid = int(a.get("/f/pid").body)
    body = random.Random(3).randbytes(4 << 20)
    r = a.request("/f/up?limit=300000", method="POST", body=body)
    assert (r.status, r.body) == (200, ("300000 %s" % hashlib.sha256(
        body[:300000]).hexdigest()).encode())
    assert int(a.get("/f/pid").body) == pid
    r = a.request("/f/up", method="POST", body=body)
    assert (r.status, r.body) == (200, ("%d %s" % (len(body), hashlib.sha256(
        body).hexdigest())).encode())
    r = a.get("/f/down?cl=1&sizes=" + ",".join(map(str, SIZES)))
    assert r.body == expected(SIZES)
    assert "unexpected frame" not in a.new_log() and "closed the connection" not in a.new_log()


def ring_holders(a):
    """The processes of Apache a (children and daemons) that have a body ring mapped."""
    holders = set()
    for pid in a.session_pids():
        try:
            with open("/proc/%d/maps" % pid) as f:
                if "memfd:pyhost-ring" in f.read():
                    holders.add(pid)
        except OSError:
            pass
    return holders


def test_upload_read_in_odd_sizes_goes_through_the_ring_byte_exact(apache):
    """A body under 64 KB goes with the request and makes no ring. Larger ones are pulled
    through the ring the daemon shares with the one Apache child (RBODY frames): read in sizes
    that never line up with the ring's 512 KB (1 byte to 300 KB), across many wrap-arounds and
    three requests on the one kept connection (each starting where the last left the ring),
    every byte arrives in order."""
    a = serve(apache, "threads=1 request-buffer-size=0", mpm="prefork", mpm_config=PREFORK_ONE)
    pid = int(a.get("/f/pid").body)
    small = random.Random(1).randbytes(60000)
    r = a.request("/f/up", method="POST", body=small)
    assert r.body == ("60000 %s" % hashlib.sha256(small).hexdigest()).encode()
    assert pid not in ring_holders(a)
    reads = "1,1000,65537,131071,300000,7,524289"
    for seed, size in ((2, 3 << 20), (3, 1234567), (4, (5 << 20) + 3)):
        body = random.Random(seed).randbytes(size)
        r = a.request("/f/up?reads=" + reads, method="POST", body=body)
        assert (r.status, r.body) == (200, ("%d %s" % (size, hashlib.sha256(
            body).hexdigest())).encode())
    assert int(a.get("/f/pid").body) == pid
    holders = ring_holders(a)
    assert pid in holders and len(holders) == 2  # the daemon and the one Apache child
    log = a.new_log()
    assert "Protocol error" not in log and "closed the connection" not in log


def read_some(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(65536)
        if not b:
            break
        got += b
    return got


def test_client_gone_mid_response_frees_the_daemon_thread(apache):
    """A client that reads 2 MB of 256 MB and closes: with each write waiting for the client
    (WSGIResponseBuffering Off), Apache's thread ends the exchange and closes its connection to
    the daemon, whose next write fails; the application's close() runs, and the one-thread
    group answers the next request at once."""
    a = serve(apache, "threads=1 socket-timeout=60", extra="WSGIResponseBuffering Off")
    pid = int(a.get("/f/pid").body)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /f/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_some(s, 2 << 20).startswith(b"HTTP/1.1 200 ")
    marker(a, "stream", pid)
    time.sleep(1)  # the socket buffers fill, Apache's write waits, the ring fills
    t0 = time.time()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # with a reset
    assert marker(a, "closed", pid, timeout=10)
    r = a.get("/f/pid", timeout=10)
    assert (r.status, int(r.body)) == (200, pid)
    assert time.time() - t0 < 10


def test_daemon_killed_mid_large_response_cuts_it_short(apache):
    """SIGKILL while 256 MB stream through the ring: the client has the head and fewer bytes
    than the Content-Length, then the connection closes; the log says the daemon died and the
    response was cut short; the replacement serves the next request."""
    a = serve(apache, "threads=1", extra="WSGIResponseBuffering Off")
    pid = int(a.get("/f/pid").body)
    a.mark_log()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.sendall(b"GET /f/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_some(s, 3 << 20)
    marker(a, "stream", pid)
    os.kill(pid, signal.SIGKILL)
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 268435456" in head
    assert 0 < len(body) < 256 << 20
    assert body[:1 << 20] == b"a" * (1 << 20)
    assert a.wait_log(re.escape(
        "daemon process %d of group 'fg' died while handling the request: killed by signal 9"
        % pid)), a.new_log()
    assert a.wait_log("the response was cut short"), a.new_log()
    r = wait_for(lambda: a.get("/f/pid"), timeout=10)
    assert r.status == 200 and int(r.body) != pid


def test_apache_child_killed_mid_response_frees_the_daemon_thread(apache):
    """The Apache child relaying 256 MB dies (SIGKILL) while the client does not read: the
    daemon's thread, waiting for room in the ring that child no longer empties, sees the
    connection close and gives up at once (not after socket-timeout, 60 s here); close() runs
    and the group serves the next request through the replacement child."""
    a = serve(apache, "threads=1 socket-timeout=60", mpm="prefork", mpm_config=PREFORK_ONE,
              extra="WSGIResponseBuffering Off")
    pid = int(a.get("/f/pid").body)
    child = [p for p in a.session_pids()
             if p != a.proc.pid and not a.cmdline(p).startswith("(wsgi:")]
    assert len(child) == 1
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /f/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_some(s, 1 << 20).startswith(b"HTTP/1.1 200 ")
    marker(a, "stream", pid)
    time.sleep(1)  # the socket buffers fill, the child's write waits, the ring fills
    t0 = time.time()
    os.kill(child[0], signal.SIGKILL)
    assert marker(a, "closed", pid, timeout=10)
    assert time.time() - t0 < 10
    s.close()
    r = wait_for(lambda: a.get("/f/pid", timeout=10), timeout=10)
    assert (r.status, int(r.body)) == (200, pid)
