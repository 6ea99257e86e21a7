"""PEP 3333 in embedded mode (event MPM): wsgi.input, logging, start_response/write,
iterables and close(), Content-Length enforcement, HEAD, wsgi.file_wrapper, misbehaving
applications and the callable's name. Reference: mod_wsgi6-behaviour.md sections 7.2-7.5,
7.7 and issue 2.

One Apache serves every test of this module: each small application below is mounted with
its own WSGIScriptAlias and dispatches on PATH_INFO; QUERY_STRING carries a per-test token
so that log lines and side files can be tied to one request.
"""
import hashlib
import json
import os
import random
import re
import socket
import time
import uuid

import pytest

OK_APP = """
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"""

INPUT_APP = """
import hashlib, json

def enc(x):
    if isinstance(x, list):
        return [enc(i) for i in x]
    if type(x) is bytes:
        return x.decode('latin-1')
    return 'NOT-BYTES:%r' % (x,)

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    inp = environ['wsgi.input']
    if case == 'read_n':
        res = [inp.read(5), inp.read(5), inp.read(100), inp.read(), inp.read(3)]
    elif case == 'read_all':
        res = [inp.read(), inp.read(), inp.read(10), inp.readline()]
    elif case == 'readline':
        res = [inp.readline(4), inp.readline(), inp.readline(), inp.readline(),
               inp.readline(), inp.readline(2)]
    elif case == 'readline_long':
        res = [inp.readline(), inp.readline(), inp.readline()]
    elif case == 'readlines':
        res = [inp.readlines(5), inp.readlines(), inp.readlines()]
    elif case == 'iter':
        res = [line for line in inp]
    elif case == 'sha256':
        h, n, short, want = hashlib.sha256(), 0, 0, 100000
        for _ in range(10000):
            b = inp.read(want)
            if not b:
                break
            if len(b) < want:
                short += 1
            h.update(b)
            n += len(b)
        data = json.dumps({'sha256': h.hexdigest(), 'length': n,
                           'short_reads': short}).encode()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [data]
    elif case == 'echo':
        body = inp.read()
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    elif case == 'terminated':
        v = environ.get('wsgi.input_terminated', 'missing')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('%r %s' % (v, type(v).__name__)).encode()]
    else:
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no such case']
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(enc(res)).encode()]
"""

LOG_APP = """
import logging, os, sys
LOG = os.path.join(os.path.dirname(__file__), 'error.log')
logging.basicConfig(level=logging.INFO, format='pylog %(levelname)s %(message)s')

def in_log(text):
    with open(LOG, 'rb') as f:
        return text.encode() in f.read()

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    tok = environ['QUERY_STRING']
    errors = environ['wsgi.errors']
    out = []
    if case == 'errors':
        errors.write('errors-line %s\\n' % tok)
        errors.write('two %s\\nthree %s\\n' % (tok, tok))
    elif case == 'stdout':
        print('stdout-line', tok)
    elif case == 'stderr':
        print('stderr-line', tok, file=sys.stderr)
    elif case == 'logging_basic':
        logging.getLogger('app').warning('basic-line %s', tok)
    elif case == 'logging_handler':
        logger = logging.getLogger('h.' + tok)
        logger.propagate = False
        h = logging.StreamHandler(errors)
        h.setFormatter(logging.Formatter('handler %(levelname)s %(message)s'))
        logger.addHandler(h)
        logger.error('handler-line %s', tok)
        logger.removeHandler(h)
    elif case == 'buffering':
        errors.write('lb-errors %s\\n' % tok)
        out.append('errors=%s' % in_log('lb-errors ' + tok))
        print('lb-stdout', tok)
        out.append('stdout=%s' % in_log('lb-stdout ' + tok))
        print('lb-stderr', tok, file=sys.stderr)
        out.append('stderr=%s' % in_log('lb-stderr ' + tok))
        errors.write('partial-line %s' % tok)
        out.append('partial=%s' % in_log('partial-line ' + tok))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [' '.join(out).encode()]
"""

