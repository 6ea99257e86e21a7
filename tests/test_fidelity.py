"""Drop-in fidelity with mod_wsgi 6 (issue 11): empty option values, the standard streams,
restricted stdin/stdout, sys.argv, HOME and the locale of daemons, start_response's rules and
exceptions, the reload_required() hook, mod_wsgi 6's log lines and the request_finished event.

One Apache serves the same application embedded (/e/...) and in a daemon group (/d/...), so
that every behaviour both modes share is checked in both. Reference:
/work/shared/reference/mod_wsgi6-behaviour.md section 9.
"""
import json
import os
import pwd
import re
import time
import uuid

import pytest

from harness import EVENT_ONE, RUN_USER, make_out

FID_APP = r'''
import io, json, os, sys, locale

def streams(environ):
    out = {}
    for name, s in (('stdout', sys.stdout), ('stderr', sys.stderr),
                    ('errors', environ['wsgi.errors'])):
        d = {'type': type(s).__module__ + '.' + type(s).__qualname__,
             'encoding': s.encoding, 'errors': s.errors, 'line_buffering': s.line_buffering,
             'write_through': s.write_through, 'buffer': type(s.buffer).__name__}
        try:
            s.fileno()
            d['fileno'] = 'no exception'
        except OSError as e:
            d['fileno'] = '%s/OSError=%s: %s' % (type(e).__name__, isinstance(e, OSError), e)
        out[name] = d
    return out

CASES = {
    'exc_not_tuple': lambda sr: sr('200 OK', [], 'x'),
    'headers_tuple': lambda sr: sr('200 OK', ()),
    'hdr_not_tuple': lambda sr: sr('200 OK', [['a', 'b']]),
    'hdr_3tuple': lambda sr: sr('200 OK', [('a', 'b', 'c')]),
    'hdr_value_nonlatin': lambda sr: sr('200 OK', [('X-A', '\u20ac')]),
    'hdr_value_bytes': lambda sr: sr('200 OK', [('X-A', b'a')]),
    'hdr_name_empty': lambda sr: sr('200 OK', [('', 'a')]),
    'hdr_name_space': lambda sr: sr('200 OK', [('X A', 'a')]),
    'hdr_name_ctl': lambda sr: sr('200 OK', [('X\x01A', 'a')]),
    'hdr_value_crlf': lambda sr: sr('200 OK', [('X-A', 'a\r\nB: c')]),
    'status_bytes': lambda sr: sr(b'200 OK', []),
    'status_short': lambda sr: sr('20 OK', []),
    'status_4digits': lambda sr: sr('2000 OK', []),
    'status_nospace': lambda sr: sr('200', []),
    'status_ctl': lambda sr: sr('200 O\x01K', []),
}

def application(environ, start_response):
    case = environ['PATH_INFO'].strip('/')
    tok = environ.get('QUERY_STRING', '')
    ct = [('Content-Type', 'text/plain')]
    if case in CASES:
        try:
            CASES[case](start_response)
            r = 'accepted'
        except Exception as e:
            r = '%s: %s' % (type(e).__name__, e)
        start_response('200 OK', ct, sys.exc_info())
        return [r.encode()]
    if case == 'streams':
        start_response('200 OK', ct)
        return [json.dumps(streams(environ)).encode()]
    if case == 'write_buffers':
        sys.stdout.buffer.write(b'stdout-buffer ' + tok.encode() + b'\n')
        environ['wsgi.errors'].buffer.write(b'errors-buffer ' + tok.encode() + b'\n')
        print('printed \u00e9 ' + tok)
        print('surrogate \udcff ' + tok, file=environ['wsgi.errors'])
        start_response('200 OK', ct)
        return [b'ok']
    if case == 'process':
        try:
            stdin = repr(sys.stdin.read)
        except OSError as e:
            stdin = 'OSError: %s' % e
        start_response('200 OK', ct)
        return [json.dumps({'argv': sys.argv, 'HOME': os.environ.get('HOME'), 'stdin': stdin,
                            'utf8_mode': sys.flags.utf8_mode,
                            'encoding': locale.getpreferredencoding(False),
                            'LANG': os.environ.get('LANG'), 'LC_ALL': os.environ.get('LC_ALL'),
                            'ctype': locale.setlocale(locale.LC_CTYPE)}).encode()]
    if case == 'empty_then_exc':
        def gen():
            start_response('200 OK', [('X-First', '1')])
            yield b''
            try:
                raise ValueError('replaced')
            except ValueError:
                start_response('203 Replaced', [('X-Replaced', '1')], sys.exc_info())
            yield b'replaced body'
        return gen()
    if case == 'write_empty_then_exc':
        write = start_response('200 OK', [('X-First', '1')])
        write(b'')
        try:
            raise ValueError('replaced')
        except ValueError:
            write = start_response('203 Replaced', [('X-Replaced', '1')], sys.exc_info())
        write(b'written body')
        return []
    if case == 'twice':
        start_response('500 First', [('X-First', '1')])
        start_response('201 Second', [('X-Second', '2')])
        return [b'second']
    if case == 'after_output':
        write = start_response('200 OK', ct)
        write(b'out;')
        try:
            start_response('201 Late', ct)
        except RuntimeError as e:
            return [('RuntimeError: %s' % e).encode()]
        return [b'no exception']
    if case == 'nonbytes_after':
        start_response('200 OK', ct)
        return [b'good part', 'a str']
    if case == 'raise':
        raise ValueError('boom ' + tok)
    if case == 'exit':
        raise SystemExit('exit ' + tok)
    start_response('404 Not Found', ct)
    return [b'no such case']
'''

