"""Deciding, from the options, everything the server root will hold (checking what the user
named: files exist, combinations make sense, the account can read them), then writing it:
httpd.conf (rendered by apacheconf.py), apachectl, envvars, and handler.wsgi with its
handler.json when the entry point needs one.
"""
import importlib.util
import json
import os
import re
import shutil
import stat as _stat
import subprocess
import sys

from . import PROG, fail
from . import apacheconf
from .discovery import (MIME_TYPES_GUESSES, RunAs, apache_modules_dir, check_defines,
                        default_locale, find_apache, find_module, find_module_spec,
                        find_rotatelogs, find_shell, module_is_free_threaded)
from .options import MPMS

HERE = os.path.dirname(os.path.abspath(__file__))

# Why an option does nothing here, said once when it is given.
IGNORED = {
    "enable_docs": "--enable-docs: mod_pyhost bundles no documentation site; ignored",
    "telemetry_service": "--telemetry-service: mod_pyhost has no telemetry service "
                         "(mod_wsgi 6's WSGITelemetry*); ignored",
    "enable_telemetry": "--enable-telemetry: mod_pyhost has no telemetry ingester or web UI "
                        "(mod_wsgi-telemetry); ignored",
    "telemetry_options": "--telemetry-options: mod_pyhost has no telemetry service; ignored",
    "slow_requests": "--slow-requests: mod_pyhost has no telemetry service to report them "
                     "to; ignored",
}
DEBUG_AIDS = ("enable_debugger", "debugger_startup", "enable_profiler", "enable_recorder",
              "enable_coverage", "enable_gdb")


def note(message):
    print("%s: note: %s" % (PROG, message), file=sys.stderr)


def _existing_file(path, option):
    if not os.path.isfile(path):
        fail("%s %s: no such file" % (option, path))
    return os.path.abspath(path)


def _url_path(value, option):
    if not value.startswith("/"):
        fail("%s %s: a URL path must begin with /" % (option, value))
    return value


def _pairs_by_service(pairs, services, option):
    out = {}
    for name, value in pairs:
        if name not in services:
            fail("%s %s: no --service-script is named %s" % (option, name, name))
        out[name] = value
    return out