SR_APP = """
import sys
CT = ('Content-Type', 'text/plain')

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    tok = environ['QUERY_STRING']
    if case == 'write':
        w = start_response('200 OK', [CT])
        w(b'written;')
        w(b'more;')
        return [b'iterable;', b'end']
    if case == 'write_gen':
        w = start_response('200 OK', [CT])
        w(b'written;')
        def gen():
            yield b'gen1;'
            yield b'gen2'
        return gen()
    if case == 'exc_before':
        start_response('200 OK', [CT, ('X-First', '1')])
        try:
            raise ValueError('oops')
        except ValueError:
            start_response('503 Service Unavailable', [CT, ('X-Second', '2')], sys.exc_info())
        return [b'replaced']
    if case == 'exc_after_caught':
        w = start_response('200 OK', [CT])
        w(b'partial;')
        try:
            raise KeyError('orig')
        except KeyError:
            ei = sys.exc_info()
        try:
            start_response('500 Internal Server Error', [CT], ei)
            w(b'not-raised')
        except BaseException as e:
            w(b'reraised-same=%r' % (e is ei[1],))
        return []
    if case == 'exc_after_uncaught':
        w = start_response('200 OK', [CT])
        w(b'partial;')
        try:
            raise KeyError('orig-' + tok)
        except KeyError:
            start_response('500 Internal Server Error', [CT], sys.exc_info())
        return [b'never']
    if case == 'twice_caught':
        start_response('200 OK', [CT])
        try:
            start_response('201 Created', [CT])
        except Exception as e:
            return [type(e).__name__.encode()]
        return [b'no exception']
"""

ITER_APP = """
import os
CT = ('Content-Type', 'text/plain')

def mark(tok, what):
    with open('/tmp/pyhost-wsgi-' + tok, 'a') as f:
        f.write(what + '\\n')

class Body:
    def __init__(self, tok, items, fail_at=None, limit=None):
        self.tok, self.items, self.fail_at, self.limit, self.i = tok, items, fail_at, limit, 0
    def __iter__(self):
        return self
    def __next__(self):
        i = self.i
        self.i += 1
        if i == self.fail_at:
            raise ValueError('iterable failed ' + self.tok)
        if self.limit is not None:
            if i >= self.limit:
                raise StopIteration
            return b'x' * 65536
        if i >= len(self.items):
            raise StopIteration
        return self.items[i]
    def close(self):
        mark(self.tok, 'closed %d' % self.i)

class FileLike:
    def __init__(self, tok):
        self.tok, self.data = tok, [b'file', b'like', b'']
    def read(self, n=-1):
        return self.data.pop(0) if self.data else b''
    def close(self):
        mark(self.tok, 'closed filelike')

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    tok = environ['QUERY_STRING']
    if case == 'head':
        start_response('200 OK', [CT, ('X-Head', 'yes'), ('Content-Length', '10')])
        return [b'0123456789']
    if case == 'head_gen':
        start_response('200 OK', [CT, ('X-Head', 'gen')])
        return (b'chunk%d' % i for i in range(3))
    start_response('200 OK', [CT])
    if case == 'list':
        return [b'li', b'', b'st']
    if case == 'tuple':
        return (b'tu', b'ple')
    if case == 'empty':
        return []
    if case == 'gen':
        def gen():
            try:
                yield b'ge'
                yield b''
                yield b'n'
            finally:
                mark(tok, 'gen finally')
        return gen()
    if case == 'custom':
        return Body(tok, [b'cus', b'tom'])
    if case == 'custom_raise_first':
        return Body(tok, [b'a', b'b'], fail_at=0)
    if case == 'custom_raise_later':
        return Body(tok, [b'a', b'b'], fail_at=1)
    if case == 'custom_disconnect':
        return Body(tok, None, limit=4000)
    if case == 'gen_disconnect':
        def gen():
            n = 0
            try:
                for n in range(4000):
                    yield b'y' * 65536
            finally:
                mark(tok, 'gen closed %d' % n)
        return gen()
    if case == 'filelike':
        return environ['wsgi.file_wrapper'](FileLike(tok))
"""

