"""Fuzzing of misbehaving applications with Hypothesis, embedded and daemon mode.

One Apache per mode serves tests/fuzz_app.py, which misbehaves as the JSON spec in each
request's body says (status lines and header lists of any type and content, body iterables
of bytes, str, None and ints, generators that raise, write() mixed with yields, exc_info at
any point, close() that raises, wsgi.file_wrapper over pipes, closed and shrinking files).
A model (expect()) of the WSGI rules the module enforces says what each spec must get. For
every example:

- no process crashes: no "exit signal" (nor a sanitizer's or Python's fatal) line in the log;
- the response is the model's: its status and body, or a 500 when the application failed
  before its headers went out, or a cut connection (never a clean end) when it failed after;
- each application error has exactly one error-log line naming it (a traceback follows it);
- the next request (the health check) to the same group is served;
and after all examples the descriptors of Apache's child and the daemon have not grown.

PYHOST_FUZZ_EXAMPLES sets the examples per mode (300; `make fuzz` runs 3000).
"""
import http.client
import json
import os
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_app import content, val  # what the application makes of a spec
from harness import PREFORK_ONE, make_out

http.client._MAXHEADERS = 1000  # the many-headers cases send up to 400
EXAMPLES = int(os.environ.get("PYHOST_FUZZ_EXAMPLES", "300"))
APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_app.py")

# ---- values -----------------------------------------------------------------------------------

TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=12) | \
    st.sampled_from(["", "x", "\r\n", "a\rb", "a\nb", "a\0b", "\u20ac", "\U0001F600", "\t"])
TOKEN = st.text("abcdefghijklmnopqrstuvwxyzXYZ-_0123456789", min_size=1, max_size=20)


def s(x):
    return ["s", x]


def b(x):
    return ["b", x]


OTHER = st.sampled_from([["i", 200], ["n"], ["f", 1.5], ["l", []], ["t", []]])
STATUS = st.one_of(
    st.sampled_from([s("200 OK"), s("404 Not Found"), s("201"), s("299 Custom Thing"),
                     s("500 Oops"), s("418 I'm a teapot")]),
    st.builds(lambda c, r: s("%d %s" % (c, r)), st.integers(100, 999), TEXT),
    TEXT.map(s),
    st.integers(1000, 60000).map(lambda n: s("200 " + "r" * n)),  # (a client reads 64 KB)
    st.sampled_from([b("200 OK"), ["i", 200], ["n"], s("2000 OK"), s("OK"), s("20 OK"),
                     s("099 X"), s("200 OK\r\nX-Split: 1"), s("200\tOK"), s("200 \xe9t\xe9"),
                     ["big", "x", 70000]]),
)
NAME = st.one_of(TOKEN.map(s), TEXT.map(s), st.sampled_from([b("X-A"), ["i", 1], ["n"]]))
VALUE = st.one_of(TOKEN.map(s), TEXT.map(s), st.sampled_from([b("v"), ["i", 1], ["n"]]),
                  st.integers(1, 20000).map(lambda n: ["big", "v", n]))
HEADER = st.one_of(
    st.tuples(NAME, VALUE).map(lambda p: ["t", list(p)]),
    st.sampled_from([["l", [s("X-A"), s("b")]], ["t", [s("X-A")]],
                     ["t", [s("X-A"), s("b"), s("c")]], s("X-A: b"), ["n"]]),
)
CONTENT_LENGTH = st.one_of(
    st.integers(0, 300).map(str),
    st.sampled_from(["abc", "-1", "", " 5", "5 ", "1" * 19, "0x10", "\u0665"]),
).map(lambda v: ["t", [s(v and "Content-Length" or "content-length"), s(v)]])
HEADERS = st.one_of(
    st.lists(st.tuples(TOKEN, TOKEN).map(lambda p: ["t", [s("X-" + p[0]), s(p[1])]]),
             max_size=5).map(lambda l: ["l", l]),
    st.lists(st.one_of(CONTENT_LENGTH, st.tuples(TOKEN, TOKEN).map(
        lambda p: ["t", [s("X-" + p[0]), s(p[1])]])), max_size=3).map(lambda l: ["l", l]),
    st.lists(HEADER, max_size=6).map(lambda l: ["l", l]),
    st.integers(100, 400).map(lambda n: ["l", [["t", [s("X-H%d" % i), s("v")]]
                                               for i in range(n)]]),
    st.lists(st.tuples(TOKEN, TOKEN).map(lambda p: ["t", [s("X-" + p[0]), s(p[1])]]),
             max_size=3).map(lambda l: ["t", l]),
    st.sampled_from([["n"], s("X-A: b"), ["d", [[s("X-A"), s("b")]]]]),
)
CHUNK = st.one_of(st.binary(max_size=40).map(lambda x: b(x.decode("latin-1"))),
                  st.sampled_from([b(""), ["big", "z", 100000]]).map(
                      lambda v: v if v[0] == "b" else ["bigb", v[1], v[2]]))