class Server:
    """Everything decided from the options, then written out."""

    def __init__(self, opts):
        self.opts = o = opts
        self._check_refused()
        if o.entry_point:
            o.application = o.entry_point
        if not o.application and o.application_type != "static":
            fail("name the application to serve, for example: %s start-server app.wsgi" % PROG)
        for name, value in (("--port", o.port), ("--https-port", o.https_port)):
            if value is not None and not 1 <= value <= 65535:
                fail("%s %d is not a port number" % (name, value))
        if o.https_port is not None and o.https_port == o.port:
            fail("--https-port %d is the same as --port" % o.port)
        if o.processes is not None and o.processes < 1:
            fail("--processes must be 1 or more")
        if o.threads < 1:
            fail("--threads must be 1 or more")
        _url_path(o.mount_point, "--mount-point")
        if o.max_clients is not None and o.max_clients < 1:
            fail("--max-clients must be 1 or more")
        for mpm in o.server_mpm:
            if mpm not in MPMS:
                fail("--server-mpm %s: not an MPM (event, worker or prefork)" % mpm)
        self.host = o.host or ""
        self.server_name = o.server_name or "localhost"
        self.debug = o.debug_mode
        self.embedded = o.embedded_mode or self.debug
        self.reload = o.reload_on_changes and not o.disable_reloading and not self.debug
        self.apache = find_apache(o.httpd_executable)
        self.modules_dir = apache_modules_dir(o.modules_directory)
        self.module = find_module(o.module_path, o.modules_directory)
        self.run_as = RunAs(o.user, o.group)
        self.compiled_in = self._compiled_in()
        self.mpm = self._choose_mpm()
        self.shell = find_shell(o.shell_executable)

        base = os.environ.get("TMPDIR") or "/tmp"
        root = o.server_root or os.path.join(base, "pyhost-express-%s-%d-%d" % (
            (self.host or "localhost").replace("/", "_").replace(":", "_"), o.port,
            os.getuid()))
        self.root = os.path.abspath(root)
        self.conf = os.path.join(self.root, "httpd.conf")
        self.pid_file = os.path.abspath(o.pid_file) if o.pid_file else os.path.join(
            self.root, "httpd.pid")
        self.socket_prefix = os.path.abspath(o.socket_prefix or os.path.join(self.root, "wsgi"))
        # A daemon socket is PREFIX.PID.N.sock and must fit sun_path's 108 bytes.
        if len(self.socket_prefix) > 75:
            fail("the socket prefix %s is too long a path for the daemon processes' sockets; "
                 "choose a shorter --server-root or --socket-prefix" % self.socket_prefix)
        self.handler = None
        self.locale = o.locale or default_locale()
        self.lang = o.lang or self.locale
        self._resolve_application()
        self._resolve_paths()
        self._resolve_tls()
        self._resolve_logs()
        self._resolve_scripts()
        self._resolve_services()
        self._resolve_python()
        self._resolve_debugging()
        for dest, why in IGNORED.items():
            if getattr(o, dest):
                note(why)

    # -- discovery ------------------------------------------------------------------------
    def _check_refused(self):
        if self.opts.with_php5:
            fail("--with-php5 is not supported: PHP 5 reached its end of life in 2018 and "
                 "Debian ships no mod_php5; serve PHP with php-fpm behind --proxy-mount-point")

    def _compiled_in(self):
        try:
            out = subprocess.run([self.apache, "-l"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20)
            return set(re.findall(r"(\w+)\.c", out.stdout.decode(errors="replace")))
        except (OSError, subprocess.SubprocessError):
            return set()

    def module_file(self, name):
        return os.path.join(self.modules_dir, "mod_%s.so" % name)

    def has_module(self, name):
        return "mod_%s" % name in self.compiled_in or os.path.isfile(self.module_file(name))

    def _choose_mpm(self):
        static = [m for m in MPMS if m in self.compiled_in]
        if static:
            return None  # built into this Apache: nothing to load
        wanted = list(self.opts.server_mpm)
        if self.debug:
            wanted = [m for m in wanted if m != "event"] or ["prefork"]
        order = wanted + [m for m in MPMS if m not in wanted]
        for m in order:
            if os.path.isfile(self.module_file("mpm_" + m)):
                if wanted and m != wanted[0]:
                    print("%s: mpm_%s is not available here; using mpm_%s"
                          % (PROG, wanted[0], m), file=sys.stderr)
                return m
        fail("no Apache MPM module (mod_mpm_event.so, mod_mpm_worker.so or mod_mpm_prefork.so) "
             "was found in %s" % self.modules_dir)

    def _resolve_application(self):
        o = self.opts
        wd = o.working_directory
        self.workdir_given = wd is not None
        self.workdir = os.path.abspath(wd if wd is not None else os.getcwd())
        if self.workdir_given and not os.path.isdir(self.workdir):
            fail("--working-directory %s is not a directory" % self.workdir)
        self.python_path = []
        for d in o.python_path:
            d = os.path.abspath(d)
            if not os.path.isdir(d):
                fail("--python-path %s is not a directory" % d)
            self.python_path.append(d)
        self.script = None
        self.static_dir = None
        self.watch = []
        kind = o.application_type
        if kind == "static":
            self.static_dir = os.path.abspath(o.application or os.getcwd())
            if not os.path.isdir(self.static_dir):
                fail("--application-type static: %s is not a directory" % self.static_dir)
            self.app_dir = self.static_dir
        elif kind in ("script", "paste"):
            path = os.path.abspath(o.application)
            what = "WSGI script" if kind == "script" else "PasteDeploy configuration"
            if not os.path.exists(path):
                fail("the %s %s does not exist" % (what, path))
            if not os.path.isfile(path):
                fail("the %s %s is not a file" % (what, path))
            if kind == "script":
                check_defines(path, o.callable_object, "WSGI script")
            self.script = path
            self.app_dir = os.path.dirname(path)
            self.watch = [self.app_dir]
        else:
            paths = self.python_path + [self.workdir] + [p for p in sys.path
                                                          if p and os.path.isdir(p)]
            spec = find_module_spec(o.application, paths)
            if spec is None:
                fail("the Python module %s cannot be found (searched --python-path, the "
                     "working directory %s and this Python's sys.path)"
                     % (o.application, self.workdir))
            origin = spec.origin if spec.has_location else None
            if origin and origin.endswith(".py"):
                check_defines(origin, o.callable_object, "module")
            self.app_dir = os.path.dirname(origin) if origin else self.workdir
            top = find_module_spec(o.application.split(".")[0], paths)
            locs = list(top.submodule_search_locations or []) if top else []
            self.watch = locs or [self.app_dir]
        if kind == "paste" and importlib.util.find_spec("paste.deploy") is None:
            fail("--application-type paste needs PasteDeploy, which is not installed here "
                 "(Debian's python3-pastedeploy)")
        debugging = self.debug and any(getattr(o, a) for a in DEBUG_AIDS)
        self.handler_needed = kind in ("module", "paste") or (
            kind == "script" and (self.reload or debugging))

    def _resolve_paths(self):
        o = self.opts
        self.aliases = []
        for url, target in o.url_aliases:
            _url_path(url, "--url-alias")
            target = os.path.abspath(target)
            if not os.path.exists(target):
                fail("--url-alias %s %s: no such file or directory" % (url, target))
            if url != "/":
                url = url.rstrip("/")
            if os.path.isdir(target) and target != "/":
                target = target.rstrip("/")
            self.aliases.append((url, target))
        self.docroot = None
        if self.static_dir:
            self.docroot = self.static_dir
        if o.document_root:
            self.docroot = os.path.abspath(o.document_root)
            if not os.path.isdir(self.docroot):
                fail("--document-root %s is not a directory" % self.docroot)
        self.include_files = [_existing_file(f, "--include-file") for f in o.include_files]
        self.mime_types_file = (_existing_file(o.mime_types, "--mime-types") if o.mime_types
                                else None)
        rules = o.rewrite_rules or os.path.join(self.root, "rewrite.conf")
        self.rewrite_rules = (_existing_file(rules, "--rewrite-rules") if o.rewrite_rules
                              else rules if os.path.isfile(rules) else None)
        self.error_documents = []
        for status, url in o.error_documents:
            if not re.match(r"^[1-5]\d\d$", status):
                fail("--error-document %s %s: %s is not an HTTP status" % (status, url, status))
            self.error_documents.append((status, url))
        self.handler_scripts = []
        for ext, script in o.handler_scripts:
            if not ext.startswith("."):
                ext = "." + ext
            self.handler_scripts.append((ext, _existing_file(script, "--add-handler")))
        # Without --document-root, the server root's htdocs plays its part.
        self.docroot_effective = self.docroot or os.path.join(self.root, "htdocs")
        self.proxy_mounts = []
        for url, target in o.proxy_mount_points:
            _url_path(url, "--proxy-mount-point")
            if not re.match(r"^(https?|wss?|h2c?)://", target):
                fail("--proxy-mount-point %s %s: the target must be an http:// or https:// "
                     "URL" % (url, target))
            self.proxy_mounts.append((url, target))
        for name, target in o.proxy_virtual_hosts:
            if not re.match(r"^(https?|wss?)://", target):
                fail("--proxy-virtual-host %s %s: the target must be an http:// or https:// "
                     "URL" % (name, target))
        for url in o.ignore_activity:
            _url_path(url, "--ignore-activity")

    def _resolve_tls(self):
        o = self.opts
        self.cert = self.key = None
        if o.ssl_certificate:
            self.cert = o.ssl_certificate + ".crt"
            self.key = o.ssl_certificate + ".key"
        self.cert = o.ssl_certificate_file or self.cert
        self.key = o.ssl_certificate_key_file or self.key
        if o.https_port is None:
            for flag in ("https_only", "ssl_environment"):
                if getattr(o, flag):
                    fail("--%s needs --https-port" % flag.replace("_", "-"))
            return
        if not self.cert or not self.key:
            fail("--https-port needs a certificate and its key: --ssl-certificate-file and "
                 "--ssl-certificate-key-file, or --ssl-certificate BASE for BASE.crt and "
                 "BASE.key (a self-signed pair for testing: openssl req -x509 -newkey rsa:2048 "
                 "-nodes -subj /CN=localhost -keyout BASE.key -out BASE.crt)")
        self.cert = _existing_file(self.cert, "the SSL certificate")
        self.key = _existing_file(self.key, "the SSL certificate key")
        if o.ssl_certificate_chain_file:
            o.ssl_certificate_chain_file = _existing_file(o.ssl_certificate_chain_file,
                                                          "--ssl-certificate-chain-file")
        if o.ssl_ca_certificate_file:
            o.ssl_ca_certificate_file = _existing_file(o.ssl_ca_certificate_file,
                                                       "--ssl-ca-certificate-file")
        elif o.ssl_verify_client_urls:
            fail("--ssl-verify-client needs --ssl-ca-certificate-file to check client "
                 "certificates against")
        for url in o.ssl_verify_client_urls:
            _url_path(url, "--ssl-verify-client")
        if not self.has_module("ssl"):
            fail("--https-port needs Apache's mod_ssl, which was not found in %s"
                 % self.modules_dir)
        if o.http2 and not self.has_module("http2"):
            fail("--http2 needs Apache's mod_http2, which was not found in %s" % self.modules_dir)

    def _resolve_logs(self):
        o = self.opts
        self.terminal = o.log_to_terminal and not o.log_directory
        self.log_dir = os.path.abspath(o.log_directory) if o.log_directory else self.root
        self.rotatelogs = None
        if o.rotate_logs and not self.terminal:
            if o.max_log_size < 1:
                fail("--max-log-size must be at least 1 (MB)")
            self.rotatelogs = find_rotatelogs(o.rotatelogs_executable, self.apache)
        for option in ("error_log_name", "access_log_name", "startup_log_name"):
            name = getattr(o, option)
            if not name or "/" in name:
                fail("--%s %s: a file name, without a directory" % (
                    option.replace("_", "-"), name))

    def _resolve_scripts(self):
        o = self.opts
        for option in ("host_access_script", "auth_user_script", "auth_group_script"):
            if getattr(o, option):
                setattr(o, option, _existing_file(getattr(o, option),
                                                  "--" + option.replace("_", "-")))
        if o.auth_group_script and not o.auth_user_script:
            fail("--auth-group-script needs --auth-user-script (users must log in before "
                 "their groups can be checked)")

    def _resolve_services(self):
        o = self.opts
        self.services = []
        names = [name for name, _s in o.service_scripts]
        users = _pairs_by_service(o.service_users, names, "--service-user")
        groups = _pairs_by_service(o.service_groups, names, "--service-group")
        logs = _pairs_by_service(o.service_log_files, names, "--service-log-file")
        if (users or groups) and self.run_as.euid != 0:
            fail("--service-user and --service-group need pyhost-express to be run as root")
        for name, script in o.service_scripts:
            if not re.match(r"^[A-Za-z0-9_.-]+$", name):
                fail("--service-script %s: a service name is letters, digits, '.', '_' and "
                     "'-'" % name)
            script = _existing_file(script, "--service-script %s" % name)
            log = logs.get(name)
            if log and "/" in log:
                fail("--service-log-file %s %s: a file name, without a directory"
                     % (name, log))
            run_as = None
            if self.run_as.euid == 0:
                user = users.get(name, self.run_as.user)
                group = groups.get(name) or (None if name in users else o.group)
                run_as = RunAs(user, group)
            self.services.append({"name": name, "script": script, "log": log, "run_as": run_as})

    def _resolve_python(self):
        o = self.opts
        if o.free_threading and not module_is_free_threaded(self.module):
            fail("--free-threading needs mod_pyhost built against a free-threaded Python "
                 "(such as python3.13t); %s was built against a Python with the GIL"
                 % self.module)
        if o.switch_interval is not None and o.switch_interval <= 0:
            fail("--switch-interval must be more than 0 seconds")
        self.python_eggs = os.path.abspath(o.python_eggs or os.path.join(self.root,
                                                                          "python-eggs"))
        self.passenv = []
        for name in o.passenv_variables:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                fail("--passenv %s: not an environment variable name" % name)
            self.passenv.append(name)

    def _resolve_debugging(self):
        o = self.opts
        aids = [a for a in DEBUG_AIDS if getattr(o, a)]
        if aids and not self.debug:
            note("%s only work%s with --debug-mode; ignored" % (
                ", ".join("--" + a.replace("_", "-") for a in aids), "s" if len(aids) == 1
                else ""))
        self.gdb = None
        if self.debug and o.enable_gdb:
            self.gdb = shutil.which(o.gdb_executable) or (
                o.gdb_executable if os.access(o.gdb_executable, os.X_OK) else None)
            if not self.gdb:
                fail("--enable-gdb needs gdb (Debian's gdb package); %s was not found"
                     % o.gdb_executable)
        if self.debug and o.enable_coverage:
            if importlib.util.find_spec("coverage") is None:
                note("--enable-coverage needs coverage.py, which is not installed here "
                     "(Debian's python3-coverage); not measuring")
                o.enable_coverage = False
        self.debug_dirs = {}
        if self.debug:
            for flag, option, default in (("enable_profiler", "profiler_directory", "pstats"),
                                          ("enable_recorder", "recorder_directory", "archive"),
                                          ("enable_coverage", "coverage_directory",
                                           "htmlcov")):
                if getattr(o, flag):
                    self.debug_dirs[flag] = os.path.abspath(getattr(o, option) or
                                                            os.path.join(self.root, default))

    # -- checks as the account the app runs as --------------------------------------------
    def check_access(self):
        who = self.run_as.user
        items = []
        if self.script:
            items.append((self.script, "r"))
        items += [(d, "rx") for d in self.python_path]
        items += [(t, "rx" if os.path.isdir(t) else "r") for _u, t in self.aliases]
        if self.docroot:
            items.append((self.docroot, "rx"))
        items += [(s["script"], "r") for s in self.services]
        items += [(s, "r") for _e, s in self.handler_scripts]
        problem = self.run_as.describe_denied(items)
        if problem:
            fail("the application runs as user %s, which %s; put it where %s can read it or "
                 "change the permissions" % (who, problem, who))
        problem = self.run_as.describe_denied([(self.workdir, "rx")])
        if problem:
            if self.workdir_given or not self.script:
                fail("the application runs as user %s, which %s (its working directory); "
                     "choose another with --working-directory" % (who, problem))
            self.workdir = self.app_dir

    # -- naming ---------------------------------------------------------------------------
    def group_name(self):
        return self.opts.process_group or "%s:%d" % (self.server_name, self.opts.port)

    def listen_address(self, port):
        h = self.host
        if not h:
            return str(port)
        if ":" in h and not h.startswith("["):
            h = "[%s]" % h
        return "%s:%d" % (h, port)

    def url(self):
        h = self.host or "localhost"
        if ":" in h and not h.startswith("["):
            h = "[%s]" % h
        if self.opts.https_port and self.opts.https_only:
            return "https://%s:%d%s" % (h, self.opts.https_port, self.opts.mount_point)
        return "http://%s:%d%s" % (h, self.opts.port, self.opts.mount_point)

    def log_path(self, name):
        return os.path.join(self.log_dir, name)

    def error_log(self):
        """The file to show the end of when Apache fails, or None (terminal, rotated)."""
        if self.terminal:
            return None
        path = self.log_path(self.opts.error_log_name)
        if self.rotatelogs:
            rotated = sorted(f for f in os.listdir(self.log_dir)
                             if f.startswith(self.opts.error_log_name + "."))
            return os.path.join(self.log_dir, rotated[-1]) if rotated else None
        return path

    def startup_log(self):
        if self.opts.startup_log:
            return self.log_path(self.opts.startup_log_name)
        return None

    def mime_types(self):
        if self.mime_types_file:
            return self.mime_types_file
        for path in MIME_TYPES_GUESSES:
            if os.path.isfile(path):
                return path
        return self.write("mime.types", "text/html html htm\ntext/css css\n"
                          "text/plain txt\napplication/javascript js\n"
                          "application/json json\nimage/png png\nimage/jpeg jpg jpeg\n"
                          "image/gif gif\nimage/svg+xml svg\n")

    def httpd_command(self):
        """Apache's command line for start-server: foreground, one process in debug mode."""
        args = [self.apache, "-f", self.conf, "-DFOREGROUND"]
        if self.debug:
            args.append("-X")
        if self.startup_log():
            args += ["-E", self.startup_log()]
        if self.gdb:
            args = [self.gdb, "-ex", "run", "--args"] + args
        return args

    # -- writing --------------------------------------------------------------------------
    def make_root(self):
        created = False
        try:
            st = os.lstat(self.root)
        except FileNotFoundError:
            created = True
            try:
                os.makedirs(self.root, 0o755)
            except OSError as e:
                fail("cannot create the server root %s: %s" % (self.root, e.strerror))
            st = os.lstat(self.root)

        if not _stat.S_ISDIR(st.st_mode):
            fail("the server root %s exists and is not a directory" % self.root)
        if st.st_uid != os.geteuid():
            fail("the server root %s belongs to another user; choose another with "
                 "--server-root" % self.root)
        os.chmod(self.root, 0o755)
        if self.run_as.euid == 0:
            problem = self.run_as.describe_denied([(self.root, "x")])
            if problem:
                if created:
                    os.rmdir(self.root)
                fail("user %s %s (the server root); choose another with --server-root"
                     % (self.run_as.user, problem))
        for d in [os.path.join(self.root, "htdocs"), self.log_dir]:
            try:
                os.makedirs(d, 0o755, exist_ok=True)
            except OSError as e:
                fail("cannot create %s: %s" % (d, e.strerror))
        os.chmod(os.path.join(self.root, "htdocs"), 0o755)
        # Directories the application writes to belong to the account it runs as.
        for d in [self.python_eggs] + list(self.debug_dirs.values()):
            os.makedirs(d, 0o755, exist_ok=True)
            if self.run_as.euid == 0:
                os.chown(d, self.run_as.uid, self.run_as.gid)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.root, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return path

    def handler_settings(self):
        o = self.opts
        kind = o.application_type
        return {
            "kind": kind,
            "target": self.script if kind in ("script", "paste") else o.application,
            "callable": o.callable_object,
            "reload": ("inplace" if self.embedded else "restart") if self.reload else None,
            "watch": ([self.script] if self.script else []) + self.watch if self.reload else [],
            "debug": {
                "debugger": o.enable_debugger and self.debug,
                "debugger_startup": o.debugger_startup and self.debug,
                "profiler": self.debug_dirs.get("enable_profiler"),
                "recorder": self.debug_dirs.get("enable_recorder"),
                "coverage": self.debug_dirs.get("enable_coverage"),
            },
        }

    def envvars_script(self):
        if self.opts.envvars_script:
            return _existing_file(self.opts.envvars_script, "--envvars-script")
        path = os.path.join(self.root, "envvars")
        if not os.path.exists(path):
            self.write("envvars", "# Sourced by apachectl before Apache starts: export here "
                       "what its environment needs.\n")
        return path

    def apachectl_text(self):
        name = self.opts.process_name
        if name and os.path.basename(self.shell) not in ("bash", "zsh", "ksh"):
            note("--process-name needs a shell with 'exec -a' (bash); %s has none, so the "
                 "generated apachectl keeps Apache's own name" % self.shell)
            name = None
        return APACHECTL % {
            "shell": self.shell, "prog": PROG, "httpd": self.apache, "conf": self.conf,
            "envvars": _sh(self.envvars_script()),
            "exec": "exec -a %s" % _sh(name) if name else "exec",
            "startup": " -E %s" % _sh(self.startup_log()) if self.startup_log() else "",
        }

    def setup(self):
        self.check_access()
        self.make_root()
        if self.handler_needed:
            shutil.copyfile(os.path.join(HERE, "handler.py"),
                            os.path.join(self.root, "handler.wsgi.tmp"))
            os.chmod(os.path.join(self.root, "handler.wsgi.tmp"), 0o644)
            os.replace(os.path.join(self.root, "handler.wsgi.tmp"),
                       os.path.join(self.root, "handler.wsgi"))
            self.write("handler.json", json.dumps(self.handler_settings(), indent=2) + "\n")
            self.handler = os.path.join(self.root, "handler.wsgi")
        self.write("httpd.conf", apacheconf.render(self))
        self.write("apachectl", self.apachectl_text(), 0o755)


def _sh(value):
    return "'%s'" % str(value).replace("'", "'\\''")


APACHECTL = r'''#!%(shell)s
# Generated by %(prog)s: starts and stops the Apache configured in this directory.
#   apachectl start [-DFOREGROUND]  stop  restart  graceful  graceful-stop  configtest
HTTPD='%(httpd)s'
CONF='%(conf)s'
. %(envvars)s
cmd="$1"
[ $# -gt 0 ] && shift
case "$cmd" in
start|stop|restart|graceful|graceful-stop)
    %(exec)s "$HTTPD" -f "$CONF" -k "$cmd"%(startup)s "$@" ;;
configtest)
    exec "$HTTPD" -f "$CONF" -t "$@" ;;
*)
    echo "usage: $0 start|stop|restart|graceful|graceful-stop|configtest" >&2
    exit 1 ;;
esac
'''