EVENTS_APP = r'''
import json, mod_wsgi

finished = {}

def on_event(name, **event):
    if name == 'request_finished':
        keep = {k: event.get(k) for k in ('request_start', 'queue_start', 'daemon_start',
                                          'application_start', 'gil_wait_time',
                                          'gil_wait_count')}
        finished[event['request_data'].get('tok')] = keep

mod_wsgi.subscribe_events(on_event)

def application(environ, start_response):
    tok = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'application/json')])
    if environ['PATH_INFO'] == '/get':
        return [json.dumps(finished.get(tok)).encode()]
    mod_wsgi.request_data()['tok'] = tok
    return [environ['wsgi.input'].read()]
'''

RELOAD_APP = r'''
import os, time
LOAD_ID = repr(time.time())
FLAG = os.path.join(os.path.dirname(__file__), 'out', os.path.basename(__file__) + '.flag')
SEEN = os.path.join(os.path.dirname(__file__), 'out', os.path.basename(__file__) + '.seen')

def reload_required(resource):
    with open(SEEN, 'w') as f:
        f.write(resource)
    if os.path.exists(FLAG):
        what = open(FLAG).read()
        os.unlink(FLAG)
        if what == 'raise':
            raise RuntimeError('reload_required raising on purpose')
        return True
    return False

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d' % (LOAD_ID, os.getpid())).encode()]
'''

LOAD_FAIL_APP = '''
import no_such_module_pyhost_fidelity
'''

CONFIG = """
WSGIDaemonProcess fid processes=1 threads=4 python-path='' python-eggs='' lang='' locale=''
WSGIScriptAlias /e @ROOT@/fid.wsgi
WSGIScriptAlias /d @ROOT@/fid.wsgi process-group=fid
WSGIScriptAlias /ev/e @ROOT@/events.wsgi
WSGIScriptAlias /ev/d @ROOT@/events.wsgi process-group=fid
WSGIScriptAlias /re/e @ROOT@/reload_e.wsgi
WSGIScriptAlias /re/d @ROOT@/reload_d.wsgi process-group=fid
WSGIScriptAlias /loadfail @ROOT@/loadfail.wsgi
WSGIScriptAlias /nocallable @ROOT@/fid.wsgi callable-object=nothing_here
WSGIDaemonProcess loc_utf8 threads=1 lang=C.UTF-8 locale=C.UTF-8
WSGIScriptAlias /loc/utf8 @ROOT@/fid.wsgi process-group=loc_utf8
WSGIDaemonProcess loc_posix threads=1 locale=POSIX
WSGIScriptAlias /loc/posix @ROOT@/fid.wsgi process-group=loc_posix
WSGIDaemonProcess loc_bad threads=1 locale=xx_YY.NOPE
WSGIScriptAlias /loc/bad @ROOT@/fid.wsgi process-group=loc_bad
"""

