"""Slow clients (issue 13): what a client has not taken yet is held by Apache's child (memory,
then a temporary file), so the application's thread (embedded) or daemon thread is free as soon
as the application ends and Apache's worker thread as soon as the handler returns; streaming
still streams; a request body can be read whole before the hop to a daemon; the limits hold.

One Apache (event MPM, one child with 4 worker threads, so 4 slow readers would hold every
worker if the response waited for them), with small daemon groups."""
import hashlib
import os
import socket
import struct
import time

import pytest

from harness import Apache, make_out, read_response, slow_request, wait_for

APP = r'''
import hashlib, os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')
BLOCK = 65536


def block(i):
    return (b'%07d\n' % i) * (BLOCK // 8)


def mark(name):
    with open(os.path.join(OUT, name), 'w') as f:
        f.write(str(time.time()))


def generated(n, name):
    try:
        for i in range(n):
            yield block(i)
    finally:
        mark(name)


class Listed:
    """A list response with a close(): the end of the application's part."""
    def __init__(self, n, name):
        self.items, self.name = [block(i) for i in range(n)], name

    def __iter__(self):
        return iter(self.items)

    def close(self):
        mark(self.name)


def stream(name):
    try:
        yield b'first;'
        deadline = time.time() + 15
        while not os.path.exists(os.path.join(OUT, name + '-go')) and time.time() < deadline:
            time.sleep(0.02)
        yield b'second'
    finally:
        mark(name + '-done')


def application(environ, start_response):
    parts = environ.get('PATH_INFO', '').strip('/').split('/')
    case, arg = parts[0], (parts[1] if len(parts) > 1 else '')
    q = dict(p.split('=', 1) for p in environ.get('QUERY_STRING', '').split('&') if '=' in p)
    if case in ('gen', 'list'):
        n = int(q.get('n', '256'))
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(n * BLOCK))])
        return (generated if case == 'gen' else Listed)(n, arg)
    if case == 'stream':
        start_response('200 OK', [('Content-Type', 'text/plain')] + (
            [('X-Accel-Buffering', 'no')] if q.get('xab') else []))
        return stream(arg)
    if case == 'upload':
        mark(arg + '-started')
        data = environ['wsgi.input'].read()
        out = ('%d %s' % (len(data), hashlib.sha256(data).hexdigest())).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(out)))])
        return [out]
    if case == 'pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
'''

MPM = """
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4
"""

CONFIG = """
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess slow processes=1 threads=1 display-name=%{GROUP}
WSGIScriptAlias /daemon @ROOT@/app.wsgi process-group=slow application-group=%{GLOBAL}
WSGIScriptAlias /embedded @ROOT@/app.wsgi application-group=%{GLOBAL}
WSGIDaemonProcess small processes=1 threads=1 request-buffer-size=64K display-name=%{GROUP}
WSGIScriptAlias /small @ROOT@/app.wsgi process-group=small application-group=%{GLOBAL}
WSGIChunkedRequest On
"""

BLOCK = 65536


def expected(n):
    return b"".join((b"%07d\n" % i) * (BLOCK // 8) for i in range(n))


@pytest.fixture(scope="module")
def srv(module_apache):
    a = module_apache(CONFIG, mpm_config=MPM, start=False, files={"app.wsgi": APP})
    make_out(a)
    a.start()
    return a


def marker(a, name):
    return os.path.exists(a.path("out/" + name))


# ---- responses ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,kind", [("embedded", "gen"), ("embedded", "list"),
                                       ("daemon", "gen"), ("daemon", "list")])
def test_slow_reader_gets_every_byte_after_the_application_ended(srv, mode, kind):
    """16 MB to a client that reads nothing: the application's close() runs while the client
    has read nothing (its thread is free), then the client reads the response, byte-exact."""
    name = "%s-%s" % (mode, kind)
    s = slow_request(srv, "/%s/%s/%s" % (mode, kind, name))
    assert wait_for(lambda: marker(srv, name), 15), srv.error_log()[-2000:]
    if mode == "daemon":
        # the group's only thread is free for the next request
        r = srv.get("/daemon/hello", timeout=10)
        assert r.status == 200 and r.body == b"hello"
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert len(body) == 256 * BLOCK and body == expected(256)