CL_APP = """
CT = ('Content-Type', 'text/plain')

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    def cl(n):
        return start_response('200 OK', [CT, ('Content-Length', str(n))])
    if case == 'exact':
        cl(5)
        return [b'exact']
    if case == 'more_list':
        cl(5)
        return [b'Hello World']
    if case == 'more_gen':
        cl(7)
        return (b for b in [b'Hel', b'lo W', b'orld', b'!!!'])
    if case == 'more_write':
        w = cl(4)
        w(b'abcdef')
        return [b'ghi']
    if case == 'fewer_list':
        cl(100)
        return [b'only ten!!']
    if case == 'fewer_gen':
        cl(100)
        return (b for b in [b'abc', b'def'])
"""

FW_APP = """
import io, os
HERE = os.path.dirname(__file__)
BIG = os.path.join(HERE, 'big.bin')
PATTERN = bytes(range(256)) * 1200
CT = ('Content-Type', 'application/octet-stream')

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    fw = environ['wsgi.file_wrapper']
    if case == 'declared':
        start_response('200 OK', [CT, ('Content-Length', '5000')])
        return fw(open(BIG, 'rb'))
    if case == 'declared_bytesio':
        start_response('200 OK', [CT, ('Content-Length', '5000')])
        return fw(io.BytesIO(PATTERN))
    w = start_response('200 OK', [CT])
    if case == 'file':
        return fw(open(BIG, 'rb'))
    if case == 'file_blksize':
        return fw(open(BIG, 'rb'), 32768)
    if case == 'bytesio':
        return fw(io.BytesIO(PATTERN))
    if case == 'offset':
        f = open(BIG, 'rb')
        f.seek(1000)
        return fw(f)
    if case == 'write_then_file':
        w(b'prefix;')
        return fw(open(BIG, 'rb'))
"""

BAD_APP = """
CT = ('Content-Type', 'text/plain')

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    tok = environ['QUERY_STRING']
    if case == 'raise_before':
        raise ValueError('boom before output ' + tok)
    if case == 'raise_after':
        start_response('200 OK', [CT])
        def gen():
            yield b'first part;'
            raise ValueError('boom after output ' + tok)
        return gen()
    if case == 'raise_after_cl':
        start_response('200 OK', [CT, ('Content-Length', '1000')])
        def gen():
            yield b'first part;'
            raise ValueError('boom after output ' + tok)
        return gen()
    if case == 'raise_after_write':
        w = start_response('200 OK', [CT])
        w(b'first part;')
        raise ValueError('boom after output ' + tok)
    if case == 'status_2000':
        start_response('2000 OK', [CT])
    elif case == 'status_OK':
        start_response('OK', [CT])
    elif case == 'status_20':
        start_response('20 OK', [CT])
    elif case == 'status_100':
        start_response('100 Continue', [CT])
    elif case == 'hname_bytes':
        start_response('200 OK', [CT, (b'X-Bad', 'v')])
    elif case == 'hvalue_bytes':
        start_response('200 OK', [CT, ('X-Bad', b'v')])
    elif case == 'hvalue_int':
        start_response('200 OK', [CT, ('X-Bad', 42)])
    elif case == 'hname_int':
        start_response('200 OK', [CT, (42, 'v')])
    elif case == 'crlf_value':
        start_response('200 OK', [CT, ('X-Bad', 'a\\r\\nSet-Cookie: evil=1')])
    elif case == 'lf_value':
        start_response('200 OK', [CT, ('X-Bad', 'a\\nSet-Cookie: evil=1')])
    elif case == 'cr_value':
        start_response('200 OK', [CT, ('X-Bad', 'a\\rSet-Cookie: evil=1')])
    elif case == 'crlf_name':
        start_response('200 OK', [CT, ('X-Bad\\r\\nSet-Cookie', 'evil=1')])
    elif case == 'body_str':
        start_response('200 OK', [CT])
        return ['a str body']
    elif case == 'body_int':
        start_response('200 OK', [CT])
        return [42]
    elif case == 'body_str_gen':
        start_response('200 OK', [CT])
        return (x for x in ['a str body'])
    elif case == 'body_str_after':
        start_response('200 OK', [CT])
        return (x for x in [b'first part;', 'a str body'])
    elif case == 'no_start_response':
        return [b'body without status']
    elif case == 'no_start_response_empty':
        return []
    elif case == 'none':
        start_response('200 OK', [CT])
        return None
    return [b'should not be sent']
"""

