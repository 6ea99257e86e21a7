"""The one application the fuzz tests serve: it misbehaves as the request's JSON spec says.

A spec (see tests/test_fuzz_apps.py for the generator and the model of what the module must
answer) is the request body:

    {"status": V, "headers": V, "pre": [STEP...], "body": BODY, "close": null|"ok"|"raise"}

V encodes a Python value of any type: ["s", text] str, ["b", text] bytes (latin-1),
["big", unit, count] the str unit * count, ["bigb", unit, count] the same bytes, ["i", n] int, ["n"] None, ["f", x] float,
["l", [V...]] list, ["t", [V...]] tuple, ["d", [[V, V]...]] dict.
STEP: ["write", V] calls write(); ["raise"] raises ValueError; ["exc_info", V, V] raises
and catches an exception, then calls start_response(V, V, sys.exc_info()); in "body" of kind
"gen" also ["yield", V].
BODY: ["list", [V...]], ["tuple", [V...]], ["gen", [STEP...]], ["none"], ["int"],
["file", kind, size, blksize] with kind regular, pipe, closed, shrink or bytesio.
An empty spec ({}) is the health check: 200 "ok".
"""
import io
import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(__file__)


def val(v):
    t = v[0]
    if t == "s":
        return v[1]
    if t == "b":
        return v[1].encode("latin-1")
    if t == "big":
        return v[1] * v[2]
    if t == "bigb":
        return v[1].encode() * v[2]
    if t == "i":
        return v[1]
    if t == "n":
        return None
    if t == "f":
        return v[1]
    if t == "l":
        return [val(x) for x in v[1]]
    if t == "t":
        return tuple(val(x) for x in v[1])
    if t == "d":
        return {val(k): val(x) for k, x in v[1]}
    raise AssertionError("bad value %r" % (v,))


class Boom(Exception):
    pass


def content(size):
    return bytes((i * 7 + 3) % 251 for i in range(size))


class Body:
    """An iterable with a close() that works or raises."""

    def __init__(self, inner, close):
        self.inner = inner
        self.how = close

    def __iter__(self):
        return iter(self.inner)

    def close(self):
        if hasattr(self.inner, "close"):
            self.inner.close()
        if self.how == "raise":
            raise Boom("close failed")


class RaisingFile(io.FileIO):
    def close(self):
        super().close()
        raise Boom("close failed")


def make_file(kind, size, close):
    data = content(size)
    if kind == "bytesio":
        f = io.BytesIO(data)
        return f
    if kind == "pipe":
        r, w = os.pipe()
        os.write(w, data[:60000])
        os.close(w)
        return RaisingFile(r, "rb") if close == "raise" else open(r, "rb")
    fd, path = tempfile.mkstemp(dir=os.path.join(HERE, "out"))
    os.write(fd, data)
    os.close(fd)
    f = RaisingFile(path, "rb") if close == "raise" else open(path, "rb", buffering=0)
    wfd = os.open(path, os.O_WRONLY)
    os.unlink(path)
    if kind == "closed":
        f.close() if close != "raise" else io.FileIO.close(f)
    if kind == "shrink":
        def shrink():
            time.sleep(0.002)
            os.ftruncate(wfd, size // 3)
            os.close(wfd)
        threading.Thread(target=shrink, daemon=True).start()
    else:
        os.close(wfd)
    return f


def application(environ, start_response):
    spec = json.loads(environ["wsgi.input"].read() or b"{}")
    if not spec:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    write = start_response(val(spec["status"]), val(spec["headers"]))

    def run(step):
        if step[0] == "write":
            write(val(step[1]))
        elif step[0] == "raise":
            raise ValueError("fuzz raise")
        elif step[0] == "exc_info":
            try:
                raise Boom("replaced")
            except Boom:
                start_response(val(step[1]), val(step[2]), sys.exc_info())

    for step in spec["pre"]:
        run(step)
    body, close = spec["body"], spec["close"]
    if body[0] in ("list", "tuple"):
        items = [val(x) for x in body[1]]
        inner = items if body[0] == "list" else tuple(items)
    elif body[0] == "gen":
        def gen():
            for step in body[1]:
                if step[0] == "yield":
                    yield val(step[1])
                else:
                    run(step)
        inner = gen()
    elif body[0] == "none":
        inner = None
    elif body[0] == "int":
        inner = 7
    else:
        _, kind, size, blksize = body
        f = make_file(kind, size, close)
        return environ["wsgi.file_wrapper"](f, blksize)
    if close is None or body[0] in ("none", "int"):
        return inner
    return Body(inner, close)