ITEM = st.one_of(CHUNK, CHUNK, TEXT.map(s), OTHER)
STEP = st.one_of(
    ITEM.map(lambda v: ["yield", v]), ITEM.map(lambda v: ["yield", v]),
    ITEM.map(lambda v: ["write", v]),
    st.just(["raise"]),
    st.tuples(STATUS, HEADERS).map(lambda p: ["exc_info", p[0], p[1]]),
)
PRE = st.lists(st.one_of(ITEM.map(lambda v: ["write", v]), st.just(["raise"]),
                         st.tuples(STATUS, HEADERS).map(lambda p: ["exc_info", p[0], p[1]])),
               max_size=2)
BODY = st.one_of(
    st.lists(ITEM, max_size=4).map(lambda l: ["list", l]),
    st.lists(ITEM, max_size=4).map(lambda l: ["tuple", l]),
    st.lists(STEP, max_size=6).map(lambda l: ["gen", l]),
    st.sampled_from([["none"], ["int"]]),
    st.tuples(st.sampled_from(["regular", "pipe", "closed", "shrink", "bytesio"]),
              st.integers(0, 60000), st.integers(1, 70000)).map(lambda t: ["file"] + list(t)),
)
SPEC = st.fixed_dictionaries({
    "status": STATUS, "headers": HEADERS, "pre": PRE, "body": BODY,
    "close": st.sampled_from([None, "ok", "raise"]),
})

# ---- the model ------------------------------------------------------------------------------


def latin1(x):
    try:
        return x.encode("latin-1")
    except UnicodeEncodeError:
        return None


def status_code(x):
    """The code of a valid status line, or None (the module's check_status)."""
    if not isinstance(x, str):
        return None
    e = latin1(x)
    if e is None or len(e) < 4 or not e[:3].isdigit() or e[0:1] == b"0":
        return None
    if e[3:4] != b" ":  # "200" alone is refused, as mod_wsgi 6 does
        return None
    if any(c < 0x20 or c == 0x7f for c in e) or int(e[:3]) < 200:
        return None
    return int(e[:3])


def headers_ok(h):
    """The module's check_headers: a list of 2-tuples of latin-1 str, a token-like name."""
    if not isinstance(h, list):
        return False
    for item in h:
        if not (isinstance(item, tuple) and len(item) == 2):
            return False
        n, v = item
        if not (isinstance(n, str) and isinstance(v, str)):
            return False
        en, ev = latin1(n), latin1(v)
        if en is None or ev is None or not en:
            return False
        if any(c < 0x21 or c > 0x7e or c == 0x3a for c in en):
            return False
        if any(c in b"\r\n\0" for c in ev):
            return False
    return True


class AppError(Exception):
    pass


def content_length(headers):
    """The last Content-Length of headers: an int, None if there is none, "bad" if one of
    them is not a count (the module's parse_length: 1 to 18 digits)."""
    cl = None
    for name, value in headers:
        if name.lower() == "content-length":
            if not (value.isascii() and value.isdigit() and 0 < len(value) <= 18):
                return "bad"
            cl = int(value)
    return cl


