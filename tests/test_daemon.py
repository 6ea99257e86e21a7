"""Daemon mode (issue 3): WSGIDaemonProcess groups forked and supervised by Apache's parent,
the Apache-to-daemon path, its security, and each failure with its status and log line.
References: processes-and-threading.txt (daemon flags), mod_wsgi6-behaviour.md sections 2.2,
2.5 and 3.

Most tests share one Apache (event MPM) defining many small groups, one per concern, so
that a test that kills, stops or starves a daemon does not disturb the others.  Scenarios
that restart or stop Apache, or need another MPM or virtual hosts, get their own Apache.
Every group has display-name=%{GROUP}, so its processes are found as '(wsgi:name)'.
"""
import concurrent.futures
import glob
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from apps import framework_files
from harness import PREFORK_ONE, TIME_FACTOR, alive, group_pids, make_out, stop_process

APP = r'''
import builtins, hashlib, json, os, signal, sys, time
import mod_wsgi

OUT = os.path.join(os.path.dirname(__file__), 'out')
BIG = os.path.join(os.path.dirname(__file__), 'big.bin')
CT = [('Content-Type', 'text/plain')]


def sockets():
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            link = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if link.startswith('socket:'):
            found.add(link)
    return sorted(found)


def application(environ, start_response):
    case = environ.get('PATH_INFO', '').strip('/')
    q = environ.get('QUERY_STRING', '')
    inp = environ['wsgi.input']

    def reply(body, headers=CT, status='200 OK'):
        start_response(status, headers)
        return [body if isinstance(body, bytes) else str(body).encode()]

    def js(obj):
        return reply(json.dumps(obj), [('Content-Type', 'application/json')])

    if case == 'info':
        um = os.umask(0)
        os.umask(um)
        with open('/proc/self/status') as f:
            uids = [l.split()[1:] for l in f if l.startswith('Uid:')][0]
        return js({
            'pid': os.getpid(), 'multithread': environ['wsgi.multithread'],
            'multiprocess': environ['wsgi.multiprocess'], 'run_once': environ['wsgi.run_once'],
            'env_group': environ.get('mod_wsgi.process_group'),
            'app_group': environ.get('mod_wsgi.application_group'),
            'mod_group': mod_wsgi.process_group, 'threads': mod_wsgi.threads_per_process,
            'processes': mod_wsgi.maximum_processes, 'cwd': os.getcwd(),
            'LANG': os.environ.get('LANG'), 'LC_ALL': os.environ.get('LC_ALL'), 'umask': um,
            'uids': [int(u) for u in uids], 'remote_user': environ.get('REMOTE_USER'),
            'http_remote_user': environ.get('HTTP_REMOTE_USER'),
            'preloaded': getattr(builtins, 'pyhost_preloaded', None)})
    if case == 'pid':
        return reply(str(os.getpid()))
    if case == 'set':
        builtins.pyhost_iso = q
        return reply(str(os.getpid()))
    if case == 'get':
        return js([os.getpid(), getattr(builtins, 'pyhost_iso', None)])
    if case == 'sockets':
        return js([os.getpid(), sockets()])
    if case == 'sha':
        h, n = hashlib.sha256(), 0
        while True:
            b = inp.read(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        return js({'sha256': h.hexdigest(), 'length': n,
                   'content_length': environ.get('CONTENT_LENGTH')})
    if case == 'noread':
        return reply(b'ignored')
    if case == 'read10':
        return reply(inp.read(10))
    if case == 'file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(BIG, 'rb'))
    if case == 'stream':
        start_response('200 OK', CT)
        def gen():
            yield b'first;'
            time.sleep(1.5)
            yield b'second'
        return gen()
    if case == 'sleep':
        if environ.get('HTTP_X_MARK'):
            open(os.path.join(OUT, environ['HTTP_X_MARK']), 'w').close()
        time.sleep(float(q))
        return reply(str(os.getpid()))
    if case == 'kill9':
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
    if case == 'exit3':
        os._exit(3)
    if case == 'bigheader':
        return reply(b'big', CT + [('X-Big', 'x' * int(q))])
    if case == 'cut_exit':
        start_response('200 OK', CT)
        def gen():
            yield b'part;'
            time.sleep(0.2)
            os._exit(1)
        return gen()
    if case == 'cut_raise':
        start_response('200 OK', CT)
        def gen():
            yield b'part;'
            time.sleep(0.2)
            raise ValueError('cut-raise ' + q)
        return gen()
    if case == 'notfound':
        return reply(b'app 404 body', status='404 Not Found')
    return reply(b'no such case ' + case.encode(), status='404 Not Found')
'''

PRELOAD = r'''
import builtins, os, time
builtins.pyhost_preloaded = os.getpid()
with open(os.path.join(os.path.dirname(__file__), 'out', 'preloaded-%d' % os.getpid()), 'w') as f:
    f.write('%f' % time.time())
'''

STOP_PRELOAD = r'''
import os, mod_wsgi
OUT = os.path.join(os.path.dirname(__file__), 'out')
open(os.path.join(OUT, 'started-%d' % os.getpid()), 'w').close()

def on_stop(*args, **kw):
    with open(os.path.join(OUT, 'stopped-%d' % os.getpid()), 'w') as f:
        f.write(repr((args, kw)))

mod_wsgi.subscribe_shutdown(on_stop)
'''

