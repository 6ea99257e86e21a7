"""The commands of pyhost-express, and running Apache in the foreground for start-server.

    pyhost-express start-server app.wsgi [options]     generate a config and run Apache
    pyhost-express setup-server app.wsgi [options]     only generate it (and an apachectl)
    pyhost-express module-config                       LoadModule lines for your own config
    pyhost-express module-location                     where the installed module is
"""
import argparse
import errno
import glob
import os
import signal
import socket
import subprocess
import sys
import time

from . import PROG, Failure, fail, q
from .discovery import find_module, python_home
from .options import add_server_options
from .server import Server


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve a Python WSGI application with Apache and mod_pyhost. "
        "The options are mod_wsgi-express's.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    start = sub.add_parser("start-server", help="generate a configuration and run Apache "
                           "in the foreground until Ctrl-C",
                           usage="%(prog)s [SCRIPT-OR-MODULE] [options]")
    setup = sub.add_parser("setup-server", help="only generate the configuration and an "
                           "apachectl script (start-server --setup-only)",
                           usage="%(prog)s [SCRIPT-OR-MODULE] [options]")
    for p in (start, setup):
        add_server_options(p)
    for name, text in (("module-config", "print the LoadModule lines for an Apache "
                        "configuration"),
                       ("module-location", "print where the module is")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--module-path", metavar="FILE", help="the mod_pyhost.so to use")
    return parser


# ---- running -----------------------------------------------------------------------------

def check_port(host, port, option="--port"):
    """Fails plainly if Apache could not listen on host:port."""
    where = "%s:%d" % (host, port) if host else "port %d" % port
    if host:
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0,
                                       socket.AI_PASSIVE)
        except socket.gaierror as e:
            fail("cannot listen on %s: the host name does not resolve (%s)" % (where, e))
        addrs = [(fam, sa) for fam, _t, _p, _c, sa in infos]
    else:
        addrs = [(socket.AF_INET, ("0.0.0.0", port))]
        if socket.has_ipv6:
            addrs.append((socket.AF_INET6, ("::", port)))
    for fam, sa in addrs:
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError:
            continue  # e.g. IPv6 unavailable
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6 and not host:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(sa)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                fail("%s is already in use; stop what is using it or choose another port "
                     "with %s" % (where if host else "port %d" % port, option))
            if e.errno == errno.EACCES:
                fail("no permission to listen on %s; ports below 1024 need root" % where)
            if e.errno == errno.EADDRNOTAVAIL:
                fail("cannot listen on %s: no such address on this machine" % where)
            if fam == socket.AF_INET6 and not host:
                continue
            fail("cannot listen on %s: %s" % (where, e.strerror))
        finally:
            s.close()


def _sh(value):
    return "'%s'" % str(value).replace("'", "'\\''")


def _set_parent_death_signal():
    """In Apache's parent before exec: stop it if the launcher dies without cleaning up."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_apache(server):
    """Runs Apache in the foreground in its own session; INT/TERM stop it and everything it
    started. Returns the exit status."""
    try:
        os.unlink(server.pid_file)
    except OSError:
        pass
    state = {"stop_at": None, "signals": 0}
    proc_box = []

    def forward(sig, frame):
        state["signals"] += 1
        if state["stop_at"] is None:
            state["stop_at"] = time.time()
        if proc_box and proc_box[0].poll() is None:
            try:
                if state["signals"] > 1:
                    os.killpg(proc_box[0].pid, signal.SIGKILL)
                else:
                    os.kill(proc_box[0].pid, signal.SIGTERM)
            except OSError:
                pass

    def pass_on(sig, frame):
        if proc_box and proc_box[0].poll() is None:
            try:
                os.kill(proc_box[0].pid, sig)
            except OSError:
                pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    for sig in (signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, pass_on)
    try:
        # Through the shell, for the envvars script and --process-name; exec keeps the pid.
        name = server.opts.process_name
        run = ". \"$0\" && exec %s\"$@\"" % ("-a %s " % _sh(name) if name and os.path.basename(
            server.shell) in ("bash", "zsh", "ksh") else "")
        proc = subprocess.Popen([server.shell, "-c", run, server.envvars_script()]
                                + server.httpd_command(),
                                stdin=None if server.debug else subprocess.DEVNULL,
                                start_new_session=not server.debug,
                                preexec_fn=_set_parent_death_signal)
    except OSError as e:
        fail("cannot run %s: %s" % (server.apache, e.strerror))
    proc_box.append(proc)
    if state["stop_at"] is not None:
        forward(signal.SIGTERM, None)
    grace = server.opts.shutdown_timeout + 10
    killed = False
    while True:
        try:
            rc = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if state["stop_at"] is not None and time.time() - state["stop_at"] > grace:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                killed = True
    # Whatever Apache left in its process group goes too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        killed = True
    except OSError:
        pass
    if killed:
        time.sleep(0.1)
        for sock in glob.glob(server.socket_prefix + ".*.sock"):
            try:
                os.unlink(sock)
            except OSError:
                pass
    if state["stop_at"] is not None:
        return 0
    log = server.startup_log()
    if not log or not _tail(log, 1):
        log = server.error_log()
    msg = "%s: Apache exited with status %s" % (PROG, rc)
    if log:
        tail = _tail(log, 15)
        if tail:
            msg += "; the end of %s:\n%s" % (log, tail)
        else:
            msg += "; see %s" % log
    print(msg, file=sys.stderr)
    return rc if rc and rc > 0 else 1


def _tail(path, n):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def cmd_server(opts, setup_only):
    server = Server(opts)
    if not setup_only:
        check_port(server.host, opts.port)
        if opts.https_port:
            check_port(server.host, opts.https_port, "--https-port")
    server.setup()
    if setup_only:
        print("Configuration: %s" % server.conf)
        print("Start it with: %s start   (stop: %s stop)"
              % (os.path.join(server.root, "apachectl"), os.path.join(server.root, "apachectl")))
        return 0
    if server.static_dir:
        mode = "static files only"
    elif server.debug:
        mode = "debug mode, one process"
    elif server.embedded:
        mode = "embedded mode"
    else:
        mode = "daemon mode, %d process%s x %d threads" % (
            opts.processes or 1, "es" if (opts.processes or 1) > 1 else "", opts.threads)
    print("%s: serving %s at %s (%s, as user %s)" % (
        PROG, server.script or server.static_dir or opts.application, server.url(), mode,
        server.run_as.user))
    print("  server root: %s" % server.root)
    if not server.terminal:
        print("  logs:        %s" % server.log_dir)
    print("Press Ctrl-C to stop.", flush=True)
    return run_apache(server)


def cmd_module(opts, location_only):
    module = find_module(opts.module_path)
    if location_only:
        print(module)
        return 0
    print("LoadModule wsgi_module %s" % q(module))
    home = python_home(module)
    if home:
        print("WSGIPythonHome %s" % q(home))
    return 0


def main(argv=None):
    parser = build_parser()
    opts = parser.parse_args(argv)
    try:
        if opts.command in ("start-server", "setup-server"):
            return cmd_server(opts, opts.command == "setup-server" or opts.setup_only)
        if opts.command in ("module-config", "module-location"):
            return cmd_module(opts, opts.command == "module-location")
        parser.print_help(sys.stderr)
        return 2
    except Failure as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