MODES = ["e", "d"]


@pytest.fixture(scope="module")
def srv(module_apache):
    a = module_apache(CONFIG, files={"fid.wsgi": FID_APP, "events.wsgi": EVENTS_APP,
                                     "reload_e.wsgi": RELOAD_APP, "reload_d.wsgi": RELOAD_APP,
                                     "loadfail.wsgi": LOAD_FAIL_APP},
                      mpm_config=EVENT_ONE, start=False)
    make_out(a)
    a.start()
    return a


def token():
    return uuid.uuid4().hex[:12]


def get_json(a, path):
    r = a.get(path)
    assert r.status == 200, (r, a.error_log()[-3000:])
    return json.loads(r.body)


def context(a, mode, script, group=None):
    """mod_wsgi 6's name of the interpreter a script of /<mode> runs in."""
    name = "localhost:%d|%s" % (a.port, script)
    if mode == "e":
        return "sub-interpreter '%s' in embedded mode" % name
    return "sub-interpreter '%s' of daemon process '%s'" % (name, group or "fid")


# ---- configuration ------------------------------------------------------------------------

def test_empty_option_values_mod_wsgi_takes_are_accepted(apache):
    a = apache("""
        WSGIDaemonProcess g python-path='' python-eggs='' python-home='' display-name=''
        WSGIDaemonProcess h lang='' locale='' supplementary-groups=''
    """, start=False)
    assert a.configtest() == (0, "Syntax OK\n")


@pytest.mark.parametrize("option", ["processes", "threads", "home", "user", "maximum-requests"])
def test_empty_values_mod_wsgi_refuses_still_fail(apache, option):
    a = apache("WSGIDaemonProcess g %s=''\n" % option, start=False)
    rc, out = a.configtest()
    assert rc != 0
    assert "WSGIDaemonProcess g: option '%s=' needs a value" % option in out, out


def test_group_with_empty_python_path_serves(srv):
    # group fid is defined with python-path='' python-eggs='' lang='' locale=''
    assert srv.get("/d/twice").status == 201


# ---- standard streams ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_streams_are_text_wrappers_over_a_binary_log(srv, mode):
    got = get_json(srv, "/%s/streams" % mode)
    for name in ("stdout", "stderr", "errors"):
        assert got[name] == {
            "type": "_io.TextIOWrapper", "encoding": "utf-8", "errors": "replace",
            "line_buffering": True, "write_through": True, "buffer": "Log",
            "fileno": "UnsupportedOperation/OSError=True: Apache/mod_wsgi log object is not "
                      "associated with a file descriptor."}, name


@pytest.mark.parametrize("mode", MODES)
def test_bytes_written_to_buffer_reach_the_error_log(srv, mode):
    tok = token()
    srv.mark_log()
    assert srv.get("/%s/write_buffers?%s" % (mode, tok)).body == b"ok"
    # UTF-8 (Apache's log escapes the bytes), and 'replace' for what UTF-8 cannot encode
    for pattern in (r"stdout-buffer %s$", r"errors-buffer %s$", r"printed \\xc3\\xa9 %s$",
                    r"surrogate \? %s$"):
        assert srv.wait_log("(?m)" + pattern % tok), (pattern, srv.new_log())
    # wsgi.errors lines carry the client, as mod_wsgi's request-bound log does
    assert srv.log_lines(r"\[client 127\.0\.0\.1:\d+\] (\[client 127\.0\.0\.1:\d+\] )?"
                         r"errors-buffer %s" % tok), srv.new_log()