BIG = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32) + b"tail"

# (group, options, wsgi.multithread, wsgi.multiprocess, threads, processes): the five
# daemon configurations of processes-and-threading.txt.
FLAG_GROUPS = [
    ("t25", "threads=25", True, False, 25, 1),
    ("p1t25", "processes=1 threads=25", True, True, 25, 1),
    ("p2t25", "processes=2 threads=25", True, True, 25, 2),
    ("p5t1", "processes=5 threads=1", False, True, 1, 5),
    ("t1", "threads=1", False, False, 1, 1),
]

GROUPS = [(g, opts) for g, opts, *_ in FLAG_GROUPS] + [
    ("iso", "threads=2"), ("side1", "threads=2"), ("side2", "threads=2"),
    ("loc", "threads=2"), ("envgrp", "threads=2"), ("imp", "threads=2"),
    ("sup", "processes=2 threads=2 home=@ROOT@/home lang=en_US.UTF-8 locale=C.UTF-8 "
            "umask=0027"),
    ("victim", "threads=2"), ("qt", "threads=1 queue-timeout=1"),
    ("st", "threads=2 socket-timeout=1"), ("ct", "threads=2 connect-timeout=1"),
    ("hb", "threads=2 header-buffer-size=8192"), ("path", "threads=5"),
    ("fw", "threads=2 python-path=@ROOT@/djsite"),
]

SIMPLE = ["t25", "p1t25", "p2t25", "p5t1", "t1", "side1", "side2", "sup", "victim", "qt",
          "st", "ct", "hb", "path"]

MAIN_CONFIG = "\n".join(
    ["WSGIDaemonProcess %s %s display-name=%%{GROUP}" % (g, o) for g, o in GROUPS]
    + ["WSGIScriptAlias /%s @ROOT@/app.wsgi process-group=%s" % (g, g) for g in SIMPLE]) + """
<Location /path>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /iso/a @ROOT@/iso/a.wsgi process-group=iso
WSGIScriptAlias /iso/b @ROOT@/iso/b.wsgi process-group=iso
WSGIScriptAlias /iso/ga @ROOT@/iso/a.wsgi process-group=iso application-group=%{GLOBAL}
WSGIScriptAlias /iso/gb @ROOT@/iso/b.wsgi process-group=iso application-group=%{GLOBAL}
WSGIScriptAlias /loc @ROOT@/app.wsgi
<Location /loc>
    WSGIProcessGroup loc
</Location>
WSGIScriptAlias /envgrp @ROOT@/app.wsgi
<Location /envgrp>
    SetEnv PYHOST_GROUP envgrp
    WSGIProcessGroup %{ENV:PYHOST_GROUP}
</Location>
WSGIScriptAlias /restricted @ROOT@/app.wsgi process-group=side1
<Location /restricted>
    WSGIRestrictProcess side2 t1
</Location>
WSGIScriptAlias /allowed @ROOT@/app.wsgi process-group=side1
<Location /allowed>
    WSGIRestrictProcess side2 side1
</Location>
WSGIScriptAlias /undefined @ROOT@/app.wsgi
<Location /undefined>
    WSGIProcessGroup nosuchgroup
</Location>
WSGIImportScript @ROOT@/preload.py process-group=imp application-group=%{GLOBAL}
WSGIScriptAlias /imp @ROOT@/app.wsgi process-group=imp application-group=%{GLOBAL}
WSGIScriptAlias /override @ROOT@/app.wsgi process-group=side1
<Location /override>
    WSGIErrorOverride On
    ErrorDocument 404 "custom text"
</Location>
WSGIScriptAlias /flask @ROOT@/flaskapp.wsgi process-group=fw
WSGIScriptAlias /django @ROOT@/djangoapp.wsgi process-group=fw
"""

WWW_UID = pwd.getpwnam("www-data").pw_uid


# ---- helpers --------------------------------------------------------------------------------

def wait_pids(a, name, n, exclude=(), timeout=10):
    """Polls until n live processes of the group exist that are not in exclude."""
    deadline = time.time() + timeout
    while True:
        pids = [p for p in group_pids(a, name) if p not in exclude]
        if len(pids) >= n or time.time() > deadline:
            return pids
        time.sleep(0.01)


def wait_file(path, timeout=10):
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    return os.path.exists(path)


def get_json(a, path, **kw):
    r = a.get(path, **kw)
    assert r.status == 200, (path, r, a.error_log()[-3000:])
    return json.loads(r.body)


def pid_of(a, group):
    r = a.get("/%s/pid" % group)
    assert r.status == 200, (r, a.error_log()[-2000:])
    return int(r.body)


def read_frames(data):
    """The (type, flags, aux, payload) frames of daemon_proto.h in data."""
    frames = []
    while len(data) >= 8:
        t, fl, aux, n = struct.unpack("<BBHI", data[:8])
        frames.append((t, fl, aux, data[8:8 + n]))
        data = data[8 + n:]
    return frames


