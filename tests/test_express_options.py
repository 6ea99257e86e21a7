"""pyhost-express takes every option of mod_wsgi-express 6.0.5 (issue 17): each group of them,
with values that make sense, gives a configuration Apache accepts (apache2 -t); --help
documents every one; obsolete ones are refused plainly and aids Debian cannot back say why.
"""
import collections
import os
import re
import shutil
import subprocess

import pytest

from harness import APACHE, MODULE, apache_env, free_port
from test_express import (IS_ROOT, USER_ARGS, app_source, assert_plain_error, public_dir,
                          run_launcher, write)

# mod_wsgi-express 6.0.5's option strings (its options.py), hidden ones included; with -h and
# --help, the 153 of the reference.
MOD_WSGI_EXPRESS_OPTIONS = """
application-type entry-point application-group process-group host port http2 https-port
ssl-port ssl-certificate-file ssl-certificate-key-file ssl-certificate ssl-ca-certificate-file
ssl-verify-client ssl-certificate-chain-file ssl-environment https-only hsts-policy server-name
server-alias allow-localhost processes threads max-clients initial-workers minimum-spare-workers
maximum-spare-workers limit-request-body maximum-requests startup-timeout shutdown-timeout
restart-interval cpu-time-limit graceful-timeout eviction-timeout deadlock-timeout
inactivity-timeout ignore-activity request-timeout interrupt-timeout connect-timeout
socket-timeout proxy-timeout queue-timeout header-timeout header-max-timeout header-min-rate
body-timeout body-max-timeout body-min-rate server-backlog daemon-backlog send-buffer-size
receive-buffer-size header-buffer-size response-buffer-size response-socket-timeout
enable-sendfile disable-reloading reload-on-changes user group callable-object map-head-to-get
document-root directory-index directory-listing allow-override mount-point url-alias
error-document error-override proxy-mount-point proxy-url-alias proxy-virtual-host
trust-proxy-header trust-proxy keep-alive-timeout compress-responses server-metrics
telemetry-service telemetry-interval slow-requests switch-interval free-threading
telemetry-options server-status host-access-script auth-user-script auth-type
auth-group-script auth-group include-file rewrite-rules envvars-script lang locale setenv
passenv working-directory pid-file server-root server-mpm log-directory log-level access-log
startup-log verbose-debugging log-to-terminal access-log-format error-log-format error-log-name
access-log-name startup-log-name rotate-logs max-log-size rotatelogs-executable python-path
python-eggs shell-executable httpd-executable process-name modules-directory mime-types
socket-prefix add-handler chunked-request with-php5 with-cgi service-script service-user
service-group service-log-file orphan-interpreter embedded-mode enable-docs debug-mode
enable-debugger debugger-startup enable-coverage coverage-directory enable-profiler
profiler-directory enable-recorder recorder-directory enable-gdb gdb-executable setup-only
enable-telemetry telemetry-ui-port
""".split()
# Named in issue 17 beyond that list (mod_wsgi 6's later options).
ALSO = ["response-flush-delay", "python-warnings"]
# Not in any configtest group below, and why.
NOT_IN_GROUPS = {
    "with-php5": "refused: test_with_php5_is_refused",
    "free-threading": "needs a free-threaded build: "
                      "test_free_threading_needs_a_free_threaded_build",
    "setup-only": "every group runs setup-server, which is start-server --setup-only",
}


@pytest.fixture(scope="module")
def files():
    """An application and everything the options name, readable by the account it runs as."""
    d = public_dir("pyhost-express-opts-")
    f = {"dir": d}
    f["app"] = write(os.path.join(d, "app.wsgi"), app_source())
    f["script"] = write(os.path.join(d, "script.wsgi"), """
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [b'resource']
        def allow_access(environ, host):
            return True
        def check_password(environ, user, password):
            return password == 'secret'
        def get_realm_hash(environ, user, realm):
            return None
        def groups_for_user(environ, user):
            return [b'staff']
        """)
    f["service"] = write(os.path.join(d, "service.py"), "import time\n")
    write(os.path.join(d, "pkg", "__init__.py"), "")
    write(os.path.join(d, "pkg", "web.py"), app_source())
    f["paste"] = write(os.path.join(d, "app.ini"), "[app:main]\nuse = egg:nothing\n")
    f["static"] = os.path.join(d, "static")
    write(os.path.join(f["static"], "index.html"), "<p>index</p>\n")
    f["mime"] = write(os.path.join(d, "mime.types"), "text/plain txt\ntext/html html\n")
    f["rewrite"] = write(os.path.join(d, "rewrite.conf"), "RewriteRule ^/old$ /new [R=302,L]\n")
    f["include"] = write(os.path.join(d, "extra.conf"), "# nothing\n")
    f["envvars"] = write(os.path.join(d, "envvars"), "export PYHOST_TEST_VAR=1\n")
    base = os.path.join(d, "server")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", base + ".key", "-out", base + ".crt"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    f["cert"] = base
    yield f
    shutil.rmtree(d, ignore_errors=True)