@pytest.mark.parametrize("mode", MODES)
def test_argv_and_unrestricted_stdin(srv, mode):
    got = get_json(srv, "/%s/process" % mode)
    assert got["argv"] == ["mod_wsgi"]
    assert got["stdin"].startswith("<built-in method read of _io.TextIOWrapper")


def test_restricted_stdin_and_stdout_refuse_attribute_access(apache):
    a = apache("""
        WSGIRestrictStdin On
        WSGIRestrictStdout On
        WSGIDaemonProcess r threads=1
        WSGIScriptAlias /e @ROOT@/r.wsgi
        WSGIScriptAlias /d @ROOT@/r.wsgi process-group=r
    """, files={"r.wsgi": r'''
import sys
def application(environ, start_response):
    out = []
    for what in ('sys.stdin.read', 'sys.stdout.write', 'sys.stdin.buffer'):
        obj, attr = what.rsplit('.', 1)
        try:
            getattr(eval(obj), attr)
            out.append(what + ': no exception')
        except OSError as e:
            out.append('%s: %s: %s' % (what, type(e).__name__, e))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['\n'.join(out).encode()]
'''})
    for mode in MODES:
        r = a.get("/" + mode)
        assert r.body.decode().splitlines() == [
            "sys.stdin.read: OSError: sys.stdin access restricted by mod_wsgi",
            "sys.stdout.write: OSError: sys.stdout access restricted by mod_wsgi",
            "sys.stdin.buffer: OSError: sys.stdin access restricted by mod_wsgi"], mode


# ---- HOME and the locale of daemons -------------------------------------------------------

def test_daemon_home_is_its_users_home_embedded_keeps_apaches(srv):
    assert get_json(srv, "/d/process")["HOME"] == pwd.getpwnam(RUN_USER).pw_dir
    assert get_json(srv, "/e/process")["HOME"] == os.environ.get("HOME")


def test_locale_options(srv):
    utf8 = get_json(srv, "/loc/utf8/process")
    assert (utf8["LANG"], utf8["LC_ALL"], utf8["ctype"]) == ("C.UTF-8", "C.UTF-8", "C.UTF-8")
    # a real locale: Python follows it, as under mod_wsgi (no UTF-8 mode)
    assert (utf8["utf8_mode"], utf8["encoding"]) == (0, "UTF-8")
    posix = get_json(srv, "/loc/posix/process")
    assert (posix["LC_ALL"], posix["ctype"]) == ("POSIX", "C")
    # the C/POSIX locale: Python's UTF-8 mode (PEP 540) instead of ASCII; see the README
    assert (posix["utf8_mode"], posix["encoding"]) == (1, "utf-8")
    bad = get_json(srv, "/loc/bad/process")
    assert bad["LC_ALL"] == "xx_YY.NOPE"
    assert re.search(r"\[wsgi:warn\] .*WSGI0079: Unsupported locale setting 'xx_YY\.NOPE' "
                     r"specified for daemon process group 'loc_bad'; daemon will run with the "
                     r"inherited locale\. Consider 'C\.UTF-8' as a fallback\.",
                     srv.error_log()), srv.error_log()[-3000:]


# ---- start_response -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["empty_then_exc", "write_empty_then_exc"])
def test_headers_wait_for_the_first_non_empty_block(srv, mode, path):
    r = srv.get("/%s/%s" % (mode, path))
    assert (r.status, r.reason, r.error) == (203, "Replaced", None), r
    assert r.header("X-Replaced") == "1" and r.header("X-First") is None
    assert r.body == (b"replaced body" if path == "empty_then_exc" else b"written body")


def test_second_start_response_before_output_wins_with_one_warning(srv):
    for mode in MODES:
        for _ in range(3):
            r = srv.get("/%s/twice" % mode)
            assert (r.status, r.reason, r.body) == (201, "Second", b"second")
            assert r.header("X-Second") == "2" and r.header("X-First") is None
    time.sleep(0.2)
    lines = [line for line in srv.error_log().splitlines() if re.search(
        r"\[wsgi:warn\] .*WSGI application 'application' of %s called start_response\(\) a "
        r"second time without exc_info before sending any output; PEP 3333 allows that only "
        r"with exc_info" % re.escape(srv.path("fid.wsgi")), line)]
    # once per application: one in the Apache child, one in the daemon process
    assert len(lines) == 2, lines


