"""The WSGI environ in embedded mode: process/thread flags per MPM, wsgi.* keys, CGI variables,
mod_wsgi's own keys, application-group naming, HEAD mapping and the handler's entry checks.

Specification: /work/shared/spec/processes-and-threading.txt (flags) and the mod_wsgi 6 reference,
sections 3, 5.1, 6.1, 7.1 and 7.6. Most tests share one Apache (event MPM) whose configuration
maps many URLs onto one environ-dumping script.
"""
import ast
import re
import socket
import subprocess
import time

import pytest

# Dumps the environ: simple values as they are, the type name of every value, a few facts about
# the objects, and the mod_wsgi module's attributes. REQUEST_METHOD also goes in a header, for HEAD.
ENV_APP = r'''
import mod_wsgi

def _simple(v):
    if isinstance(v, (str, int, float, bool, type(None))):
        return True
    return isinstance(v, tuple) and all(_simple(x) for x in v)

def application(environ, start_response):
    fw = environ.get('wsgi.file_wrapper')
    info = {
        'env': {k: v for k, v in environ.items() if _simple(v)},
        'types': {k: type(v).__name__ for k, v in environ.items()},
        'input_read': callable(getattr(environ.get('wsgi.input'), 'read', None)),
        'errors_write': callable(getattr(environ.get('wsgi.errors'), 'write', None)),
        'file_wrapper_callable': callable(fw),
        'file_wrapper_is_module_type': fw is not None and fw is getattr(mod_wsgi, 'FileWrapper', None),
        'mod': {n: getattr(mod_wsgi, n, '<missing>') for n in (
            'threads_per_process', 'maximum_processes', 'process_group', 'application_group')},
    }
    body = repr(info).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('X-Method', environ.get('REQUEST_METHOD', '<none>')),
                              ('Content-Length', str(len(body)))])
    return [body]

other = application
'''

# A WSGIHandlerScript target: handle_request is the callable, application must not be used.
HANDLER_APP = ENV_APP + r'''
handle_request = application

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'WRONG CALLABLE']
'''

MAIN_CONFIG = r"""
TypesConfig @ROOT@/mime.types
MergeSlashes Off
SetEnv MYVAR "my value"
SetEnv PATH /bogus/bin
SetEnv mod_wsgi.x-hidden secret

WSGIScriptAlias /app @ROOT@/env.wsgi
WSGIScriptAlias /scripts/ @ROOT@/scripts/
WSGIScriptAliasMatch ^/match/([^/]+) @ROOT@/m/$1.wsgi
WSGIScriptAlias /callable @ROOT@/env.wsgi callable-object=other
WSGIScriptAlias /authopt @ROOT@/env.wsgi pass-authorization=On
WSGIScriptAlias /authdir @ROOT@/env.wsgi
<Location /authdir>
    WSGIPassAuthorization On
</Location>
WSGIScriptAlias /noreload @ROOT@/env.wsgi
<Location /noreload>
    WSGIScriptReloading Off
</Location>

WSGIScriptAlias /g/global @ROOT@/env.wsgi
WSGIScriptAlias /g/server @ROOT@/env.wsgi
WSGIScriptAlias /g/host @ROOT@/env.wsgi
WSGIScriptAlias /g/literal @ROOT@/env.wsgi
WSGIScriptAlias /g/envvar @ROOT@/env.wsgi
WSGIScriptAlias /g/option @ROOT@/env.wsgi application-group=optgroup
WSGIScriptAlias /g/envglobal @ROOT@/env.wsgi
WSGIScriptAlias /g/envunset @ROOT@/env.wsgi
<Location /g/envglobal>
    SetEnv APPGRP2 %{GLOBAL}
    WSGIApplicationGroup %{ENV:APPGRP2}
</Location>
<Location /g/envunset>
    WSGIApplicationGroup %{ENV:PYHOST_TEST_UNSET_VAR}
</Location>
<Location /g/global>
    WSGIApplicationGroup %{GLOBAL}
</Location>
<Location /g/server>
    WSGIApplicationGroup %{SERVER}
</Location>
<Location /g/host>
    WSGIApplicationGroup %{HOST}
</Location>
<Location /g/literal>
    WSGIApplicationGroup mygroup
</Location>
<Location /g/envvar>
    SetEnv APPGRP fromenv
    WSGIApplicationGroup %{ENV:APPGRP}
</Location>

WSGIScriptAlias /head/off @ROOT@/env.wsgi
WSGIScriptAlias /head/on @ROOT@/env.wsgi
WSGIScriptAlias /head/auto @ROOT@/env.wsgi
WSGIScriptAlias /head/deflate @ROOT@/env.wsgi
WSGIScriptAlias /head/bytype @ROOT@/env.wsgi
WSGIScriptAlias /head/offdeflate @ROOT@/env.wsgi
<Location /head/off>
    WSGIMapHEADToGET Off
</Location>
<Location /head/on>
    WSGIMapHEADToGET On
</Location>
<Location /head/auto>
    WSGIMapHEADToGET Auto
</Location>
<Location /head/deflate>
    SetOutputFilter DEFLATE
</Location>
<Location /head/bytype>
    WSGIMapHEADToGET Auto
    AddOutputFilterByType DEFLATE text/plain
</Location>
<Location /head/offdeflate>
    WSGIMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>

WSGIScriptAlias /missing @ROOT@/does-not-exist.wsgi
WSGIScriptAlias /dirscript @ROOT@/scripts
WSGIScriptAlias /nopi @ROOT@/env.wsgi
<Location /nopi>
    AcceptPathInfo Off
</Location>

<Directory @ROOT@/htdocs/noexec>
    AddHandler wsgi-script .wsgi
</Directory>
<Directory @ROOT@/htdocs/exec>
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
</Directory>
<Directory @ROOT@/htdocs/exec-nopi>
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
    AcceptPathInfo Off
</Directory>

WSGIHandlerScript my-handler @ROOT@/handler.wsgi
<Location /hs>
    SetHandler my-handler
</Location>
"""

