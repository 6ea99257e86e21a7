"""Issue 7: Python scripts in Apache's request phases (WSGIAccessScript, WSGIAuthUserScript for
Basic and Digest, WSGIAuthGroupScript / Require wsgi-group, WSGIGroupAuthoritative,
WSGIDispatchScript), WSGITrustedProxies / WSGITrustedProxyHeaders, events (subscribe_events,
request_data, active_requests), subscribe_signals, LogHandler, the `apache` module, metrics,
the environ keys issue 7 adds, threads=0 service scripts, and a few process-wide directives.
Reference: mod_wsgi6-python-api.md sections 1, 2, 4, 5, 6 and 7.

Most tests share one Apache (event MPM, one child of 8 threads, so that per-process state such
as metrics is seen by every request) with one small location per concern. Scripts that run
as www-data write their observations into out/ (mode 0777), named by a per-test token.
Scenarios that stop Apache or need process-wide directives get their own Apache.
"""
import base64
import bisect
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

from harness import APACHE, EVENT_ONE, PREFORK_ONE, alive, group_pids, make_out, wait_for


# Describes its environ as JSON; 'other' is the callable a dispatch script can pick.
ENV_APP = r'''
import json, os, mod_wsgi

def describe(environ, callable_name):
    out = {}
    for k, v in environ.items():
        out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
    out['_types'] = {k: type(v).__name__ for k, v in environ.items()}
    out['_pid'] = os.getpid()
    out['_callable'] = callable_name
    out['_active_requests'] = len(mod_wsgi.active_requests)
    out['_now'] = __import__('time').time()
    return [json.dumps(out).encode()]

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return describe(environ, 'application')

def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return describe(environ, 'other')
'''

AUTH_SCRIPT = r'''
import hashlib
USERS = {'alice': 'secret', 'bob': 'builder'}

def check_password(environ, user, password):
    if user == 'raiser':
        raise RuntimeError('auth-boom')
    if user == 'renamed':
        return 'alice-renamed' if password == 'pw' else False
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(('%s:%s:%s' % (user, realm, USERS[user])).encode()).hexdigest()
'''

GROUP_SCRIPT = r'''
import json, os
OUT = os.path.join(os.path.dirname(__file__), 'out')
GROUPS = {'alice': ['admins', 'staff'], 'bob': ['staff']}

def groups_for_user(environ, user):
    tok = environ.get('HTTP_X_TOKEN')
    if tok:
        with open(os.path.join(OUT, 'groups-' + tok), 'w') as f:
            json.dump({'keys': sorted(environ), 'user': user}, f)
    return GROUPS.get(user, [])
'''

ACCESS_SCRIPT = r'''
import json, os
OUT = os.path.join(os.path.dirname(__file__), 'out')

def allow_access(environ, host):
    tok = environ.get('HTTP_X_TOKEN')
    if tok:
        with open(os.path.join(OUT, 'access-' + tok), 'w') as f:
            json.dump({'host': host, 'type': type(host).__name__,
                       'remote_addr': environ.get('REMOTE_ADDR')}, f)
    mode = environ.get('HTTP_X_ACCESS', 'none')
    if mode == 'raise':
        raise ValueError('access-boom')
    return {'true': True, 'false': False, 'none': None, 'other': 'yes'}[mode]
'''

DISPATCH_SCRIPT = r'''
def process_group(environ):
    return {'/one': 'd1', '/two': 'd2', '/emb': '%{GLOBAL}', '/bad': 42}.get(
        environ.get('PATH_INFO'))

def application_group(environ):
    return 'custom-group' if environ.get('PATH_INFO') == '/app' else None

def callable_object(environ):
    return 'other' if environ.get('PATH_INFO') == '/call' else None
'''

EVENTS_APP = r'''
import json, os, threading, mod_wsgi
OUT = os.path.join(os.path.dirname(__file__), 'out')
STORE = {}

def record(tok, entry):
    if tok:
        with open(os.path.join(OUT, 'ev-' + tok), 'a') as f:
            f.write(json.dumps(entry) + '\n')

def describe(name, kw):
    e = {'name': name, 'keys': sorted(kw), 'types': {k: type(v).__name__ for k, v in kw.items()}}
    for k, v in kw.items():
        if k == 'exception_info' and v is not None:
            e[k] = [len(v), v[0].__name__, str(v[1]), type(v[2]).__name__]
        elif k == 'response_headers':
            e[k] = [list(h) for h in v]
        elif isinstance(v, (str, int, float, bool, type(None))):
            e[k] = v
    return e

def wrap(app):
    def wrapper(environ, start_response):
        return [b'wrapped:'] + list(app(environ, start_response))
    return wrapper

def first(name, **kw):
    if name == 'request_started':
        env = kw['request_environ']
        tok = env.get('QUERY_STRING', '')
        kw['request_data']['tok'] = tok
        STORE[tok] = kw['request_data']
        if env.get('PATH_INFO') == '/wrapped':
            return {'application_object': wrap(kw['application_object']), 'merged': 'first'}
        return {'merged': 'first'}
    return 'ignored, not a dict'

def second(name, **kw):
    if name == 'request_started' and kw['request_environ'].get('PATH_INFO') == '/cbraise':
        raise ValueError('callback-boom ' + kw['request_data']['tok'])

def third(name, **kw):
    record(kw.get('request_data', {}).get('tok'), describe(name, kw))

DECORATED = mod_wsgi.subscribe_events(first) is first
mod_wsgi.subscribe_events(second)
mod_wsgi.subscribe_events(third)

def application(environ, start_response):
    case, tok = environ['PATH_INFO'], environ['QUERY_STRING']
    if case == '/raise':
        raise KeyError('app-boom-' + tok)
    body = environ['wsgi.input'].read()
    rid = environ['mod_wsgi.request_id']
    errors = []
    def outside():
        try:
            mod_wsgi.request_data()
            errors.append('no error')
        except RuntimeError as e:
            errors.append('RuntimeError: %s' % e)
    t = threading.Thread(target=outside)
    t.start()
    t.join()
    active = mod_wsgi.active_requests.get(rid)
    res = {'same_data': mod_wsgi.request_data() is STORE.get(tok),
           'data_tok': mod_wsgi.request_data().get('tok'), 'decorated': DECORATED,
           'rid': rid, 'active': rid in mod_wsgi.active_requests,
           'active_rid': active.get('request_id') if isinstance(active, dict) else None,
           'prev_active': environ.get('HTTP_X_PREV') in mod_wsgi.active_requests,
           'thread': errors, 'body': body.decode(), 'pid': os.getpid()}
    start_response('200 OK', [('Content-Type', 'application/json'), ('X-Tok', tok)])
    return [json.dumps(res).encode()]
'''