def groups(f):
    """(name, arguments) of each configtest: mod_wsgi-express's options, grouped."""
    d = f["dir"]
    return [
        ("application", [f["app"], "--application-type", "script", "--callable-object",
                         "application", "--mount-point", "/app", "--application-group",
                         "site", "--process-group", "mysite", "--reload-on-changes",
                         "--disable-reloading"]),
        ("module-entry-point", ["--application-type", "module", "--entry-point", "pkg.web",
                                "--working-directory", d, "--python-path", d]),
        ("paste", ["--application-type", "paste", f["paste"]]),
        ("static", ["--application-type", "static", f["static"], "--directory-listing"]),
        ("tls-http2", [f["app"], "--https-port", str(free_port()), "--https-only",
                       "--hsts-policy", "max-age=300", "--ssl-certificate-file",
                       f["cert"] + ".crt", "--ssl-certificate-key-file", f["cert"] + ".key",
                       "--ssl-certificate-chain-file", f["cert"] + ".crt",
                       "--ssl-ca-certificate-file", f["cert"] + ".crt",
                       "--ssl-verify-client", "/secure", "--ssl-environment", "--http2"]),
        ("tls-shorthand", [f["app"], "--ssl-port", str(free_port()), "--ssl-certificate",
                           f["cert"], "--ssl-ca-certificate-file", f["cert"] + ".crt",
                           "--server-name", "www.example.test", "--server-alias",
                           "*.example.test", "--allow-localhost"]),
        ("processes", [f["app"], "--processes", "2", "--threads", "3", "--max-clients", "40",
                       "--initial-workers", "0.25", "--minimum-spare-workers", "0.1",
                       "--maximum-spare-workers", "0.5", "--server-mpm", "worker",
                       "--server-mpm", "prefork", "--maximum-requests", "1000",
                       "--cpu-time-limit", "600", "--switch-interval", "0.002"]),
        ("timeouts", [f["app"], "--startup-timeout", "20", "--shutdown-timeout", "6",
                      "--graceful-timeout", "10", "--eviction-timeout", "3",
                      "--restart-interval", "3600", "--deadlock-timeout", "50",
                      "--inactivity-timeout", "300", "--request-timeout", "30",
                      "--interrupt-timeout", "5", "--connect-timeout", "10",
                      "--socket-timeout", "50", "--queue-timeout", "40",
                      "--response-socket-timeout", "20", "--header-timeout", "10",
                      "--header-max-timeout", "40", "--header-min-rate", "400",
                      "--body-timeout", "20", "--body-max-timeout", "60", "--body-min-rate",
                      "300", "--keep-alive-timeout", "5", "--proxy-timeout", "90",
                      "--ignore-activity", "/health"]),
        ("buffers", [f["app"], "--server-backlog", "256", "--daemon-backlog", "64",
                     "--send-buffer-size", "65536", "--receive-buffer-size", "65536",
                     "--header-buffer-size", "16384", "--response-buffer-size", "131072",
                     "--response-flush-delay", "10", "--limit-request-body", "1048576"]),
        ("http", [f["app"], "--document-root", f["static"], "--directory-index", "index.html",
                  "--allow-override", "FileInfo", "--allow-override", "Indexes",
                  "--url-alias", "/files", f["static"], "--error-document", "404",
                  "/missing.html", "--error-override", "--chunked-request",
                  "--map-head-to-get", "Off", "--compress-responses", "--enable-sendfile",
                  "--mime-types", f["mime"], "--add-handler", ".res", f["script"],
                  "--rewrite-rules", f["rewrite"], "--with-cgi", "--server-status",
                  "--server-metrics"]),
        ("proxy", [f["app"], "--proxy-mount-point", "/backend", "http://127.0.0.1:9/",
                   "--proxy-url-alias", "/old-backend", "http://127.0.0.1:9/old",
                   "--proxy-virtual-host", "api.example.test", "http://127.0.0.1:9/",
                   "--trust-proxy-header", "X-Forwarded-For", "--trust-proxy-header",
                   "X-Forwarded-Proto", "--trust-proxy", "127.0.0.1", "--trust-proxy",
                   "10.0.0.0/8"]),
        ("basic-auth", [f["app"], "--host-access-script", f["script"], "--auth-user-script",
                        f["script"], "--auth-type", "Basic", "--auth-group-script",
                        f["script"], "--auth-group", "staff"]),
        ("digest-auth", [f["app"], "--auth-user-script", f["script"], "--auth-type",
                         "Digest"]),
        ("services", [f["app"], "--service-script", "tick", f["service"], "--service-script",
                      "tock", f["service"], "--service-log-file", "tick", "tick.log"]
         + (["--service-user", "tick", "www-data", "--service-group", "tick", "www-data"]
            if IS_ROOT else [])),
        ("logs", [f["app"], "--log-directory", os.path.join(d, "logs"), "--log-level", "info",
                  "--access-log", "--access-log-format", "combined", "--access-log-name",
                  "access.log", "--error-log-format", "[%t] [%l] %M", "--error-log-name",
                  "error.log", "--startup-log", "--startup-log-name", "startup.log",
                  "--rotate-logs", "--max-log-size", "2", "--rotatelogs-executable",
                  shutil.which("rotatelogs") or "/usr/bin/rotatelogs", "--verbose-debugging"]),
        ("log-to-terminal", [f["app"], "--log-to-terminal", "--access-log",
                             "--access-log-format", "%h %>s %B"]),
        ("python-environment", [f["app"], "--python-eggs", os.path.join(d, "eggs"),
                                "--python-warnings", "ignore::DeprecationWarning",
                                "--locale", "C.UTF-8", "--lang", "C.UTF-8", "--setenv",
                                "STAGE", "test", "--passenv", "HOME", "--envvars-script",
                                f["envvars"], "--orphan-interpreter"]),
        ("server-files", [f["app"], "--pid-file", os.path.join(d, "httpd-custom.pid"),
                          "--socket-prefix", os.path.join(d, "sock"), "--include-file",
                          f["include"], "--httpd-executable", APACHE, "--modules-directory",
                          "/usr/lib/apache2/modules", "--module-path", MODULE,
                          "--shell-executable", "/bin/bash", "--process-name",
                          "pyhost-test-parent", "--host", "127.0.0.1", "--port",
                          str(free_port())]),
        ("embedded", [f["app"], "--embedded-mode", "--python-path", d]),
        ("debug", [f["app"], "--debug-mode", "--enable-debugger", "--debugger-startup",
                   "--enable-profiler", "--profiler-directory", os.path.join(d, "prof"),
                   "--enable-recorder", "--recorder-directory", os.path.join(d, "rec"),
                   "--enable-coverage", "--coverage-directory", os.path.join(d, "cov"),
                   "--enable-gdb", "--gdb-executable", shutil.which("gdb") or "gdb"]),
        ("compatibility", [f["app"], "--enable-docs", "--telemetry-service", "unix:/tmp/t",
                           "--telemetry-interval", "2", "--telemetry-options",
                           "+CaptureUserAgent", "--slow-requests", "5",
                           "--enable-telemetry", "--telemetry-ui-port", "8889", "--user",
                           "www-data" if IS_ROOT else os.environ.get("USER", "root"),
                           "--group", "www-data" if IS_ROOT else "root"]),
    ]