def expect(spec):
    """{code, body, sent, failed, errors}: the status the application set (None if its
    error came first), the body the client gets, whether the headers had gone out, whether
    the response failed (a 500 if they had not; a cut response if they had, or Apache's
    502 if not one byte had; a failing close() alone changes nothing the client sees), and
    the error-log lines it must cause."""
    m = {"code": None, "headers": [], "sent": False, "cl": None, "body": b"", "errors": 0}

    def start(status, headers, exc=False):
        if exc and m["sent"]:
            raise AppError("re-raised")
        if not exc and m["code"] is not None:
            raise AppError("second start_response")
        code = status_code(status)
        if code is None or not headers_ok(headers):
            raise AppError("bad status or headers")
        m["code"], m["headers"] = code, headers

    def headers_out(add_length=None):
        """The headers go to Apache: their Content-Length is read then."""
        cl = content_length(m["headers"])
        if cl == "bad":
            raise AppError("bad Content-Length")
        m["cl"] = cl if cl is not None else add_length
        m["sent"] = True

    def add(x):
        if m["cl"] is not None:
            x = x[:max(0, m["cl"] - len(m["body"]))]
        m["body"] += x

    def send(x, where):
        if not isinstance(x, bytes):
            raise AppError(where)
        if not x:
            return  # the headers go with the first non-empty block (PEP 3333)
        if not m["sent"]:
            headers_out()
        add(x)

    def finish():
        if not m["sent"]:
            headers_out()
        if m["cl"] is not None and len(m["body"]) < m["cl"] and m["code"] not in (204, 304):
            raise AppError("shorter than its Content-Length")

    def run(step):
        if step[0] == "write":
            send(val(step[1]), "write")
        elif step[0] == "raise":
            raise AppError("raise")
        elif step[0] == "exc_info":
            start(val(step[1]), val(step[2]), exc=True)

    close = spec["close"]
    body = spec["body"]
    kind = body[0]
    failed = False
    try:
        start(val(spec["status"]), val(spec["headers"]))
        for step in spec["pre"]:
            run(step)
    except AppError:
        failed = True
        close = None  # nothing was returned: nothing to close
    if not failed:
        try:
            if kind in ("none", "int"):
                close = None  # returned as it is, without a close()
                raise AppError("not iterable")
            if kind in ("list", "tuple") and close is None:
                # a list or tuple is checked whole before anything is sent
                items = [val(x) for x in body[1]]
                if any(not isinstance(x, bytes) for x in items):
                    raise AppError("item")
                if items and not m["sent"]:
                    headers_out()
                for x in items:
                    send(x, "item")
                finish()
            elif kind in ("list", "tuple"):
                for x in body[1]:
                    send(val(x), "item")
                finish()
            elif kind == "gen":
                for step in body[1]:
                    if step[0] == "yield":
                        send(val(step[1]), "yield")
                    else:
                        run(step)
                finish()
            else:
                fkind, size, blksize = body[1:]
                if fkind == "closed":
                    raise AppError("closed file")
                data = content(size)
                if fkind in ("regular", "shrink") and not m["sent"]:
                    # sent as a file: its size is the Content-Length unless the app gave one
                    headers_out(add_length=size)
                    add(data)
                else:
                    data = data[:60000] if fkind == "pipe" else data
                    for i in range(0, len(data), blksize):
                        send(data[i:i + blksize], "file")
                    finish()
        except AppError:
            failed = True
        if kind == "file" and body[1] == "bytesio":
            close = None  # BytesIO's close does not raise
    m["failed"] = failed
    m["errors"] = int(failed) + int(close == "raise")
    return m


# What the fuzzing found, always tried: a final 1xx status was sent (the body after it then
# read as the next response); in daemon mode a close() that raised after a complete
# file_wrapper response sent a second END frame, read as the next request's answer.
FOUND = [
    {"status": s("100 "), "headers": ["l", []], "pre": [], "body": ["list", [b("hi")]],
     "close": None},
    {"status": s("200 OK"), "headers": ["l", []], "pre": [],
     "body": ["file", "regular", 5000, 100], "close": "raise"},
]

# ---- serving ----------------------------------------------------------------------------------

CONFIGS = {
    "embedded": ("prefork", PREFORK_ONE, """
        WSGIScriptAlias /fuzz @ROOT@/fuzz.wsgi
    """),
    "daemon": ("prefork", PREFORK_ONE, """
        WSGIDaemonProcess fz processes=1 threads=1 display-name=%{GROUP}
        WSGIProcessGroup fz
        WSGIScriptAlias /fuzz @ROOT@/fuzz.wsgi
    """),
}

HEADLINE = re.compile(r"WSGI017[45]: |is shorter than its Content-Length")
CRASH = re.compile(r"exit signal|Segmentation fault|Fatal Python error|AddressSanitizer|"
                   r"runtime error:|core dumped|died while handling")


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def served(request, module_apache):
    mpm, mpm_config, config = CONFIGS[request.param]
    a = module_apache(config, mpm=mpm, mpm_config=mpm_config, modules=["alias"],
                      log_level="warn", start=False)
    make_out(a)
    with open(APP) as f:
        a.write("fuzz.wsgi", f.read())
    a.start()
    return request.param, a