def test_slow_readers_do_not_hold_apache_worker_threads(srv):
    """As many slow readers as the child has worker threads (4): once their applications have
    ended, a fast client is still answered (the responses wait in write completion)."""
    socks = [slow_request(srv, "/embedded/gen/workers-%d" % i) for i in range(4)]
    try:
        assert wait_for(lambda: all(marker(srv, "workers-%d" % i) for i in range(4)), 20)
        start = time.monotonic()
        r = srv.get("/embedded/hello", timeout=10)
        assert r.status == 200 and r.body == b"hello"
        assert time.monotonic() - start < 5
        for s in socks:
            head, body = read_response(s)
            assert body == expected(256)
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.parametrize("xab", [False, True])
def test_streamed_response_reaches_the_client_before_the_application_ends(srv, mode, xab):
    """The application yields a first chunk and waits (for a file the test makes): the client
    has that chunk while the application is still running."""
    name = "stream-%s-%d" % (mode, xab)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(("GET /%s/stream/%s%s HTTP/1.0\r\n\r\n" % (
            mode, name, "?xab=1" if xab else "")).encode())
        got = b""
        while b"first;" not in got:
            d = s.recv(65536)
            assert d, got
            got += d
        assert not marker(srv, name + "-done")
        assert b"X-Accel-Buffering" not in got or not xab
        open(srv.path("out/" + name + "-go"), "w").close()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        assert got.endswith(b"\r\n\r\nfirst;second")
    finally:
        s.close()


def test_buffering_off_keeps_the_thread_until_the_client_reads(apache):
    """WSGIResponseBuffering Off: as before, the application waits for the client."""
    a = apache(CONFIG + "WSGIResponseBuffering Off\n", mpm_config=MPM, start=False,
               files={"app.wsgi": APP})
    make_out(a)
    a.start()
    s = slow_request(a, "/embedded/gen/off")
    try:
        assert not wait_for(lambda: marker(a, "off"), 3)
        head, body = read_response(s)
        assert body == expected(256)
        assert wait_for(lambda: marker(a, "off"), 5)
    finally:
        s.close()


# ---- limits ---------------------------------------------------------------------------------

LIMITS = CONFIG + """
WSGIResponseBufferMemory 128K
WSGIBufferDiskLimit 1M
WSGIBufferDirectory @ROOT@/spool
"""


def spool_sizes(a, pid):
    """Bytes of the memory files and of the temporary files in spool/ that pid holds open."""
    mem = disk = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            size = os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size
        except OSError:
            continue
        if link.startswith("/memfd:pyhost-response"):
            mem = max(mem, size)
        elif link.startswith(a.path("spool/")):
            disk += size
    return mem, disk


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_limits_hold_and_the_application_waits_beyond_them(apache, mode):
    """WSGIResponseBufferMemory 128K and WSGIBufferDiskLimit 1M: a 32 MB response to a client
    that reads nothing never has more than 128 KB in memory files or 1 MB in temporary files;
    beyond them the application waits for the client (its close() has not run), and the
    client still gets every byte."""
    a = apache(LIMITS, mpm_config=MPM, start=False, files={"app.wsgi": APP})
    make_out(a)
    os.makedirs(a.path("spool"))
    os.chmod(a.path("spool"), 0o777)
    a.start()
    child = int(a.get("/embedded/pid").body)  # the one Apache child
    s = slow_request(a, "/%s/gen/limits?n=512" % mode)
    try:
        most_mem = most_disk = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # until the spool is full, then 2 seconds more
            mem, disk = spool_sizes(a, child)
            most_mem, most_disk = max(most_mem, mem), max(most_disk, disk)
            if most_disk > (1024 - 64) * 1024 and deadline - time.monotonic() > 2:
                deadline = time.monotonic() + 2
            time.sleep(0.05)
        # filled to the limits (the disk to within a block, which goes whole or waits)
        assert most_mem == 128 * 1024, most_mem
        assert (1024 - 64) * 1024 < most_disk <= 1024 * 1024, most_disk
        assert not marker(a, "limits")
        head, body = read_response(s)
        assert len(body) == 512 * BLOCK and body == expected(512)
        assert wait_for(lambda: marker(a, "limits"), 5)
        assert wait_for(lambda: spool_sizes(a, child) == (0, 0), 5)
    finally:
        s.close()


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.parametrize("end", ["abort", "timeout"])
def test_held_response_is_freed_when_its_client_goes_or_stalls(apache, mode, end):
    """A response held in write completion whose client closes the connection (abort, within
    Timeout 20), or reads nothing for Apache's Timeout (2 s here): its memory and temporary
    files are closed, nothing is left in the directory, and the child serves on."""
    a = apache(LIMITS.replace("1M", "64M"), mpm_config=MPM, start=False,
               files={"app.wsgi": APP}, timeout=2 if end == "timeout" else 20)
    make_out(a)
    os.makedirs(a.path("spool"))
    os.chmod(a.path("spool"), 0o777)
    a.start()
    child = int(a.get("/embedded/pid").body)
    s = slow_request(a, "/%s/gen/%s" % (mode, end))
    try:
        assert wait_for(lambda: marker(a, end), 15)
        assert spool_sizes(a, child)[1] > 0  # held on disk, the application done
        if end == "abort":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        assert wait_for(lambda: spool_sizes(a, child) == (0, 0), 10), spool_sizes(a, child)
        assert os.listdir(a.path("spool")) == []
        r = a.get("/embedded/hello", timeout=10)
        assert r.status == 200 and r.body == b"hello"
    finally:
        s.close()