MAIN_FILES = {
    "mime.types": "text/plain txt\n",
    "env.wsgi": ENV_APP,
    "scripts/a.wsgi": ENV_APP,
    "m/one.wsgi": ENV_APP,
    "handler.wsgi": HANDLER_APP,
    "htdocs/noexec/e.wsgi": ENV_APP,
    "htdocs/exec/e.wsgi": ENV_APP,
    "htdocs/exec-nopi/e.wsgi": ENV_APP,
}

AUTH = "Basic Zm9vOmJhcg=="


@pytest.fixture(scope="module")
def main(module_apache):
    return module_apache(MAIN_CONFIG, files=MAIN_FILES, mpm="event",
                         modules=["env", "deflate", "filter", "mime"])


@pytest.fixture(scope="module")
def rootapp(module_apache):
    return module_apache("WSGIScriptAlias / @ROOT@/env.wsgi\n", files={"env.wsgi": ENV_APP})


def decode(a, r):
    assert r.status == 200, (r, a.new_log()[-3000:])
    try:
        return ast.literal_eval(r.body.decode("utf-8"))
    except (ValueError, SyntaxError) as e:
        raise AssertionError("not an environ dump: %r (%s)" % (r.body[:300], e))


def info_of(a, path, **kw):
    return decode(a, a.request(path, **kw))


def env_of(a, path, **kw):
    return info_of(a, path, **kw)["env"]


def raw_request(a, request_bytes):
    """Sends one raw request; returns (status line, headers bytes, body, client port)."""
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        client_port = s.getsockname()[1]
        s.sendall(request_bytes)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    return status_line, head, body, client_port


def apache_version():
    out = subprocess.run(["/usr/sbin/apache2", "-v"], capture_output=True, text=True).stdout
    m = re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


# -- wsgi.multithread / wsgi.multiprocess / wsgi.run_once per MPM configuration ---------------

