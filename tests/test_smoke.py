HELLO = """
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello World!']
"""


def test_embedded_hello(apache):
    a = apache("WSGIScriptAlias /hello @ROOT@/hello.wsgi", files={"hello.wsgi": HELLO})
    r = a.get("/hello")
    assert r.status == 200
    assert r.body == b"Hello World!"
    assert r.header("Content-Type") == "text/plain"


def test_daemon_hello(apache):
    a = apache("""
        WSGIDaemonProcess d threads=2
        WSGIScriptAlias /hello @ROOT@/hello.wsgi process-group=d
    """, files={"hello.wsgi": HELLO})
    r = a.get("/hello")
    assert r.status == 200
    assert r.body == b"Hello World!"


# ---- make test-asan: the sanitizer is really there, and its reports reach the run --------------

OVERLAP = """
import ctypes

def application(environ, start_response):
    buf = ctypes.create_string_buffer(64)
    ctypes.CDLL(None).memcpy(buf, ctypes.byref(buf, 1), 32)  # overlapping: ASan reports it
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'not sanitized']
"""


def test_sanitizer_runtime_loaded_and_reporting(apache):
    import glob
    import os
    import time
    import pytest
    reports = os.environ.get("PYHOST_ASAN_REPORTS")
    if not reports:
        pytest.skip("only under make test-asan")
    a = apache("""
        WSGIDaemonProcess d threads=2
        WSGIScriptAlias /overlap @ROOT@/overlap.wsgi process-group=d
    """, files={"overlap.wsgi": OVERLAP})
    pids = [p for p in a.session_pids() if p != a.proc.pid]
    for pid in [a.proc.pid] + pids:
        with open("/proc/%d/maps" % pid) as f:
            assert "libasan" in f.read(), pid
    r = a.get("/overlap")
    assert r.status == 502  # the daemon stopped at its report
    deadline = time.time() + 10
    while not glob.glob(os.path.join(reports, "report.*")) and time.time() < deadline:
        time.sleep(0.05)
    found = glob.glob(os.path.join(reports, "report.*"))
    texts = []
    for path in found:
        with open(path) as f:
            texts.append(f.read())
        os.unlink(path)  # this test's own report: not a finding of the run
    assert len(found) == 1 and "memcpy-param-overlap" in texts[0], texts
