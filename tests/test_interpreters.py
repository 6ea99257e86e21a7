"""Interpreters: sub interpreters per application group, %{GLOBAL}, preloading, reloading,
the process-wide WSGIPython* settings, the restrictions, the mod_wsgi module, and real
frameworks (numpy, Flask, Django) in embedded mode.

Most tests share one Apache: prefork with a single child, so that every request of every
application runs in the same process and only the interpreter differs.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from apps import framework_files
from harness import PREFORK_ONE, require_module

EVENT_ONE = """
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 8
"""

# One probe, copied under several names (each file is its own script module).  The query
# string chooses an action; the answer describes the interpreter that ran it.
PROBE = r'''
import builtins, json, os, sys, types, warnings
import mod_wsgi
try:
    import _xxsubinterpreters as _xx
except ImportError:
    _xx = None

TAG = os.path.basename(__file__).split('.')[0]
counter = 0


def _try(fn):
    try:
        return {'result': repr(fn())}
    except BaseException as e:
        return {'error': type(e).__name__, 'oserror': isinstance(e, OSError), 'text': str(e)}


def _imports():
    out = {}
    for name in ('pyhost_pathmod', 'pyhost_pthmod'):
        try:
            out[name] = __import__(name).VALUE
        except ImportError as e:
            out[name] = 'ImportError: %s' % e
    return out


def _signal():
    import signal
    def handler(signum, frame):
        pass
    before = signal.getsignal(signal.SIGUSR2)
    outcome = _try(lambda: signal.signal(signal.SIGUSR2, handler))
    after = signal.getsignal(signal.SIGUSR2)
    return {'outcome': outcome, 'installed': after is handler, 'unchanged': after == before}


def application(environ, start_response):
    global counter
    counter += 1
    action = environ.get('QUERY_STRING', '')
    extra = {}
    if action == 'mark':
        setattr(builtins, 'pyhost_marker_' + TAG, os.getpid())
        sys.modules['pyhost_state_' + TAG] = types.ModuleType('pyhost_state_' + TAG)
    elif action == 'stdin':
        extra = _try(lambda: sys.stdin.read())
    elif action == 'stdout':
        extra = _try(lambda: print('printed by the application'))
    elif action == 'signal':
        extra = _signal()
    elif action == 'imports':
        extra = _imports()
    state = sys.modules.get('pyhost_shared_state')
    if state is None:
        state = sys.modules['pyhost_shared_state'] = types.ModuleType('pyhost_shared_state')
        state.hits = 0
    state.hits += 1
    info = dict(
        tag=TAG, pid=os.getpid(), interp=int(_xx.get_current()) if _xx else None,
        modules_id=id(sys.modules), builtins_id=id(builtins), counter=counter,
        shared_hits=state.hits, name=__name__,
        markers=sorted(k for k in dir(builtins) if k.startswith('pyhost_marker_')),
        states=sorted(k for k in sys.modules if k.startswith('pyhost_state_')),
        import_marker=getattr(builtins, 'pyhost_import_marker', None),
        application_group=mod_wsgi.application_group,
        process_group=mod_wsgi.process_group,
        environ_application_group=environ.get('mod_wsgi.application_group'),
        environ_process_group=environ.get('mod_wsgi.process_group'),
        version=list(mod_wsgi.version),
        version_is_tuple=isinstance(mod_wsgi.version, tuple),
        maximum_processes=mod_wsgi.maximum_processes,
        threads_per_process=mod_wsgi.threads_per_process,
        optimize=sys.flags.optimize, debug=__debug__,
        dont_write_bytecode=sys.dont_write_bytecode,
        warnoptions=list(sys.warnoptions),
        hash_abc=hash('abc'),
        prefix=sys.prefix, base_prefix=sys.base_prefix, path=list(sys.path),
        extra=extra,
    )
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(info).encode()]
'''

STARTUP = r'''
import builtins, os, sys
builtins.pyhost_import_marker = os.getpid()
sys.stderr.write('PYHOST-IMPORTED pid=%d\n' % os.getpid())
sys.stderr.flush()
'''

PRELOAD = r'''
import builtins, json, os, sys
builtins.pyhost_preload_count = getattr(builtins, 'pyhost_preload_count', 0) + 1
sys.stderr.write('PYHOST-PRELOADED pid=%d name=%s\n' % (os.getpid(), __name__))
sys.stderr.flush()

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'pid': os.getpid(), 'count': builtins.pyhost_preload_count,
                        'name': __name__}).encode()]
'''

RELOAD = r'''
import os
VERSION = '%s'

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%%s %%s %%d' %% (VERSION, __name__, os.getpid())).encode()]
'''

NUMPY = r'''
import json
import numpy as np
try:
    import _xxsubinterpreters as _xx
except ImportError:
    _xx = None

def application(environ, start_response):
    a = np.arange(10)
    m = np.array([[2.0, 1.0], [1.0, 3.0]])
    body = {'sum': int(a.sum()), 'det': round(float(np.linalg.det(m)), 6),
            'solve': [round(float(x), 6) for x in np.linalg.solve(m, np.array([3.0, 5.0]))],
            'interp': int(_xx.get_current()) if _xx else None}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body).encode()]
'''

FILEWRAPPER = r'''
import io, os, mod_wsgi

DATA = os.path.join(os.path.dirname(__file__), 'data.bin')

def application(environ, start_response):
    same = environ['wsgi.file_wrapper'] is mod_wsgi.FileWrapper
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('X-Same-Type', str(same))])
    if environ.get('QUERY_STRING') == 'bytesio':
        with open(DATA, 'rb') as f:
            return mod_wsgi.FileWrapper(io.BytesIO(f.read()), 1000)
    return mod_wsgi.FileWrapper(open(DATA, 'rb'), 4096)
'''

DATA = bytes(range(256)) * 400 + b"tail"


def expected_hash(seed=0):
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    out = subprocess.run(["/usr/bin/python3", "-c", "print(hash('abc'))"], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def get_json(a, path):
    r = a.get(path)
    assert r.status == 200, (path, r, a.new_log()[-3000:])
    return json.loads(r.body)


# ---- the shared single-process Apache -------------------------------------------------------

MAIN_CONFIG = """
WSGIPythonPath @ROOT@/pylib
WSGIPythonOptimize 1
WSGIPythonHashSeed 0
WSGIPythonWarnings ignore::DeprecationWarning
WSGIDontWriteBytecode On
WSGIRestrictStdin On
WSGIRestrictStdout On
WSGIImportScript @ROOT@/startup.py process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /a @ROOT@/apps/a.wsgi
WSGIScriptAlias /b @ROOT@/apps/b.wsgi
WSGIScriptAlias /shared1 @ROOT@/sharedapps/shared1.wsgi
WSGIScriptAlias /shared2 @ROOT@/sharedapps/shared2.wsgi
<Directory @ROOT@/sharedapps>
    WSGIApplicationGroup shared