def hello_pid(path, timeout=2):
    """Connects to a daemon socket, returns the pid its HELLO names (or None)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            data = b""
            while len(data) < 16:
                b = s.recv(16 - len(data))
                if not b:
                    break
                data += b
        except OSError:
            return None
    frames = read_frames(data)
    if frames and frames[0][0] == 1 and len(frames[0][3]) == 8:
        return struct.unpack("<Ii", frames[0][3])[1]
    return None


def socket_of(a, group):
    pids = group_pids(a, group)
    for path in sorted(glob.glob(a.path("*.sock"))):
        if hello_pid(path) in pids:
            return path
    raise AssertionError("no socket in %s answers for group %s" % (a.root, group))


def recv_all(s):
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (socket.timeout, ConnectionError):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def stop_keep_session(a, timeout=20):
    """SIGTERM to Apache's parent and wait, without killing what is left of its session (which
    Apache.stop would do, hiding orphans). Returns the seconds the stop took."""
    t0 = time.time()
    a.signal(signal.SIGTERM)
    a.proc.wait(timeout)
    return time.time() - t0


def kill_leftovers(a):
    try:
        os.killpg(a.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- the shared Apache ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_apache):
    files = {
        "app.wsgi": APP, "iso/a.wsgi": APP, "iso/b.wsgi": APP, "preload.py": PRELOAD,
        "big.bin": BIG, **framework_files(),
    }
    a = module_apache(MAIN_CONFIG, files=files, modules=["env"], start=False)
    make_out(a)
    os.makedirs(a.path("home"), mode=0o755)
    a.start()
    return a


# ---- flags, groups, interpreters ------------------------------------------------------------

@pytest.mark.parametrize("group,opts,mt,mp,threads,procs", FLAG_GROUPS,
                         ids=[g[1] for g in FLAG_GROUPS])
def test_daemon_flags(srv, group, opts, mt, mp, threads, procs):
    info = get_json(srv, "/%s/info" % group)
    assert (info["multithread"], info["multiprocess"]) == (mt, mp)
    assert info["run_once"] is False
    assert info["env_group"] == info["mod_group"] == group
    assert (info["threads"], info["processes"]) == (threads, procs)
    pids = wait_pids(srv, group, procs)
    assert len(pids) == procs
    assert info["pid"] in pids


def test_apps_in_one_daemon_process_have_their_own_interpreters(srv):
    r = srv.get("/iso/a/set?from-a")
    assert r.status == 200
    pid = int(r.body)
    assert get_json(srv, "/iso/a/get") == [pid, "from-a"]
    assert get_json(srv, "/iso/b/get") == [pid, None]
    a_info, b_info = get_json(srv, "/iso/a/info"), get_json(srv, "/iso/b/info")
    assert a_info["app_group"] != b_info["app_group"]
    # %{GLOBAL}: the daemon's main interpreter, shared by both scripts
    assert int(srv.get("/iso/ga/set?global").body) == pid
    assert get_json(srv, "/iso/gb/get") == [pid, "global"]
    assert get_json(srv, "/iso/gb/info")["app_group"] == ""
    assert get_json(srv, "/iso/b/get") == [pid, None]
    assert group_pids(srv, "iso") == [pid]


def test_two_groups_side_by_side(srv):
    one, two = get_json(srv, "/side1/info"), get_json(srv, "/side2/info")
    assert (one["env_group"], two["env_group"]) == ("side1", "side2")
    assert one["pid"] != two["pid"]
    assert group_pids(srv, "side1") == [one["pid"]]
    assert group_pids(srv, "side2") == [two["pid"]]
    apache_children = [p for p in srv.session_pids() if "apache2" in srv.cmdline(p)]
    assert one["pid"] not in apache_children and two["pid"] not in apache_children


def test_process_group_directive_in_location(srv):
    info = get_json(srv, "/loc/info")
    assert info["env_group"] == info["mod_group"] == "loc"
    assert group_pids(srv, "loc") == [info["pid"]]


def test_process_group_from_environment_variable(srv):
    info = get_json(srv, "/envgrp/info")
    assert info["env_group"] == "envgrp"
    assert group_pids(srv, "envgrp") == [info["pid"]]


def test_restrict_process_refuses_a_group(srv):
    srv.mark_log()
    r = srv.get("/restricted/info")
    assert r.status == 500
    assert srv.wait_log(r"process group 'side1' is not allowed here by WSGIRestrictProcess")
    assert get_json(srv, "/allowed/info")["env_group"] == "side1"


def test_undefined_group(srv):
    srv.mark_log()
    r = srv.get("/undefined/info")
    assert r.status == 500
    assert srv.wait_log(r"no WSGIDaemonProcess named 'nosuchgroup' is configured")


def test_import_script_preloads_into_daemon_group(srv):
    pids = wait_pids(srv, "imp", 1)
    assert len(pids) == 1
    # written at daemon start-up, before any request went to the group
    assert wait_file(srv.path("out/preloaded-%d" % pids[0]))
    info = get_json(srv, "/imp/info")
    assert info["pid"] == pids[0]
    assert info["preloaded"] == pids[0]


def test_error_override_uses_error_document(srv):
    r = srv.get("/override/notfound")
    assert r.status == 404
    assert r.body == b"custom text"
    r = srv.get("/side1/notfound")
    assert (r.status, r.body) == (404, b"app 404 body")
    assert get_json(srv, "/override/info")["env_group"] == "side1"


# ---- supervision ----------------------------------------------------------------------------

def test_processes_title_user_home_locale_umask(srv):
    pids = wait_pids(srv, "sup", 2)
    assert len(pids) == 2
    for pid in pids:
        assert srv.cmdline(pid) == "(wsgi:sup)"
        with open("/proc/%d/status" % pid) as f:
            uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
        assert uids == [str(WWW_UID)] * 4
    seen = set()
    for _ in range(40):
        info = get_json(srv, "/sup/info")
        seen.add(info["pid"])
        assert info["pid"] in pids
        assert info["cwd"] == srv.path("home")
        assert (info["LANG"], info["LC_ALL"]) == ("en_US.UTF-8", "C.UTF-8")
        assert info["umask"] == 0o027
        assert info["uids"] == [WWW_UID] * 4
        assert (info["processes"], info["threads"]) == (2, 2)
    assert seen <= set(pids)


def test_kill9_replacement_within_a_second(srv):
    old = pid_of(srv, "victim")
    assert group_pids(srv, "victim") == [old]
    srv.mark_log()
    os.kill(old, signal.SIGKILL)
    t0 = time.time()
    new = wait_pids(srv, "victim", 1, exclude=[old], timeout=5)
    elapsed = time.time() - t0
    assert len(new) == 1, srv.new_log()
    assert elapsed < 1.0
    assert pid_of(srv, "victim") == new[0]
    assert srv.wait_log(r"daemon process %d of group 'victim' killed by signal 9" % old)
    assert not alive(old)


def test_graceful_restart_replaces_daemons(apache):
    a = apache("""
        WSGIDaemonProcess gr processes=2 threads=2 display-name=%{GROUP}
        WSGIScriptAlias /gr @ROOT@/app.wsgi process-group=gr
    """, files={"app.wsgi": APP})
    old = set(wait_pids(a, "gr", 2))
    assert len(old) == 2
    assert pid_of(a, "gr") in old
    old_children = set(a.session_pids()) - set(old) - {a.proc.pid}
    a.graceful()
    new = wait_pids(a, "gr", 2, exclude=old, timeout=15)
    assert len(new) == 2, a.error_log()[-3000:]
    # the old generation's Apache children go too
    deadline = time.time() + 10
    while any(alive(p) for p in old | old_children) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in old | old_children)
    # every request goes to the new daemons. An Apache child that the parent started just
    # before the restart (to keep spare threads) is of the old generation too, and the
    # snapshot above may have missed it: while it finishes, a request it takes gets the 503
    # of test_request_of_a_replaced_generation_gets_503_at_once, and nothing else.
    stale = r"of the previous generation, took the request"
    served = 0
    deadline = time.time() + 15
    while served < 10 and time.time() < deadline:
        before = len(a.log_lines(stale))
        r = a.get("/gr/pid")
        if r.status == 503 and len(a.log_lines(stale)) == before + 1:
            time.sleep(0.05)
            continue
        assert r.status == 200, (r, a.error_log()[-2000:])
        assert int(r.body) in new
        served += 1
    assert served == 10
    assert a.proc.poll() is None


def test_request_of_a_replaced_generation_is_served_by_its_retired_daemon(apache):
    """A request that an Apache child of the old generation reaches the daemon hop with after a
    graceful restart: the daemon of the old configuration is retired, not stopped, and serves
    it; it stops once that child has gone, and the new daemon serves what follows."""
    a = apache("""
        WSGIDaemonProcess gen threads=2 display-name=%{GROUP}
        WSGIScriptAlias /gen @ROOT@/app.wsgi process-group=gen
        <Location /gen/slow>
            WSGIAccessScript @ROOT@/slow_access.py
        </Location>
    """, files={"app.wsgi": APP, "slow_access.py":
                "import time\ndef allow_access(environ, host):\n    time.sleep(2)\n"
                "    return True\n"})
    old = wait_pids(a, "gen", 1)
    out = {}
    t = threading.Thread(target=lambda: out.update(r=a.get("/gen/pid", timeout=40)))
    t2 = threading.Thread(target=lambda: out.update(s=a.get("/gen/slow", timeout=40)))
    t2.start()
    time.sleep(0.5)
    a.mark_log()
    a.graceful()
    new = wait_pids(a, "gen", 1, exclude=old, timeout=15)
    assert new
    t2.join(40)
    assert out["s"].status == 404, out["s"]  # the app's answer to an unknown case: it ran
    assert out["s"].body == b"no such case slow"
    assert a.wait_log(r"the Apache children of the previous configuration have ended: its 1 "
                      r"daemon process\(es\) stop"), a.new_log()
    assert a.wait_log(r"retired daemon process %d of group 'gen' has ended" % old[0])
    assert not re.search(r"of the previous generation, took the request|connect-timeout",
                         a.new_log())
    t.start()
    t.join(40)
    assert out["r"].status == 200 and int(out["r"].body) in new


def test_stop_leaves_no_process_and_no_socket_and_runs_shutdown_callbacks(apache):
    a = apache("""
        WSGIDaemonProcess stopg processes=2 threads=2 display-name=%{GROUP}
        WSGIImportScript @ROOT@/stop.py process-group=stopg application-group=%{GLOBAL}
        WSGIScriptAlias /stopg @ROOT@/app.wsgi process-group=stopg
    """, files={"app.wsgi": APP, "stop.py": STOP_PRELOAD}, start=False)
    make_out(a)
    a.start()
    try:
        pids = wait_pids(a, "stopg", 2)
        assert len(pids) == 2
        for pid in pids:
            assert wait_file(a.path("out/started-%d" % pid))
        assert pid_of(a, "stopg") in pids
        socks = glob.glob(a.path("*.sock"))
        assert len(socks) == 1
        elapsed = stop_keep_session(a)
        assert elapsed < 5
        deadline = time.time() + 0.5
        while a.session_pids() and time.time() < deadline:
            time.sleep(0.02)
        assert [(p, a.cmdline(p)) for p in a.session_pids()] == []
        assert glob.glob(a.path("*.sock")) == []
        for pid in pids:
            assert os.path.exists(a.path("out/stopped-%d" % pid)), sorted(os.listdir(a.path("out")))
    finally:
        kill_leftovers(a)


def test_stop_with_a_running_request_ends_after_shutdown_timeout(apache):
    a = apache("""
        WSGIDaemonProcess slow threads=2 shutdown-timeout=1 display-name=%{GROUP}
        WSGIScriptAlias /slow @ROOT@/app.wsgi process-group=slow
    """, files={"app.wsgi": APP, "big.bin": b""}, start=False)
    make_out(a)
    a.start()
    try:
        pids = wait_pids(a, "slow", 1)
        assert len(pids) == 1
        def busy():
            try:
                a.get("/slow/sleep?30", headers={"X-Mark": "busy"}, timeout=40)
            except OSError:
                pass  # Apache went away under it
        t = threading.Thread(target=busy, daemon=True)
        t.start()
        assert wait_file(a.path("out/busy"))
        elapsed = stop_keep_session(a)
        assert 0.8 < elapsed < 1 + 2.5  # the request was given shutdown-timeout, no more
        assert not alive(pids[0])
        assert a.session_pids() == []
        assert glob.glob(a.path("*.sock")) == []
    finally:
        kill_leftovers(a)


# ---- other MPMs and virtual hosts ------------------------------------------------------------

def test_group_under_prefork_reuses_its_connection(apache):
    a = apache("""
        WSGIDaemonProcess pf threads=2 display-name=%{GROUP}
        WSGIScriptAlias /pf @ROOT@/app.wsgi process-group=pf
    """, files={"app.wsgi": APP}, mpm="prefork", mpm_config=PREFORK_ONE)
    info = get_json(a, "/pf/info")
    assert info["env_group"] == "pf"
    assert (info["multithread"], info["multiprocess"]) == (True, False)
    assert group_pids(a, "pf") == [info["pid"]]
    # One Apache child with one thread: with its connection kept, the daemon sees the same
    # sockets (its listener and that one connection) for every request.
    conn = a.connection()
    seen = []
    try:
        for _ in range(50):
            conn.request("GET", "/pf/sockets")
            resp = conn.getresponse()
            assert resp.status == 200
            seen.append(json.loads(resp.read()))
    finally:
        conn.close()
    assert {pid for pid, _ in seen} == {info["pid"]}
    assert len({tuple(s) for _, s in seen}) == 1, seen[:3]


def test_group_of_a_virtual_host_refused_from_another(apache):
    a = apache("""
        <VirtualHost 127.0.0.1:@PORT@>
            ServerName one.example
            WSGIDaemonProcess vh1 threads=2 display-name=%{GROUP}
            WSGIScriptAlias /app @ROOT@/app.wsgi process-group=vh1
        </VirtualHost>
        <VirtualHost 127.0.0.1:@PORT@>
            ServerName two.example
            WSGIScriptAlias /app @ROOT@/app.wsgi process-group=vh1
        </VirtualHost>
        <VirtualHost 127.0.0.1:@PORT@>
            ServerName one.example
            ServerAlias three.example
            WSGIScriptAlias /app @ROOT@/app.wsgi process-group=vh1
        </VirtualHost>
    """, files={"app.wsgi": APP}, start=False)
    a.config = a.config.replace("@PORT@", str(a.port))
    a.start()
    info = get_json(a, "/app/info", headers={"Host": "one.example"})
    assert info["env_group"] == "vh1"
    assert group_pids(a, "vh1") == [info["pid"]]
    # another virtual host with the same ServerName may use it
    assert get_json(a, "/app/info", headers={"Host": "three.example"})["pid"] == info["pid"]
    a.mark_log()
    r = a.get("/app/info", headers={"Host": "two.example"})
    assert r.status == 500
    assert a.wait_log(r"group 'vh1' belongs to virtual host 'one\.example' and cannot serve "
                      r"'two\.example'")


# ---- the Apache-to-daemon path --------------------------------------------------------------

def test_large_post(srv):
    data = os.urandom(5 * 1024 * 1024 + 7)
    info = get_json(srv, "/path/sha", method="POST", body=data)
    assert info == {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data),
                    "content_length": str(len(data))}


def test_chunked_post(srv):
    parts = [os.urandom(n) for n in (1, 65536, 100000, 3 * 1024 * 1024, 17)]
    data = b"".join(parts)
    info = get_json(srv, "/path/sha", method="POST", body=iter(parts), chunked=True)
    assert (info["sha256"], info["length"]) == (hashlib.sha256(data).hexdigest(), len(data))
    # WSGIChunkedRequest is Off elsewhere
    r = srv.get("/side1/sha", method="POST", body=iter(parts[:2]), chunked=True)
    assert r.status == 411


def test_file_wrapper_response(srv):
    r = srv.get("/path/file")
    assert (r.status, r.error) == (200, None)
    assert r.header("Content-Length") == str(len(BIG))
    assert len(r.body) == len(BIG)
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(BIG).digest()


def test_streaming_response_arrives_before_the_app_ends(srv):
    conn = srv.connection()
    try:
        t0 = time.time()
        conn.request("GET", "/path/stream")
        resp = conn.getresponse()
        assert resp.status == 200
        first = resp.read1()
        t_first = time.time() - t0
        rest = resp.read()
        t_all = time.time() - t0
    finally:
        conn.close()
    assert first == b"first;"
    assert t_first < 1.0
    assert first + rest == b"first;second"
    assert t_all >= 1.4


@pytest.mark.parametrize("case,expect", [("noread", b"ignored"), ("read10", None)])
def test_unread_body_then_keepalive_continues(srv, case, expect):
    conn = srv.connection()
    try:
        conn.connect()
        sock = conn.sock
        for i in range(3):
            body = os.urandom(1024 * 1024 + i)
            conn.request("POST", "/path/" + case, body=body)
            resp = conn.getresponse()
            data = resp.read()
            assert (resp.status, data) == (200, expect or body[:10])
            assert conn.sock is sock, "the connection was not kept alive"
            conn.request("GET", "/path/info")
            resp = conn.getresponse()
            assert resp.status == 200, (resp.read(), srv.error_log()[-3000:])
            assert json.loads(resp.read())["env_group"] == "path"
            assert conn.sock is sock
    finally:
        conn.close()


def test_many_sequential_requests(srv):
    pids = set()
    conn = srv.connection()
    try:
        for i in range(50):
            conn.request("GET", "/path/pid")
            resp = conn.getresponse()
            assert resp.status == 200
            pids.add(int(resp.read()))
    finally:
        conn.close()
    for i in range(20):
        pids.add(pid_of(srv, "path"))
    assert pids == set(group_pids(srv, "path"))
    assert len(pids) == 1


def test_concurrent_requests_to_a_five_thread_group(srv):
    pid = pid_of(srv, "path")
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(lambda i: srv.get("/path/sleep?0.3"), range(20)))
    elapsed = time.time() - t0
    assert [(r.status, r.body) for r in results] == [(200, str(pid).encode())] * 20
    assert 1.1 < elapsed < 5, elapsed  # 20 requests, 5 at a time


# ---- security -------------------------------------------------------------------------------

def test_socket_files_mode_and_owner(srv):
    socks = glob.glob(srv.path("wsgi.*.sock"))
    assert len(socks) == len(GROUPS)
    for path in socks:
        assert re.fullmatch(r"wsgi\.%d\.\d+\.\d+\.sock" % srv.proc.pid, os.path.basename(path))
        st = os.stat(path)
        assert oct(st.st_mode & 0o7777) == oct(0o600)
        assert st.st_uid == WWW_UID


CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print('connected')
except OSError as e:
    print(type(e).__name__, e.errno)
"""