CALLABLES_APP = """
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'application']

def myapp(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'myapp']

def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'other']
"""

NO_CALLABLE_APP = """
something_else = 1
"""

CONFIG = """
WSGIScriptAlias /ok @ROOT@/ok.wsgi
WSGIScriptAlias /input @ROOT@/input.wsgi
WSGIScriptAlias /chunked @ROOT@/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /log @ROOT@/log.wsgi
WSGIScriptAlias /sr @ROOT@/sr.wsgi
WSGIScriptAlias /iter @ROOT@/iter.wsgi
WSGIScriptAlias /cl @ROOT@/cl.wsgi
WSGIScriptAlias /fw @ROOT@/fw.wsgi
WSGIScriptAlias /bad @ROOT@/bad.wsgi
WSGIScriptAlias /codefault @ROOT@/callables.wsgi
WSGIScriptAlias /wco @ROOT@/callables.wsgi
<Location /wco>
    WSGICallableObject myapp
</Location>
WSGIScriptAlias /wcomissing @ROOT@/callables.wsgi
<Location /wcomissing>
    WSGICallableObject not_there
</Location>
WSGIScriptAlias /coopt @ROOT@/callables.wsgi callable-object=other
WSGIScriptAlias /comissing @ROOT@/callables.wsgi callable-object=missing_one
WSGIScriptAlias /nocallable @ROOT@/nocallable.wsgi
"""

BIG = random.Random(3333).randbytes(3 * 1024 * 1024 + 77)
PATTERN = bytes(range(256)) * 1200


@pytest.fixture(scope="module")
def srv(module_apache):
    return module_apache(CONFIG, files={
        "ok.wsgi": OK_APP, "input.wsgi": INPUT_APP, "log.wsgi": LOG_APP,
        "sr.wsgi": SR_APP, "iter.wsgi": ITER_APP, "cl.wsgi": CL_APP, "fw.wsgi": FW_APP,
        "bad.wsgi": BAD_APP, "callables.wsgi": CALLABLES_APP,
        "nocallable.wsgi": NO_CALLABLE_APP, "big.bin": BIG,
    })


# -- helpers --------------------------------------------------------------------------------

def token():
    return uuid.uuid4().hex[:12]


def assert_healthy(a):
    """The server still serves a good request and no child crashed."""
    r = a.get("/ok")
    assert (r.status, r.body, r.error) == (200, b"ok", None)
    log = a.error_log()
    assert "Segmentation fault" not in log
    assert "exit signal" not in log


def side_file(tok, want, timeout=10):
    """Waits for a line starting with `want` in the app's side file; returns its lines."""
    path = "/tmp/pyhost-wsgi-" + tok
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()
            if any(l.startswith(want) for l in lines):
                break
        time.sleep(0.05)
    if os.path.exists(path):
        os.unlink(path)
    return lines


