"""Real Apache configurations shipped by Debian packages that use mod_wsgi.

At test time each package is fetched from Debian 12's archive (bookworm, whatever release
runs the suite: the Python matrix runs it in Debian 13 and unstable chroots too) with
`apt-get download` and a private package list (into a cache directory that later runs reuse), unpacked with `dpkg-deb -x`, and every Apache
configuration file in it that holds WSGI directives is loaded into a sandboxed Apache with
mod_pyhost.  The package's lines are kept as they are; only what cannot work in a sandbox is
changed:

  * absolute paths that do not exist on this machine (WSGI scripts, <Directory>, DocumentRoot,
    Alias targets, log files, SSL certificates) are moved under the server root, with a stub
    file or directory of the same name created there;
  * user and group names that do not exist become www-data;
  * <VirtualHost> addresses use the harness's port and Listen lines are dropped (the harness
    listens);
  * the Apache modules the file's other directives need are loaded from
    /usr/lib/apache2/modules, and Debian's ${APACHE_LOG_DIR} and friends are defined.

Each file must pass `apache2 -t`, and an invalid WSGI directive value placed next to each of
its WSGI directives must make `apache2 -t` fail: that proves the blocks holding them (for
example <IfModule mod_wsgi.c>) are really entered and parsed by mod_pyhost.  When the Debian
mod_wsgi is installed, the sandboxed file must also pass `apache2 -t` with it: that checks the
sandboxing, so a failure with mod_pyhost alone is an incompatibility of mod_pyhost.

A package is skipped only when the Debian archive cannot be reached.
"""
import glob
import os
import pwd
import grp
import re
import shlex
import subprocess
import textwrap

import pytest

from harness import APACHE, MODULE, MODULES_DIR

CACHE = os.environ.get("PYHOST_DEB_CACHE", "/var/tmp/pyhost-debs")

# Packages known to ship Apache configuration for mod_wsgi.  Whatever else the archive lists
# as depending on libapache2-mod-wsgi-py3 is added at test time.
KNOWN_PACKAGES = ["graphite-web", "loggerhead", "x2gobroker-wsgi", "supysonic", "pywps-wsgi",
                  "openstack-dashboard-apache", "wims-lti"]

# The real mod_wsgi, when installed, is the reference for the sandboxing.
REFERENCE_MODULE = os.path.join(MODULES_DIR, "mod_wsgi.so")

UNREACHABLE = re.compile(
    r"Temporary failure resolving|Could not resolve|Unable to connect|Could not connect|"
    r"Connection (refused|timed out|failed)|Network is unreachable|No route to host|"
    r"Failed to fetch .*(Could not|Connection|timed out|unreachable)", re.I)

SKIP_EXTENSIONS = (".py", ".pyc", ".html", ".htm", ".rst", ".txt", ".js", ".css", ".po",
                   ".mo", ".json", ".png", ".jpg", ".gif", ".svg", ".ico", ".gz", ".xml",
                   ".md", ".sh", ".wsgi")
WSGI_LINE = re.compile(r"^\s*<?/?\s*WSGI[A-Za-z]+\b")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


# ---- fetching -----------------------------------------------------------------------------------

class Unreachable(Exception):
    """The Debian archive cannot be reached: the only reason to skip."""


def cached_deb(pkg):
    debs = sorted(glob.glob(os.path.join(CACHE, glob.escape(pkg) + "_*.deb")))
    return debs[-1] if debs else None


def unreachable_reason(out):
    lines = [l.strip() for l in out.splitlines() if UNREACHABLE.search(l)]
    return lines[0] if lines else out.strip()[-300:]