def test_other_user_cannot_connect(srv):
    path = socket_of(srv, "path")
    def attempt(user):
        return subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", CONNECT,
                               path], capture_output=True, text=True, timeout=20).stdout.strip()
    assert attempt("nobody") == "PermissionError 13"
    assert attempt("www-data") == "connected"


def dropped_line(a, group, pid):
    return a.wait_log(r"daemon process %d of group '%s': dropped a connection from pid %d "
                      r"\(uid 0\) that did not present Apache's secret"
                      % (pid, group, os.getpid()))


def test_junk_connection_is_dropped(srv):
    path = socket_of(srv, "path")
    pid = pid_of(srv, "path")
    srv.mark_log()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" + os.urandom(200))
        data = recv_all(s)
    assert [f[0] for f in read_frames(data)] == [1]  # the daemon's HELLO, nothing more
    assert dropped_line(srv, "path", pid)
    assert pid_of(srv, "path") == pid


def forged_request():
    pairs = [("REQUEST_METHOD", "GET"), ("REMOTE_USER", "admin"), ("PATH_INFO", "/info"),
             ("SCRIPT_NAME", "/path"), ("SCRIPT_FILENAME", "/tmp/x.wsgi"),
             ("mod_wsgi.process_group", "path"), ("mod_wsgi.callable_object", "application")]
    payload = struct.pack("<IIqqq", 1, len(pairs), int(time.time() * 1e6),
                          int(time.time() * 1e6), 0)
    for k, v in pairs:
        payload += struct.pack("<BH", 0xFF, len(k)) + k.encode()
        payload += struct.pack("<I", len(v)) + v.encode()
    return struct.pack("<BBHI", 2, 0, 0, len(payload)) + payload


