"""A corpus of raw HTTP requests sent over sockets to an echo application.

Each request is written byte for byte (chunked bodies with extensions and trailers, bodies
over LimitRequestBody, Content-Length with Transfer-Encoding, pipelining, Expect:
100-continue, huge and repeated headers, HEAD, OPTIONS, bodies on GET, absolute-form targets,
%00 and encoded slashes). The application answers with what it saw, as JSON: method, path,
query, headers, body. Properties, in embedded and daemon mode alike: the application sees
exactly what Apache parsed; a request Apache rejects never reaches Python (the application
leaves a marker per request it sees); nothing crashes.
"""
import json
import os
import re
import socket
import time
import uuid

import pytest

from harness import make_out

ECHO = r'''
import json, os
OUT = os.path.join(os.path.dirname(__file__), 'out')

def application(environ, start_response):
    tok = environ.get('HTTP_X_TOK', '')
    if tok:
        open(os.path.join(OUT, 'seen-' + tok), 'w').close()
    try:
        body = environ['wsgi.input'].read()
        error = None
    except Exception as e:
        body, error = b'', type(e).__name__
    seen = {
        'method': environ['REQUEST_METHOD'],
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ.get('PATH_INFO', ''),
        'query': environ.get('QUERY_STRING', ''),
        'request_uri': environ.get('REQUEST_URI'),
        'protocol': environ['SERVER_PROTOCOL'],
        'content_length': environ.get('CONTENT_LENGTH'),
        'content_type': environ.get('CONTENT_TYPE'),
        'headers': {k: v for k, v in environ.items() if k.startswith('HTTP_')},
        'body': body.decode('latin-1'),
        'error': error,
    }
    out = json.dumps(seen, sort_keys=True).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(out)))])
    return [out]
'''

CONFIGS = {
    "embedded": """
        WSGIScriptAlias /echo @ROOT@/echo.wsgi
        WSGIScriptAlias /small @ROOT@/echo.wsgi
        WSGIScriptAlias /nochunk @ROOT@/echo.wsgi
        WSGIScriptAlias /medium @ROOT@/echo.wsgi
    """,
    "daemon": """
        WSGIDaemonProcess raw processes=1 threads=4 display-name=%{GROUP}
        WSGIProcessGroup raw
        WSGIScriptAlias /echo @ROOT@/echo.wsgi
        WSGIScriptAlias /small @ROOT@/echo.wsgi
        WSGIScriptAlias /nochunk @ROOT@/echo.wsgi
        WSGIScriptAlias /medium @ROOT@/echo.wsgi
    """,
}
COMMON = """
    WSGIChunkedRequest On
    <Location /nochunk>
        WSGIChunkedRequest Off
    </Location>
    <Location /small>
        LimitRequestBody 1000
    </Location>
    <Location /medium>
        LimitRequestBody 100000
    </Location>
"""


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def srv(request, module_apache):
    a = module_apache(CONFIGS[request.param] + COMMON, modules=["alias"], start=False,
                      log_level="info")
    make_out(a)
    a.write("echo.wsgi", ECHO)
    a.start()
    yield a
    assert not re.search(r"exit signal|Segmentation|AddressSanitizer|runtime error:",
                         a.error_log())


def tok():
    return uuid.uuid4().hex[:12]


def seen_by_app(a, t):
    return os.path.exists(a.path("out/seen-" + t))