def post(a, spec, timeout=30):
    """(status, headers, body, complete) of one request; status None if the connection
    ended before a status line."""
    data = json.dumps(spec).encode()
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=timeout)
    try:
        conn.request("POST", "/fuzz", body=data, headers={"Content-Type": "application/json"})
        try:
            resp = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            return None, [], b"", False
        try:
            body, complete = resp.read(), True
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            body, complete = b"", False
        return resp.status, resp.getheaders(), body, complete
    finally:
        conn.close()


def fds(a):
    """Descriptor count of each process of Apache's session but the parent."""
    out = {}
    for pid in a.session_pids():
        if pid != a.proc.pid:
            try:
                out[pid] = len(os.listdir("/proc/%d/fd" % pid))
            except OSError:
                pass
    return out


def healthy(a):
    status, _, body, complete = post(a, {})
    return (status, body, complete) == (200, b"ok", True)


def check(mode, a, spec):
    m = expect(spec)
    a.mark_log()
    status, headers, body, complete = post(a, spec)
    assert healthy(a), ("the next request failed", a.new_log()[-3000:])
    log = a.new_log()
    assert not CRASH.search(log), log[-5000:]
    heads = [l for l in log.splitlines() if HEADLINE.search(l)]
    shrink = spec["body"][0] == "file" and spec["body"][1] == "shrink"
    if m["failed"] and not m["sent"]:
        # failed before anything went out: a whole 500
        assert (status, complete) == (500, True), (status, body[:300], log[-3000:])
    elif m["failed"] and not m["body"] and mode == "embedded":
        # failed after the headers went to Apache but before any byte went out: Apache
        # answers the cut (an error bucket before the headers) with a whole 502
        assert (status, complete) == (502, True), (status, body[:300], log[-3000:])
    elif m["failed"] and not m["body"]:
        # the hop passes the headers before the cut: the app's status, no body, cut
        assert (status, body, complete) == (m["code"], b"", False), (status, log[-3000:])
    elif m["failed"]:
        # failed after the headers: the app's status, then a cut body (or nothing at all)
        if status is not None:
            assert status == m["code"], (status, m, log[-3000:])
            if m["cl"] is not None and len(m["body"]) == m["cl"]:
                # all the declared bytes had gone: the client cannot tell, nor need to
                assert (complete, body) == (True, m["body"]), (complete, len(body))
            else:
                assert not complete, (status, len(body), log[-3000:])
                assert m["body"].startswith(body), (len(body), len(m["body"]))
    elif shrink:
        # truncated under Apache's feet: what it reads past the new end depends on when
        # (a short body, or the zeros of a mapped page); the part that stays is intact. If
        # the core found the file short before its first write (headers and file data go out
        # in one writev), the connection closes with nothing sent: 4 of 240 tries in daemon
        # mode with the truncation 0-2 ms after the app returned.
        if status is None:
            assert (body, complete) == (b"", False)
        else:
            assert status == m["code"], (status, log[-3000:])
            keep = min(len(body), spec["body"][2] // 3)
            assert len(body) <= len(m["body"]) and body[:keep] == m["body"][:keep], len(body)
    else:
        assert (status, complete) == (m["code"], True), (status, m["code"], log[-3000:])
        want = b"" if m["code"] in (204, 304) else m["body"]
        assert body == want, (len(body), len(want), body[:100])
    if not shrink:
        assert len(heads) == m["errors"], (m["errors"], heads, log[-3000:])


def test_fuzz_misbehaving_applications(served):
    mode, a = served
    assert healthy(a)
    for _ in range(5):
        post(a, {"status": s("200 OK"), "headers": ["l", []], "pre": [],
                 "body": ["file", "pipe", 10, 4], "close": "raise"})
    time.sleep(0.2)
    before = fds(a)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(SPEC)
    @example(FOUND[0])
    @example(FOUND[1])
    def run(spec):
        check(mode, a, spec)
        ran.append(spec)

    ran = []
    run()
    print("%s: %d examples" % (mode, len(ran)))
    deadline = time.time() + 5  # a closing client connection may still be counted
    while True:
        after = fds(a)
        if all(after.get(p, 0) <= before[p] for p in before) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert set(after) == set(before), (before, after)  # no process replaced
    assert all(after[p] <= before[p] for p in before), (before, after)
    assert not CRASH.search(a.error_log())