@pytest.mark.parametrize("with_hello", [False, True])
def test_forged_request_cannot_set_remote_user(srv, with_hello):
    path = socket_of(srv, "path")
    pid = pid_of(srv, "path")
    frame = forged_request()
    if with_hello:  # the right magic, a guessed secret
        frame = struct.pack("<BBHI", 1, 0, 0, 20) + struct.pack("<I", 0x31687970) + b"\0" * 16 \
            + frame
    srv.mark_log()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(frame)
        data = recv_all(s)
    assert [f[0] for f in read_frames(data)] == [1]  # HELLO only: no HEAD, nothing served
    assert dropped_line(srv, "path", pid)
    # and through HTTP a header cannot become REMOTE_USER either
    info = get_json(srv, "/path/info", headers={"Remote-User": "admin"})
    assert info["remote_user"] is None
    assert info["pid"] == pid


# ---- failures -------------------------------------------------------------------------------

def test_daemon_killed_while_handling(srv):
    pid = pid_of(srv, "victim")
    srv.mark_log()
    r = srv.get("/victim/kill9")
    assert r.status == 502
    assert srv.wait_log(re.escape("daemon process %d of group 'victim' died while handling the "
                                  "request: killed by signal 9 (KILL; possibly the kernel's "
                                  "out-of-memory killer)" % pid))
    assert pid_of(srv, "victim") != pid