# name: (mpm, mpm_config, multithread, multiprocess, threads_per_process, max processes bound)
MPM_CASES = {
    "prefork": ("prefork", """
        StartServers 2
        MinSpareServers 1
        MaxSpareServers 4
        ServerLimit 4
        MaxRequestWorkers 4
    """, False, True, 1, 4),
    # The spec's form, exactly: Apache lowers MaxRequestWorkers to ServerLimit by itself.
    "prefork-one-process": ("prefork", """
        StartServers 1
        ServerLimit 1
    """, False, False, 1, 1),
    "worker": ("worker", """
        StartServers 2
        ServerLimit 4
        ThreadLimit 5
        ThreadsPerChild 5
        MinSpareThreads 5
        MaxSpareThreads 20
        MaxRequestWorkers 20
    """, True, True, 5, 4),
    # The spec's form: one process, ThreadsPerChild left at its default (25).
    "worker-one-process": ("worker", """
        StartServers 1
        ServerLimit 1
    """, True, False, 25, 1),
    "event": ("event", """
        StartServers 2
        ServerLimit 4
        ThreadLimit 5
        ThreadsPerChild 5
        MinSpareThreads 5
        MaxSpareThreads 20
        MaxRequestWorkers 20
    """, True, True, 5, 4),
}


@pytest.fixture(scope="module", params=sorted(MPM_CASES))
def mpm_case(request, module_apache):
    mpm, cfg, mt, mp, tpp, maxp = MPM_CASES[request.param]
    a = module_apache("WSGIScriptAlias /app @ROOT@/env.wsgi\n", files={"env.wsgi": ENV_APP},
                      mpm=mpm, mpm_config=cfg)
    yield request.param, a, mt, mp, tpp, maxp
    a.cleanup()  # one MPM instance at a time


def test_mpm_multithread_multiprocess_run_once(mpm_case):
    name, a, mt, mp, _, _ = mpm_case
    info = info_of(a, "/app")
    env, types = info["env"], info["types"]
    assert (types["wsgi.multithread"], types["wsgi.multiprocess"], types["wsgi.run_once"]) == \
        ("bool", "bool", "bool"), name
    assert env["wsgi.multithread"] is mt, name
    assert env["wsgi.multiprocess"] is mp, name
    assert env["wsgi.run_once"] is False, name


def test_mpm_module_threads_and_processes(mpm_case):
    name, a, _, _, tpp, maxp = mpm_case
    mod = info_of(a, "/app")["mod"]
    assert mod["threads_per_process"] == tpp, (name, mod)
    assert type(mod["maximum_processes"]) is int, (name, mod)
    if maxp == 1:
        assert mod["maximum_processes"] == 1, (name, mod)
    else:
        # The MPM's high-water mark of processes used: at least 1, never above ServerLimit.
        assert 1 <= mod["maximum_processes"] <= maxp, (name, mod)


def test_mpm_flags_same_in_every_request(mpm_case):
    """The flags are decided once per process: every child answers the same."""
    name, a, mt, mp, _, _ = mpm_case
    seen = set()
    for _ in range(6):
        env = env_of(a, "/app")
        seen.add((env["wsgi.multithread"], env["wsgi.multiprocess"]))
    assert seen == {(mt, mp)}, name


# -- wsgi.* keys ------------------------------------------------------------------------------

def test_wsgi_keys(main):
    info = info_of(main, "/app")
    env, types = info["env"], info["types"]
    assert env["wsgi.version"] == (1, 0)
    assert types["wsgi.version"] == "tuple"
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input_terminated"] is True
    for key in ("wsgi.errors", "wsgi.input", "wsgi.file_wrapper"):
        assert key in types, key
    assert info["input_read"] is True
    assert info["errors_write"] is True
    assert info["file_wrapper_callable"] is True
    assert info["file_wrapper_is_module_type"] is True


# -- CGI variables ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, script_name, path_info", [
    ("/app", "/app", ""),
    ("/app/", "/app", "/"),
    ("/app/x/y", "/app", "/x/y"),
    ("/app//x", "/app", "/x"),
    ("//app//x", "/app", "/x"),
])
def test_script_name_and_path_info(main, path, script_name, path_info):
    env = env_of(main, path)
    assert env["SCRIPT_NAME"] == script_name
    assert env["PATH_INFO"] == path_info
    assert env["REQUEST_URI"] == path