def exchange(a, data, timeout=5, pause=None):
    """Sends data (a list of byte strings is sent piece by piece, pause seconds apart) and
    reads until the server closes; returns the bytes."""
    with socket.create_connection(("127.0.0.1", a.port), timeout=timeout) as s:
        for piece in (data if isinstance(data, list) else [data]):
            s.sendall(piece)
            if pause:
                time.sleep(pause)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def responses(raw):
    """Splits a byte stream into (status, headers dict (lower-case), body) responses."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, raw[:500]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            body, raw = rest[:n], rest[n:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size, _, rest = rest.partition(b"\r\n")
                n = int(size.split(b";")[0], 16)
                if n == 0:
                    _, _, raw = rest.partition(b"\r\n")
                    break
                body, rest = body + rest[:n], rest[n + 2:]
        elif status in (100, 204, 304):
            body, raw = b"", rest
        else:
            body, raw = rest, b""
        out.append((status, headers, body))
    return out


def one(a, data, **kw):
    rs = [r for r in responses(exchange(a, data, **kw)) if r[0] != 100]
    assert len(rs) == 1, rs
    return rs[0]


def req(method, target, headers=(), body=b"", t=None, proto="HTTP/1.1"):
    lines = ["%s %s %s" % (method, target, proto), "Host: localhost"]
    if t:
        lines.append("X-Tok: " + t)
    lines += list(headers)
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def echo(resp):
    status, headers, body = resp
    assert status == 200, resp
    return json.loads(body)


# ---- bodies ----------------------------------------------------------------------------------

def test_chunked_with_extensions_and_trailers(srv):
    t = tok()
    body = (b"5;name=value\r\nhello\r\n"
            b"6;a=b;quoted=\"x;y\"\r\n world\r\n"
            b"0;last\r\nX-Trailer: after\r\nX-Other: 2\r\n\r\n")
    seen = echo(one(srv, req("POST", "/echo/c", ["Transfer-Encoding: chunked",
                                                  "Content-Type: text/plain"], body, t)))
    assert seen["body"] == "hello world"
    assert seen["content_length"] is None
    assert seen["content_type"] == "text/plain"
    # trailers are not request headers (Apache keeps them apart; MergeTrailers is off)
    assert "HTTP_X_TRAILER" not in seen["headers"] and "HTTP_X_OTHER" not in seen["headers"]
    assert seen["headers"]["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_chunked_refused_by_default_never_reaches_python(srv):
    t = tok()
    status, _, _ = one(srv, req("POST", "/nochunk", ["Transfer-Encoding: chunked"],
                                b"5\r\nhello\r\n0\r\n\r\n", t))
    assert status == 411  # WSGIChunkedRequest Off, mod_wsgi's default
    assert not seen_by_app(srv, t)


def test_chunked_in_pieces_and_upper_case_hex(srv):
    t = tok()
    pieces = [req("POST", "/echo", ["Transfer-Encoding: chunked"], b"", t),
              b"A\r\n0123456789\r\n", b"1a\r\n" + b"z" * 26 + b"\r\n", b"0\r\n\r\n"]
    seen = echo(one(srv, pieces, pause=0.05))
    assert seen["body"] == "0123456789" + "z" * 26


@pytest.mark.parametrize("bad,status", [(b"zz\r\nhello\r\n0\r\n\r\n", 400),
                                        (b"5\r\nhelloXX0\r\n\r\n", 400),
                                        (b"-5\r\nhello\r\n0\r\n\r\n", 400),
                                        (b"ffffffffffffffffff\r\nx\r\n0\r\n\r\n", 413)])
def test_chunked_malformed_gets_apache_s_answer_alone(srv, bad, status):
    # Apache finds a bad chunk only as the application reads, and answers it itself at
    # once; the application's own response must not follow on the connection (it did:
    # its body came after Apache's error page)
    raw = exchange(srv, req("POST", "/echo", ["Transfer-Encoding: chunked"], bad, tok()))
    assert raw.startswith(b"HTTP/1.1 %d " % status), raw[:300]
    assert raw.endswith(b"</body></html>\n"), raw[-300:]
    assert b'"method"' not in raw


def test_content_length_over_limit_request_body_never_reaches_python(srv):
    t = tok()
    status, _, _ = one(srv, req("POST", "/small", ["Content-Length: 2000"], b"x" * 2000, t))
    assert status == 413
    assert not seen_by_app(srv, t)
    t = tok()
    seen = echo(one(srv, req("POST", "/small", ["Content-Length: 1000"], b"y" * 1000, t)))
    assert seen["body"] == "y" * 1000 and seen["content_length"] == "1000"


# over the limit in the part read at once, or in a later part the application asks for
@pytest.mark.parametrize("path,chunks", [("/small", 8), ("/medium", 800)])
def test_chunked_over_limit_request_body(srv, path, chunks):
    body = b"".join(b"100\r\n" + b"q" * 256 + b"\r\n" for _ in range(chunks)) + b"0\r\n\r\n"
    raw = exchange(srv, req("POST", path, ["Transfer-Encoding: chunked"], body, tok()))
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert raw.endswith(b"</body></html>\n") and b'"method"' not in raw, raw[-300:]


def test_content_length_and_transfer_encoding_together(srv):
    t = tok()
    body = b"5\r\nhello\r\n0\r\n\r\n"
    status, headers, rbody = one(srv, req("POST", "/echo", ["Content-Length: 3",
                                                             "Transfer-Encoding: chunked"],
                                          body, t))
    # RFC 9112 6.3: Transfer-Encoding wins, Content-Length is dropped, the connection closes
    seen = echo((status, headers, rbody))
    assert seen["body"] == "hello"
    assert seen["content_length"] is None and "HTTP_CONTENT_LENGTH" not in seen["headers"]
    assert headers.get("connection") == "close"


@pytest.mark.parametrize("cl", ["abc", "-1", "1, 2", "99999999999999999999999"])
def test_bad_content_length_is_400_and_never_reaches_python(srv, cl):
    t = tok()
    status, _, _ = one(srv, req("POST", "/echo", ["Content-Length: " + cl], b"x", t))
    assert status in (400, 413)
    assert not seen_by_app(srv, t)


def test_unknown_transfer_encoding_is_rejected(srv):
    t = tok()
    status, _, _ = one(srv, req("POST", "/echo", ["Transfer-Encoding: gzip, chunked"],
                                b"0\r\n\r\n", t))
    assert status in (400, 501)
    assert not seen_by_app(srv, t)


def test_body_on_get_and_options_and_head(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/echo/g?a=1", ["Content-Length: 4"], b"data", t)))
    assert (seen["method"], seen["body"], seen["query"]) == ("GET", "data", "a=1")
    seen = echo(one(srv, req("OPTIONS", "/echo/o", [], b"", tok())))
    assert seen["method"] == "OPTIONS"
    status, headers, body = one(srv, req("HEAD", "/echo/h", [], b"", tok()))
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_options_star_is_apache_s_own(srv):
    t = tok()
    status, headers, body = one(srv, req("OPTIONS", "*", [], b"", t))
    assert status == 200
    assert not seen_by_app(srv, t)


def test_expect_100_continue(srv):
    t = tok()
    head = req("POST", "/echo/e", ["Content-Length: 5", "Expect: 100-continue"], b"", t)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(head)
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got
        s.sendall(b"hello")
        raw = got[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
    (resp,) = responses(raw)
    seen = echo(resp)
    assert seen["body"] == "hello"
    assert seen["headers"]["HTTP_EXPECT"] == "100-continue"


def test_expect_100_continue_over_limit_never_reaches_python(srv):
    t = tok()
    status, _, _ = one(srv, req("POST", "/small", ["Content-Length: 5000",
                                                    "Expect: 100-continue"], b"", t))
    assert status == 413
    assert not seen_by_app(srv, t)


def test_pipelined_requests_answered_in_order(srv):
    ts = [tok() for _ in range(4)]
    data = b""
    for i, t in enumerate(ts):
        body = ("body%d" % i).encode()
        data += ("POST /echo/p%d HTTP/1.1\r\nHost: localhost\r\nX-Tok: %s\r\n"
                 "Content-Length: %d\r\n%s\r\n" % (i, t, len(body),
                                                  "Connection: close\r\n" if i == 3 else "")
                 ).encode() + body
    rs = responses(exchange(srv, data))
    assert [json.loads(r[2])["path_info"] for r in rs] == ["/p0", "/p1", "/p2", "/p3"]
    assert [json.loads(r[2])["body"] for r in rs] == ["body0", "body1", "body2", "body3"]


# ---- headers ---------------------------------------------------------------------------------

def test_huge_header_under_and_over_the_limit(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/echo", ["X-Big: " + "b" * 8000], b"", t)))
    assert seen["headers"]["HTTP_X_BIG"] == "b" * 8000
    t = tok()
    status, _, _ = one(srv, req("GET", "/echo", ["X-Big: " + "b" * 9000], b"", t))
    assert status == 400
    assert not seen_by_app(srv, t)


def test_repeated_and_many_headers(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/echo", ["X-Rep: a", "X-Rep: b", "x-rep: c"], b"", t)))
    assert seen["headers"]["HTTP_X_REP"] == "a, b, c"
    t = tok()
    many = ["X-H%d: %d" % (i, i) for i in range(95)]
    seen = echo(one(srv, req("GET", "/echo", many, b"", t)))
    assert all(seen["headers"]["HTTP_X_H%d" % i] == str(i) for i in range(95))
    t = tok()
    status, _, _ = one(srv, req("GET", "/echo", ["X-H%d: 1" % i for i in range(120)], b"", t))
    assert status == 400
    assert not seen_by_app(srv, t)


def test_header_names_with_underscores_and_odd_values(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/echo", ["X_Under: u", "X-Val: \xe9t\xe9\t tab",
                                               "X-Empty:"], b"", t)))
    # a name with '_' would pose as another with '-' in the environ: it is dropped
    assert "HTTP_X_UNDER" not in seen["headers"]
    assert seen["headers"]["HTTP_X_VAL"] == "\xe9t\xe9\t tab"
    assert seen["headers"]["HTTP_X_EMPTY"] == ""


def test_obsolete_line_folding_is_unfolded(srv):
    seen = echo(one(srv, req("GET", "/echo", ["X-Fold: a\r\n  folded"], b"", tok())))
    assert seen["headers"]["HTTP_X_FOLD"] == "a folded"  # the fold becomes one space


@pytest.mark.parametrize("line", ["Bad Name: x", "X-Ctl: a\x01b",
                                  ":empty-name"])
def test_malformed_header_is_400_and_never_reaches_python(srv, line):
    t = tok()
    status, _, _ = one(srv, req("GET", "/echo", [line], b"", t))
    assert status == 400
    assert not seen_by_app(srv, t)


# ---- targets ---------------------------------------------------------------------------------

def test_absolute_form_target(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "http://localhost:%d/echo/abs?q=1" % srv.port, [], b"",
                             t)))
    assert (seen["script_name"], seen["path_info"], seen["query"]) == ("/echo", "/abs", "q=1")
    assert seen["request_uri"] == "http://localhost:%d/echo/abs?q=1" % srv.port  # as sent


def test_percent_encoding_in_path(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/echo/a%20b/%7Euser/%C3%A9?x=%2F%00", [], b"", t)))
    assert seen["path_info"] == "/a b/~user/\xc3\xa9"  # bytes as latin-1 (PEP 3333)
    assert seen["query"] == "x=%2F%00"  # the query is passed as it came
    assert seen["request_uri"] == "/echo/a%20b/%7Euser/%C3%A9?x=%2F%00"


@pytest.mark.parametrize("path", ["/echo/a%00b", "/echo/a%2Fb", "/echo/a%2fb", "/echo/%"])
def test_nul_and_encoded_slash_never_reach_python(srv, path):
    t = tok()
    status, _, _ = one(srv, req("GET", path, [], b"", t))
    assert status in (400, 404)
    assert not seen_by_app(srv, t)


def test_dot_segments_are_resolved(srv):
    t = tok()
    seen = echo(one(srv, req("GET", "/x/../echo/./a/b/../c", [], b"", t)))
    assert (seen["script_name"], seen["path_info"]) == ("/echo", "/a/c")


@pytest.mark.parametrize("line", [b"GARBAGE\r\n\r\n", b"GET /echo HTTP/1.1 extra\r\n\r\n",
                                  b"GET echo HTTP/1.1\r\nHost: x\r\n\r\n",
                                  b"GET /echo HTTP/1.1\r\n\r\n"])
def test_malformed_request_line_never_reaches_python(srv, line):
    before = len(os.listdir(srv.path("out")))
    raw = exchange(srv, line)
    assert raw == b"" or re.match(rb"HTTP/1\.[01] (400|505) ", raw), raw[:200]
    assert len(os.listdir(srv.path("out"))) == before


def test_unknown_http_version(srv):
    seen = echo(one(srv, req("GET", "/echo/v", [], b"", tok(), proto="HTTP/9.9")))
    assert (seen["protocol"], seen["path_info"]) == ("HTTP/9.9", "/v")  # as Apache took it (it answers HTTP/1.1)


def test_extension_method_and_http10(srv):
    t = tok()
    seen = echo(one(srv, req("PURGE", "/echo/m", [], b"", t)))
    assert seen["method"] == "PURGE"
    raw = exchange(srv, ("GET /echo/old HTTP/1.0\r\nX-Tok: %s\r\n\r\n" % tok()).encode())
    (resp,) = responses(raw)
    seen = echo(resp)
    assert (seen["protocol"], seen["path_info"]) == ("HTTP/1.0", "/old")
    assert raw.startswith(b"HTTP/1.1 200 ")
