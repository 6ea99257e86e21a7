"""pyhost-express (tools/pyhost-express): serving an application with one command, static
files, reloading, --setup-only, the errors a newcomer hits, and stopping with nothing left
behind. Reference: mod_wsgi6-behaviour.md section 8 and issue 6.

Each test runs the launcher as a user would, in its own session, against a free port; the
application and the server root live in directories under /tmp (mode 0755) so that the
account the application runs as (www-data when the suite runs as root) can read them.
"""
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time

import pytest

from harness import APACHE, MODULE, REPO, RUN_USER, apache_env, free_port

LAUNCHER = os.path.join(REPO, "tools", "pyhost-express")
PYTHON = "/usr/bin/python3"
IS_ROOT = os.geteuid() == 0
USER_ARGS = ["--user", RUN_USER, "--group", RUN_USER] if IS_ROOT else []

APP = """
import json, os
import mod_wsgi

def application(environ, start_response):
    body = json.dumps({
        'version': VERSION,
        'pid': os.getpid(),
        'process_group': mod_wsgi.process_group,
        'multiprocess': environ['wsgi.multiprocess'],
        'multithread': environ['wsgi.multithread'],
        'path': environ.get('PATH_INFO'),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""


def app_source(version=1):
    return textwrap.dedent(APP).replace("VERSION", repr(version))


def public_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    os.chmod(path, mode)
    return path


def launcher_env():
    env = apache_env()
    env["PYHOST_MODULE"] = MODULE
    return env


def run_launcher(args, cwd=None, env=None, timeout=60):
    return subprocess.run([PYTHON, LAUNCHER] + list(args), cwd=cwd, env=env or launcher_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          start_new_session=True)


def sessions_processes(sids, needles):
    """(pid, cmdline) of live processes in one of sids or whose cmdline has a needle."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        pid = int(d)
        try:
            sid = os.getsid(pid)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if sid in sids or any(n in cmd for n in needles):
            found.append((pid, cmd))
    return found