# Debian 12's package lists, kept apart from the system's own apt state.
RELEASE = "bookworm"
MIRROR = os.environ.get("PYHOST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
APT_DIR = os.path.join(CACHE, "apt-" + RELEASE)


def apt(*args):
    """apt-get/apt-cache arguments that use only RELEASE's lists from APT_DIR."""
    return ["-o", "Dir::Etc::SourceList=" + os.path.join(APT_DIR, "sources.list"),
            "-o", "Dir::Etc::SourceParts=" + os.path.join(APT_DIR, "sources.list.d"),
            "-o", "Dir::State::Lists=" + os.path.join(APT_DIR, "lists"),
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
            "-o", "APT::Sandbox::User=root"] + list(args)


def have_lists():
    return bool(glob.glob(os.path.join(APT_DIR, "lists", "*_Packages*")))


def apt_setup():
    os.makedirs(os.path.join(APT_DIR, "lists", "partial"), exist_ok=True)
    os.makedirs(os.path.join(APT_DIR, "sources.list.d"), exist_ok=True)
    with open(os.path.join(APT_DIR, "sources.list"), "w") as f:
        f.write("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n"
                % (MIRROR, RELEASE))


def apt_update():
    apt_setup()
    p = run(["apt-get"] + apt("update"))
    out = p.stdout + p.stderr
    if UNREACHABLE.search(out) or p.returncode != 0 and "Err:" in out:
        raise Unreachable("apt-get update: %s" % unreachable_reason(out))
    if p.returncode != 0:
        raise RuntimeError("apt-get update failed:\n%s" % out)


def download(pkg):
    """The path of pkg's .deb in the cache, downloaded when it is not there yet."""
    deb = cached_deb(pkg)
    if deb:
        return deb
    os.makedirs(CACHE, mode=0o755, exist_ok=True)
    for attempt in (1, 2):
        if not have_lists():
            apt_update()
        p = run(["apt-get"] + apt("download", pkg), cwd=CACHE)
        out = p.stdout + p.stderr
        deb = cached_deb(pkg)
        if p.returncode == 0 and deb:
            return deb
        stale = ("Unable to locate package" in out or "has no installation candidate" in out
                 or re.search(r"\b404\b", out))
        if stale and attempt == 1:
            apt_update()  # the package lists are missing or out of date
            continue
        if UNREACHABLE.search(out):
            raise Unreachable("apt-get download %s: %s" % (pkg, unreachable_reason(out)))
        raise RuntimeError("apt-get download %s failed (exit %d):\n%s"
                           % (pkg, p.returncode, out))


def extract(deb):
    dest = os.path.join(CACHE, "extracted", os.path.basename(deb)[:-4])
    if not os.path.isdir(dest):
        tmp = dest + ".tmp"
        subprocess.run(["rm", "-rf", tmp], check=True)
        os.makedirs(tmp)
        p = run(["dpkg-deb", "-x", deb, tmp])
        if p.returncode != 0:
            raise RuntimeError("dpkg-deb -x %s failed:\n%s" % (deb, p.stdout + p.stderr))
        os.rename(tmp, dest)
    return dest


def reverse_dependencies():
    if not have_lists():
        try:
            apt_update()
        except Exception:
            return []  # each known package's case reports what is wrong
    p = run(["apt-cache"] + apt("rdepends", "libapache2-mod-wsgi-py3"))
    if p.returncode != 0:
        return []
    names = []
    for line in p.stdout.splitlines()[2:]:
        name = line.strip().lstrip("|").strip()
        if name and name not in names and not name.startswith("libapache2-mod-wsgi"):
            names.append(name)
    return names


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def wsgi_config_files(root, pkg):
    """Apache configuration files in the unpacked package that use WSGI directives."""
    places = [os.path.join(root, "etc")]
    places += glob.glob(os.path.join(root, "usr/share/doc/*/examples"))
    places += [d for d in glob.glob(os.path.join(root, "usr/share/*"))
               if os.path.basename(d) not in ("doc", "locale", "man", "python3", "lintian",
                                              "bug", "applications", "icons", "pixmaps")]
    found = []
    for place in places:
        for dirpath, dirnames, filenames in os.walk(place):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.endswith(SKIP_EXTENSIONS) or os.path.islink(path):
                    continue
                text = read_text(path)
                if text and any(WSGI_LINE.match(l) for l in text.splitlines()):
                    rel = os.path.relpath(path, root)
                    if rel not in found:
                        found.append(rel)
    return found


def collect_cases():
    """(package, file or None, unpacked root or None, problem or None) for every case."""
    packages = list(KNOWN_PACKAGES)
    for name in reverse_dependencies():
        if name not in packages:
            packages.append(name)
    cases = []
    for pkg in packages:
        try:
            root = extract(download(pkg))
        except Unreachable as e:
            cases.append((pkg, None, None, ("skip", str(e))))
            continue
        except Exception as e:  # reported by the test, not as a collection error
            cases.append((pkg, None, None, ("fail", "%s: %s" % (type(e).__name__, e))))
            continue
        files = wsgi_config_files(root, pkg)
        if not files:
            cases.append((pkg, None, root, None))
        for rel in files:
            cases.append((pkg, rel, root, None))
    return cases


CASES = collect_cases()


# ---- sandboxing ---------------------------------------------------------------------------------

DIRECTIVE_MODULES = {
    "alias": ["Alias", "AliasMatch", "ScriptAlias", "ScriptAliasMatch", "Redirect",
              "RedirectMatch", "RedirectPermanent", "RedirectTemp"],
    "rewrite": ["RewriteEngine", "RewriteRule", "RewriteCond", "RewriteBase", "RewriteMap",
                "RewriteOptions"],
    "log_config": ["CustomLog", "LogFormat", "TransferLog", "BufferedLogs"],
    "env": ["SetEnv", "UnsetEnv", "PassEnv"],
    "setenvif": ["SetEnvIf", "SetEnvIfNoCase", "SetEnvIfExpr", "BrowserMatch",
                 "BrowserMatchNoCase"],
    "access_compat": ["Order", "Allow", "Deny", "Satisfy"],
    "headers": ["Header", "RequestHeader"],
    "expires": ["ExpiresActive", "ExpiresByType", "ExpiresDefault"],
    "mime": ["AddType", "AddHandler", "AddCharset", "AddEncoding", "AddLanguage",
             "AddOutputFilter", "TypesConfig"],
    "dir": ["DirectoryIndex", "DirectorySlash", "FallbackResource"],
    "filter": ["AddOutputFilterByType", "FilterDeclare", "FilterProvider", "FilterChain"],
    "authn_core": ["AuthType", "AuthName"],
    "auth_basic": ["AuthBasicProvider", "AuthBasicAuthoritative"],
    "auth_digest": ["AuthDigestProvider", "AuthDigestDomain"],
    "authn_file": ["AuthUserFile"],
    "authz_groupfile": ["AuthGroupFile"],
    "autoindex": ["IndexOptions", "IndexIgnore", "HeaderName", "ReadmeName"],
    "negotiation": ["LanguagePriority", "ForceLanguagePriority"],
    "reqtimeout": ["RequestReadTimeout"],
    "remoteip": ["RemoteIPHeader", "RemoteIPTrustedProxy", "RemoteIPInternalProxy"],
    "proxy": ["ProxyPass", "ProxyPassReverse", "ProxyPreserveHost", "ProxyRequests"],
}
MODULE_OF = {d.lower(): m for m, ds in DIRECTIVE_MODULES.items() for d in ds}
REQUIRE_MODULES = {"local": "authz_host", "ip": "authz_host", "host": "authz_host",
                   "forward-dns": "authz_host", "valid-user": "authz_user", "user": "authz_user",
                   "group": "authz_groupfile"}

# Directive -> (index of the path argument, kind) for arguments that name files on disk.
# A negative index counts from the end.  Options of WSGIDaemonProcess naming directories
# (home=, python-path=) are left alone: mod_wsgi does not look at them before the daemon runs.
PATH_ARGS = {
    "wsgiscriptalias": [(1, "script")], "wsgiscriptaliasmatch": [(1, "script")],
    "wsgiimportscript": [(0, "script")], "wsgiaccessscript": [(0, "script")],
    "wsgiauthuserscript": [(0, "script")], "wsgiauthgroupscript": [(0, "script")],
    "wsgidispatchscript": [(0, "script")], "wsgihandlerscript": [(1, "script")],
    "<directory": [(0, "dir")], "documentroot": [(0, "dir")],
    "alias": [(1, "alias")],
    "errorlog": [(0, "log")], "customlog": [(0, "log")], "transferlog": [(0, "log")],
    "sslcertificatefile": [(0, "cert")], "sslcertificatekeyfile": [(0, "key")],
    "sslcertificatechainfile": [(0, "cert")], "sslcacertificatefile": [(0, "cert")],
}
ACCOUNT_OPTIONS = re.compile(r"(?<![\w-])(user|group|socket-user|script-user|script-group)"
                             r"=(\"[^\"]*\"|'[^']*'|[^\s\\]+)")
DEBIAN_VARS = {"APACHE_LOG_DIR": "logs", "APACHE_RUN_DIR": "run", "APACHE_LOCK_DIR": "lock",
               "APACHE_PID_FILE": "run/apache2.pid"}

STUB_APP = textwrap.dedent("""\
    def application(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'stub']
    """)


def compiled_in_modules():
    """Names (as 'log_config') of the modules built into the Apache binary: not loadable."""
    p = run([APACHE, "-l"])
    return {m[len("mod_"):-len(".c")] for m in re.findall(r"mod_\w+\.c", p.stdout)}


BUILT_IN = compiled_in_modules()


def logical_lines(text):
    """[(first physical line index, last index, joined text)] honouring backslash continuation."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        start, joined = i, lines[i]
        while joined.endswith("\\") and i + 1 < len(lines):
            i += 1
            joined = joined[:-1] + " " + lines[i]
        out.append((start, i, joined))
        i += 1
    return out


def words(line):
    """Apache-style words of a directive line ('<Directory x>' gives '<directory', 'x')."""
    s = line.strip()
    if s.startswith("<") and s.endswith(">"):
        s = s[:-1]
    try:
        return shlex.split(s, posix=True)
    except ValueError:
        return s.split()


def known_account(name, kind):
    if name.startswith("#"):
        return True
    try:
        (grp.getgrnam if kind.endswith("group") else pwd.getpwnam)(name)
        return True
    except KeyError:
        return False


def make_certificate(root):
    """A self-signed key and certificate under the server root; None if openssl is missing."""
    key, cert = os.path.join(root, "sandbox.key"), os.path.join(root, "sandbox.crt")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       capture_output=True)
    if p.returncode != 0:
        return None
    return {"key": open(key).read(), "cert": open(cert).read()}


class Sandbox:
    """The package's file turned into a configuration that can run in the harness's Apache."""

    def __init__(self, text, apache):
        self.apache = apache
        self.root = apache.root
        self.original = text
        self.modules = []
        self.changes = []  # what was changed, for failure messages
        self.lines = text.split("\n")
        self.paths = {}    # original path -> kind
        self._scan()
        self._move_missing_paths()
        self._fix_accounts_and_ports()
        self.text = "\n".join(self.lines)
        self.prelude = self._debian_variables()

    def _scan(self):
        for first, last, joined in logical_lines(self.original):
            w = words(joined)
            if not w or w[0].startswith("#"):
                continue
            name = w[0].lower()
            bare = name.lstrip("<").lstrip("/")
            module = MODULE_OF.get(bare) or ("ssl" if bare.startswith("ssl") else None)
            if module and module not in self.modules:
                self.modules.append(module)
            if bare == "require":
                args = [a for a in w[1:] if a.lower() != "not"]
                module = REQUIRE_MODULES.get(args[0].lower()) if args else None
                if module and module not in self.modules:
                    self.modules.append(module)
            for index, kind in PATH_ARGS.get(name, []):
                args = w[1:]
                if name.startswith("wsgi"):
                    args = [a for a in args if "=" not in a or a.startswith("/")]
                if len(args) > index and args[index].startswith("/"):
                    self.paths.setdefault(args[index], kind)
        if "ssl" in self.modules and "socache_shmcb" not in self.modules:
            self.modules.append("socache_shmcb")
        self.modules = [m for m in self.modules if m not in BUILT_IN]

    def _move_missing_paths(self):
        missing = {p: k for p, k in self.paths.items()
                   if not os.path.exists(p.rstrip("/") or "/")}
        if not missing:
            return
        certificate = None
        for path, kind in sorted(missing.items()):
            target = self.root + path
            if kind == "alias":  # an Alias target: a directory unless it looks like a file
                kind = "dir" if path.endswith("/") or "." not in os.path.basename(path) else "file"
            if kind == "dir" or path.endswith("/"):
                os.makedirs(target, mode=0o755, exist_ok=True)
            elif kind == "file":
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                open(target, "w").close()
            elif kind == "log":
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                if kind in ("cert", "key"):
                    certificate = certificate or make_certificate(self.root)
                    content = certificate[kind] if certificate else "placeholder %s\n" % kind
                else:
                    content = STUB_APP
                with open(target, "w") as f:
                    f.write(content)
                os.chmod(target, 0o644)
            self.changes.append("%s -> %s" % (path, target))
        # One pass over every path token, so that a path and its own prefix are both moved once.
        token = re.compile(r"(?<![^\s\"'=<:,])(/[^\s\"'>:,]*)")

        def move(m):
            p = m.group(1)
            return self.root + p if p in missing else p

        for i, line in enumerate(self.lines):
            if not line.lstrip().startswith("#"):
                self.lines[i] = token.sub(move, line)

    def _fix_accounts_and_ports(self):
        for first, last, joined in logical_lines("\n".join(self.lines)):
            w = words(joined)
            if not w:
                continue
            name = w[0].lower()
            for i in range(first, last + 1):
                line = self.lines[i]
                if line.lstrip().startswith("#"):
                    continue
                if name == "wsgidaemonprocess":
                    def account(m):
                        value = m.group(2).strip("\"'")
                        if known_account(value, m.group(1)):
                            return m.group(0)
                        self.changes.append("%s=%s -> www-data" % (m.group(1), value))
                        return "%s=www-data" % m.group(1)
                    line = ACCOUNT_OPTIONS.sub(account, line)
                elif name in ("user", "group") and len(w) == 2 and not known_account(w[1], name):
                    line = re.sub(r"(\s)%s(\s*)$" % re.escape(w[1]), r"\1www-data\2", line)
                    self.changes.append("%s %s -> www-data" % (w[0], w[1]))
                elif name == "<virtualhost":
                    m = re.match(r"(\s*<VirtualHost)(.*?)(>.*)$", line, re.I)
                    new = line
                    if m:
                        addrs = re.sub(r"(\S+?)(:\d+|:\*)?(?=\s|$)",
                                       lambda a: "%s:%d" % (a.group(1), self.apache.port),
                                       m.group(2))
                        new = m.group(1) + addrs + m.group(3)
                    if new != line:
                        self.changes.append("%s -> %s" % (line.strip(), new.strip()))
                    line = new
                elif name == "listen" and i == first:
                    self.changes.append("dropped %s" % line.strip())
                    line = "# (sandbox: the harness listens) " + line
                self.lines[i] = line

    def _debian_variables(self):
        used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", self.original))
        out = []
        for var in sorted(used):
            if var in DEBIAN_VARS:
                path = os.path.join(self.root, DEBIAN_VARS[var])
                os.makedirs(path if not path.endswith(".pid") else os.path.dirname(path),
                            mode=0o755, exist_ok=True)
                out.append("Define %s %s" % (var, path))
            elif var in ("APACHE_RUN_USER", "APACHE_RUN_GROUP"):
                out.append("Define %s www-data" % var)
        return "\n".join(out)

    def config(self, text=None):
        return (self.prelude + "\n" if self.prelude else "") + (text or self.text) + "\n"

    def wsgi_directive_lines(self):
        """Last physical line index and indentation of every WSGI directive."""
        found = []
        for first, last, joined in logical_lines(self.text):
            w = words(joined)
            if w and w[0].lower().startswith("wsgi"):
                indent = re.match(r"\s*", self.lines[first]).group(0)
                found.append((first, last, indent, joined.strip()))
        return found


def configtest(apache, config, module):
    apache.config = config
    apache.module = module
    rc, out = apache.configtest()
    return rc, out


def describe(pkg, rel, sandbox, config, out):
    return ("%s: %s\n--- changes made for the sandbox:\n%s\n--- configuration:\n%s\n"
            "--- apache2 -t:\n%s" % (pkg, rel, "\n".join(sandbox.changes) or "(none)",
                                     config, out))


def file_cases():
    """One pytest parameter per (package, file); packages that could not be fetched too."""
    return [pytest.param(*c, id="%s:%s" % (c[0], c[1]) if c[1] else c[0])
            for c in CASES if c[1] or c[3]]


# ---- tests --------------------------------------------------------------------------------------

def skip_or_fail(problem):
    if problem:
        kind, message = problem
        if kind == "skip":
            pytest.skip("Debian archive unreachable: %s" % message)
        pytest.fail(message)


@pytest.mark.parametrize("pkg,rel,root,problem", file_cases())
def test_debian_config_passes_configtest(apache, pkg, rel, root, problem):
    skip_or_fail(problem)
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        text = f.read()
    a = apache(start=False)
    sandbox = Sandbox(text, a)
    a.modules = sandbox.modules
    config = sandbox.config()

    if os.path.exists(REFERENCE_MODULE):
        rc, out = configtest(a, config, REFERENCE_MODULE)
        assert rc == 0 and "Syntax OK" in out, (
            "the sandboxed file fails apache2 -t even with the Debian mod_wsgi, so the "
            "sandboxing is wrong, not mod_pyhost:\n" + describe(pkg, rel, sandbox, config, out))

    rc, out = configtest(a, config, MODULE)
    assert rc == 0, "mod_pyhost refuses a configuration shipped by Debian:\n" + describe(
        pkg, rel, sandbox, config, out)
    assert "Syntax OK" in out, describe(pkg, rel, sandbox, config, out)


@pytest.mark.parametrize("pkg,rel,root,problem", file_cases())
def test_debian_config_wsgi_blocks_are_parsed(apache, pkg, rel, root, problem):
    """A bad WSGI value placed beside each WSGI directive of the file makes apache2 -t fail."""
    skip_or_fail(problem)
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        text = f.read()
    a = apache(start=False)
    sandbox = Sandbox(text, a)
    a.modules = sandbox.modules
    directives = sandbox.wsgi_directive_lines()
    assert directives, "%s: %s has no WSGI directive after sandboxing" % (pkg, rel)
    for first, last, indent, directive in directives:
        lines = list(sandbox.lines)
        lines.insert(last + 1, indent + "WSGIPassAuthorization Bogus-Value")
        config = sandbox.config("\n".join(lines))
        rc, out = configtest(a, config, MODULE)
        assert rc > 0 and "WSGIPassAuthorization" in out, (
            "a bad value beside %r was not seen, so its block is not parsed by mod_pyhost:\n%s"
            % (directive, describe(pkg, rel, sandbox, config, out)))


def test_known_packages_have_wsgi_configs():
    """Discovery finds Apache WSGI configuration in every package known to ship some."""
    for pkg in KNOWN_PACKAGES:
        cases = [c for c in CASES if c[0] == pkg]
        problems = [c[3] for c in cases if c[3]]
        if any(p[0] == "skip" for p in problems):
            pytest.skip("Debian archive unreachable: %s" % problems[0][1])
        assert not problems, "%s: %s" % (pkg, problems[0][1])
        assert any(c[1] for c in cases), "no WSGI configuration found in %s" % pkg


@pytest.mark.parametrize("condition", ["mod_wsgi.c", "wsgi_module"])
def test_ifmodule_blocks_for_mod_wsgi_are_entered(apache, condition):
    """Debian configurations guard WSGI lines with <IfModule mod_wsgi.c> or <IfModule
    wsgi_module>: both names must be mod_pyhost's."""
    a = apache("<IfModule %s>\n    WSGIPassAuthorization Bogus-Value\n</IfModule>\n"
               % condition, start=False)
    rc, out = a.configtest()
    assert rc > 0 and "WSGIPassAuthorization" in out, out
    a.config = "<IfModule !%s>\n    WSGIPassAuthorization Bogus-Value\n</IfModule>\n" % condition
    rc, out = a.configtest()
    assert rc == 0 and "Syntax OK" in out, out