@pytest.mark.parametrize("directive,value,expect", [
    ("WSGIResponseBufferMemory", "lots", "WSGIResponseBufferMemory: invalid value 'lots'"),
    ("WSGIResponseBuffering", "maybe", "WSGIResponseBuffering: invalid value 'maybe'"),
    ("WSGIBufferDiskLimit", "-1", "WSGIBufferDiskLimit: invalid value '-1'"),
    ("WSGIBufferDirectory", "/no/such/dir", "WSGIBufferDirectory: invalid value '/no/such/dir'"),
    ("WSGIDaemonProcess", "g request-buffer-size=2G",
     "invalid value '2G' for request-buffer-size"),
])
def test_bad_buffer_settings_fail_configtest(directive, value, expect):
    a = Apache("%s %s\n" % (directive, value))
    try:
        rc, out = a.configtest()
        assert rc != 0 and expect in out, out
    finally:
        a.cleanup()


# ---- request bodies -------------------------------------------------------------------------

def upload_body(n):
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


@pytest.mark.parametrize("size", [1000, 300 * 1024])
def test_buffered_upload_holds_no_daemon_thread_and_arrives_byte_exact(srv, size):
    """request-buffer-size (default 1M): a client sending its body slowly holds no daemon
    thread (the group's only thread answers another request meanwhile, and the application
    has not started), and the application reads the body byte-exact."""
    name = "upload-%d" % size
    body = upload_body(size)
    s = slow_request(srv, "/daemon/upload/" + name, "POST",
                     "Content-Length: %d\r\n" % size, body[:size // 2])
    try:
        time.sleep(0.3)
        r = srv.get("/daemon/hello", timeout=10)
        assert r.status == 200 and r.body == b"hello"
        assert not marker(srv, name + "-started")
        s.sendall(body[size // 2:])
        head, got = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert got == ("%d %s" % (size, hashlib.sha256(body).hexdigest())).encode()
    finally:
        s.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_request_buffer_size_streams_byte_exact(srv, chunked):
    """Over request-buffer-size (64K here), or chunked, a body streams as the application
    reads it: the application starts before the body is complete, and reads it byte-exact."""
    name = "stream-upload-%d" % chunked
    size = 200 * 1024
    body = upload_body(size)
    if chunked:
        first, rest = b"%x\r\n%s\r\n" % (1000, body[:1000]), b"%x\r\n%s\r\n0\r\n\r\n" % (
            size - 1000, body[1000:])
        head = "Transfer-Encoding: chunked\r\n"
    else:
        first, rest = body[:1000], body[1000:]
        head = "Content-Length: %d\r\n" % size
    s = slow_request(srv, "/small/upload/" + name, "POST", head, first)
    try:
        assert wait_for(lambda: marker(srv, name + "-started"), 10)
        s.sendall(rest)
        head, got = read_response(s)
        assert got == ("%d %s" % (size, hashlib.sha256(body).hexdigest())).encode()
    finally:
        s.close()