class Express:
    """One pyhost-express start-server run."""

    def __init__(self, app_dir, args, cwd=None):
        self.app_dir = app_dir
        self.root = public_dir("pyhost-express-root-")
        self.port = free_port()
        self.args = ["start-server"] + list(args) + [
            "--host", "127.0.0.1", "--port", str(self.port), "--server-root", self.root
        ] + USER_ARGS
        self.out_path = os.path.join(self.root, "launcher.out")
        self.cwd = cwd or app_dir
        self.proc = None
        self.apache_pid = None

    def start(self, timeout=20):
        out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([PYTHON, LAUNCHER] + self.args, cwd=self.cwd,
                                     env=launcher_env(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pyhost-express exited with %s:\n%s\n%s" % (
                    self.proc.returncode, self.output(), self.error_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("nothing listened on %d:\n%s\n%s" % (
                self.port, self.output(), self.error_log()))
        # Apache writes its pid file a moment after it starts listening.
        deadline = time.time() + 10
        while self.apache_pid is None and time.time() < deadline:
            try:
                with open(os.path.join(self.root, "httpd.pid")) as f:
                    self.apache_pid = int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        return self

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def error_log(self):
        try:
            with open(os.path.join(self.root, "error_log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def get(self, path="/", timeout=15):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            conn.close()

    def get_json(self, path="/"):
        status, _headers, body = self.get(path)
        assert status == 200, (status, body, self.error_log())
        return json.loads(body)

    def terminate(self, timeout=30, sig=signal.SIGTERM):
        """A signal (SIGTERM, or SIGINT as Ctrl-C sends) to the launcher; returns its exit
        status."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                pass
        for pgid in (self.proc.pid if self.proc else None, self.apache_pid):
            if pgid:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def app_dir():
    d = public_dir("pyhost-express-app-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def express():
    """express(app_dir, args, cwd=None) -> a started pyhost-express; stopped afterwards."""
    made = []

    def make(app_dir, args, cwd=None):
        e = Express(app_dir, args, cwd)
        made.append(e)
        return e.start()

    yield make
    for e in made:
        e.cleanup()


# ---- serving -----------------------------------------------------------------------------

def test_serves_a_script_in_daemon_mode(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script])
    data = e.get_json("/some/path")
    assert data["process_group"] == "localhost:%d" % e.port
    assert data["path"] == "/some/path"
    # Without --processes there is one process and wsgi.multiprocess is False, as in
    # mod_wsgi-express; five threads by default.
    assert data["multiprocess"] is False
    assert data["multithread"] is True
    assert "http://127.0.0.1:%d/" % e.port in e.output()
    conf = open(os.path.join(e.root, "httpd.conf")).read()
    assert "WSGIRestrictEmbedded On" in conf
    assert "processes=" not in conf


def test_processes_option_makes_multiprocess_true(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--processes", "2", "--threads", "3"])
    data = e.get_json()
    assert data["multiprocess"] is True
    assert data["process_group"] == "localhost:%d" % e.port
    assert "processes=2" in open(os.path.join(e.root, "httpd.conf")).read()


def test_embedded_mode_serves_the_app(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--embedded-mode"])
    data = e.get_json()
    assert data["process_group"] == ""
    assert "WSGIDaemonProcess" not in open(os.path.join(e.root, "httpd.conf")).read()


def test_application_type_module(app_dir, express):
    write(os.path.join(app_dir, "mysite", "__init__.py"), "")
    write(os.path.join(app_dir, "mysite", "web.py"), """
        import os
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [('module app in %s' % os.getcwd()).encode()]
        """)
    # The working directory (the default home= and sys.path entry) is the current directory.
    e = express(app_dir, ["--application-type", "module", "mysite.web"], cwd=app_dir)
    status, _h, body = e.get()
    assert status == 200, e.error_log()
    assert body == ("module app in %s" % app_dir).encode()


def test_url_alias_and_document_root_are_served_by_apache(app_dir, express):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    write(os.path.join(app_dir, "assets", "hello.txt"), "static hello\n")
    write(os.path.join(app_dir, "assets", "style.css"), "body {}\n")
    write(os.path.join(app_dir, "docs", "page.html"), "<p>page</p>\n")
    e = express(app_dir, [script, "--url-alias", "/static", os.path.join(app_dir, "assets"),
                          "--url-alias", "/robots.txt", os.path.join(app_dir, "assets",
                                                                     "hello.txt"),
                          "--document-root", os.path.join(app_dir, "docs")])
    status, headers, body = e.get("/static/hello.txt")
    assert (status, body) == (200, b"static hello\n")
    assert headers["content-type"].startswith("text/plain")
    status, headers, body = e.get("/static/style.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert e.get("/robots.txt")[2] == b"static hello\n"
    assert e.get("/static/missing.txt")[0] == 404  # Apache's, not the application's
    status, _h, body = e.get("/page.html")
    assert (status, body) == (200, b"<p>page</p>\n")
    # Everything else still reaches the application.
    assert e.get_json("/other")["path"] == "/other"


MODES = pytest.mark.parametrize("mode", [[], ["--embedded-mode"]], ids=["daemon", "embedded"])


@MODES
def test_reload_on_changes_picks_up_an_edit(app_dir, express, mode):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source(1))
    e = express(app_dir, [script, "--reload-on-changes"] + mode)
    first = e.get_json()
    assert first["version"] == 1
    time.sleep(0.05)
    write(script, app_source(2))
    deadline = time.time() + 15
    data = first
    while time.time() < deadline:
        data = e.get_json()
        if data["version"] == 2:
            break
        time.sleep(0.2)
    assert data["version"] == 2, e.error_log()
    if not mode:
        assert data["pid"] != first["pid"]  # the daemon process was restarted
        assert data["process_group"] == "localhost:%d" % e.port
    else:
        assert data["process_group"] == ""


@MODES
def test_reload_on_changes_sees_an_imported_module(app_dir, express, mode):
    write(os.path.join(app_dir, "helper.py"), "VALUE = 'one'\n")
    script = write(os.path.join(app_dir, "app.wsgi"), """
        import sys, os
        sys.path.insert(0, os.path.dirname(__file__))
        import helper
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [helper.VALUE.encode()]
        """)
    e = express(app_dir, [script, "--reload-on-changes"] + mode)
    assert e.get()[2] == b"one"
    write(os.path.join(app_dir, "helper.py"), "VALUE = 'two'\n")
    deadline = time.time() + 15
    while time.time() < deadline and e.get()[2] != b"two":
        time.sleep(0.2)
    assert e.get()[2] == b"two", e.error_log()


# ---- stopping ----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stop_leaves_no_process_and_no_socket(app_dir, express, sig):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    e = express(app_dir, [script, "--processes", "2"])
    assert e.get_json()["process_group"] == "localhost:%d" % e.port
    assert e.apache_pid
    assert glob.glob(os.path.join(e.root, "wsgi.*.sock"))
    started = time.time()
    assert e.terminate(sig=sig) == 0
    assert time.time() - started < 15
    needles = [e.root, "(wsgi:localhost:%d:" % e.port]
    deadline = time.time() + 5
    left = sessions_processes({e.proc.pid, e.apache_pid}, needles)
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = sessions_processes({e.proc.pid, e.apache_pid}, needles)
    assert left == []
    assert glob.glob(os.path.join(e.root, "wsgi.*.sock")) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", e.port), timeout=1).close()


# ---- --setup-only ------------------------------------------------------------------------

def test_setup_only_writes_a_valid_config_and_apachectl(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    root = public_dir("pyhost-express-root-")
    port = free_port()
    try:
        p = run_launcher(["start-server", script, "--setup-only", "--host", "127.0.0.1",
                          "--port", str(port), "--server-root", root,
                          "--url-alias", "/static", app_dir] + USER_ARGS)
        assert p.returncode == 0, p.stderr
        conf = os.path.join(root, "httpd.conf")
        ctl = os.path.join(root, "apachectl")
        assert os.path.isfile(conf)
        assert os.stat(ctl).st_mode & stat.S_IXUSR
        assert not os.path.exists(os.path.join(root, "httpd.pid"))  # nothing started
        t = subprocess.run([APACHE, "-t", "-f", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=launcher_env())
        assert t.returncode == 0, t.stdout
        t = subprocess.run([ctl, "configtest"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=launcher_env())
        assert t.returncode == 0, t.stdout
        # setup-server is the same thing.
        p = run_launcher(["setup-server", script, "--port", str(port), "--server-root", root]
                         + USER_ARGS)
        assert p.returncode == 0, p.stderr
        # The apachectl script starts and stops that configuration.
        subprocess.run([ctl, "start"], timeout=60, check=True, env=launcher_env())
        try:
            deadline = time.time() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.time() < deadline
                    time.sleep(0.05)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
        finally:
            subprocess.run([ctl, "stop"], timeout=60, env=launcher_env())
            # apachectl stop only signals Apache; it takes a moment to exit.
            deadline = time.time() + 15
            while sessions_processes(set(), [root]) and time.time() < deadline:
                time.sleep(0.1)
        assert sessions_processes(set(), [root]) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_module_config_and_location():
    p = run_launcher(["module-config"])
    assert p.returncode == 0
    assert p.stdout.decode().splitlines()[0] == 'LoadModule wsgi_module "%s"' % MODULE
    p = run_launcher(["module-location"])
    assert p.stdout.decode().strip() == MODULE


# ---- newcomer errors ---------------------------------------------------------------------

def assert_plain_error(p, *words):
    err = p.stderr.decode()
    assert p.returncode == 1, (p.returncode, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyhost-express: ")
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_error_port_in_use(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_launcher(["start-server", script, "--host", "127.0.0.1", "--port", str(port)]
                         + USER_ARGS)
    assert_plain_error(p, str(port), "already in use")


def test_error_missing_script(app_dir):
    missing = os.path.join(app_dir, "nope.wsgi")
    p = run_launcher(["start-server", missing, "--port", str(free_port())] + USER_ARGS)
    assert_plain_error(p, missing, "does not exist")


def test_error_script_without_application(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), """
        def app(environ, start_response):
            pass
        """)
    p = run_launcher(["start-server", script, "--port", str(free_port())] + USER_ARGS)
    assert_plain_error(p, script, "'application'")


def test_error_script_with_syntax_error(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), "def application(:\n")
    p = run_launcher(["start-server", script, "--port", str(free_port())] + USER_ARGS)
    assert_plain_error(p, script, "not valid Python", "line 1")


def test_error_application_module_not_found(app_dir):
    p = run_launcher(["start-server", "--application-type", "module", "no_such_pkg.web",
                      "--port", str(free_port())] + USER_ARGS, cwd=app_dir)
    assert_plain_error(p, "no_such_pkg.web", "cannot be found")


def test_error_apache_module_not_found(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    p = run_launcher(["start-server", script, "--module-path", "/nonexistent/mod_pyhost.so"]
                     + USER_ARGS)
    assert_plain_error(p, "/nonexistent/mod_pyhost.so", "not found")
    env = launcher_env()
    env["PYHOST_MODULE"] = "/nonexistent/mod_pyhost.so"
    p = run_launcher(["module-config"], env=env)
    assert_plain_error(p, "PYHOST_MODULE", "not found")


def test_error_apache_not_found(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    p = run_launcher(["start-server", script, "--httpd-executable", "/nonexistent/apache2"]
                     + USER_ARGS)
    assert_plain_error(p, "Apache httpd was not found")


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_error_root_without_user(app_dir):
    script = write(os.path.join(app_dir, "app.wsgi"), app_source())
    p = run_launcher(["start-server", script, "--port", str(free_port())])
    assert_plain_error(p, "as root", "--user")


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_error_script_not_readable_by_the_run_user(app_dir):
    private = os.path.join(app_dir, "private")
    script = write(os.path.join(private, "app.wsgi"), app_source())
    os.chmod(private, 0o700)
    p = run_launcher(["start-server", script, "--port", str(free_port())] + USER_ARGS)
    assert_plain_error(p, RUN_USER, private, "not accessible")