@pytest.mark.parametrize("path, path_info", [("/", "/"), ("/x/y", "/x/y")])
def test_script_alias_root(rootapp, path, path_info):
    env = env_of(rootapp, path)
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == path_info
    assert env["SCRIPT_FILENAME"] == rootapp.path("env.wsgi")
    assert env["mod_wsgi.application_group"] == "localhost:%d|" % rootapp.port


def test_script_alias_directory_target(main):
    env = env_of(main, "/scripts/a.wsgi/extra")
    assert env["SCRIPT_NAME"] == "/scripts/a.wsgi"
    assert env["PATH_INFO"] == "/extra"
    assert env["SCRIPT_FILENAME"] == main.path("scripts/a.wsgi")
    assert env["mod_wsgi.application_group"] == "localhost:%d|/scripts/a.wsgi" % main.port


def test_script_alias_match_substitution(main):
    env = env_of(main, "/match/one/rest")
    assert env["SCRIPT_NAME"] == "/match/one"
    assert env["PATH_INFO"] == "/rest"
    assert env["SCRIPT_FILENAME"] == main.path("m/one.wsgi")
    assert main.get("/match/two").status == 404  # $1 names a script that does not exist


def test_request_method_query_string_and_uri(main):
    env = env_of(main, "/app/x%20y?a=1&b=%2F")
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == "a=1&b=%2F"
    assert env["REQUEST_URI"] == "/app/x%20y?a=1&b=%2F"
    assert env["PATH_INFO"] == "/x y"
    assert env_of(main, "/app", method="DELETE")["REQUEST_METHOD"] == "DELETE"


def test_query_string_empty_when_absent(main):
    env = env_of(main, "/app/p")
    assert env["QUERY_STRING"] == ""
    assert env["REQUEST_URI"] == "/app/p"