def options_in(args):
    return {a[2:] for a in args if a.startswith("--")}


def setup_and_configtest(args, root):
    extra = [] if "--user" in args else list(USER_ARGS)
    if "--port" not in args:
        extra += ["--port", str(free_port())]
    p = run_launcher(["setup-server"] + args + ["--server-root", root] + extra)
    assert p.returncode == 0, p.stderr.decode()
    conf = os.path.join(root, "httpd.conf")
    t = subprocess.run([APACHE, "-t", "-f", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, env=apache_env())
    assert t.returncode == 0, t.stdout.decode() + open(conf).read()
    return p, open(conf).read()


def test_every_option_is_in_a_configtest_group(files):
    covered = set()
    for _name, args in groups(files):
        covered |= options_in(args)
    covered |= {"server-root"}
    missing = set(MOD_WSGI_EXPRESS_OPTIONS + ALSO) - covered - set(NOT_IN_GROUPS)
    assert missing == set()


@pytest.mark.parametrize("group", [name for name, _a in groups(collections.defaultdict(str))])
def test_each_group_of_options_passes_configtest(files, group):
    if group == "debug" and not shutil.which("gdb"):
        pytest.skip("gdb is not installed")
    args = dict(groups(files))[group]
    root = public_dir("pyhost-express-root-")
    try:
        p, conf = setup_and_configtest(args, root)
        check = CHECKS.get(group)
        if check:
            check(conf, p.stderr.decode(), root, files)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# What some groups must have put in the configuration, beyond Apache accepting it.
def _tls(conf, err, root, f):
    assert "SSLEngine On" in conf and "Protocols h2 h2c http/1.1" in conf
    assert 'Header always set Strict-Transport-Security "max-age=300"' in conf
    assert "SSLOptions +StdEnvVars" in conf
    assert re.search(r'<Location "/secure">\s+SSLVerifyClient require', conf)
    assert "[R=301,L]" in conf


def _timeouts(conf, err, root, f):
    assert "RequestReadTimeout header=10-40,MinRate=400 body=20-60,MinRate=300" in conf
    for opt in ("startup-timeout=20", "eviction-timeout=3", "interrupt-timeout=5",
                "response-socket-timeout=20", "request-timeout=30", "cpu-time-limit=0"):
        assert opt in conf
    assert "ProxyTimeout 90" in conf and "KeepAliveTimeout 5" in conf


def _processes(conf, err, root, f):
    assert "LoadModule mpm_worker_module" in conf
    for opt in ("processes=2", "threads=3", "maximum-requests=1000", "cpu-time-limit=600",
                "switch-interval=0.002"):
        assert opt in conf
    assert "MaxRequestWorkers 40" in conf and "StartServers 10" in conf


def _buffers(conf, err, root, f):
    for opt in ("listen-backlog=64", "send-buffer-size=65536", "header-buffer-size=16384",
                "response-buffer-size=131072", "response-flush-delay=10"):
        assert opt in conf
    assert "ListenBacklog 256" in conf and "LimitRequestBody 1048576" in conf


def _services(conf, err, root, f):
    assert conf.count("threads=0") == 2
    assert 'WSGIImportScript "%s" process-group=service:tick' % f["service"] in conf


def _logs(conf, err, root, f):
    assert "rotatelogs" in conf and "error.log.%Y-%m-%d-%H_%M_%S 2M" in conf
    assert "-E '%s'" % os.path.join(f["dir"], "logs", "startup.log") in open(
        os.path.join(root, "apachectl")).read()


def _compatibility(conf, err, root, f):
    for option in ("--enable-docs", "--telemetry-service", "--telemetry-options",
                   "--slow-requests", "--enable-telemetry"):
        assert "note: %s" % option in err


def _debug(conf, err, root, f):
    assert "WSGIDaemonProcess" not in conf and "WSGIRestrictStdin Off" in conf
    assert os.path.isfile(os.path.join(root, "handler.wsgi"))


CHECKS = {"tls-http2": _tls, "timeouts": _timeouts, "processes": _processes,
          "buffers": _buffers, "services": _services, "logs": _logs,
          "compatibility": _compatibility, "debug": _debug}


def test_help_documents_every_option():
    p = run_launcher(["start-server", "--help"])
    assert p.returncode == 0
    text = p.stdout.decode()
    for option in MOD_WSGI_EXPRESS_OPTIONS + ALSO:
        assert re.search(r"--%s\b" % re.escape(option), text), option


def test_with_php5_is_refused(files):
    p = run_launcher(["setup-server", files["app"], "--with-php5"] + USER_ARGS)
    assert_plain_error(p, "--with-php5", "PHP 5")


def test_free_threading_needs_a_free_threaded_build(files):
    p = run_launcher(["setup-server", files["app"], "--free-threading",
                      "--port", str(free_port())] + USER_ARGS)
    if b"libpython3.13t" in open(MODULE, "rb").read():
        assert p.returncode == 0, p.stderr
    else:
        assert_plain_error(p, "--free-threading", "free-threaded")


def test_developer_aids_without_debug_mode_say_so(files):
    root = public_dir("pyhost-express-root-")
    try:
        p, _conf = setup_and_configtest([files["app"], "--enable-profiler"], root)
        assert "note: --enable-profiler only works with --debug-mode" in p.stderr.decode()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("args,words", [
    (["--https-port", "8443"], ["--https-port needs a certificate"]),
    (["--https-only"], ["--https-only needs --https-port"]),
    (["--service-log-file", "nope", "x.log"], ["no --service-script is named nope"]),
    (["--initial-workers", "2"], None),
])
def test_bad_combinations_are_explained(files, args, words):
    p = run_launcher(["setup-server", files["app"]] + args + USER_ARGS)
    if words is None:  # argparse's own error: usage, then the reason
        assert p.returncode == 2 and b"not between 0 and 1" in p.stderr
    else:
        assert_plain_error(p, *words)