</Directory>
WSGIScriptAlias /global @ROOT@/apps/global.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /preload @ROOT@/apps/preload.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /numpy @ROOT@/apps/np.wsgi
<Location /numpy>
    WSGIApplicationGroup %{GLOBAL}
</Location>
WSGIScriptAlias /flask @ROOT@/apps/flaskapp.wsgi
WSGIScriptAlias /django @ROOT@/apps/djangoapp.wsgi application-group=django
# Django's logging set-up looks sys.stdout.isatty up, which a restricted sys.stdout refuses
# (under mod_wsgi too: the restricted object raises at attribute access, issue 11)
<WSGIInterpreterOptions application-group=django>
    WSGIRestrictStdout Off
</WSGIInterpreterOptions>
WSGIScriptAlias /reload @ROOT@/reload/on.wsgi
WSGIScriptAlias /noreload @ROOT@/noreload/off.wsgi
WSGIScriptAlias /filewrapper @ROOT@/apps/fw.wsgi
<Directory @ROOT@/noreload>
    WSGIScriptReloading Off
</Directory>
"""


@pytest.fixture(scope="module")
def main(module_apache):
    files = {
        "startup.py": STARTUP,
        "apps/a.wsgi": PROBE, "apps/b.wsgi": PROBE,
        "sharedapps/shared1.wsgi": PROBE, "sharedapps/shared2.wsgi": PROBE,
        "apps/global.wsgi": PROBE,
        "apps/preload.wsgi": PRELOAD,
        "apps/np.wsgi": NUMPY,
        "apps/fw.wsgi": FILEWRAPPER,
        "apps/data.bin": DATA,
        **framework_files("apps/"),
        "reload/on.wsgi": RELOAD % "v1",
        "noreload/off.wsgi": RELOAD % "v1",
        "pylib/pyhost_pathmod.py": "VALUE = 'from WSGIPythonPath'\n",
        "pthdir/pyhost_pthmod.py": "VALUE = 'from a .pth file'\n",
    }
    a = module_apache(MAIN_CONFIG, mpm="prefork", mpm_config=PREFORK_ONE, files=files,
                      start=False)
    a.write("pylib/pyhost-extra.pth", a.path("pthdir") + "\n")
    a.start()
    # What Python did when the child started, before any request is made.
    a.startup_preloaded = a.wait_log(r"PYHOST-PRELOADED pid=(\d+) name=(\S+)", timeout=15)
    a.startup_imported = a.wait_log(r"PYHOST-IMPORTED pid=(\d+)", timeout=15)
    a.startup_log = a.new_log()
    return a


def test_two_apps_isolated_in_sub_interpreters_of_one_process(main):
    a1 = get_json(main, "/a?mark")
    b1 = get_json(main, "/b")
    b2 = get_json(main, "/b?mark")
    a2 = get_json(main, "/a")
    assert a1["pid"] == b1["pid"] == a2["pid"], "not one process: the test proves nothing"
    # different interpreters
    assert a1["modules_id"] == a2["modules_id"]
    assert a1["modules_id"] != b1["modules_id"]
    assert a1["builtins_id"] != b1["builtins_id"]
    if a1["interp"] is not None:
        assert a1["interp"] == a2["interp"]
        assert a1["interp"] != b1["interp"]
        assert 0 not in (a1["interp"], b1["interp"])
    # A's state is invisible to B, and B's to A
    assert "pyhost_marker_a" in a1["markers"] and "pyhost_state_a" in a1["states"]
    assert "pyhost_marker_a" not in b1["markers"] and "pyhost_state_a" not in b1["states"]
    assert "pyhost_marker_b" not in a2["markers"] and "pyhost_state_b" not in a2["states"]
    assert "pyhost_marker_b" in b2["markers"]
    # a module-level object in sys.modules counts only its own interpreter's hits
    assert a2["shared_hits"] == a1["shared_hits"] + 1
    assert b2["shared_hits"] == b1["shared_hits"] + 1
    # the script module itself keeps its globals between requests
    assert a2["counter"] == a1["counter"] + 1


def test_default_application_group_is_resource(main):
    a = get_json(main, "/a")
    b = get_json(main, "/b")
    assert a["application_group"] == "localhost:%d|/a" % main.port
    assert a["environ_application_group"] == a["application_group"]
    assert b["application_group"] == "localhost:%d|/b" % main.port


def test_apps_share_one_interpreter_through_application_group(main):
    # WSGIApplicationGroup shared, in the <Directory> of both scripts
    s1 = get_json(main, "/shared1?mark")
    s2 = get_json(main, "/shared2")
    s3 = get_json(main, "/shared1")
    assert s1["pid"] == s2["pid"]
    assert s1["modules_id"] == s2["modules_id"]
    if s1["interp"] is not None:
        assert s1["interp"] == s2["interp"] != 0
    assert s1["application_group"] == s2["application_group"] == "shared"
    assert s2["environ_application_group"] == "shared"
    # shared2 sees what shared1 set, and they count in the same module state
    assert "pyhost_marker_shared1" in s2["markers"]
    assert "pyhost_state_shared1" in s2["states"]
    assert s2["shared_hits"] == s1["shared_hits"] + 1
    assert s3["shared_hits"] == s1["shared_hits"] + 2
    # but each script is still its own module
    assert s1["name"] != s2["name"]
    # and the shared interpreter is not the one of an app in its own group
    a = get_json(main, "/a")
    assert a["modules_id"] != s1["modules_id"]
    assert "pyhost_marker_shared1" not in a["markers"]


def test_global_application_group_is_main_interpreter(main):
    g = get_json(main, "/global")
    a = get_json(main, "/a")
    assert g["pid"] == a["pid"]
    assert g["application_group"] == ""
    assert g["environ_application_group"] == ""
    if g["interp"] is not None:
        assert g["interp"] == 0
    # The WSGIImportScript into %{GLOBAL} ran in this interpreter, not in the sub interpreter.
    assert g["import_marker"] == g["pid"]
    assert a["import_marker"] is None
    assert g["modules_id"] != a["modules_id"]


def test_import_script_ran_at_child_start(main):
    m = main.startup_imported
    assert m, "WSGIImportScript did not run at start:\n%s" % main.startup_log
    g = get_json(main, "/global")
    assert int(m.group(1)) == g["pid"], "it ran in another process than the child"
    # the app sees the marker without importing startup.py itself
    assert g["import_marker"] == g["pid"]


def test_script_alias_with_both_groups_is_preloaded(main):
    m = main.startup_preloaded
    assert m, "the script was not loaded at start:\n%s" % main.startup_log
    assert m.group(2).startswith("_mod_wsgi_")
    p = get_json(main, "/preload")
    assert int(m.group(1)) == p["pid"]
    # the request used the preloaded module: its code ran once
    assert p["count"] == 1
    assert p["name"] == m.group(2)
    assert main.error_log().count("PYHOST-PRELOADED") == 1


def test_numpy_under_global(main):
    # WSGIApplicationGroup %{GLOBAL} in a <Location>
    require_module("numpy")
    r = get_json(main, "/numpy")
    assert r["sum"] == 45
    assert r["det"] == 5.0
    assert r["solve"] == [0.8, 1.4]
    if r["interp"] is not None:
        assert r["interp"] == 0
    # a second request reuses the imported numpy
    assert get_json(main, "/numpy")["sum"] == 45


def test_flask_app(main):
    r = main.get("/flask/")
    assert r.status == 200, (r, main.new_log()[-3000:])
    assert r.body == b"flask index"
    r = main.get("/flask/hello/world")
    assert r.status == 200
    assert re.fullmatch(rb"Hello world from /flask in \d+", r.body), r.body
    assert main.get("/flask/no/such/page").status == 404


def test_django_app(main):
    r = main.get("/django/hello/")
    assert r.status == 200, (r, main.new_log()[-3000:])
    assert re.fullmatch(rb"django hello at /django/hello/ in \d+", r.body), r.body
    assert r.header("Content-Type").startswith("text/plain")
    r = main.get("/django/unknown/")
    assert r.status == 404
    assert b"django hello" not in r.body


def rewrite(a, name, text):
    path = a.write(name, text)
    t = time.time() + 10
    os.utime(path, (t, t))


def test_script_reloading_on_runs_new_code(main):
    r1 = main.get("/reload")
    assert r1.status == 200 and r1.body.startswith(b"v1 _mod_wsgi_")
    rewrite(main, "reload/on.wsgi", RELOAD % "v2")
    r2 = main.get("/reload")
    assert r2.status == 200
    assert r2.body.startswith(b"v2 _mod_wsgi_"), r2
    # same module name, same process: reloaded in place
    assert r2.body.split()[1:] == r1.body.split()[1:]


def test_script_reloading_off_keeps_old_code(main):
    r1 = main.get("/noreload")
    assert r1.status == 200 and r1.body.startswith(b"v1 "), r1
    rewrite(main, "noreload/off.wsgi", RELOAD % "v2")
    r2 = main.get("/noreload")
    assert r2.status == 200
    assert r2.body == r1.body


def test_script_module_name(main):
    a = get_json(main, "/a")
    b = get_json(main, "/b")
    assert a["name"].startswith("_mod_wsgi_")
    assert b["name"].startswith("_mod_wsgi_")
    assert a["name"] != b["name"]


def test_python_path_and_pth_file(main):
    for path in ("/a?imports", "/global?imports"):
        r = get_json(main, path)
        assert r["extra"]["pyhost_pathmod"] == "from WSGIPythonPath", r["extra"]
        assert r["extra"]["pyhost_pthmod"] == "from a .pth file", r["extra"]
        assert main.path("pylib") in r["path"]
        assert main.path("pthdir") in r["path"]


def test_restrict_stdin(main):
    r = get_json(main, "/a?stdin")["extra"]
    assert "error" in r, "sys.stdin.read() returned %r" % r
    assert r["oserror"], r


def test_restrict_stdout(main):
    main.mark_log()
    r = get_json(main, "/a?stdout")["extra"]
    assert "error" in r, "print() returned %r" % r
    assert r["oserror"], r
    assert not main.log_lines("printed by the application")


@pytest.mark.parametrize("path", ["/global?signal", "/b?signal"])
def test_restrict_signal_default_on(main, path):
    main.mark_log()
    r = get_json(main, path)["extra"]
    assert "error" not in r["outcome"], r
    assert not r["installed"] and r["unchanged"], r
    assert main.wait_log(r"(?i)signal\D{0,40}\b12\b|SIGUSR2"), \
        "nothing logged about the ignored signal.signal(SIGUSR2)"


def test_dont_write_bytecode(main):
    assert get_json(main, "/a")["dont_write_bytecode"] is True
    assert get_json(main, "/global")["dont_write_bytecode"] is True


def test_python_optimize(main):
    for path in ("/a", "/global"):
        r = get_json(main, path)
        assert r["optimize"] == 1
        assert r["debug"] is False


def test_python_warnings(main):
    for path in ("/a", "/global"):
        assert "ignore::DeprecationWarning" in get_json(main, path)["warnoptions"]


def test_python_hash_seed(main):
    want = expected_hash(0)
    assert get_json(main, "/a")["hash_abc"] == want
    assert get_json(main, "/global")["hash_abc"] == want


def test_mod_wsgi_module_attributes(main):
    a = get_json(main, "/a")
    g = get_json(main, "/global")
    for r in (a, g):
        assert r["process_group"] == ""
        assert r["environ_process_group"] == ""
        assert r["version_is_tuple"] and r["version"][0] == 6
        assert all(isinstance(x, int) for x in r["version"])
        assert r["maximum_processes"] == 1
        assert r["threads_per_process"] == 1
    assert a["application_group"] == "localhost:%d|/a" % main.port
    assert g["application_group"] == ""


@pytest.mark.parametrize("query", ["", "?bytesio"])
def test_mod_wsgi_file_wrapper(main, query):
    r = main.get("/filewrapper" + query)
    assert r.status == 200, (r, main.new_log()[-2000:])
    assert r.header("X-Same-Type") == "True"
    assert r.body == DATA


# ---- instances of their own -----------------------------------------------------------------

SHUTDOWN = r'''
import json, os, sys, mod_wsgi

OUT = os.path.join(os.path.dirname(__file__), 'out')

def on_shutdown(event, **kwargs):
    with open(os.path.join(OUT, 'stopped-%s-%d' % (TAG, os.getpid())), 'w') as f:
        f.write(event)

TAG = 'global' if mod_wsgi.application_group == '' else 'sub'
mod_wsgi.subscribe_shutdown(on_shutdown)

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'pid': os.getpid(), 'tag': TAG, 'hash_abc': hash('abc'),
                        'maximum_processes': mod_wsgi.maximum_processes,
                        'threads_per_process': mod_wsgi.threads_per_process,
                        'multithread': environ['wsgi.multithread']}).encode()]
'''


def test_subscribe_shutdown_and_event_mpm_attributes(apache):
    a = apache("""
        WSGIPythonHashSeed 0
        WSGIScriptAlias /sub @ROOT@/shutdown.wsgi
        WSGIScriptAlias /global @ROOT@/shutdown.wsgi application-group=%{GLOBAL}
    """, mpm="event", mpm_config=EVENT_ONE, files={"shutdown.wsgi": SHUTDOWN}, start=False)
    os.makedirs(a.path("out"), exist_ok=True)
    os.chmod(a.path("out"), 0o777)
    a.start()
    sub = get_json(a, "/sub")
    glob = get_json(a, "/global")
    assert sub["pid"] == glob["pid"]
    assert (sub["tag"], glob["tag"]) == ("sub", "global")
    # embedded under event with one child of 4 threads
    assert sub["maximum_processes"] == 1
    assert sub["threads_per_process"] == 4
    assert sub["multithread"] is True
    # WSGIPythonHashSeed 0 gives the same hashes in another process of another server
    assert sub["hash_abc"] == glob["hash_abc"] == expected_hash(0)
    assert os.listdir(a.path("out")) == []
    a.stop()
    pid = sub["pid"]
    for tag in ("sub", "global"):
        path = a.path("out/stopped-%s-%d" % (tag, pid))
        assert os.path.exists(path), "shutdown callback in %s interpreter not called: %s\n%s" % (
            tag, os.listdir(a.path("out")), a.error_log()[-3000:])
        with open(path) as f:
            assert f.read() == "process_stopping"


def test_hash_seed_random_by_default_differs_from_seed_zero(apache):
    # Control for the hash seed tests: without the directive the hash is randomised.
    a = apache("WSGIScriptAlias /sub @ROOT@/shutdown.wsgi", files={"shutdown.wsgi": SHUTDOWN},
               start=False)
    os.makedirs(a.path("out"), exist_ok=True)
    os.chmod(a.path("out"), 0o777)
    a.start()
    hashes = {get_json(a, "/sub")["hash_abc"]}
    a.stop()
    a.start()
    hashes.add(get_json(a, "/sub")["hash_abc"])
    assert expected_hash(0) not in hashes
    assert len(hashes) == 2


VENV_APP = r'''
import json, sys

def application(environ, start_response):
    import venv_only_mod, flask
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'prefix': sys.prefix, 'exec_prefix': sys.exec_prefix,
                        'base_prefix': sys.base_prefix, 'venv_mod': venv_only_mod.VALUE,
                        'flask_from': flask.__file__}).encode()]
'''


def test_python_home_virtual_environment(apache):
    a = apache("""
        WSGIPythonHome @ROOT@/venv
        WSGIScriptAlias /venv @ROOT@/venv.wsgi
        WSGIScriptAlias /venvglobal @ROOT@/venv.wsgi application-group=%{GLOBAL}
    """, files={"venv.wsgi": VENV_APP}, start=False)
    venv = a.path("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    venv], check=True, timeout=120)
    site = subprocess.run(["%s/bin/python" % venv, "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert site.startswith(venv)
    a.write(os.path.relpath(os.path.join(site, "venv_only_mod.py"), a.root),
            "VALUE = 'only in the venv'\n")
    for d, _, _ in os.walk(venv):
        os.chmod(d, 0o755)
    a.start()
    for path in ("/venv", "/venvglobal"):
        r = get_json(a, path)
        assert r["prefix"] == venv
        assert r["exec_prefix"] == venv
        assert r["base_prefix"] == sys.base_prefix
        assert r["venv_mod"] == "only in the venv"
        # --system-site-packages: Debian's flask is still importable
        assert r["flask_from"].startswith("/usr/lib/python3")