@pytest.mark.parametrize("mode", MODES)
def test_start_response_after_output_raises_runtime_error(srv, mode):
    r = srv.get("/%s/after_output" % mode)
    assert r.body == b"out;RuntimeError: headers have already been sent"


START_RESPONSE_ERRORS = {
    "exc_not_tuple": "RuntimeError: exception info must be a tuple",
    "headers_tuple": "TypeError: start_response() argument 2 must be list, not tuple",
    "hdr_not_tuple": "TypeError: list of tuple values expected for headers, value of type "
                     "list found",
    "hdr_3tuple": "ValueError: tuple of length 2 expected for header, length is 3",
    "hdr_value_nonlatin": "UnicodeEncodeError: 'latin-1' codec can't encode character '\\u20ac' "
                          "in position 0: ordinal not in range(256)",
    "hdr_value_bytes": "TypeError: expected unicode object, value of type bytes found",
    "hdr_name_empty": "ValueError: header name is empty",
    "hdr_name_space": "ValueError: space character present in header name",
    "hdr_name_ctl": "ValueError: control character present in header name",
    "hdr_value_crlf": "ValueError: carriage return/line feed character present in header value",
    "status_bytes": "TypeError: expected unicode object, value of type bytes found",
    "status_short": "ValueError: status code is not a 3 digit integer",
    "status_4digits": "ValueError: status code is not a 3 digit integer",
    "status_nospace": "ValueError: no space following status code",
    "status_ctl": "ValueError: control character present in reason phrase",
}


@pytest.mark.parametrize("mode", MODES)
def test_start_response_checks_raise_mod_wsgis_classes_and_messages(srv, mode):
    got = {case: srv.get("/%s/%s" % (mode, case)).body.decode()
           for case in START_RESPONSE_ERRORS}
    assert got == START_RESPONSE_ERRORS


@pytest.mark.parametrize("mode", MODES)
def test_non_bytes_item_after_a_good_one_is_500(srv, mode):
    # a deliberate difference (README): items are checked before anything is sent
    srv.mark_log()
    r = srv.get("/%s/nonbytes_after" % mode)
    assert r.status == 500 and b"good part" not in r.body
    assert srv.wait_log(r"WSGI0174: TypeError exception raised processing WSGI script '%s' for "
                        r"%s\. TypeError: sequence of byte string values expected, value of "
                        r"type str found"
                        % (re.escape(srv.path("fid.wsgi")),
                           re.escape(context(srv, mode, "/" + mode)))), srv.new_log()


# ---- log lines ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_application_exception_lines(srv, mode):
    tok = token()
    srv.mark_log()
    assert srv.get("/%s/raise?%s" % (mode, tok)).status == 500
    ctx = re.escape(context(srv, mode, "/" + mode))
    script = re.escape(srv.path("fid.wsgi"))
    assert srv.wait_log(r"\[wsgi:error\] .*WSGI0174: ValueError exception raised processing "
                        r"WSGI script '%s' for %s\. ValueError: boom %s" % (script, ctx, tok)), \
        srv.new_log()
    assert srv.wait_log(r"Traceback \(most recent call last\)")
    assert srv.get("/%s/exit?%s" % (mode, tok)).status == 500
    assert srv.wait_log(r"WSGI0175: SystemExit exception raised by WSGI script '%s' for %s; "
                        r"ignored\. SystemExit: exit %s" % (script, ctx, tok)), srv.new_log()


