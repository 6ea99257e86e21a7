"""Finding what a server needs before writing anything: Apache, its modules, mod_pyhost and the
Python it was built for, the account the application runs as (and whether it can read what it
must), and the application's entry point (checked without running it).
"""
import ast
import importlib.machinery
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys

from . import PROG, fail

MODULE_FILE = "mod_pyhost.so"
MODULE_DIR_GUESSES = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
                      "/usr/lib/httpd/modules", "/usr/libexec/apache2",
                      "/usr/local/apache2/modules")
MIME_TYPES_GUESSES = ("/etc/mime.types", "/etc/httpd/conf/mime.types",
                      "/etc/apache2/mime.types")


def find_apache(explicit=None):
    if explicit:
        path = explicit if os.sep in explicit else shutil.which(explicit)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
        fail("Apache httpd was not found at %s (--httpd-executable)" % explicit)
    for name in ("apache2", "httpd"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/sbin/apache2", "/usr/sbin/httpd", "/usr/local/apache2/bin/httpd"):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    fail("Apache httpd was not found (looked for apache2 and httpd on PATH and in /usr/sbin); "
         "install it, for example with: apt-get install apache2")


def apxs_query(name):
    apxs = shutil.which("apxs") or shutil.which("apxs2")
    if not apxs:
        return None
    try:
        out = subprocess.run([apxs, "-q", name], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.decode(errors="replace").strip()
    return value if out.returncode == 0 and value else None


def apache_modules_dir(explicit=None):
    if explicit:
        if not os.path.isdir(explicit):
            fail("--modules-directory %s is not a directory" % explicit)
        return os.path.abspath(explicit)
    d = apxs_query("LIBEXECDIR")
    if d and os.path.isdir(d):
        return d
    for d in MODULE_DIR_GUESSES:
        if os.path.isdir(d):
            return d
    return MODULE_DIR_GUESSES[0]


def find_module(explicit=None, modules_dir=None):
    """The mod_pyhost.so to load: --module-path, $PYHOST_MODULE, the one built in the
    checkout this script belongs to, then Apache's module directory."""
    for given, how in ((explicit, "--module-path"), (os.environ.get("PYHOST_MODULE"),
                                                      "PYHOST_MODULE")):
        if given:
            if os.path.isfile(given):
                return os.path.abspath(given)
            fail("the mod_pyhost module was not found at %s (given by %s)" % (given, how))
    candidates = [os.path.join(apache_modules_dir(modules_dir), MODULE_FILE)]
    # tools/pyhost_express/ in a checkout: the module is built at the checkout's top.
    tools = os.path.dirname(os.path.dirname(os.path.realpath(os.path.abspath(__file__))))
    if os.path.basename(tools) == "tools":
        candidates.insert(0, os.path.join(os.path.dirname(tools), MODULE_FILE))
    for path in candidates:
        if os.path.isfile(path):
            return path
    fail("the mod_pyhost module was not found (looked at %s); build it with make, install it "
         "with make install, or name it with --module-path" % " and ".join(candidates))


def module_python_version(module):
    """The Python version the module was linked against, as 'X.Y', if it can be told."""
    try:
        with open(module, "rb") as f:
            m = re.search(rb"libpython(\d+\.\d+)", f.read())
    except OSError:
        return None
    return m.group(1).decode() if m else None


def python_home(module):
    """sys.prefix when this Python is a virtual environment the module can use."""
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
        return None
    built = module_python_version(module)
    mine = "%d.%d" % sys.version_info[:2]
    if built and built != mine:
        print("%s: warning: this virtual environment is Python %s but %s was built for Python "
              "%s; not using it" % (PROG, mine, module, built), file=sys.stderr)
        return None
    return sys.prefix


# ---- the account Apache's children run as ------------------------------------------------

class RunAs:
    def __init__(self, user, group):
        self.euid = os.geteuid()
        if self.euid == 0:
            if not user:
                fail("refusing to run the application as root; choose the account it runs as "
                     "with --user (and --group), for example --user www-data --group www-data")
            try:
                pw = pwd.getpwnam(user) if not user.startswith("#") else pwd.getpwuid(
                    int(user[1:]))
            except (KeyError, ValueError):
                fail("no such user: %s (--user)" % user)
            if pw.pw_uid == 0:
                fail("--user %s is root; choose an unprivileged account such as www-data" % user)
            gid = pw.pw_gid
            if group:
                try:
                    gid = (grp.getgrnam(group) if not group.startswith("#")
                           else grp.getgrgid(int(group[1:]))).gr_gid
                except (KeyError, ValueError):
                    fail("no such group: %s (--group)" % group)
            self.uid, self.gid = pw.pw_uid, gid
            self.user = pw.pw_name
            self.group = grp.getgrgid(gid).gr_name if _has_gid(gid) else "#%d" % gid
            try:
                self.groups = os.getgrouplist(pw.pw_name, gid)
            except OSError:
                self.groups = [gid]
        else:
            me = pwd.getpwuid(self.euid).pw_name if _has_uid(self.euid) else str(self.euid)
            if user and user not in (me, "#%d" % self.euid):
                fail("--user %s needs pyhost-express to be run as root (it runs as %s)"
                     % (user, me))
            self.uid, self.gid, self.user, self.group = self.euid, os.getegid(), me, None
            self.groups = None

    def describe_denied(self, items):
        """items: [(path, 'r' | 'x' | 'rx')]. Returns a message for the first that the
        account cannot use, or None."""
        if self.euid != 0:
            results = [_access_problem(p, m) for p, m in items]
        else:
            results = self._access_as(items)
        for (path, mode), problem in zip(items, results):
            if problem:
                return "cannot %s %s: %s" % ("read" if "r" in mode else "use", path, problem)
        return None

    def _access_as(self, items):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                os.setgroups(self.groups)
                os.setgid(self.gid)
                os.setuid(self.uid)
                data = json.dumps([_access_problem(p, m) for p, m in items]).encode()
                while data:
                    data = data[os.write(w, data):]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        os.waitpid(pid, 0)
        try:
            return json.loads(b"".join(chunks).decode())
        except ValueError:
            return [None] * len(items)


def _has_uid(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def _has_gid(gid):
    try:
        grp.getgrgid(gid)
        return True
    except KeyError:
        return False


def _access_problem(path, mode):
    """Why the current account cannot use path (as a readable file, a searchable or a
    listable directory), or None if it can."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    walked = "/"
    for part in parent.strip("/").split("/"):
        if not part:
            continue
        walked = os.path.join(walked, part)
        if not os.access(walked, os.X_OK):
            return "%s is not accessible to it" % walked
    want = (os.R_OK if "r" in mode else 0) | (os.X_OK if "x" in mode else 0)
    if not os.access(path, want):
        return "%s is not %s by it" % (path, "readable" if "r" in mode else "accessible")
    return None


# ---- the application ---------------------------------------------------------------------

def _binds_name(node, name):
    """Whether a top-level statement binds name (descending into if/try/with/for blocks
    but not into functions or classes)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name == "*":
                return True  # cannot tell: give it the benefit of the doubt
            bound = alias.asname or alias.name.split(".")[0]
            if bound == name:
                return True
        return False
    targets = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    for t in targets:
        for sub in ast.walk(t):
            if isinstance(sub, ast.Name) and sub.id == name:
                return True
    if isinstance(node, ast.Expr):  # a top-level walrus
        for sub in ast.walk(node):
            if type(sub).__name__ == "NamedExpr" and getattr(sub.target, "id", None) == name:
                return True
    for field in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(node, field, None) or ():
            if isinstance(child, ast.AST) and _binds_name(child, name):
                return True
    for case in getattr(node, "cases", None) or ():  # match statements
        for child in case.body:
            if _binds_name(child, name):
                return True
    return False


def check_defines(path, name, what):
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        fail("%s is not valid Python: line %s: %s" % (path, e.lineno, e.msg))
    except ValueError as e:
        fail("%s is not valid Python: %s" % (path, e))
    if not any(_binds_name(node, name) for node in tree.body):
        fail("%s defines no '%s' callable at its top level; a %s must define the WSGI "
             "application as '%s' (or name it with --callable-object)"
             % (path, name, what, name))


def find_module_spec(dotted, paths):
    """Locates package.module on paths without importing (so running) anything."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", dotted):
        fail("'%s' is not a Python module name (--application-type module wants "
             "package.module)" % dotted)
    search = list(paths)
    spec = None
    parts = dotted.split(".")
    for i in range(len(parts)):
        name = ".".join(parts[:i + 1])
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None:
            return None
        if i + 1 < len(parts):
            search = list(spec.submodule_search_locations or [])
            if not search:
                return None
    return spec



def find_rotatelogs(explicit, apache):
    """The rotatelogs program: --rotatelogs-executable, next to Apache, apxs's BINDIR or
    SBINDIR, then PATH."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return os.path.abspath(explicit)
        fail("rotatelogs was not found at %s (--rotatelogs-executable)" % explicit)
    dirs = [os.path.dirname(apache)] + [apxs_query(n) for n in ("SBINDIR", "BINDIR")]
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, "rotatelogs")):
            return os.path.join(d, "rotatelogs")
    path = shutil.which("rotatelogs")
    if path:
        return path
    fail("--rotate-logs needs Apache's rotatelogs program, which was not found (Debian ships "
         "it in apache2-utils); name it with --rotatelogs-executable")


def find_shell(explicit):
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return os.path.abspath(explicit)
        fail("the shell %s was not found (--shell-executable)" % explicit)
    return shutil.which("bash") or "/bin/sh"


def default_locale():
    """This process's locale, unless it is C or POSIX: then en_US.UTF-8 where the system has
    it, else C.UTF-8 (which glibc always has)."""
    import locale
    name = None
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        if os.environ.get(var):
            name = os.environ[var]
            break
    if name and name.split(".")[0] not in ("C", "POSIX"):
        return name
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "en_US.UTF-8")
        return "en_US.UTF-8"
    except locale.Error:
        return "C.UTF-8"
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


def module_is_free_threaded(module):
    """Whether mod_pyhost was linked against a free-threaded Python (libpython3.13t)."""
    try:
        with open(module, "rb") as f:
            return re.search(rb"libpython\d+\.\d+t", f.read()) is not None
    except OSError:
        return False
