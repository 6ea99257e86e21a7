"""pyhost-express's mod_wsgi-express options at work (issue 17): HTTPS with a self-signed
certificate and HTTP/2, --https-only redirects, log rotation, --proxy-mount-point, service
scripts, --server-status, --compress-responses, and a Django project served by
manage.py runpyhost with its static files.

Each test runs the launcher as a user would (test_express.Express), against free ports.
"""
import glob
import gzip
import http.client
import http.server
import json
import os
import pwd
import shutil
import ssl
import subprocess
import threading
import time

import pytest

from harness import REPO, free_port, wait_for
from test_express import (IS_ROOT, PYTHON, RUN_USER, USER_ARGS, app_source, launcher_env,
                          public_dir, write)
from test_express import app_dir, express  # noqa: F401 (the fixtures)

TEXT_APP = """
import json, sys
def application(environ, start_response):
    if environ['PATH_INFO'] == '/environ':
        keys = ('wsgi.url_scheme', 'HTTPS', 'SSL_PROTOCOL', 'SERVER_PORT')
        body = json.dumps({k: environ.get(k) for k in keys}).encode()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [body]
    if environ['PATH_INFO'] == '/noise':
        line = 'x' * 7000
        for _ in range(int(environ.get('QUERY_STRING') or 1)):
            environ['wsgi.errors'].write('noise %s\\n' % line)
        environ['wsgi.errors'].flush()
    body = ('hello from the application ' * 200).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""


def self_signed(directory):
    base = os.path.join(directory, "localhost")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", base + ".key", "-out", base + ".crt"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return base


def curl(*args):
    """(HTTP version, status, body) as curl saw them."""
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_version} %{http_code}"]
                       + list(args), stdout=subprocess.PIPE, timeout=30)
    body, _nl, tail = p.stdout.rpartition(b"\n")
    version, code = tail.decode().split()
    return version, int(code), body


def get_with_host(port, path, host, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers=dict(headers or {}, Host=host))
        resp = conn.getresponse()
        return resp.status, resp.getheader("Location"), resp.read()
    finally:
        conn.close()


# ---- TLS and HTTP/2 ----------------------------------------------------------------------

def test_https_with_a_self_signed_certificate_and_http2(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), TEXT_APP)
    cert = self_signed(app_dir)
    https = free_port()
    e = express(app_dir, [script, "--https-port", str(https), "--ssl-certificate", cert,
                          "--http2", "--ssl-environment"])
    where = ["--cacert", cert + ".crt", "--resolve", "localhost:%d:127.0.0.1" % https]
    version, status, body = curl("--http2", *where, "https://localhost:%d/environ" % https)
    assert (version, status) == ("2", 200), e.error_log()
    env = json.loads(body)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] is None  # as mod_wsgi: it only decides wsgi.url_scheme
    assert env["SSL_PROTOCOL"].startswith("TLSv1")  # --ssl-environment
    assert env["SERVER_PORT"] == str(https)
    # HTTP/1.1 still works over TLS, and plain HTTP on --port offers h2c.
    assert curl("--http1.1", *where, "https://localhost:%d/" % https)[:2] == ("1.1", 200)
    version, status, body = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/" % e.port)
    assert (version, status) == ("2", 200)
    assert body.startswith(b"hello from the application")


def test_https_only_redirects_plain_http_and_sends_hsts(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), TEXT_APP)
    cert = self_signed(app_dir)
    https = free_port()
    e = express(app_dir, [script, "--https-port", str(https), "--ssl-certificate", cert,
                          "--https-only", "--hsts-policy", "max-age=600"])
    status, headers, _body = e.get("/some/path?x=1")
    assert status == 301
    assert headers["location"] == "https://127.0.0.1:%d/some/path?x=1" % https
    assert "strict-transport-security" not in headers  # only ever sent over HTTPS
    ctx = ssl.create_default_context(cafile=cert + ".crt")
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", https, context=ctx, timeout=15)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read().startswith(b"hello")
    assert resp.getheader("Strict-Transport-Security") == "max-age=600"
    conn.close()


def test_client_certificates_required_with_a_ca_file(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), """
        import json
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'application/json')])
            return [json.dumps(environ.get('SSL_CLIENT_S_DN_CN')).encode()]
        """)
    cert = self_signed(app_dir)
    client = os.path.join(app_dir, "client")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=alice",
                    "-keyout", client + ".key", "-out", client + ".csr"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    subprocess.run(["openssl", "x509", "-req", "-in", client + ".csr", "-CA", cert + ".crt",
                    "-CAkey", cert + ".key", "-CAcreateserial", "-days", "2",
                    "-out", client + ".crt"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    https = free_port()
    express(app_dir, [script, "--https-port", str(https), "--ssl-certificate", cert,
                      "--ssl-ca-certificate-file", cert + ".crt", "--ssl-environment"])
    where = ["--cacert", cert + ".crt", "--resolve", "localhost:%d:127.0.0.1" % https,
             "https://localhost:%d/" % https]
    assert curl(*where)[1] != 200  # no client certificate: the handshake is refused
    version, status, body = curl("--cert", client + ".crt", "--key", client + ".key", *where)
    assert status == 200 and json.loads(body) == "alice"


# ---- logs --------------------------------------------------------------------------------

def test_rotate_logs_starts_a_new_file_past_max_log_size(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), TEXT_APP)
    e = express(app_dir, [script, "--rotate-logs", "--max-log-size", "1", "--access-log"])
    pattern = os.path.join(e.root, "error_log.*")
    assert e.get("/noise?160")[0] == 200  # about 1.1 MB of error log
    assert wait_for(lambda: sum(os.path.getsize(f) for f in glob.glob(pattern)) > 1 << 20)
    # rotatelogs names files by the second: the next write, a second later, opens a new one.
    time.sleep(1.1)
    assert e.get("/noise?1")[0] == 200
    files = wait_for(lambda: len(glob.glob(pattern)) >= 2 and sorted(glob.glob(pattern)))
    assert files, glob.glob(os.path.join(e.root, "*"))
    assert os.path.getsize(files[0]) > 1 << 20
    with open(files[-1], "rb") as f:
        assert b"noise " in f.read()
    assert glob.glob(os.path.join(e.root, "access_log.*"))
    assert not os.path.exists(os.path.join(e.root, "error_log"))


def test_log_directory_names_and_access_log_format(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    logs = os.path.join(app_dir, "logs")
    e = express(app_dir, [script, "--log-directory", logs, "--access-log",
                          "--access-log-format", "%>s %U", "--access-log-name", "hits.log",
                          "--error-log-name", "problems.log", "--log-level", "info"])
    assert e.get_json("/counted")["path"] == "/counted"
    hits = os.path.join(logs, "hits.log")
    assert wait_for(lambda: os.path.exists(hits) and "200 /counted\n" in open(hits).read())
    assert "resuming normal operations" in open(os.path.join(logs, "problems.log")).read()
    assert not os.path.exists(os.path.join(e.root, "error_log"))


# ---- proxying ----------------------------------------------------------------------------

class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path,
                           "forwarded_host": self.headers.get("X-Forwarded-Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_proxy_mount_point_reaches_a_local_backend(app_dir, express, backend):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--proxy-mount-point", "/backend",
                          "http://127.0.0.1:%d/api/" % backend, "--proxy-virtual-host",
                          "api.example.test", "http://127.0.0.1:%d/vhost" % backend])
    status, _h, body = e.get("/backend/items?id=3")
    assert status == 200, e.error_log()
    data = json.loads(body)
    assert data["path"] == "/api/items?id=3"
    assert data["forwarded_host"] == "127.0.0.1:%d" % e.port
    assert e.get_json("/elsewhere")["path"] == "/elsewhere"  # the application still
    # --proxy-virtual-host: a whole host name goes to the backend.
    status, _l, body = get_with_host(e.port, "/a/b", "api.example.test")
    assert status == 200 and json.loads(body)["path"] == "/vhost/a/b"
    assert json.loads(get_with_host(e.port, "/a/b", "localhost")[2])["path"] == "/a/b"


# ---- service scripts ---------------------------------------------------------------------

def test_service_script_runs_in_its_own_process_with_its_own_log(app_dir, express):
    out = os.path.join(app_dir, "out")
    os.makedirs(out)
    os.chmod(out, 0o777)
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    service = write(os.path.join(app_dir, "ticker.py"), """
        import os, sys, time, mod_wsgi
        sys.stderr.write('ticker started in %%s\\n' %% mod_wsgi.process_group)
        sys.stderr.flush()
        with open(os.path.join(%r, 'ticker'), 'w') as f:
            f.write('%%d %%d %%s' %% (os.getpid(), os.getuid(), mod_wsgi.process_group))
        while True:  # a service runs for as long as the server does
            time.sleep(0.5)
        """ % out)
    e = express(app_dir, [script, "--service-script", "ticker", service,
                          "--service-log-file", "ticker", "ticker.log"])
    marker = os.path.join(out, "ticker")
    assert wait_for(lambda: os.path.exists(marker) and open(marker).read()), e.error_log()
    pid, uid, group = open(marker).read().split()
    assert group == "service:ticker"
    if IS_ROOT:
        assert int(uid) == pwd.getpwnam(RUN_USER).pw_uid
    with open("/proc/%s/cmdline" % pid, "rb") as f:
        assert b"(wsgi:service:ticker)" in f.read()  # still running, under its own name
    log = os.path.join(e.root, "ticker.log")
    assert wait_for(lambda: os.path.exists(log) and "ticker started in service:ticker"
                    in open(log).read())
    assert "ticker started" not in e.error_log()
    assert e.get_json()["process_group"] == "localhost:%d" % e.port


# ---- status and compression --------------------------------------------------------------

def test_server_status_answers_and_server_metrics_reach_the_application(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), """
        import json, os, mod_wsgi
        def application(environ, start_response):
            metrics = mod_wsgi.server_metrics()
            body = json.dumps({'path': environ['PATH_INFO'], 'me': os.getpid(),
                               'pids': [p['pid'] for p in (metrics or {}).get('processes', [])
                                        if p['pid']]}).encode()
            start_response('200 OK', [('Content-Type', 'application/json')])
            return [body]
        """)
    # Embedded mode, so the serving process is in the scoreboard itself (a daemon's view of it:
    # tests/test_supervision.py).
    e = express(app_dir, [script, "--server-status", "--server-metrics", "--embedded-mode"])
    data = e.get_json("/")
    assert data["me"] in data["pids"]  # the serving child, seen in Apache's scoreboard
    status, headers, body = e.get("/server-status?auto")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert "ServerVersion: Apache/2.4" in text and "Total Accesses:" in text
    assert e.get_json("/server-statusx")["path"] == "/server-statusx"


def test_compress_responses_gzips_text_for_clients_that_accept_it(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), TEXT_APP)
    e = express(app_dir, [script, "--compress-responses"])
    expected = ("hello from the application " * 200).encode()
    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=15)
    conn.request("GET", "/", headers={"Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200
    assert resp.getheader("Content-Encoding") == "gzip"
    assert len(body) < len(expected) // 10
    assert gzip.decompress(body) == expected
    status, headers, body = e.get("/")
    assert "content-encoding" not in headers and body == expected


# ---- Django --------------------------------------------------------------------------------

def test_django_project_served_by_manage_py_runpyhost(app_dir):
    subprocess.run([PYTHON, "-m", "django", "startproject", "mysite", app_dir], check=True,
                   timeout=60)
    settings = os.path.join(app_dir, "mysite", "settings.py")
    with open(settings, "a") as f:
        f.write("\nINSTALLED_APPS.append('pyhost_express')\n"
                "STATIC_ROOT = BASE_DIR / 'collected'\n"
                "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n")
    write(os.path.join(app_dir, "mysite", "urls.py"), """
        from django.contrib import admin
        from django.http import HttpResponse
        from django.urls import path

        urlpatterns = [
            path('admin/', admin.site.urls),
            path('hello/', lambda request: HttpResponse('hello from django ' + request.path)),
        ]
        """)
    for dirpath, dirs, names in os.walk(app_dir):
        os.chmod(dirpath, 0o755)
    root = public_dir("pyhost-express-root-")
    port = free_port()
    env = launcher_env()
    env["PYTHONPATH"] = os.path.join(REPO, "tools")
    out = open(os.path.join(root, "runpyhost.out"), "wb")
    proc = subprocess.Popen([PYTHON, "manage.py", "runpyhost", "--host", "127.0.0.1",
                             "--port", str(port), "--server-root", root] + USER_ARGS,
                            cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out.close()
    try:
        def get(path):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                conn.request("GET", path)
                resp = conn.getresponse()
                return resp.status, resp.getheader("Content-Type"), resp.read()
            except OSError:
                return None
        first = wait_for(lambda: proc.poll() is not None or get("/hello/"), timeout=60)
        log = open(os.path.join(root, "runpyhost.out")).read()
        assert first and first is not True, log
        assert first[0] == 200 and first[2] == b"hello from django /hello/", log
        # collectstatic ran, and Apache serves STATIC_ROOT at STATIC_URL.
        collected = os.path.join(app_dir, "collected", "admin", "css", "base.css")
        assert os.path.isfile(collected)
        status, ctype, body = get("/static/admin/css/base.css")
        assert status == 200 and ctype.startswith("text/css")
        assert body == open(collected, "rb").read()
        assert get("/static/admin/css/missing.css")[0] == 404
        assert get("/admin/login/")[0] == 200
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0


# ---- host names, access, static files, environment, debugging ----------------------------

def test_server_name_refuses_other_names_and_redirects_the_bare_domain(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--server-name", "www.example.test", "--server-alias",
                          "*.alt.test"])
    assert get_with_host(e.port, "/", "www.example.test")[0] == 200
    assert get_with_host(e.port, "/", "api.alt.test")[0] == 200
    assert get_with_host(e.port, "/", "elsewhere.test")[0] == 403
    status, location, _b = get_with_host(e.port, "/a?b=1", "example.test")
    assert (status, location) == (301, "http://www.example.test:%d/a?b=1" % e.port)
    e2 = express(app_dir, [script, "--server-name", "www.example.test", "--allow-localhost"])
    assert get_with_host(e2.port, "/", "localhost")[0] == 200  # the client is local


def test_auth_user_and_group_scripts_guard_the_site(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    auth = write(os.path.join(app_dir, "auth.wsgi"), """
        def check_password(environ, user, password):
            if user in ('alice', 'bob'):
                return password == 'secret'
            return None
        def groups_for_user(environ, user):
            return [b'staff'] if user == 'alice' else [b'guests']
        """)
    e = express(app_dir, [script, "--auth-user-script", auth, "--auth-group-script", auth,
                          "--auth-group", "staff"])
    import base64

    def basic(user, password):
        return {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()}
    assert get_with_host(e.port, "/", "localhost")[0] == 401
    assert get_with_host(e.port, "/", "localhost", basic("alice", "wrong"))[0] == 401
    assert get_with_host(e.port, "/", "localhost", basic("bob", "secret"))[0] == 401
    status, _l, body = get_with_host(e.port, "/", "localhost", basic("alice", "secret"))
    assert status == 200 and json.loads(body)["process_group"] == "localhost:%d" % e.port


def test_document_root_index_listing_handlers_cgi_and_error_documents(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    docs = os.path.join(app_dir, "docs")
    write(os.path.join(docs, "with-index", "start.html"), "<p>start</p>\n")
    write(os.path.join(docs, "listed", "a.txt"), "a\n")
    write(os.path.join(docs, "page.res"), "resource source\n")
    write(os.path.join(docs, "oops.html"), "<p>custom 404</p>\n")
    write(os.path.join(docs, "hello.cgi"), "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n"
          "cgi says hi'\n", 0o755)
    res = write(os.path.join(app_dir, "res.wsgi"), """
        def handle_request(environ, start_response):  # WSGIHandlerScript's callable
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [b'handled ' + environ['SCRIPT_FILENAME'].encode()]
        """)
    e = express(app_dir, [script, "--document-root", docs, "--directory-index", "start.html",
                          "--add-handler", ".res", res, "--with-cgi", "--error-document",
                          "404", "/oops.html"])
    status, _h, body = e.get("/with-index/")
    assert (status, body) == (200, b"<p>start</p>\n")
    assert e.get_json("/listed/")["path"] == "/listed/"  # no index: the application's
    assert e.get("/page.res")[2] == ("handled %s" % os.path.join(docs, "page.res")).encode()
    assert e.get("/hello.cgi")[2] == b"cgi says hi"
    assert e.get("/hello.cgi")[0] == 200
    static = express(docs, ["--application-type", "static", docs, "--directory-listing",
                            "--error-document", "404", "/oops.html"])
    status, _h, body = static.get("/listed/")
    assert status == 200 and b'href="a.txt"' in body
    status, _h, body = static.get("/nothing-here")
    assert (status, body) == (404, b"<p>custom 404</p>\n")


def test_envvars_script_passenv_and_process_name(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), """
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [environ.get('PYHOST_GREETING', 'none').encode()]
        """)
    envvars = write(os.path.join(app_dir, "envvars"), "export PYHOST_GREETING=hi-there\n")
    e = express(app_dir, [script, "--envvars-script", envvars, "--passenv", "PYHOST_GREETING",
                          "--process-name", "my-web-parent"])
    assert e.get("/")[2] == b"hi-there"
    with open("/proc/%d/cmdline" % e.apache_pid, "rb") as f:
        assert f.read().split(b"\0")[0] == b"my-web-parent"


def test_debug_mode_serves_from_one_process_and_profiles_requests(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--debug-mode", "--enable-profiler"])
    data = e.get_json("/x")
    assert data["process_group"] == "" and data["path"] == "/x"
    assert data["pid"] == e.apache_pid  # httpd -X: Apache's only process
    assert wait_for(lambda: glob.glob(os.path.join(e.root, "pstats", "request-*.pstats")))


def test_paste_deploy_configuration(app_dir, express):
    write(os.path.join(app_dir, "pasteapp.py"), """
        def factory(global_config, **settings):
            def application(environ, start_response):
                start_response('200 OK', [('Content-Type', 'text/plain')])
                return [('paste says %s' % settings['greeting']).encode()]
            return application
        """)
    ini = write(os.path.join(app_dir, "site.ini"), """
        [app:main]
        use = call:pasteapp:factory
        greeting = hello
        """)
    e = express(app_dir, ["--application-type", "paste", ini, "--python-path", app_dir])
    assert e.get("/")[2] == b"paste says hello"


def test_debug_mode_coverage_report_written_at_stop(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--debug-mode", "--enable-coverage"])
    assert e.get_json()["process_group"] == ""
    assert e.terminate() == 0
    assert wait_for(lambda: os.path.isfile(os.path.join(e.root, "htmlcov", "index.html")))