def test_loading_and_load_failure_lines(srv):
    assert srv.get("/e/twice").status == 201
    assert re.search(r"\[wsgi:info\] .*Loading Python script file '%s'\."
                     % re.escape(srv.path("fid.wsgi")), srv.error_log())
    srv.mark_log()
    assert srv.get("/loadfail").status == 500
    assert srv.wait_log(r"\[wsgi:error\] .*WSGI0109: Unable to execute Python script file "
                        r"'%s'\. ModuleNotFoundError: No module named "
                        r"'no_such_module_pyhost_fidelity'" % re.escape(srv.path("loadfail.wsgi"))
                        ), srv.new_log()
    assert srv.get("/nocallable").status == 404
    assert srv.wait_log(r"WSGI0089: Target WSGI script '%s' does not contain WSGI application "
                        r"'nothing_here'\." % re.escape(srv.path("fid.wsgi"))), srv.new_log()


# ---- reload_required ----------------------------------------------------------------------

def test_reload_required_embedded(srv):
    path = srv.path("reload_e.wsgi")
    flag, seen = srv.path("out/reload_e.wsgi.flag"), srv.path("out/reload_e.wsgi.seen")
    first = srv.get("/re/e").body
    assert srv.get("/re/e").body == first  # loaded, unchanged, the hook said no
    with open(seen) as f:
        assert f.read() == path  # the resource is the request's file name
    srv.mark_log()
    with open(flag, "w") as f:
        f.write("raise")
    assert srv.get("/re/e").body == first  # an exception means no reload
    assert srv.wait_log(r"exception in reload_required\(\) of WSGI script '%s'; it is not "
                        r"reloaded: RuntimeError: reload_required raising on purpose"
                        % re.escape(path)), srv.new_log()
    assert srv.wait_log(r"Traceback \(most recent call last\)")
    with open(flag, "w") as f:
        f.write("yes")
    second = srv.get("/re/e").body
    assert second != first and second.split()[1] == first.split()[1]  # same process
    assert srv.wait_log(r"\[wsgi:info\] .*Reloading WSGI script '%s'\." % re.escape(path))
    assert srv.get("/re/e").body == second


def test_reload_required_daemon_restarts_losing_no_request(srv):
    flag = srv.path("out/reload_d.wsgi.flag")
    first = srv.get("/re/d").body
    assert srv.get("/re/d").body == first
    srv.mark_log()
    with open(flag, "w") as f:
        f.write("raise")
    assert srv.get("/re/d").body == first  # an exception means no restart
    assert srv.wait_log(r"exception in reload_required\(\) of WSGI script '%s'; it is not "
                        r"reloaded: RuntimeError: reload_required raising on purpose"
                        % re.escape(srv.path("reload_d.wsgi"))), srv.new_log()
    with open(flag, "w") as f:
        f.write("yes")
    r = srv.get("/re/d")
    assert r.status == 200, (r, srv.new_log())
    assert r.body.split()[1] != first.split()[1]  # served by the replacement process
    assert srv.wait_log(r"reload_required\(\) of WSGI script '%s' returned true"
                        % re.escape(srv.path("reload_d.wsgi")))
    assert srv.wait_log(r"restarting: script %s changed" % re.escape(srv.path("reload_d.wsgi")))
    assert srv.get("/re/d").body == r.body


# ---- request_finished ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_request_finished_event_keys(srv, mode):
    get_json(srv, "/ev/%s/get?warm-up" % mode)  # the script subscribes when it is loaded
    tok = token()
    start = time.time()
    assert srv.request("/ev/%s/post?%s" % (mode, tok), method="POST", body=b"x" * 1000).body \
        == b"x" * 1000
    # request_finished comes after the last byte went to the client, so the next request,
    # on another thread, can be there first: ask until the event has been stored.
    deadline = time.time() + 10
    ev = get_json(srv, "/ev/%s/get?%s" % (mode, tok))
    while ev is None and time.time() < deadline:
        time.sleep(0.05)
        ev = get_json(srv, "/ev/%s/get?%s" % (mode, tok))
    assert ev is not None, srv.error_log()[-3000:]
    assert start - 1 < ev["request_start"] <= ev["application_start"] <= time.time()
    if mode == "e":
        assert (ev["queue_start"], ev["daemon_start"]) == (0.0, 0.0)
    else:
        assert ev["request_start"] <= ev["queue_start"] <= ev["daemon_start"] \
            <= ev["application_start"]
    assert isinstance(ev["gil_wait_count"], int) and ev["gil_wait_count"] >= 1
    assert isinstance(ev["gil_wait_time"], float) and 0 <= ev["gil_wait_time"] < 5