def test_daemon_exiting_while_handling(srv):
    pid = pid_of(srv, "victim")
    srv.mark_log()
    r = srv.get("/victim/exit3")
    assert r.status == 502
    assert srv.wait_log(re.escape("daemon process %d of group 'victim' died while handling the "
                                  "request: exited with status 3" % pid))
    assert pid_of(srv, "victim") != pid


def test_queue_timeout(srv):
    pid = pid_of(srv, "qt")
    srv.mark_log()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        busy = ex.submit(srv.get, "/qt/sleep?3")
        time.sleep(0.3)
        t0 = time.time()
        waiting = ex.submit(srv.get, "/qt/pid")
        r = waiting.result()
        elapsed = time.time() - t0
        assert busy.result().status == 200
    assert r.status == 503
    assert elapsed < 4
    assert srv.wait_log(r"daemon process %d of group 'qt' refused the request: queue-timeout: "
                        r"the request waited [\d.]+ seconds" % pid)
    assert pid_of(srv, "qt") == pid


def test_socket_timeout(srv):
    pid = pid_of(srv, "st")
    srv.mark_log()
    t0 = time.time()
    r = srv.get("/st/sleep?3")
    elapsed = time.time() - t0
    assert r.status == 504
    assert 0.9 < elapsed < 2.5
    assert srv.wait_log(re.escape("daemon process %d of group 'st' socket-timeout of 1 seconds "
                                  "passed waiting for the response" % pid))


