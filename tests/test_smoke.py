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