def test_request_timeout_interrupt_line(apache):
    a = apache("""
        WSGIDaemonProcess it threads=1 request-timeout=1 interrupt-timeout=3
        WSGIScriptAlias /slow @ROOT@/slow.wsgi process-group=it
    """, files={"slow.wsgi": r'''
import time
def application(environ, start_response):
    if environ['QUERY_STRING'] == 'after_headers':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'started;')
    time.sleep(2.5)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'not reached']
'''})
    a.mark_log()
    assert a.get("/slow").status == 504
    assert a.wait_log(r"\[wsgi:error\] .*mod_wsgi \(pid=\d+\): Injected RequestTimeout into "
                      r"thread \d+\."), a.new_log()
    assert a.wait_log(r"\[wsgi:error\] .*Request interrupted by RequestTimeout; thread "
                      r"recovered\. \(%s was interrupted by mod_wsgi\.RequestTimeout: "
                      r"request-timeout; answered with 504\)" % re.escape(a.path("slow.wsgi"))), \
        a.new_log()
    r = a.get("/slow?after_headers")
    assert (r.status, r.body) == (200, b"started;") and r.error is not None
    assert a.wait_log(r"Request interrupted by RequestTimeout after headers sent; response "
                      r"truncated\."), a.new_log()


# ---- side by side with Debian's mod_wsgi 4.9.4 -------------------------------------------

REFERENCE_MODULE = "/usr/lib/apache2/modules/mod_wsgi.so"


def test_same_answers_as_debians_mod_wsgi(apache):
    """The cases above under mod_wsgi 4.9.4 give what mod_pyhost gives, but for mod_wsgi 6's
    changes (UnicodeEncodeError, io.UnsupportedOperation)."""
    if not os.path.exists(REFERENCE_MODULE):
        pytest.skip("libapache2-mod-wsgi-py3 is not installed (make bench installs it)")
    answers = []
    for module in (None, REFERENCE_MODULE):
        kw = {"module": module} if module else {}
        a = apache("WSGIScriptAlias /e @ROOT@/fid.wsgi\n", files={"fid.wsgi": FID_APP}, **kw)
        got = {case: a.get("/e/" + case).body.decode() for case in START_RESPONSE_ERRORS}
        for case in ("twice", "empty_then_exc", "write_empty_then_exc", "after_output"):
            r = a.get("/e/" + case)
            got[case] = (r.status, r.reason, sorted(h for h in r.headers if h[0][:2] == "X-"),
                         r.body.decode())
        got["streams"] = get_json(a, "/e/streams")
        answers.append(got)
        a.cleanup()
    ours, theirs = answers
    assert theirs["hdr_value_nonlatin"] == ("ValueError: unicode object contains non latin-1 "
                                            "characters")
    assert ours["hdr_value_nonlatin"].startswith("UnicodeEncodeError: 'latin-1' codec")
    message = "Apache/mod_wsgi log object is not associated with a file descriptor."
    for name in ("stdout", "stderr", "errors"):
        assert theirs["streams"][name].pop("fileno") == "OSError/OSError=True: " + message
        assert ours["streams"][name].pop("fileno") == "UnsupportedOperation/OSError=True: " + \
            message
    # mod_wsgi's write(b'') sends the headers: exc_info then raises again (a 500); PEP 3333
    # and mod_pyhost wait for a non-empty block (README, deliberate differences)
    assert theirs["write_empty_then_exc"][0] == 500
    assert ours["write_empty_then_exc"][0] == 203
    for key in ("hdr_value_nonlatin", "write_empty_then_exc"):
        del ours[key], theirs[key]
    assert ours == theirs