def test_server_and_remote_variables(main):
    status, head, body, client_port = raw_request(
        main, b"GET /app HTTP/1.1\r\nHost: example.test:%d\r\nConnection: close\r\n\r\n"
        % main.port)
    assert status.startswith(b"HTTP/1.1 200"), (status, body)
    env = ast.literal_eval(body.decode("utf-8"))["env"]
    assert env["SERVER_NAME"] == "example.test"  # UseCanonicalName Off: the Host header
    assert env["SERVER_PORT"] == str(main.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["SERVER_ADDR"] == "127.0.0.1"
    assert env["HTTP_HOST"] == "example.test:%d" % main.port
    server = re.search(rb"\r\nServer: ([^\r\n]*)", head)
    assert server, head
    assert env["SERVER_SOFTWARE"] == server.group(1).decode()
    assert env["SERVER_SOFTWARE"].startswith("Apache/%d.%d.%d" % apache_version())


def test_server_protocol_http10(main):
    status, _, body, _ = raw_request(main, b"GET /app HTTP/1.0\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200"), (status, body)
    env = ast.literal_eval(body.decode("utf-8"))["env"]
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env
    assert env["SERVER_NAME"] == "localhost"  # no Host header: the ServerName
    # ... and no port from the client either: ap_get_server_port() falls back to 80, which
    # %{RESOURCE} leaves out of the group name
    assert env["SERVER_PORT"] == "80"
    assert env["mod_wsgi.application_group"] == "localhost|/app"


def test_content_type_and_length(main):
    env = env_of(main, "/app", method="POST", body=b"a=1&b=2",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_http_headers(main):
    env = env_of(main, "/app", headers={"X-Custom-Thing": "v1", "Accept": "text/x-test",
                                        "User-Agent": "env-test/1.0", "Cookie": "a=b"})
    assert env["HTTP_X_CUSTOM_THING"] == "v1"
    assert env["HTTP_ACCEPT"] == "text/x-test"
    assert env["HTTP_USER_AGENT"] == "env-test/1.0"
    assert env["HTTP_COOKIE"] == "a=b"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % main.port


def test_header_with_underscore_not_passed(main):
    env = env_of(main, "/app", headers={"X-Forwarded-For": "10.1.1.1",
                                        "X_Forwarded_For": "6.6.6.6", "X_Only_Underscore": "u"})
    assert env["HTTP_X_FORWARDED_FOR"] == "10.1.1.1"
    assert "HTTP_X_ONLY_UNDERSCORE" not in env
    assert not [k for k, v in env.items() if v in ("6.6.6.6", "u")], env


def test_proxy_header_dropped(main):
    env = env_of(main, "/app", headers={"Proxy": "http://evil.example:3128"})
    assert "HTTP_PROXY" not in env
    assert not [k for k, v in env.items() if v == "http://evil.example:3128"]


def test_authorization_not_passed_by_default(main):
    env = env_of(main, "/app", headers={"Authorization": AUTH})
    assert "HTTP_AUTHORIZATION" not in env
    assert not [k for k, v in env.items() if v == AUTH]


def test_authorization_passed_with_directive(main):
    env = env_of(main, "/authdir", headers={"Authorization": AUTH})
    assert env["HTTP_AUTHORIZATION"] == AUTH


def test_authorization_passed_with_alias_option(main):
    env = env_of(main, "/authopt", headers={"Authorization": AUTH})
    assert env["HTTP_AUTHORIZATION"] == AUTH


def test_document_root_and_script_filename(main):
    env = env_of(main, "/app/x")
    assert env["DOCUMENT_ROOT"] == main.path("htdocs")
    assert env["SCRIPT_FILENAME"] == main.path("env.wsgi")


def test_setenv_passes_path_and_hidden_keys_do_not(main):
    env = env_of(main, "/app")
    assert env["MYVAR"] == "my value"
    assert "PATH" not in env  # even though SetEnv PATH is configured
    assert "mod_wsgi.x-hidden" not in env
    assert "HTTPS" not in env


def test_all_cgi_values_are_str(main):
    info = info_of(main, "/app/q?x=1", method="POST", body=b"z",
                   headers={"Content-Type": "text/plain", "X-A": "b"})
    types = info["types"]
    expected = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI",
                "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
                "REMOTE_ADDR", "REMOTE_PORT", "CONTENT_TYPE", "CONTENT_LENGTH",
                "DOCUMENT_ROOT", "SCRIPT_FILENAME", "HTTP_X_A", "HTTP_HOST", "MYVAR"]
    for k in expected:
        assert types.get(k) == "str", (k, types.get(k))
    non_str = {k: t for k, t in types.items()
               if not k.startswith(("wsgi.", "mod_wsgi.", "apache.")) and t != "str"}
    assert non_str == {}


# -- mod_wsgi's own keys ----------------------------------------------------------------------

def test_mod_wsgi_keys(main):
    before = time.time()
    info = info_of(main, "/app/x")
    after = time.time()
    env, types = info["env"], info["types"]
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == "localhost:%d|/app" % main.port
    assert env["mod_wsgi.callable_object"] == "application"
    assert env["mod_wsgi.request_handler"] == "wsgi-script"
    assert env["mod_wsgi.handler_script"] == ""
    assert env["mod_wsgi.script_reloading"] == "1"
    assert types["mod_wsgi.version"] == "tuple"
    assert len(env["mod_wsgi.version"]) >= 2
    assert all(type(x) is int for x in env["mod_wsgi.version"]), env["mod_wsgi.version"]
    assert env["apache.version"] == apache_version()
    assert types["mod_wsgi.request_start"] == "float"
    assert before - 2 <= env["mod_wsgi.request_start"] <= after + 0.01
    # the module agrees with the environ
    assert info["mod"]["process_group"] == ""
    assert info["mod"]["application_group"] == env["mod_wsgi.application_group"]


def test_script_reloading_off(main):
    assert env_of(main, "/noreload")["mod_wsgi.script_reloading"] == "0"


def test_callable_object_option(main):
    env = env_of(main, "/callable")
    assert env["mod_wsgi.callable_object"] == "other"


@pytest.mark.parametrize("path, expected", [
    ("/app", "localhost:{port}|/app"),
    ("/app/deeper/path", "localhost:{port}|/app"),
    ("/g/global", ""),
    ("/g/server", "localhost:{port}"),
    ("/g/literal", "mygroup"),
    ("/g/envvar", "fromenv"),
    ("/g/option", "optgroup"),
    ("/g/envglobal", ""),                                 # a %{...} value is expanded again
    ("/g/envunset", "%{{ENV:PYHOST_TEST_UNSET_VAR}}"),    # not found: the literal string
])
def test_application_group(main, path, expected):
    info = info_of(main, path)
    assert info["env"]["mod_wsgi.application_group"] == expected.format(port=main.port)
    assert info["mod"]["application_group"] == expected.format(port=main.port)


@pytest.mark.parametrize("host, expected", [
    # no port in Host: Apache's server port, which is 80 here (UseCanonicalPhysicalPort Off)
    ("example.test", "example.test"),
    ("example.test:8080", "example.test:8080"),
    ("example.test:80", "example.test"),
])
def test_application_group_host(main, host, expected):
    env = env_of(main, "/g/host", headers={"Host": host})
    assert env["mod_wsgi.application_group"] == expected.format(port=main.port)


def test_application_group_resource_ignores_host_name(main):
    # %{RESOURCE} uses the ServerName, not the Host header; the port still comes from Host
    env = env_of(main, "/app", headers={"Host": "other.test:%d" % main.port})
    assert env["mod_wsgi.application_group"] == "localhost:%d|/app" % main.port


# -- HEAD and WSGIMapHEADToGET ----------------------------------------------------------------

@pytest.mark.parametrize("path, method_seen", [
    ("/head/off", "HEAD"),
    ("/head/on", "GET"),
    ("/app", "HEAD"),           # default is Auto, no content filter
    ("/head/auto", "HEAD"),
    ("/head/deflate", "GET"),   # default (Auto) with SetOutputFilter DEFLATE
    ("/head/bytype", "GET"),    # explicit Auto with AddOutputFilterByType DEFLATE
    ("/head/offdeflate", "HEAD"),
])
def test_head_mapping(main, path, method_seen):
    r = main.request(path, method="HEAD", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200, (r, main.new_log()[-2000:])
    assert r.body == b""
    assert r.header("X-Method") == method_seen


def test_get_not_affected_by_head_mapping(main):
    for path in ("/head/on", "/head/deflate"):
        r = main.request(path)
        assert r.status == 200
        assert r.header("X-Method") == "GET", path


# -- handler entry ----------------------------------------------------------------------------

def test_missing_script_is_404(main):
    assert main.get("/missing").status == 404
    assert main.get("/missing/x").status == 404


def test_directory_as_script_is_403(main):
    assert main.get("/dirscript").status == 403
    assert main.get("/scripts/").status == 403


def test_addhandler_without_execcgi_is_403(main):
    r = main.get("/noexec/e.wsgi")
    assert r.status == 403
    assert b"'env'" not in r.body


def test_addhandler_with_execcgi(main):
    env = env_of(main, "/exec/e.wsgi/more")
    assert env["SCRIPT_NAME"] == "/exec/e.wsgi"
    assert env["PATH_INFO"] == "/more"
    assert env["SCRIPT_FILENAME"] == main.path("htdocs/exec/e.wsgi")
    assert env["mod_wsgi.request_handler"] == "wsgi-script"
    assert env["mod_wsgi.application_group"] == "localhost:%d|/exec/e.wsgi" % main.port


def test_accept_path_info_off(main):
    assert main.get("/exec-nopi/e.wsgi").status == 200
    assert main.get("/exec-nopi/e.wsgi/extra").status == 404
    assert main.get("/nopi").status == 200
    assert main.get("/nopi/extra").status == 404


def test_handler_script(main):
    r = main.get("/hs/some/thing")
    assert r.status == 200, (r, main.new_log()[-2000:])
    assert r.body != b"WRONG CALLABLE"
    env = decode(main, r)["env"]
    assert env["mod_wsgi.callable_object"] == "handle_request"
    assert env["mod_wsgi.request_handler"] == "my-handler"
    assert env["mod_wsgi.handler_script"] == main.path("handler.wsgi")
    assert env["REQUEST_URI"] == "/hs/some/thing"
