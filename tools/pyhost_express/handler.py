"""The WSGI script pyhost-express puts in front of an application when the entry point is not
a WSGI script Apache can load as it is: a module, a PasteDeploy file, or a script watched with
--reload-on-changes or run with the debugging aids.

pyhost-express copies this file into the server root as handler.wsgi; what it loads comes
from handler.json beside it, written by pyhost-express. Daemon mode restarts the process when
the code changes (mod_pyhost starts a fresh one); embedded mode, where Apache's children
cannot be restarted from inside, reloads the application in place.
"""
import importlib
import json
import os
import signal
import sys
import threading
import time
import types

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "handler.json")) as _f:
    SETTINGS = json.load(_f)

SCRIPT_MODULE = "_pyhost_express_app"
PROG = "pyhost-express"


def log(message):
    print("%s: %s" % (PROG, message), file=sys.stderr, flush=True)


# ---- loading the application ---------------------------------------------------------------

def load():
    kind, target, name = SETTINGS["kind"], SETTINGS["target"], SETTINGS["callable"]
    if kind == "module":
        return getattr(importlib.import_module(target), name)
    if kind == "paste":
        try:
            from paste.deploy import loadapp
        except ImportError:
            raise RuntimeError("--application-type paste needs PasteDeploy (Debian's "
                               "python3-pastedeploy)")
        return loadapp("config:%s" % target)
    module = types.ModuleType(SCRIPT_MODULE)
    module.__file__ = target
    sys.modules[SCRIPT_MODULE] = module
    with open(target, "rb") as f:
        code = compile(f.read(), target, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return getattr(module, name)


# ---- watching the code ---------------------------------------------------------------------

def is_watched(path):
    path = os.path.abspath(path)
    for top in SETTINGS["watch"]:
        if path == top or path.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def snapshot(known):
    """{file: (mtime, size)} of the watched trees' .py files and every loaded module."""
    files = {}
    for top in SETTINGS["watch"]:
        if os.path.isfile(top):
            files[top] = None
            continue
        count = 0
        for d, dirs, names in os.walk(top):
            dirs[:] = [n for n in dirs if not n.startswith(".") and n != "__pycache__"]
            for n in names:
                if n.endswith(".py"):
                    files[os.path.join(d, n)] = None
                    count += 1
            if count > 5000:
                break
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if isinstance(f, str) and f.endswith(".py"):
            files[f] = None
    for f in list(files):
        try:
            st = os.stat(f)
            files[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            if f not in known:
                del files[f]
    return files


state = {"app": None, "stale": False}
lock = threading.Lock()


def monitor(known):
    while True:
        time.sleep(1.0)
        now = snapshot(known)
        changed = [f for f, sig in now.items() if f in known and known[f] != sig]
        known.update(now)
        if not changed:
            continue
        if SETTINGS["reload"] == "restart":
            log("%s changed; restarting process %d" % (changed[0], os.getpid()))
            os.kill(os.getpid(), signal.SIGUSR1)
            return
        log("%s changed; reloading the application in process %d" % (changed[0], os.getpid()))
        state["stale"] = True


def reload_in_place():
    for name, module in list(sys.modules.items()):
        f = getattr(module, "__file__", None)
        if name == SCRIPT_MODULE or (isinstance(f, str) and is_watched(f)):
            del sys.modules[name]
    importlib.invalidate_caches()
    state["app"] = load()
    state["stale"] = False


def start_watching():
    """Watching starts once the application is loaded (or failed to load, so that a fix is
    seen), from what it has imported: a snapshot taken any earlier could miss its modules and
    then take a change made just after the first request for their original state."""
    if SETTINGS["reload"] and not getattr(sys, "_pyhost_express_monitor", None):
        sys._pyhost_express_monitor = threading.Thread(
            target=monitor, args=(snapshot({}),), daemon=True, name="pyhost-express-reloader")
        sys._pyhost_express_monitor.start()


# ---- debugging aids (--debug-mode) ---------------------------------------------------------

def with_debugger(app):
    """pdb post mortem for an exception escaping the application."""
    def debugged(environ, start_response):
        try:
            return app(environ, start_response)
        except BaseException:
            import pdb
            log("an exception escaped the application; entering pdb post mortem")
            pdb.post_mortem(sys.exc_info()[2])
            raise
    return debugged


def with_profiler(app, directory):
    """One cProfile .pstats file per request, named by time, process and a sequence number."""
    import cProfile
    counter = iter(range(1, 1 << 62))

    def profiled(environ, start_response):
        profile = cProfile.Profile()
        try:
            return profile.runcall(lambda: list(app(environ, start_response)))
        finally:
            profile.dump_stats(os.path.join(directory, "request-%d-%d-%d.pstats" % (
                int(time.time()), os.getpid(), next(counter))))
    return profiled


def with_recorder(app, directory):
    """Each request's environ and body, and its response, as files N.request / N.response."""
    counter = iter(range(1, 1 << 62))

    def recorded(environ, start_response):
        n = "%d-%d-%d" % (int(time.time()), os.getpid(), next(counter))
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        body = stream.read(int(length)) if length.isdigit() else stream.read()
        import io
        environ["wsgi.input"] = io.BytesIO(body)
        with open(os.path.join(directory, n + ".request"), "wb") as f:
            for k in sorted(environ):
                if isinstance(environ[k], str):
                    f.write(("%s: %s\n" % (k, environ[k])).encode("utf-8", "replace"))
            f.write(b"\n" + body)
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["head"] = (status, headers)
            return start_response(status, headers, exc_info)
        chunks = list(app(environ, recording_start_response))
        status, headers = seen.get("head", ("", []))
        with open(os.path.join(directory, n + ".response"), "wb") as f:
            f.write(("%s\n" % status).encode("latin-1"))
            for k, v in headers:
                f.write(("%s: %s\n" % (k, v)).encode("latin-1"))
            f.write(b"\n" + b"".join(chunks))
        return chunks
    return recorded


def start_coverage(directory):
    try:
        import coverage
    except ImportError:
        log("--enable-coverage needs coverage.py (Debian's python3-coverage); not measuring")
        return
    import atexit
    cov = coverage.Coverage(data_file=os.path.join(directory, ".coverage"))
    cov.start()

    def report():
        cov.stop()
        cov.save()
        cov.html_report(directory=directory)
    atexit.register(report)


def wrap(app):
    debug = SETTINGS.get("debug") or {}
    if debug.get("profiler"):
        app = with_profiler(app, debug["profiler"])
    if debug.get("recorder"):
        app = with_recorder(app, debug["recorder"])
    if debug.get("debugger"):
        app = with_debugger(app)
    return app


# ---- the application ------------------------------------------------------------------------

if (SETTINGS.get("debug") or {}).get("coverage"):
    start_coverage(SETTINGS["debug"]["coverage"])
if (SETTINGS.get("debug") or {}).get("debugger_startup"):
    import pdb
    log("entering pdb at start-up (--debugger-startup); 'c' continues")
    pdb.set_trace()

try:
    if SETTINGS["reload"] == "inplace":
        state["app"] = load()

        def application(environ, start_response):
            if state["stale"]:
                with lock:
                    if state["stale"]:
                        reload_in_place()
            return state["app"](environ, start_response)
    else:
        application = load()
    application = wrap(application)
finally:
    start_watching()
