"""A real Apache per scenario: config generation, start, stop, HTTP, logs.

Everything Apache serves lives in its own temporary server root under /tmp (mode 0755),
so that Apache's children, which run as www-data, can read it wherever the checkout is.
"""
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("PYHOST_MODULE", os.path.join(REPO, "mod_pyhost.so"))
MODULES_DIR = "/usr/lib/apache2/modules"
APACHE = os.environ.get("APACHE_BIN", "/usr/sbin/apache2")
RUN_USER = "www-data"
# Time limits of timing tests are multiplied by this: `make test-asan` sets it, as a
# sanitized module starts (and a daemon with Python in it) several times slower.
TIME_FACTOR = float(os.environ.get("PYHOST_TIME_FACTOR", "1"))


# prefork with exactly one child: every request of a test is served by the same process
PREFORK_ONE = """
StartServers 1
ServerLimit 1
MaxRequestWorkers 1
MinSpareServers 1
MaxSpareServers 1
"""

# One event-MPM child of 8 threads: embedded mode's state (loaded scripts, events) is one
# process's.
EVENT_ONE = """
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 16
"""


def apache_env():
    """The environment Apache is started with: this one plus the NAME=VALUE words of
    PYHOST_APACHE_ENV (how `make test-asan` gives Apache, and only Apache, the sanitizer
    runtime and its options)."""
    env = dict(os.environ)
    for word in os.environ.get("PYHOST_APACHE_ENV", "").split():
        name, _, value = word.partition("=")
        env[name] = value
    return env