MISC_APP = r'''
import apache, json, logging, os, time, mod_wsgi
OUT = os.path.join(os.path.dirname(__file__), 'out')
BIG = os.path.join(os.path.dirname(__file__), 'big.bin')

def on_signal(name, **kw):
    with open(os.path.join(OUT, 'signal-%d' % os.getpid()), 'w') as f:
        json.dump([name, kw], f)

mod_wsgi.subscribe_signals(on_signal)

def application(environ, start_response):
    case, q = environ['PATH_INFO'].strip('/'), environ['QUERY_STRING']
    if case == 'file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(BIG, 'rb'))
    res = {'pid': os.getpid()}
    if case == 'log':
        logger = logging.getLogger('pyhost.' + q)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        h = mod_wsgi.LogHandler()
        logger.addHandler(h)
        for level, word in ((logging.CRITICAL, 'crit'), (logging.ERROR, 'error'),
                            (logging.WARNING, 'warn'), (logging.INFO, 'info'),
                            (logging.DEBUG, 'debug')):
            logger.log(level, 'lh-%s-%s', word, q)
        logger.removeHandler(h)
        res['is_handler'] = isinstance(h, logging.Handler)
    elif case == 'apache':
        res.update({'version': list(apache.version), 'mpm_name': apache.mpm_name,
                    'maximum_processes': apache.maximum_processes,
                    'threads_per_process': apache.threads_per_process,
                    'description': apache.description,
                    'mod_threads': mod_wsgi.threads_per_process,
                    'mod_processes': mod_wsgi.maximum_processes,
                    'process_group': mod_wsgi.process_group})
    elif case == 'metrics_start':
        res['before'] = [mod_wsgi.process_metrics(), mod_wsgi.request_metrics()]
        mod_wsgi.start_recording_metrics()
        mod_wsgi.start_recording_metrics()
        res['proc'] = mod_wsgi.process_metrics()
        res['req'] = mod_wsgi.request_metrics()
    elif case == 'metrics':
        res['proc'] = mod_wsgi.process_metrics()
        res['req'] = mod_wsgi.request_metrics()
        res['server'] = mod_wsgi.server_metrics()
        res['thread_id'] = environ['mod_wsgi.thread_id']
        res['types'] = {k: type(v).__name__ for k, v in (res['req'] or {}).items()}
    elif case == 'sleep':
        time.sleep(float(q))
        res['thread_id'] = environ['mod_wsgi.thread_id']
    elif case == 'echo':
        res['length'] = len(environ['wsgi.input'].read())
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(res).encode()]
'''