def raw_get(a, path, method="GET"):
    """One request with Connection: close; returns (head, body) as bytes."""
    data = a.raw(("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  % (method, path)).encode())
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data
    return head, body


def jpost(a, path, body, **kw):
    r = a.request(path, method="POST", body=body, **kw)
    assert r.status == 200, (r, a.new_log())
    return json.loads(r.body)


# -- wsgi.input -----------------------------------------------------------------------------

LONG = b"L" * 20000 + b"\n"
INPUT_CASES = [
    ("read_n", b"0123456789abcdef", ["01234", "56789", "abcdef", "", ""]),
    ("read_all", b"all of it\nand more", ["all of it\nand more", "", "", ""]),
    ("readline", b"line one\nline two\nthree",
     ["line", " one\n", "line two\n", "three", "", ""]),
    ("readline_long", LONG + b"tail", [LONG.decode(), "tail", ""]),
    ("readlines", b"aaa\nbbb\nccc\nddd", [["aaa\n", "bbb\n"], ["ccc\n", "ddd"], []]),
    ("iter", b"first\nsecond\n\n" + b"x" * 10000 + b"\nlast",
     ["first\n", "second\n", "\n", "x" * 10000 + "\n", "last"]),
]


@pytest.mark.parametrize("case,body,expected", INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_input_methods(srv, case, body, expected):
    assert jpost(srv, "/input/" + case, body) == expected


def test_input_5mb_post_sha256(srv):
    body = os.urandom(5 * 1024 * 1024)
    res = jpost(srv, "/input/sha256", body)
    assert res == {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body),
                   "short_reads": 1}  # read(n) returns n bytes until the last piece


def test_input_terminated(srv):
    r = srv.get("/input/terminated")
    assert (r.status, r.body) == (200, b"True bool")


def chunks(*parts):
    return (p for p in parts)


def test_chunked_post_echo(srv):
    parts = [b"abc", os.urandom(100000), b"", b"\n-middle-\n", os.urandom(70000), b"z"]
    r = srv.request("/chunked/echo", method="POST", body=chunks(*parts), chunked=True)
    assert r.status == 200, (r, srv.new_log())
    assert r.body == b"".join(parts)
    assert r.header("Content-Length") == str(len(b"".join(parts)))


def test_chunked_read_n_spans_chunks(srv):
    r = srv.request("/chunked/read_n", method="POST", chunked=True,
                    body=chunks(b"012", b"345", b"6789abc", b"def"))
    assert r.status == 200, (r, srv.new_log())
    assert json.loads(r.body) == ["01234", "56789", "abcdef", "", ""]


def test_chunked_raw_with_chunked_request_on(srv):
    data = srv.raw(b"POST /chunked/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), data
    assert body == b"hello, world"


def test_chunked_post_refused_411_without_chunked_request(srv):
    srv.mark_log()
    data = srv.raw(b"POST /input/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 411 "), data
    r = srv.request("/input/echo", method="POST", body=chunks(b"hello"), chunked=True)
    assert r.status == 411
    assert_healthy(srv)


# -- wsgi.errors, stdout, stderr, logging ---------------------------------------------------

def one_line(a, text):
    """Exactly one error-log line carries `text`; returns it."""
    assert a.wait_log(re.escape(text)), a.new_log()
    lines = a.log_lines(re.escape(text) + r"(\s|$)")
    assert len(lines) == 1, lines
    return lines[0]


def test_wsgi_errors_lines_with_client(srv):
    tok = token()
    srv.mark_log()
    r = srv.get("/log/errors?" + tok)
    assert r.status == 200
    for text in ("errors-line " + tok, "two " + tok, "three " + tok):
        line = one_line(srv, text)
        assert "[client 127.0.0.1:" in line, line
        assert line.endswith(text), line
    assert not srv.log_lines("two %s.*three" % tok)


@pytest.mark.parametrize("case,text", [("stdout", "stdout-line"), ("stderr", "stderr-line")])
def test_print_to_stdout_and_stderr(srv, case, text):
    tok = token()
    srv.mark_log()
    assert srv.get("/log/%s?%s" % (case, tok)).status == 200
    line = one_line(srv, "%s %s" % (text, tok))
    assert "[client 127.0.0.1:" in line, line


def test_logging_basic_config(srv):
    tok = token()
    srv.mark_log()
    assert srv.get("/log/logging_basic?" + tok).status == 200
    line = one_line(srv, "pylog WARNING basic-line " + tok)
    assert "[client 127.0.0.1:" in line, line


def test_logging_stream_handler_on_wsgi_errors(srv):
    tok = token()
    srv.mark_log()
    assert srv.get("/log/logging_handler?" + tok).status == 200
    line = one_line(srv, "handler ERROR handler-line " + tok)
    assert "[client 127.0.0.1:" in line, line


def test_log_line_buffering_and_partial_line_at_request_end(srv):
    tok = token()
    srv.mark_log()
    r = srv.get("/log/buffering?" + tok)
    # complete lines are in the log at once, the partial one only when the request ends
    assert (r.status, r.body) == (200, b"errors=True stdout=True stderr=True partial=False")
    line = one_line(srv, "partial-line " + tok)
    assert "[client 127.0.0.1:" in line, line


# -- start_response and write() -------------------------------------------------------------

def test_write_sends_before_iterable(srv):
    r = srv.get("/sr/write")
    assert (r.status, r.body, r.error) == (200, b"written;more;iterable;end", None)
    r = srv.get("/sr/write_gen")
    assert (r.status, r.body, r.error) == (200, b"written;gen1;gen2", None)


def test_exc_info_before_headers_sent_replaces_status_and_headers(srv):
    r = srv.get("/sr/exc_before")
    assert (r.status, r.body) == (503, b"replaced")
    assert r.header("X-Second") == "2"
    assert r.header("X-First") is None


def test_exc_info_after_headers_sent_reraises(srv):
    r = srv.get("/sr/exc_after_caught")
    assert (r.status, r.body, r.error) == (200, b"partial;reraised-same=True", None)


def test_exc_info_after_headers_sent_uncaught_cuts_response(srv):
    tok = token()
    srv.mark_log()
    r = srv.get("/sr/exc_after_uncaught?" + tok)
    assert r.status == 200
    assert r.body == b"partial;"
    assert r.error is not None
    assert srv.wait_log(r"KeyError: 'orig-%s'" % tok), srv.new_log()
    assert_healthy(srv)


def test_second_start_response_without_exc_info_wins(srv):
    # mod_wsgi 4.9 and 6 take it (issue 11); tests/test_fidelity.py checks the warning
    r = srv.get("/sr/twice_caught")
    assert (r.status, r.body) == (201, b"no exception")


# -- iterables and close() ------------------------------------------------------------------

@pytest.mark.parametrize("case,body", [("list", b"list"), ("tuple", b"tuple"),
                                       ("empty", b""), ("gen", b"gen"),
                                       ("custom", b"custom")])
def test_any_iterable(srv, case, body):
    tok = token()
    r = srv.get("/iter/%s?%s" % (case, tok))
    assert (r.status, r.body, r.error) == (200, body, None)
    if case == "gen":
        assert side_file(tok, "gen finally") == ["gen finally"]
    if case == "custom":
        assert side_file(tok, "closed") == ["closed 3"]


def test_close_called_when_iterable_raises_before_output(srv):
    tok = token()
    srv.mark_log()
    r = srv.get("/iter/custom_raise_first?" + tok)
    assert r.status == 500
    assert side_file(tok, "closed") == ["closed 1"]
    assert srv.wait_log(r"ValueError: iterable failed %s" % tok), srv.new_log()
    assert_healthy(srv)


def test_close_called_when_iterable_raises_after_output(srv):
    tok = token()
    srv.mark_log()
    r = srv.get("/iter/custom_raise_later?" + tok)
    assert r.status == 200
    assert r.body == b"a"
    assert r.error is not None
    assert side_file(tok, "closed") == ["closed 2"]
    assert srv.wait_log(r"ValueError: iterable failed %s" % tok), srv.new_log()
    assert_healthy(srv)


def test_close_called_on_file_wrapper_of_file_like(srv):
    tok = token()
    r = srv.get("/iter/filelike?" + tok)
    assert (r.status, r.body) == (200, b"filelike")
    assert side_file(tok, "closed") == ["closed filelike"]


@pytest.mark.parametrize("case,prefix", [("gen_disconnect", "gen closed "),
                                         ("custom_disconnect", "closed ")])
def test_close_called_on_client_disconnect(srv, case, prefix):
    tok = token()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(("GET /iter/%s?%s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                   % (case, tok)).encode())
        got = 0
        while got < 300000:
            b = s.recv(65536)
            assert b, "server closed early"
            got += len(b)
    lines = side_file(tok, prefix)
    assert len(lines) == 1 and lines[0].startswith(prefix), lines
    # iteration stopped because the client went away, not because the body ran out
    assert int(lines[0][len(prefix):]) < 3000, lines
    assert_healthy(srv)


def test_head_status_and_headers_without_body(srv):
    r = srv.request("/iter/head", method="HEAD")
    assert (r.status, r.body) == (200, b"")
    assert r.header("X-Head") == "yes"
    assert r.header("Content-Length") == "10"
    head, body = raw_get(srv, "/iter/head", "HEAD")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b""
    head, body = raw_get(srv, "/iter/head_gen", "HEAD")
    assert head.startswith(b"HTTP/1.1 200 ") and b"X-Head: gen" in head
    assert body == b""


# -- Content-Length -------------------------------------------------------------------------

def test_content_length_exact(srv):
    r = srv.get("/cl/exact")
    assert (r.status, r.body, r.error, r.header("Content-Length")) == (200, b"exact", None, "5")


@pytest.mark.parametrize("case,body", [("more_list", b"Hello"), ("more_gen", b"Hello W"),
                                       ("more_write", b"abcd")])
def test_content_length_never_exceeded(srv, case, body):
    head, data = raw_get(srv, "/cl/" + case)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert data == body
    # on a kept-alive connection the next response is not polluted by surplus bytes
    conn = srv.connection()
    try:
        for path, want in (("/cl/" + case, body), ("/ok", b"ok")):
            conn.request("GET", path)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, want)
    finally:
        conn.close()


@pytest.mark.parametrize("case,partial", [("fewer_list", b"only ten!!"),
                                          ("fewer_gen", b"abcdef")])
def test_content_length_short_body_closes_connection(srv, case, partial):
    srv.mark_log()
    r = srv.get("/cl/" + case)
    assert r.status == 200
    assert r.header("Content-Length") == "100"
    assert r.body == partial
    assert r.error is not None
    assert srv.wait_log(r"(?i)(short|fewer|less|incomplete).*content-length|"
                        r"content-length.*(short|fewer|less|incomplete)"), srv.new_log()
    assert_healthy(srv)


# -- wsgi.file_wrapper ----------------------------------------------------------------------

def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("case", ["file", "file_blksize"])
def test_file_wrapper_regular_file(srv, case):
    r = srv.get("/fw/" + case)
    assert (r.status, r.error) == (200, None)
    assert len(r.body) == len(BIG)
    assert sha(r.body) == sha(BIG)
    assert r.header("Content-Length") == str(len(BIG))


def test_file_wrapper_bytesio_is_iterated(srv):
    r = srv.get("/fw/bytesio")
    assert (r.status, r.error) == (200, None)
    assert r.body == PATTERN


def test_file_wrapper_from_file_offset(srv):
    r = srv.get("/fw/offset")
    assert (r.status, r.error) == (200, None)
    assert r.header("Content-Length") == str(len(BIG) - 1000)
    assert sha(r.body) == sha(BIG[1000:])


def test_file_wrapper_after_write(srv):
    r = srv.get("/fw/write_then_file")
    assert (r.status, r.error) == (200, None)
    assert sha(r.body) == sha(b"prefix;" + BIG)


@pytest.mark.parametrize("case,src", [("declared", BIG), ("declared_bytesio", PATTERN)])
def test_file_wrapper_declared_length_smaller_than_file(srv, case, src):
    head, body = raw_get(srv, "/fw/" + case)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert re.search(rb"(?im)^Content-Length: 5000\r?$", head), head
    assert body == src[:5000]


# -- bad application behaviour --------------------------------------------------------------

# mod_wsgi 6's exception messages (issue 11)
TYPES = r"TypeError: expected unicode object, value of type {0} found"
SPLIT = r"ValueError: carriage return/line feed character present in header value"
BAD_500 = [
    ("raise_before", r"ValueError: boom before output {tok}"),
    ("status_2000", r"ValueError: status code is not a 3 digit integer"),
    ("status_OK", r"ValueError: status code is not a 3 digit integer"),
    ("status_20", r"ValueError: status code is not a 3 digit integer"),
    ("status_100", r"ValueError: status code is informational \(1xx\), not a final response"),
    ("hname_bytes", TYPES.format("bytes")),
    ("hvalue_bytes", TYPES.format("bytes")),
    ("hvalue_int", TYPES.format("int")),
    ("hname_int", TYPES.format("int")),
    ("crlf_value", SPLIT),
    ("lf_value", SPLIT),
    ("cr_value", SPLIT),
    ("crlf_name", r"(?i)header.*(name|CR|LF|newline|control|splitting)"),
    ("body_str", r"TypeError: sequence of byte string values expected, value of type str found"),
    ("body_int", r"TypeError: sequence of byte string values expected, value of type int found"),
    ("body_str_gen",
     r"TypeError: sequence of byte string values expected, value of type str found"),
    ("no_start_response",
     r"(?i)start_response.*never called|without calling start_response|"
     r"start_response.*not (been )?called"),
    ("no_start_response_empty",
     r"(?i)start_response.*never called|without calling start_response|"
     r"start_response.*not (been )?called"),
    ("none", r"(?i)NoneType.*not iterable|returned None"),
]


@pytest.mark.parametrize("case,pattern", BAD_500, ids=[c for c, _ in BAD_500])
def test_bad_app_500_and_log_line(srv, case, pattern):
    tok = token()
    srv.mark_log()
    r = srv.get("/bad/%s?%s" % (case, tok))
    assert r.status == 500, r
    assert b"should not be sent" not in r.body
    assert r.header("X-Bad") is None and r.header("Set-Cookie") is None
    assert srv.wait_log(pattern.format(tok=tok)), srv.new_log()
    if case == "raise_before":
        assert srv.log_lines(r"Traceback \(most recent call last\)"), srv.new_log()
    assert_healthy(srv)


@pytest.mark.parametrize("case,pattern", [
    ("raise_after", r"ValueError: boom after output {tok}"),
    ("raise_after_cl", r"ValueError: boom after output {tok}"),
    ("raise_after_write", r"ValueError: boom after output {tok}"),
    ("body_str_after",
     r"TypeError: sequence of byte string values expected, value of type str found"),
])
def test_bad_app_after_output_cuts_response(srv, case, pattern):
    tok = token()
    srv.mark_log()
    r = srv.get("/bad/%s?%s" % (case, tok))
    assert r.status == 200
    assert r.body == b"first part;"
    assert r.error is not None  # no clean end: the client can tell the body is short
    assert srv.wait_log(pattern.format(tok=tok)), srv.new_log()
    assert_healthy(srv)


def test_bad_app_after_output_raw_has_no_last_chunk(srv):
    tok = token()
    head, body = raw_get(srv, "/bad/raise_after?" + tok)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert re.search(rb"(?i)transfer-encoding: chunked", head), head
    assert b"first part;" in body
    assert not body.endswith(b"0\r\n\r\n"), body


# -- the callable's name --------------------------------------------------------------------

@pytest.mark.parametrize("path,body", [("/codefault", b"application"), ("/wco", b"myapp"),
                                       ("/coopt", b"other")])
def test_callable_object_name(srv, path, body):
    r = srv.get(path)
    assert (r.status, r.body) == (200, body)


@pytest.mark.parametrize("path,name", [("/comissing", "missing_one"),
                                       ("/wcomissing", "not_there"),
                                       ("/nocallable", "application")])
def test_missing_callable_404_and_log(srv, path, name):
    srv.mark_log()
    r = srv.get(path)
    assert r.status == 404
    assert srv.wait_log(r"\b%s\b" % name), srv.new_log()
    script = "nocallable.wsgi" if path == "/nocallable" else "callables.wsgi"
    assert srv.log_lines(r"%s.*%s|%s.*%s" % (name, script, script, name)), srv.new_log()
    assert_healthy(srv)