def wait_for(predicate, timeout=15, step=0.05):
    """Calls predicate until it returns something true or timeout seconds have passed;
    returns its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, reason, headers, body, error=None):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.error = error  # the exception that ended reading the body, if any

    @property
    def text(self):
        return self.body.decode("latin-1")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<Response %s %r%s>" % (self.status, self.body[:200],
                                       " error=%r" % self.error if self.error else "")


class Apache:
    """One Apache instance with a generated configuration."""

    def __init__(self, config="", mpm="event", modules=(), log_level="info",
                 timeout=20, mpm_config=None, module=MODULE):
        self.root = tempfile.mkdtemp(prefix="pyhost-", dir="/tmp")
        os.chmod(self.root, 0o755)
        os.mkdir(os.path.join(self.root, "htdocs"))
        os.chmod(os.path.join(self.root, "htdocs"), 0o755)
        self.port = free_port()
        self.mpm = mpm
        self.modules = list(modules)
        self.log_level = log_level
        self.timeout = timeout
        self.mpm_config = mpm_config
        self.module = module
        self.config = config
        self.proc = None
        self.log_offset = 0

    # -- files -------------------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.root, name)

    def write(self, name, content, mode=0o644):
        """Writes a file under the server root; text is dedented."""
        path = self.path(name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        data = content if isinstance(content, bytes) else textwrap.dedent(content).encode()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def conf_text(self):
        root = self.root
        lines = [
            "ServerRoot %s" % root,
            "PidFile %s/httpd.pid" % root,
            "ErrorLog %s/error.log" % root,
            "LogLevel %s" % self.log_level,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName localhost",
            "DefaultRuntimeDir %s" % root,
            "Timeout %d" % self.timeout,
            "LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODULES_DIR, self.mpm),
            "LoadModule authz_core_module %s/mod_authz_core.so" % MODULES_DIR,
        ]
        if os.geteuid() == 0:
            lines += ["User %s" % RUN_USER, "Group %s" % RUN_USER]
        for m in self.modules:
            lines.append("LoadModule %s_module %s/mod_%s.so" % (m, MODULES_DIR, m))
        if self.module:
            lines.append("LoadModule wsgi_module %s" % self.module)
        lines += [
            "DocumentRoot %s/htdocs" % root,
            "<Directory %s>" % root,
            "    Require all granted",
            "</Directory>",
        ]
        if self.mpm_config is not None:
            lines.append(textwrap.dedent(self.mpm_config))
        lines.append(textwrap.dedent(self.config).replace("@ROOT@", root))
        return "\n".join(lines) + "\n"

    def write_conf(self):
        return self.write("httpd.conf", self.conf_text())

    # -- life --------------------------------------------------------------------------
    def configtest(self):
        """Runs apache2 -t; returns (returncode, output)."""
        conf = self.write_conf()
        p = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True, text=True,
                           timeout=60, start_new_session=True, env=apache_env())
        return p.returncode, p.stdout + p.stderr

    def start(self, wait=True):
        conf = self.write_conf()
        out = open(self.path("stdout.log"), "wb")
        self.proc = subprocess.Popen([APACHE, "-f", conf, "-DFOREGROUND"], stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=apache_env())
        out.close()
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Apache exited with %s:\n%s\n%s" % (
                    self.proc.returncode, self.read(self.path("stdout.log")), self.error_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("Apache did not listen on %d:\n%s" % (self.port, self.error_log()))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def graceful(self, wait=True):
        """apachectl graceful: SIGUSR1 to the parent."""
        self.signal(signal.SIGUSR1)

    def stop(self, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.reap_group()

    def reap_group(self):
        """Kills anything left in Apache's session (there should be nothing)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- processes ---------------------------------------------------------------------
    def session_pids(self):
        """Pids of the processes in Apache's session (parent, children, daemons)."""
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.getsid(int(d)) == self.proc.pid:
                        pids.append(int(d))
                except OSError:
                    pass
        return pids

    def cmdline(self, pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()

    # -- HTTP --------------------------------------------------------------------------
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, path, method="GET", body=None, headers=None, timeout=30,
                chunked=False):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {},
                         encode_chunked=chunked)
            resp = conn.getresponse()
            error = None
            try:
                data = resp.read()
            except http.client.IncompleteRead as e:
                data, error = e.partial, e
            except (ConnectionError, http.client.HTTPException) as e:
                data, error = b"", e
            return Response(resp.status, resp.reason, resp.getheaders(), data, error)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request(path, **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes, returns everything read until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)

    # -- logs --------------------------------------------------------------------------
    @staticmethod
    def read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def error_log(self):
        return self.read(self.path("error.log"))

    def mark_log(self):
        """Later log checks see only what comes after this point."""
        self.log_offset = len(self.error_log())

    def new_log(self):
        return self.error_log()[self.log_offset:]

    def wait_log(self, pattern, timeout=10):
        """Waits for a line matching pattern after the mark; returns the match."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.new_log())
            if m or time.time() > deadline:
                return m
            time.sleep(0.05)

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.new_log().splitlines() if rx.search(l)]


def run_user_uid():
    return pwd.getpwnam(RUN_USER).pw_uid


def make_out(a):
    """out/: a directory the daemons (www-data) can write their markers into."""
    os.makedirs(a.path("out"), exist_ok=True)
    os.chmod(a.path("out"), 0o777)


def alive(pid):
    """Whether pid runs (and is not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_process(pid, timeout=10):
    """SIGSTOP pid and wait until every one of its threads has stopped. kill() returns with the
    signal only queued: one thread is woken to start the group stop, and until the scheduler
    runs it (a loaded machine may take a while), the other threads go on, e.g. a daemon's
    worker accepting a connection and taking a request."""
    os.kill(pid, signal.SIGSTOP)

    def states():
        found = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    found.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass  # a thread that has just ended
        return found

    assert wait_for(lambda: all(s in "tT" for s in states()), timeout), states()


def group_pids(a, name):
    """The live processes of daemon group name (display-name=%{GROUP}) of Apache a."""
    pids = []
    for pid in a.session_pids():
        try:
            if a.cmdline(pid) == "(wsgi:%s)" % name and alive(pid):
                pids.append(pid)
        except OSError:
            pass
    return sorted(pids)


def require_module(name):
    """Skip the test unless this Python (the one the module is built for) imports name.

    Unlike pytest.importorskip, any ImportError counts: on a free-threaded Python, Debian's
    numpy is on the path but its extensions are built for the GIL ABI and do not load.
    """
    import importlib
    import pytest
    try:
        importlib.import_module(name)
    except ImportError as e:
        pytest.skip("%s cannot be imported by this Python: %s" % (name, e))


def slow_request(a, path, method="GET", headers="", body=b""):
    """A client with a 4 KB receive buffer that sends its request and reads nothing yet."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", a.port))
    s.sendall(("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n" % (
        method, path, headers)).encode() + body)
    return s


def read_response(s):
    """Status line, headers (raw) and body of a Connection: close response, read to the end."""
    chunks = []
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        chunks.append(d)
    s.close()
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body