BIG = hashlib.sha256(b"sendfile").digest() * (2 * 1024 * 1024 // 32) + b"end"

PROXY_HEADERS = "X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port X-Script-Name"


def location(path, *lines, group=""):
    """A WSGIScriptAlias of env.wsgi at path and its <Location> holding lines."""
    return "WSGIScriptAlias %s @ROOT@/env.wsgi%s\n<Location %s>\n    %s\n</Location>\n" % (
        path, group and " process-group=" + group, path, "\n    ".join(lines))


BASIC = ['AuthType Basic', 'AuthName "pyhost basic"', "AuthBasicProvider wsgi",
         "WSGIAuthUserScript @ROOT@/auth.py"]
GROUP = BASIC + ["WSGIAuthGroupScript @ROOT@/groups.py"]
REQUIRE_ALL = ["<RequireAll>", "Require wsgi-group admins", "Require valid-user", "</RequireAll>"]

MAIN_CONFIG = """
WSGIDaemonProcess d1 threads=2 display-name=%{GROUP}
WSGIDaemonProcess d2 threads=2 display-name=%{GROUP}
WSGIDaemonProcess dm threads=3 display-name=%{GROUP}
WSGIScriptAlias /env @ROOT@/env.wsgi
WSGIScriptAlias /denv @ROOT@/env.wsgi process-group=dm
WSGIScriptAlias /misc @ROOT@/misc.wsgi
WSGIScriptAlias /dmisc @ROOT@/misc.wsgi process-group=dm
WSGIScriptAlias /sendfile @ROOT@/misc.wsgi
<Location /sendfile>
    WSGIEnableSendfile On
</Location>
WSGIScriptAlias /events @ROOT@/events.wsgi
WSGIScriptAlias /devents @ROOT@/events.wsgi process-group=dm
""" + "".join([
    location("/rr", "WSGIPassApacheRequest On"),
    location("/drr", "WSGIPassApacheRequest On", group="dm"),
    location("/basic", *BASIC, "Require valid-user"),
    location("/digest", "AuthType Digest", 'AuthName "pyhost digest"',
             "AuthDigestProvider wsgi", "WSGIAuthUserScript @ROOT@/auth.py",
             "Require valid-user"),
    location("/grp403", *GROUP, "Require wsgi-group admins", "AuthzSendForbiddenOnFailure On"),
    location("/grp401", *GROUP, "Require wsgi-group admins"),
    location("/grpsoft", *GROUP, "WSGIGroupAuthoritative Off", *REQUIRE_ALL),
    location("/grphard", *GROUP, *REQUIRE_ALL),
    location("/allow", "WSGIAccessScript @ROOT@/access.py"),
    location("/strict", "WSGIAccessScript @ROOT@/access.py", "Require all denied"),
    location("/route", "WSGIDispatchScript @ROOT@/dispatch.py"),
    location("/droute", "WSGIDispatchScript @ROOT@/dispatch.py", group="d1"),
    location("/pxt", "WSGITrustedProxies 127.0.0.1", "WSGITrustedProxyHeaders " + PROXY_HEADERS),
    location("/pxu", "WSGITrustedProxies 10.0.0.1", "WSGITrustedProxyHeaders " + PROXY_HEADERS),
    location("/pxa", "WSGITrustedProxyHeaders " + PROXY_HEADERS),
])


# ---- helpers --------------------------------------------------------------------------------

def tok():
    return uuid.uuid4().hex[:12]


def read_json(path, timeout=5):
    if not wait_for(lambda: os.path.exists(path), timeout):
        return None
    time.sleep(0.05)
    with open(path) as f:
        return json.load(f)


def get_json(a, path, **kw):
    r = a.get(path, **kw)
    assert r.status == 200, (path, r, a.error_log()[-3000:])
    return json.loads(r.body)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def digest_get(a, path, user, password):
    """The Digest handshake by hand: challenge, then qop=auth with nc and cnonce."""
    r = a.get(path)
    assert r.status == 401, r
    chal = r.header("WWW-Authenticate")
    assert chal and chal.startswith("Digest "), chal
    params = {k: q if q else v for k, q, v in
              re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', chal[len("Digest "):])}
    assert "auth" in params["qop"].split(","), params
    realm, nonce, nc, cnonce = params["realm"], params["nonce"], "00000001", tok()
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("GET:%s" % path)
    response = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    auth = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5, '
            'response="%s", qop=auth, nc=%s, cnonce="%s"'
            % (user, realm, nonce, path, response, nc, cnonce))
    if "opaque" in params:
        auth += ', opaque="%s"' % params["opaque"]
    return a.get(path, headers={"Authorization": auth})


def apache_version():
    out = subprocess.run([APACHE, "-v"], capture_output=True, text=True).stdout
    return [int(x) for x in re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", out).groups()]


# ---- the shared Apache ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_apache):
    files = {"env.wsgi": ENV_APP, "auth.py": AUTH_SCRIPT, "groups.py": GROUP_SCRIPT,
             "access.py": ACCESS_SCRIPT, "dispatch.py": DISPATCH_SCRIPT,
             "events.wsgi": EVENTS_APP, "misc.wsgi": MISC_APP, "big.bin": BIG}
    a = module_apache(MAIN_CONFIG, files=files, mpm="event", mpm_config=EVENT_ONE,
                      modules=["auth_basic", "authn_core", "authz_user", "auth_digest"],
                      start=False)
    make_out(a)
    a.start()
    return a


@pytest.fixture(scope="module")
def child_pid(srv):
    """The pid of the one Apache child (embedded mode)."""
    return get_json(srv, "/env")["_pid"]


# ---- WSGIAuthUserScript ---------------------------------------------------------------------

def test_basic_auth_right_password(srv):
    env = get_json(srv, "/basic", headers=basic("alice", "secret"))
    assert env["REMOTE_USER"] == "alice"
    assert env["AUTH_TYPE"] == "Basic"


def test_basic_auth_no_credentials_wrong_password_unknown_user(srv):
    r = srv.get("/basic")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Basic realm="pyhost basic"'
    assert srv.get("/basic", headers=basic("alice", "wrong")).status == 401
    assert srv.get("/basic", headers=basic("nobody", "secret")).status == 401


def test_basic_auth_str_result_renames_user(srv):
    env = get_json(srv, "/basic", headers=basic("renamed", "pw"))
    assert env["REMOTE_USER"] == "alice-renamed"
    assert srv.get("/basic", headers=basic("renamed", "bad")).status == 401


def test_basic_auth_script_raising_is_500(srv):
    srv.mark_log()
    r = srv.get("/basic", headers=basic("raiser", "x"))
    assert r.status == 500
    assert srv.wait_log(r"check_password\(\) of \S*auth\.py")
    assert srv.wait_log(r"RuntimeError: auth-boom")


def test_digest_auth_right_and_wrong_password(srv):
    r = digest_get(srv, "/digest/x", "bob", "builder")
    assert r.status == 200, (r, srv.error_log()[-2000:])
    env = json.loads(r.body)
    assert env["REMOTE_USER"] == "bob"
    assert env["AUTH_TYPE"] == "Digest"
    assert digest_get(srv, "/digest/x", "bob", "wrong").status == 401
    assert digest_get(srv, "/digest/x", "nobody", "builder").status == 401


def test_auth_script_without_the_function_is_500_and_says_so(apache):
    a = apache("".join([
        location("/b", 'AuthType Basic', 'AuthName "b"', "AuthBasicProvider wsgi",
                 "WSGIAuthUserScript @ROOT@/empty.py", "Require valid-user"),
        location("/d", 'AuthType Digest', 'AuthName "d"', "AuthDigestProvider wsgi",
                 "WSGIAuthUserScript @ROOT@/empty.py", "Require valid-user"),
    ]), files={"env.wsgi": ENV_APP, "empty.py": "VALUE = 1\n"},
        modules=["auth_basic", "authn_core", "authz_user", "auth_digest"])
    assert a.get("/b", headers=basic("alice", "secret")).status == 500
    assert a.wait_log(r"\S*/empty\.py has no check_password\(\)"), a.new_log()
    assert digest_get(a, "/d", "alice", "secret").status == 500
    assert a.wait_log(r"\S*/empty\.py has no get_realm_hash\(\)"), a.new_log()


# ---- WSGIAuthGroupScript --------------------------------------------------------------------

def test_group_member_allowed_non_member_forbidden(srv):
    assert get_json(srv, "/grp403", headers=basic("alice", "secret"))["REMOTE_USER"] == "alice"
    r = srv.get("/grp403", headers=basic("bob", "builder"))
    assert r.status == 403
    # the group rule asks for a user first
    assert srv.get("/grp403").status == 401


def test_group_failure_is_401_without_authz_send_forbidden(srv):
    assert srv.get("/grp401", headers=basic("alice", "secret")).status == 200
    assert srv.get("/grp401", headers=basic("bob", "builder")).status == 401


def test_group_authoritative_off_is_neutral(srv):
    # In <RequireAll>, a neutral wsgi-group leaves the decision to valid-user; a denial does not.
    assert get_json(srv, "/grpsoft", headers=basic("bob", "builder"))["REMOTE_USER"] == "bob"
    assert srv.get("/grphard", headers=basic("bob", "builder")).status == 401
    assert srv.get("/grphard", headers=basic("alice", "secret")).status == 200


def test_groups_for_user_environ_has_no_authorization(srv):
    t = tok()
    headers = dict(basic("alice", "secret"), **{"X-Token": t})
    assert srv.get("/grp403", headers=headers).status == 200
    seen = read_json(srv.path("out/groups-" + t))
    assert seen is not None, srv.error_log()[-2000:]
    assert seen["user"] == "alice"
    assert "HTTP_X_TOKEN" in seen["keys"]
    assert "HTTP_AUTHORIZATION" not in seen["keys"]


# ---- WSGIAccessScript -----------------------------------------------------------------------

@pytest.mark.parametrize("mode,status", [("true", 200), ("false", 403), ("none", 200),
                                         ("raise", 403), ("other", 403)])
def test_access_script_results(srv, mode, status):
    srv.mark_log()
    r = srv.get("/allow", headers={"X-Access": mode})
    assert r.status == status, (r, srv.new_log()[-2000:])
    if mode == "false":
        assert srv.wait_log(r"client denied by \S*access\.py: /allow")
    if mode == "raise":
        assert srv.wait_log(r"ValueError: access-boom")


def test_access_script_none_defers_to_require(srv):
    assert srv.get("/strict", headers={"X-Access": "none"}).status == 403
    # True lets the request continue, and Require still applies
    assert srv.get("/strict", headers={"X-Access": "true"}).status == 403


def test_access_script_host_argument_is_client_address(srv):
    t = tok()
    assert srv.get("/allow", headers={"X-Access": "true", "X-Token": t}).status == 200
    seen = read_json(srv.path("out/access-" + t))
    assert seen == {"host": "127.0.0.1", "type": "str", "remote_addr": "127.0.0.1"}


# ---- WSGIDispatchScript ---------------------------------------------------------------------

def test_dispatch_routes_two_urls_to_two_daemon_groups(srv, child_pid):
    one, two = get_json(srv, "/route/one"), get_json(srv, "/route/two")
    assert one["mod_wsgi.process_group"] == "d1"
    assert two["mod_wsgi.process_group"] == "d2"
    assert group_pids(srv, "d1") == [one["_pid"]]
    assert group_pids(srv, "d2") == [two["_pid"]]
    emb = get_json(srv, "/route/emb")
    assert emb["mod_wsgi.process_group"] == ""
    assert emb["_pid"] == child_pid
    # None keeps the configuration's own group: embedded here, d1 under /droute
    assert get_json(srv, "/route/none")["_pid"] == child_pid
    kept = get_json(srv, "/droute/none")
    assert kept["mod_wsgi.process_group"] == "d1" and kept["_pid"] == one["_pid"]
    assert get_json(srv, "/droute/emb")["_pid"] == child_pid


def test_dispatch_application_group_and_callable_object(srv):
    app = get_json(srv, "/route/app")
    assert app["mod_wsgi.application_group"] == "custom-group"
    assert app["_callable"] == "application"
    call = get_json(srv, "/route/call")
    assert call["_callable"] == "other"
    assert call["mod_wsgi.callable_object"] == "other"
    assert call["mod_wsgi.application_group"] == "localhost:%d|/route" % srv.port


def test_dispatch_returning_non_str_is_500(srv):
    srv.mark_log()
    assert srv.get("/route/bad").status == 500
    assert srv.wait_log(r"process_group\(\) of \S*dispatch\.py returned a int")


# ---- WSGITrustedProxies / WSGITrustedProxyHeaders -------------------------------------------

FORWARDED = {
    "X-Forwarded-For": "198.51.100.9, 203.0.113.5, 127.0.0.1",
    "X-Real-IP": "192.0.2.77",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Scheme": "http",
    "X-Forwarded-Host": "example.org:8443",
    "X-Host": "other.example",
    "X-Forwarded-Port": "8443",
    "X-Script-Name": "/mounted",
    "X-Forwarded-Server": "untouched.example",
}
DROPPED_SYNONYMS = ["HTTP_X_REAL_IP", "HTTP_X_FORWARDED_SCHEME", "HTTP_X_HOST"]
LISTED = ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
          "HTTP_X_FORWARDED_PORT", "HTTP_X_SCRIPT_NAME"]


def test_trusted_proxy_headers_applied(srv):
    env = get_json(srv, "/pxt/p", headers=FORWARDED)
    assert env["REMOTE_ADDR"] == "203.0.113.5"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.5, 127.0.0.1"
    assert env["wsgi.url_scheme"] == "https"
    assert "HTTPS" not in env
    assert env["HTTP_HOST"] == "example.org:8443"
    assert env["SERVER_PORT"] == "8443"
    assert env["SCRIPT_NAME"] == "/mounted"
    assert env["mod_wsgi.mount_point"] == "/mounted"
    assert env["mod_wsgi.script_name"] == "/pxt"
    assert env["PATH_INFO"] == env["mod_wsgi.path_info"] == "/p"
    for key in DROPPED_SYNONYMS:
        assert key not in env, key
    for key in LISTED:
        assert key in env, key
    # a kind nobody listed passes as an ordinary header
    assert env["HTTP_X_FORWARDED_SERVER"] == "untouched.example"
    assert env["SERVER_NAME"] == "127.0.0.1"


@pytest.mark.parametrize("xff,addr,chain", [
    ("203.0.113.5, 127.0.0.1", "203.0.113.5", "203.0.113.5, 127.0.0.1"),
    ("127.0.0.1, 127.0.0.1", "127.0.0.1", "127.0.0.1, 127.0.0.1"),
    ("198.51.100.9, 203.0.113.5", "203.0.113.5", "203.0.113.5"),
    ("198.51.100.9,, 203.0.113.5 ,127.0.0.1", "203.0.113.5", "203.0.113.5, 127.0.0.1"),
])
def test_forwarded_for_walk(srv, xff, addr, chain):
    env = get_json(srv, "/pxt", headers={"X-Forwarded-For": xff})
    assert (env["REMOTE_ADDR"], env["HTTP_X_FORWARDED_FOR"]) == (addr, chain)


def test_untrusted_peer_headers_stripped(srv):
    env = get_json(srv, "/pxu/p", headers=FORWARDED)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % srv.port
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SCRIPT_NAME"] == "/pxu"
    assert "mod_wsgi.mount_point" not in env
    for key in LISTED + DROPPED_SYNONYMS:
        assert key not in env, key
    assert env["HTTP_X_FORWARDED_SERVER"] == "untouched.example"


def test_without_trusted_proxies_every_peer_is_trusted(srv):
    headers = dict(FORWARDED, **{"X-Forwarded-For": "198.51.100.9, 203.0.113.5"})
    env = get_json(srv, "/pxa/p", headers=headers)
    assert env["REMOTE_ADDR"] == "198.51.100.9"
    assert env["HTTP_X_FORWARDED_FOR"] == "198.51.100.9, 203.0.113.5"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "example.org:8443"
    assert env["SERVER_PORT"] == "8443"
    assert env["SCRIPT_NAME"] == env["mod_wsgi.mount_point"] == "/mounted"
    assert env["mod_wsgi.script_name"] == "/pxa"
    assert "HTTP_X_REAL_IP" not in env


def test_no_proxy_directives_headers_are_ordinary(srv):
    env = get_json(srv, "/env", headers=FORWARDED)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == FORWARDED["X-Forwarded-For"]
    assert env["HTTP_X_REAL_IP"] == "192.0.2.77"


# ---- events ---------------------------------------------------------------------------------

def events_of(a, t, last="request_finished", timeout=5):
    path = a.path("out/ev-" + t)

    def done():
        if not os.path.exists(path):
            return None
        with open(path) as f:
            evs = [json.loads(l) for l in f if l.endswith("\n")]
        return evs if evs and evs[-1]["name"] == last else None
    evs = wait_for(done, timeout)
    assert evs, (t, a.read(path), a.error_log()[-3000:])
    return evs


STARTED_KEYS = {"request_id", "thread_id", "server_pid", "request_start", "queue_start",
                "daemon_start", "application_start", "daemon_connects", "daemon_restarts",
                "application_object", "request_environ", "request_data"}
RESPONSE_KEYS = {"request_id", "response_status", "response_headers", "exception_info",
                 "request_data"}
FINISHED_KEYS = {"request_id", "thread_id", "server_pid", "status", "input_reads",
                 "input_length", "input_time", "output_length", "output_writes", "output_time",
                 "cpu_user_time", "cpu_system_time", "cpu_time", "application_start",
                 "application_finish", "application_time", "request_data"}


def test_events_in_order_with_their_keywords(srv, child_pid):
    t = tok()
    r = srv.request("/events/post?" + t, method="POST", body=b"abcdef")
    assert r.status == 200, (r, srv.error_log()[-2000:])
    res = json.loads(r.body)
    assert res["body"] == "abcdef"
    evs = events_of(srv, t)
    assert [e["name"] for e in evs] == ["request_started", "response_started",
                                        "request_finished"]
    started, resp, fin = evs
    assert STARTED_KEYS <= set(started["keys"]), STARTED_KEYS - set(started["keys"])
    assert RESPONSE_KEYS <= set(resp["keys"]), RESPONSE_KEYS - set(resp["keys"])
    assert FINISHED_KEYS <= set(fin["keys"]), FINISHED_KEYS - set(fin["keys"])
    for e in evs:
        assert e["request_id"] == res["rid"]
    assert started["types"]["request_environ"] == "dict"
    assert started["types"]["request_data"] == "dict"
    assert started["thread_id"] >= 1 and started["types"]["thread_id"] == "int"
    assert started["server_pid"] == child_pid
    assert (started["queue_start"], started["daemon_start"]) == (0.0, 0.0)
    assert started["request_start"] <= started["application_start"] <= time.time()
    assert resp["response_status"] == "200 OK"
    assert resp["response_headers"] == [["Content-Type", "application/json"], ["X-Tok", t]]
    assert resp["exception_info"] is None
    assert fin["status"] == 200
    assert fin["output_length"] == len(r.body)
    assert fin["input_length"] == 6
    assert fin["application_finish"] >= fin["application_start"] == started["application_start"]
    assert fin["application_time"] >= 0 and fin["types"]["application_time"] == "float"


def test_events_in_daemon_mode(srv, child_pid):
    t = tok()
    res = get_json(srv, "/devents/x?" + t)
    assert res["same_data"] is True and res["active"] is True
    started, resp, fin = events_of(srv, t)
    assert (started["name"], resp["name"], fin["name"]) == (
        "request_started", "response_started", "request_finished")
    assert started["request_id"] == res["rid"]
    assert 0 < started["request_start"] <= started["queue_start"] <= started["daemon_start"] \
        <= started["application_start"]
    # server_pid: the Apache child that took the request (as mod_wsgi.server_pid), not the daemon
    assert started["server_pid"] == child_pid, (started["server_pid"], "daemon", res["pid"])


def test_request_exception_event(srv):
    t = tok()
    srv.mark_log()
    assert srv.get("/events/raise?" + t).status == 500
    evs = events_of(srv, t)
    assert [e["name"] for e in evs] == ["request_started", "request_exception",
                                        "request_finished"]
    exc = evs[1]
    assert {"request_id", "exception_info", "request_data"} <= set(exc["keys"])
    assert exc["exception_info"] == [3, "KeyError", "'app-boom-%s'" % t, "traceback"]
    assert srv.wait_log(r"KeyError: 'app-boom-%s'" % t)


def test_request_started_subscriber_replaces_application(srv):
    t = tok()
    r = srv.get("/events/wrapped?" + t)
    assert r.status == 200
    assert r.body.startswith(b"wrapped:{")
    assert json.loads(r.body[len(b"wrapped:"):])["data_tok"] == t


def test_returned_dict_merged_and_callback_exception_logged(srv):
    t = tok()
    srv.mark_log()
    r = srv.get("/events/cbraise?" + t)
    assert r.status == 200, r
    evs = events_of(srv, t)
    # the third callback ran after the second one raised, and saw the first one's dict
    assert evs[0]["name"] == "request_started"
    assert evs[0]["merged"] == "first"
    # a non-dict return (first() for the later events) is ignored
    assert "merged" not in evs[1] and "merged" not in evs[2]
    assert srv.wait_log(r"exception in a mod_wsgi request_started callback")
    assert srv.wait_log(r"ValueError: callback-boom %s" % t)


def test_request_data_and_active_requests(srv):
    t1 = tok()
    first = get_json(srv, "/events/x?" + t1)
    assert first["decorated"] is True
    assert first["same_data"] is True
    assert first["data_tok"] == t1
    assert first["active"] is True and first["active_rid"] == first["rid"]
    assert first["thread"] == ["RuntimeError: no active request for thread"]
    events_of(srv, t1)
    second = get_json(srv, "/events/x?" + tok(), headers={"X-Prev": first["rid"]})
    assert second["rid"] != first["rid"]
    assert second["prev_active"] is False
    # an interpreter without event subscribers keeps no active requests
    assert get_json(srv, "/env")["_active_requests"] == 0


# ---- signals, LogHandler, apache module ------------------------------------------------------

def test_subscribe_signals_in_daemon_on_sigusr2(srv):
    pid = get_json(srv, "/dmisc/pid")["pid"]
    assert pid in group_pids(srv, "dm")
    os.kill(pid, signal.SIGUSR2)
    seen = read_json(srv.path("out/signal-%d" % pid))
    assert seen == ["process_signal", {"signal_number": 12, "signal_name": "USR2"}], \
        srv.error_log()[-2000:]
    assert alive(pid)
    assert get_json(srv, "/dmisc/pid")["pid"] == pid


def test_log_handler_levels(srv):
    t = tok()
    srv.mark_log()
    assert get_json(srv, "/misc/log?" + t)["is_handler"] is True
    for level in ("crit", "error", "warn", "info"):
        m = srv.wait_log(r"\[wsgi:%s\] .*\[client 127\.0\.0\.1:\d+\] .*lh-%s-%s"
                         % (level, level, t))
        assert m, (level, srv.new_log()[-2000:])
    # LogLevel info: the debug record is not written
    assert srv.log_lines("lh-debug-" + t) == []
    assert len(srv.log_lines(t)) == 4


def test_apache_module_embedded(srv):
    info = get_json(srv, "/misc/apache")
    assert info["version"] == apache_version()
    assert info["mpm_name"] == "event"
    assert info["threads_per_process"] == 8
    assert info["maximum_processes"] == 1
    assert info["description"].startswith("Apache/%d.%d.%d" % tuple(apache_version()))
    assert (info["mod_threads"], info["mod_processes"]) == (8, 1)


def test_apache_module_in_daemon(srv):
    info = get_json(srv, "/dmisc/apache")
    assert info["process_group"] == "dm"
    assert info["mpm_name"] == "event"
    assert info["threads_per_process"] == 8
    assert info["maximum_processes"] == 1
    assert (info["mod_threads"], info["mod_processes"]) == (3, 1)


# ---- metrics --------------------------------------------------------------------------------

PROCESS_KEYS = {"pid", "restart_time", "current_time", "running_time", "request_count",
                "request_busy_time", "request_threads", "active_requests", "cpu_user_time",
                "cpu_system_time", "cpu_time", "memory_rss", "memory_max_rss", "threads"}
# request_metrics(): mod_wsgi 6's keys (a superset of 4.9.4's)
PHASES = ["server_time", "queue_time", "daemon_time", "application_time", "request_time",
          "input_read_time", "output_write_time"]
THREAD_LISTS = ["request_threads_completed", "request_threads_buckets",
                "request_threads_busy_time", "request_threads_cpu_time",
                "request_threads_current_elapsed", "request_threads_max_duration"]
REQUEST_KEYS = ({"pid", "start_time", "stop_time", "sample_period", "request_count",
                 "request_throughput", "request_threads_maximum", "request_threads_started",
                 "request_threads_active", "capacity_utilization", "gil_wait_time",
                 "gil_wait_time_min_us", "gil_wait_time_max_us", "gil_wait_count",
                 "gil_wait_time_buckets", "input_bytes", "input_reads", "output_bytes",
                 "output_writes", "status_1xx", "status_2xx", "status_3xx", "status_4xx",
                 "status_5xx", "cpu_user_utilization", "cpu_system_utilization",
                 "cpu_utilization", "cpu_user_time", "cpu_system_time", "cpu_time",
                 "memory_rss", "memory_max_rss"}
                | set(THREAD_LISTS)
                | {p + suffix for p in PHASES for suffix in ("", "_min_us", "_max_us", "_buckets")})
INT_KEYS = {"pid", "request_count", "request_threads_maximum", "request_threads_started",
            "request_threads_active", "gil_wait_count", "input_bytes", "input_reads",
            "output_bytes", "output_writes", "status_1xx", "status_2xx", "status_3xx",
            "status_4xx", "status_5xx", "memory_rss", "memory_max_rss"}


def test_metrics_counts(srv, child_pid):
    start = get_json(srv, "/misc/metrics_start")
    assert start["before"] == [None, None]
    pm1 = start["proc"]
    assert PROCESS_KEYS <= set(pm1), PROCESS_KEYS - set(pm1)
    assert pm1["pid"] == child_pid
    assert pm1["active_requests"] >= 1
    assert set(start["req"]) == REQUEST_KEYS, set(start["req"]) ^ REQUEST_KEYS
    for _ in range(3):
        assert srv.get("/env").status == 200
    time.sleep(0.3)
    now = get_json(srv, "/misc/metrics")
    assert now["proc"]["request_count"] == pm1["request_count"] + 4
    threads = now["proc"]["threads"]
    assert sum(t["request_count"] for t in threads) == now["proc"]["request_count"], threads
    assert all(1 <= t["thread_id"] <= now["proc"]["request_threads"] for t in threads), threads
    rm = now["req"]
    assert rm["request_count"] == 4
    assert rm["status_2xx"] == 4
    assert sum(rm["status_%dxx" % i] for i in range(1, 6)) == rm["request_count"]
    assert rm["start_time"] <= rm["stop_time"]
    assert rm["pid"] == child_pid
    # drained: nothing since the last call but that call itself
    time.sleep(0.2)
    assert get_json(srv, "/misc/metrics")["req"]["request_count"] == 1
    # WSGIServerMetrics is not on
    assert now["server"] is None


def test_request_metrics_queue_and_daemon_time_none_in_embedded(srv):
    get_json(srv, "/misc/metrics_start")
    rm = get_json(srv, "/misc/metrics")["req"]
    assert rm["queue_time"] is None and rm["daemon_time"] is None


# A response reaches the client a moment before its request is counted as done.
SETTLE = 0.1


def new_window(srv, prefix):
    """Starts recording and a new window, in which the drain request itself is counted."""
    get_json(srv, prefix + "/metrics_start")
    time.sleep(SETTLE)
    get_json(srv, prefix + "/metrics")
    time.sleep(SETTLE)


def bucket_of(us):
    """The histogram entry of a duration, from the documented boundaries: 16 octaves from 1 ms
    of four equal parts each; below 1 ms in entry 0, 65.536 s and more in entry 64."""
    edges = [1000 * 2 ** k * (4 + q) // 4 for k in range(16) for q in range(4)] + [65536000]
    return max(0, bisect.bisect_right(edges, us) - 1)


def check_window(got, hop):
    """Checks what holds for any request_metrics() result; hop: daemon mode."""
    rm, types = got["req"], got["types"]
    assert set(rm) == REQUEST_KEYS, set(rm) ^ REQUEST_KEYS
    n, threads = rm["request_count"], rm["request_threads_maximum"]
    for key in INT_KEYS:
        assert types[key] == "int", key
    for key in ("start_time", "stop_time", "sample_period", "request_throughput",
                "capacity_utilization", "cpu_user_utilization", "cpu_system_utilization",
                "cpu_utilization", "cpu_user_time", "cpu_system_time", "cpu_time",
                "gil_wait_time"):
        assert types[key] == "float", key
    assert rm["sample_period"] == pytest.approx(rm["stop_time"] - rm["start_time"], abs=1e-5)
    assert rm["request_throughput"] == pytest.approx(n / rm["sample_period"])
    for key in THREAD_LISTS:
        assert len(rm[key]) == threads, key
    assert rm["request_threads_buckets"] == rm["request_threads_completed"]
    assert sum(rm["request_threads_completed"]) == n
    assert all(isinstance(v, float) for key in THREAD_LISTS[2:] for v in rm[key])
    busy = sum(rm["request_threads_busy_time"])
    assert rm["capacity_utilization"] == pytest.approx(busy / (rm["sample_period"] * threads))
    assert 0 <= rm["capacity_utilization"] <= 1
    active = sum(1 for c, e in zip(rm["request_threads_completed"],
                                   rm["request_threads_current_elapsed"]) if c or e)
    assert rm["request_threads_active"] == active
    assert active <= rm["request_threads_started"]
    # this request is still running in its thread
    assert rm["request_threads_current_elapsed"][got["thread_id"] - 1] > 0
    for phase in PHASES + ["gil_wait_time"]:
        buckets = rm[phase + "_buckets"]
        assert len(buckets) == 65 and all(isinstance(b, int) for b in buckets), phase
        if phase in ("queue_time", "daemon_time") and not hop:
            assert rm[phase] is rm[phase + "_min_us"] is rm[phase + "_max_us"] is None
            assert sum(buckets) == 0
            continue
        assert sum(buckets) == n, phase
        assert isinstance(rm[phase], float), phase
        if phase == "gil_wait_time":
            continue  # its extremes are of single waits
        lo, hi = rm[phase + "_min_us"], rm[phase + "_max_us"]
        assert isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi, phase
        assert lo / 1e6 - 1e-6 <= rm[phase] <= hi / 1e6 + 1e-6, phase
        assert buckets[bucket_of(lo)] >= 1 and buckets[bucket_of(hi)] >= 1, phase
    assert rm["gil_wait_count"] >= n  # each request waits at least to start
    assert 0 <= rm["gil_wait_time_min_us"] <= rm["gil_wait_time_max_us"]
    assert sum(rm["status_%dxx" % i] for i in range(1, 6)) == n
    for old in ("cpu_user", "cpu_system", ""):
        assert rm[old + "_time" if old else "cpu_time"] == \
            rm[old + "_utilization" if old else "cpu_utilization"]


def test_request_metrics_histograms_embedded(srv):
    new_window(srv, "/misc")
    assert srv.get("/env").status == 200
    assert get_json(srv, "/misc/echo", method="POST", body=b"x" * 1000)["length"] == 1000
    slow = get_json(srv, "/misc/sleep?0.3")
    time.sleep(SETTLE)
    got = get_json(srv, "/misc/metrics")
    check_window(got, hop=False)
    rm = got["req"]
    # the drain before, /env, the POST and the slow one
    assert rm["request_count"] == 4 and rm["status_2xx"] == 4
    assert rm["request_threads_maximum"] == 8
    assert rm["input_bytes"] == 1000 and rm["input_reads"] >= 1
    assert rm["output_bytes"] > 0 and rm["output_writes"] >= 4
    # the slow request: alone from 256 ms on (entry 32 and up), in the entry of its duration
    app = rm["application_time_buckets"]
    assert rm["application_time_max_us"] >= 300000
    assert sum(app[bucket_of(256000):]) == 1, app
    assert app[bucket_of(rm["application_time_max_us"])] == 1, app
    assert sum(app[:bucket_of(256000)]) == 3, app
    assert rm["request_threads_max_duration"][slow["thread_id"] - 1] >= 0.3
    assert rm["request_threads_busy_time"][slow["thread_id"] - 1] >= 0.3
    assert rm["request_time_max_us"] >= rm["application_time_max_us"]


def test_request_metrics_histograms_daemon(srv):
    new_window(srv, "/dmisc")
    for _ in range(2):
        assert srv.get("/dmisc/x").status == 200
    slow = get_json(srv, "/dmisc/sleep?0.2")
    time.sleep(SETTLE)
    got = get_json(srv, "/dmisc/metrics")
    assert got["pid"] in group_pids(srv, "dm")
    check_window(got, hop=True)
    rm = got["req"]
    assert rm["request_count"] == 4
    assert rm["request_threads_maximum"] == 3
    assert rm["request_threads_started"] <= 3
    app = rm["application_time_buckets"]
    assert sum(app[bucket_of(200000):]) == 1, app
    assert rm["request_threads_max_duration"][slow["thread_id"] - 1] >= 0.2


def test_request_metrics_request_in_flight(srv):
    """A request running across a drain: its time before the drain is in the first window, the
    rest in the next, where it completes."""
    new_window(srv, "/misc")
    done = {}
    t = threading.Thread(target=lambda: done.update(get_json(srv, "/misc/sleep?0.8")))
    t.start()
    time.sleep(0.4)
    first = get_json(srv, "/misc/metrics")
    t.join(5)
    time.sleep(SETTLE)
    second = get_json(srv, "/misc/metrics")
    slot = done["thread_id"] - 1
    rm1, rm2 = first["req"], second["req"]
    check_window(first, hop=False)
    check_window(second, hop=False)
    assert rm1["request_threads_completed"][slot] == 0
    assert 0.3 <= rm1["request_threads_current_elapsed"][slot] < 0.8
    assert 0.3 <= rm1["request_threads_busy_time"][slot] < 0.8
    assert rm2["request_threads_completed"][slot] == 1
    assert rm2["request_threads_current_elapsed"][slot] == 0.0
    assert rm2["request_threads_max_duration"][slot] >= 0.8
    assert rm1["request_threads_busy_time"][slot] + rm2["request_threads_busy_time"][slot] \
        == pytest.approx(rm2["request_threads_max_duration"][slot], abs=0.002)


# ---- environ keys of issue 7 ----------------------------------------------------------------

ISSUE7_KEYS = ["mod_wsgi.request_id", "mod_wsgi.connection_id", "mod_wsgi.server_pid",
               "mod_wsgi.thread_id", "mod_wsgi.listener_host", "mod_wsgi.listener_port",
               "mod_wsgi.request_start", "mod_wsgi.queue_start", "mod_wsgi.daemon_start",
               "mod_wsgi.application_start"]
ISSUE7_TYPES = ["str", "str", "str", "int", "str", "str", "float", "float", "float", "float"]


def check_issue7_types(env):
    assert [env["_types"].get(k) for k in ISSUE7_KEYS] == ISSUE7_TYPES
    assert env["mod_wsgi.listener_host"] == "127.0.0.1"
    assert env["mod_wsgi.request_id"] and env["mod_wsgi.connection_id"]
    assert env["mod_wsgi.thread_id"] >= 1


def test_environ_keys_embedded(srv, child_pid):
    conn = srv.connection()
    try:
        envs = []
        for _ in range(2):
            conn.request("GET", "/env")
            envs.append(json.loads(conn.getresponse().read()))
    finally:
        conn.close()
    for env in envs:
        check_issue7_types(env)
        assert env["mod_wsgi.server_pid"] == str(env["_pid"]) == str(child_pid)
        assert env["mod_wsgi.listener_port"] == str(srv.port)
        assert env["mod_wsgi.queue_start"] == env["mod_wsgi.daemon_start"] == 0.0
        assert 0 < env["mod_wsgi.request_start"] <= env["mod_wsgi.application_start"] \
            <= env["_now"]
    # one connection, two requests
    assert envs[0]["mod_wsgi.connection_id"] == envs[1]["mod_wsgi.connection_id"]
    assert envs[0]["mod_wsgi.request_id"] != envs[1]["mod_wsgi.request_id"]


def test_environ_keys_daemon(srv, child_pid):
    env = get_json(srv, "/denv")
    check_issue7_types(env)
    assert env["_pid"] in group_pids(srv, "dm")
    # the Apache child that took the request, not the daemon
    assert env["mod_wsgi.server_pid"] == str(child_pid)
    assert int(env["mod_wsgi.server_pid"]) != env["_pid"]
    assert env["mod_wsgi.listener_port"] == str(srv.port)
    starts = [env["mod_wsgi.%s_start" % k] for k in ("request", "queue", "daemon",
                                                      "application")]
    assert starts[1] > 0 and starts[2] > 0
    assert starts == sorted(starts), starts
    assert starts[3] <= env["_now"]


# ---- WSGIPassApacheRequest, WSGIEnableSendfile -----------------------------------------------

def test_pass_apache_request_capsule(srv):
    env = get_json(srv, "/rr")
    assert env["_types"].get("apache.request_rec") == "PyCapsule"
    assert env["apache.request_rec"].startswith('<capsule object "apache.request_rec" at ')
    assert "apache.request_rec" not in get_json(srv, "/env")
    denv = get_json(srv, "/drr")
    assert denv["mod_wsgi.process_group"] == "dm"
    assert "apache.request_rec" not in denv


def test_enable_sendfile_file_wrapper_intact(srv):
    r = srv.get("/sendfile/file")
    assert r.status == 200 and r.error is None
    assert len(r.body) == len(BIG)
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(BIG).hexdigest()


# ---- an Apache that stops: process_stopping, WSGIDestroyInterpreter Off, server metrics, ----
# ---- WSGICaseSensitivity Off ----------------------------------------------------------------

STOP_APP = r'''
import json, os, mod_wsgi
OUT = os.path.join(os.path.dirname(__file__), 'out')

@mod_wsgi.subscribe_events
def on_event(name, **kw):
    if name == 'process_stopping':
        with open(os.path.join(OUT, 'stopping-%d' % os.getpid()), 'w') as f:
            json.dump([name, kw], f)

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'pid': os.getpid(), 'group': environ['mod_wsgi.application_group'],
                        'script_name': environ['SCRIPT_NAME'],
                        'server': mod_wsgi.server_metrics()}).encode()]
'''

WORKER_KEYS = {"thread_num", "generation", "status", "access_count", "bytes_served",
               "start_time", "stop_time", "last_used", "client", "request", "vhost"}


def test_process_stopping_destroy_interpreter_off_server_metrics_case(apache):
    a = apache("""
        WSGIDestroyInterpreter Off
        WSGIServerMetrics On
        WSGICaseSensitivity Off
        WSGIScriptAlias /MixedCase @ROOT@/stop.wsgi
    """, mpm="event", mpm_config=EVENT_ONE, files={"stop.wsgi": STOP_APP}, start=False)
    make_out(a)
    a.start()
    info = get_json(a, "/MixedCase")
    pid = info["pid"]
    assert info["script_name"] == "/MixedCase"
    assert info["group"] == "localhost:%d|/mixedcase" % a.port
    sm = info["server"]
    assert isinstance(sm, dict), sm
    assert {"server_limit", "thread_limit", "processes"} <= set(sm)
    assert len(sm["processes"]) == sm["server_limit"]
    mine = [p for p in sm["processes"] if p["pid"] == pid]
    assert len(mine) == 1
    assert {"process_num", "pid", "generation", "quiescing", "workers"} <= set(mine[0])
    assert len(mine[0]["workers"]) == sm["thread_limit"]
    assert WORKER_KEYS <= set(mine[0]["workers"][0])
    statuses = [w["status"] for w in mine[0]["workers"]]
    # Let the worker that reads our connection's close go idle first: the event MPM's
    # ungraceful stop (close_worker_sockets) can read a busy worker's socket while the
    # listener frees its pool, a crash of httpd's own (it happens without this module too).
    time.sleep(0.5)
    a.mark_log()
    a.signal(signal.SIGTERM)
    assert a.proc.wait(20) == 0
    seen = read_json(a.path("out/stopping-%d" % pid), timeout=1)
    assert seen == ["process_stopping", {"shutdown_reason": "shutdown_signal"}], \
        (os.listdir(a.path("out")), a.error_log()[-2000:])
    assert not re.search(r"exit signal|Segmentation|core dumped", a.new_log()), a.new_log()
    assert not alive(pid)
    # mod_status letters: this request's worker was writing ('W'), idle ones ready ('_')
    assert statuses.count("W") == 1, statuses
    assert "_" in statuses, statuses


BUSY_APP = STOP_APP + r'''
import time
_app = application

def application(environ, start_response):
    how = environ.get('QUERY_STRING')
    if how in ('spin', 'sleep'):
        open(os.path.join(OUT, 'running-%d' % os.getpid()), 'w').close()
        end = time.time() + 10
        while time.time() < end:
            if how == 'sleep':
                time.sleep(0.1)  # without the GIL
    return _app(environ, start_response)
'''


@pytest.mark.parametrize("destroy", ["On", "Off"])
@pytest.mark.parametrize("how", ["idle", "spin", "sleep"])
def test_prefork_sigterm_idle_or_during_a_request(apache, how, destroy):
    # prefork runs the child's cleanups from its SIGTERM handler, on top of any request it
    # interrupts: entering Python there waited forever for the GIL that request holds (the
    # child was killed after 10 seconds) or ended an interpreter under a running frame
    # (abort). Such a child now exits without its shutdown callbacks; an idle one runs them.
    a = apache("""
        WSGIDestroyInterpreter %s
        WSGIScriptAlias /busy @ROOT@/busy.wsgi
    """ % destroy, mpm="prefork", mpm_config=PREFORK_ONE, files={"busy.wsgi": BUSY_APP},
        start=False)
    make_out(a)
    a.start()
    pid = get_json(a, "/busy")["pid"]  # the child made its sub interpreter

    def busy():
        try:
            a.get("/busy?" + how, timeout=20)
        except OSError:
            pass  # the child goes away under the request

    t = threading.Thread(target=busy, daemon=True)
    if how != "idle":
        t.start()
        assert wait_for(lambda: os.path.exists(a.path("out/running-%d" % pid)), 10)
    else:
        # The client has the whole response before the child has left Python (it still
        # closes the iterable, tells request_finished subscribers, ends the request): a
        # SIGTERM then finds it in the request, which rightly skips the callbacks. A static
        # file is served by the one child only once that request is over: then it is idle.
        a.write("htdocs/idle.txt", "idle")
        assert a.get("/idle.txt").body == b"idle"
    a.mark_log()
    began = time.time()
    a.signal(signal.SIGTERM)
    assert a.proc.wait(20) == 0
    took = time.time() - began
    log = a.new_log()
    assert not re.search(r"exit signal|still did not exit|Fatal Python error", log), log
    assert took < 5, (took, log)
    assert not alive(pid)
    if how == "idle":
        seen = read_json(a.path("out/stopping-%d" % pid), timeout=1)
        assert seen == ["process_stopping", {"shutdown_reason": "shutdown_signal"}], log
    else:
        t.join(20)


def test_verbose_debugging_accepted(apache):
    a = apache("WSGIVerboseDebugging On\nWSGIScriptAlias /x @ROOT@/x.wsgi", start=False)
    rc, out = a.configtest()
    assert rc == 0, out
    assert "Syntax OK" in out


# ---- threads=0 service scripts ---------------------------------------------------------------

SERVICE = r'''
import os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')
pid = os.getpid()
try:
    while True:
        with open(os.path.join(OUT, 'hb-%d' % pid), 'a') as f:
            f.write('%f\n' % time.time())
        time.sleep(0.1)
except SystemExit:
    with open(os.path.join(OUT, 'stopped-%d' % pid), 'w') as f:
        f.write('stopped')
    raise
'''

SERVICE_ENDS = r'''
import os, time
OUT = os.path.join(os.path.dirname(__file__), 'out')
open(os.path.join(OUT, 'ends-%d' % os.getpid()), 'w').close()
time.sleep(0.5)
'''


def test_service_script_threads_zero(apache):
    a = apache("""
        WSGIDaemonProcess svc threads=0 display-name=%{GROUP}
        WSGIDaemonProcess ends threads=0 display-name=%{GROUP}
        WSGIImportScript @ROOT@/service.py process-group=svc application-group=%{GLOBAL}
        WSGIImportScript @ROOT@/ends.py process-group=ends application-group=%{GLOBAL}
    """, files={"service.py": SERVICE, "ends.py": SERVICE_ENDS}, start=False)
    make_out(a)
    a.start()
    pids = wait_for(lambda: group_pids(a, "svc"))
    assert len(pids) == 1, a.error_log()[-2000:]
    pid = pids[0]
    hb = a.path("out/hb-%d" % pid)

    def beats():
        return len(a.read(hb).splitlines()) >= 3
    # heartbeats without any request
    assert wait_for(beats), (os.listdir(a.path("out")), a.error_log()[-2000:])

    # a script that ends: its process is replaced by a new one
    def ended():
        return len([f for f in os.listdir(a.path("out")) if f.startswith("ends-")]) >= 2
    assert wait_for(ended, 15), (os.listdir(a.path("out")), a.error_log()[-3000:])

    # Apache stops: SIGTERM becomes SystemExit in the script, and the process is gone
    a.signal(signal.SIGTERM)
    a.proc.wait(20)
    assert a.read(a.path("out/stopped-%d" % pid)) == "stopped", \
        (os.listdir(a.path("out")), a.error_log()[-3000:])
    assert wait_for(lambda: not alive(pid), 5)