def test_connect_timeout(srv):
    # the group has served nothing yet, so every Apache thread needs a new connection to it
    pids = wait_pids(srv, "ct", 1)
    assert len(pids) == 1
    time.sleep(0.3)  # let it finish starting
    srv.mark_log()
    # stopped in all its threads before the request: the one woken by the connection could
    # otherwise still accept it, answer HELLO and take the request (then socket-timeout, 504)
    try:
        stop_process(pids[0])
        t0 = time.time()
        r = srv.get("/ct/pid")
        elapsed = time.time() - t0
    finally:
        os.kill(pids[0], signal.SIGCONT)
    assert r.status == 503, srv.new_log()
    assert elapsed < 3 * TIME_FACTOR  # connect-timeout (1 s), far from socket-timeout (20 s)
    assert srv.wait_log(r"no process of daemon group 'ct' accepted the connection within "
                        r"connect-timeout")
    assert pid_of(srv, "ct") == pids[0]


GIVEN_UP_APP = r'''
import json, os, time, mod_wsgi
OUT = os.path.join(os.path.dirname(__file__), 'out')

@mod_wsgi.subscribe_events
def on_event(name, **kw):
    if name == 'process_stopping':
        path = os.path.join(OUT, 'stopping-%d' % os.getpid())
        with open(path + '.part', 'w') as f:
            json.dump(kw, f)
        os.rename(path + '.part', path)

def application(environ, start_response):
    if environ['QUERY_STRING'] == 'spin':
        end = time.time() + 8
        while time.time() < end:
            time.sleep(0.001)  # lets go of the GIL and takes it again, all along
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''


def test_request_running_after_its_504_is_not_finalised_under(apache):
    """A request the watch answered for (request-timeout) that goes on running without holding
    the GIL: its process restarts without finalising Python under it (that would delete the
    thread's state, and CPython would end the thread with pthread_exit as it takes the GIL
    again, which `make test-asan` saw as a report from its own thread destructor); the
    shutdown callbacks still run and the replacement serves."""
    a = apache("""
        WSGIDaemonProcess gu threads=2 request-timeout=1 display-name=%{GROUP}
        WSGIScriptAlias /gu @ROOT@/app.wsgi process-group=gu
    """, files={"app.wsgi": GIVEN_UP_APP}, start=False)
    make_out(a)
    a.start()
    first = int(a.get("/gu/").body)
    a.mark_log()
    r = a.get("/gu/?spin")
    assert r.status == 504
    assert a.wait_log(r"daemon process %d of group 'gu': a request it gave up on may still be "
                      r"running: Python is not finalised" % first), a.new_log()
    path = a.path("out/stopping-%d" % first)
    assert wait_file(path)
    with open(path) as f:
        assert json.load(f) == {"shutdown_reason": "request_timeout"}
    r = a.get("/gu/")
    assert r.status == 200 and int(r.body) != first, r
    assert not re.search(r"exit signal|Segmentation|core dumped", a.new_log()), a.new_log()


def test_header_over_header_buffer_size(srv):
    pid = pid_of(srv, "hb")
    r = srv.get("/hb/bigheader?8000")
    assert (r.status, r.body, len(r.header("X-Big"))) == (200, b"big", 8000)
    srv.mark_log()
    r = srv.get("/hb/bigheader?10000")
    assert r.status == 500
    assert srv.wait_log(r"daemon process %d of group 'hb' sent a response header line of 10007 "
                        r"bytes .*over header-buffer-size 8192" % pid)
    assert pid_of(srv, "hb") == pid


def test_body_cut_short_by_exit(srv):
    pid = pid_of(srv, "victim")
    srv.mark_log()
    r = srv.get("/victim/cut_exit")
    assert r.status == 200
    assert r.error is not None, r
    assert r.body == b"part;"
    assert srv.wait_log(re.escape("daemon process %d of group 'victim' died while handling the "
                                  "request: exited with status 1; the response was cut short"
                                  % pid))


def test_body_cut_short_by_exception(srv):
    pid = pid_of(srv, "victim")
    srv.mark_log()
    r = srv.get("/victim/cut_raise?tok42")
    assert r.status == 200
    assert r.error is not None, r
    assert r.body == b"part;"
    assert srv.wait_log(r"ValueError: cut-raise tok42")
    # a clean end would carry the final chunk; a raw read shows it is missing
    raw = srv.raw(b"GET /victim/cut_raise?tok43 HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert b"part;" in raw
    assert not raw.endswith(b"0\r\n\r\n")
    assert pid_of(srv, "victim") == pid


# ---- frameworks -----------------------------------------------------------------------------

def test_flask_in_daemon_mode(srv):
    fw = wait_pids(srv, "fw", 1)
    r = srv.get("/flask/")
    assert (r.status, r.body) == (200, b"flask index")
    r = srv.get("/flask/hello/world")
    assert (r.status, r.body) == (200, b"Hello world from /flask in %d" % fw[0])
    assert srv.get("/flask/no/such/page").status == 404


def test_django_in_daemon_mode(srv):
    fw = wait_pids(srv, "fw", 1)
    r = srv.get("/django/hello/")
    assert (r.status, r.body) == (200, b"django hello at /django/hello/ in %d" % fw[0])
    r = srv.get("/django/unknown/")
    assert r.status == 404
    assert b"django hello" not in r.body


def test_quoted_option_values(apache):
    """Option values may be quoted, as mod_wsgi-express writes them, and hold spaces."""
    a = apache("""
        WSGIDaemonProcess "quoted group" home='/tmp' display-name="(wsgi: spaced name)"
        WSGIScriptAlias /q @ROOT@/q.wsgi process-group="quoted group" application-group='%{GLOBAL}'
    """, files={"q.wsgi": """
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s|%s|%s' % (os.getcwd(), environ['mod_wsgi.process_group'],
                           environ['mod_wsgi.application_group'])).encode()]
"""})
    assert a.get("/q").body == b"/tmp|quoted group|"
    assert "(wsgi: spaced name)" in [a.cmdline(p) for p in a.session_pids()]


def test_unusable_socket_prefix_keeps_apache_up_and_the_group_answers_503(apache):
    """As in mod_wsgi: a group whose socket cannot be made is not started; Apache serves on."""
    a = apache("""
        WSGISocketPrefix @ROOT@/missing-dir/wsgi
        WSGIDaemonProcess lost threads=1 display-name=%{GROUP}
        WSGIScriptAlias /lost @ROOT@/app.wsgi process-group=lost
        WSGIScriptAlias /here @ROOT@/app.wsgi
    """, files={"app.wsgi": """
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [environ['mod_wsgi.process_group'].encode() or b'embedded']
"""})
    here = a.get("/here")
    assert (here.status, here.body) == (200, b"embedded")
    assert a.get("/lost").status == 503
    assert a.wait_log(r"\[wsgi:crit\].* WSGIDaemonProcess lost is not started: its socket "
                      r"'\S+/missing-dir/wsgi\.\S+\.sock' cannot be created: No such file or "
                      r"directory \(does the directory of WSGISocketPrefix exist"), a.new_log()
    assert a.wait_log(r"\[wsgi:error\].* daemon group 'lost' was not started: its socket "), \
        a.new_log()
    assert not [p for p in a.session_pids() if "wsgi:lost" in a.cmdline(p)]
