"""A real application unchanged: Mercurial's hgweb (Debian's mercurial) in daemon mode.

hgweb reads sys.stdout.buffer when it is imported and speaks Mercurial's wire protocol over
HTTP, so it needs mod_wsgi's streams (issue 11). `hg clone` of a repository of 300 commits
over HTTP must give an identical repository, and `hg push` must land in the served one.
"""
import os
import pwd
import shutil
import subprocess
import sysconfig
import tempfile

import pytest

from harness import RUN_USER

HG = shutil.which("hg") or "/usr/bin/hg"

# Debian builds Mercurial's C extensions for the GIL build only (cext/parsers.cpython-313-*.so;
# a free-threaded Python looks for cpython-313t-*): there Mercurial imports nothing of cext
# ("ImportError: cannot import name parsers") unless its module policy allows the pure-Python
# modules, and its zstd module is one of those extensions, so the served repository must use
# zlib ("repository requires features unknown to this Mercurial: revlog-compression-zstd").
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

HGWEB = """
import os, sysconfig
if sysconfig.get_config_var('Py_GIL_DISABLED'):
    os.environ['HGMODULEPOLICY'] = 'allow'
from mercurial import demandimport
demandimport.enable()
from mercurial.hgweb import hgweb

application = hgweb(os.path.join(os.path.dirname(__file__), 'repo').encode())
"""

HGRC = """
[web]
allow_push = *
push_ssl = false
"""

COMMITS = 300


def hg(*args, cwd=None):
    """Runs hg with no user configuration; returns its standard output."""
    env = dict(os.environ, HGRCPATH="", HGPLAIN="1", HGUSER="tester <t@example.org>")
    p = subprocess.run([HG] + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def history(repo):
    """Every changeset's node (what hg id prints), parents, manifest node, files and message:
    the nodes are hashes of the whole content, so equal histories are equal repositories."""
    return hg("log", "-R", repo, "-r", "all()", "-T",
              "{node} {p1node} {p2node} {manifest} {files} {desc|firstline}\n").splitlines()


@pytest.fixture
def served(apache):
    if not os.path.exists(HG):
        pytest.fail("mercurial is missing: make deps installs it")
    a = apache("""
        WSGIDaemonProcess hg processes=1 threads=4 python-path='' display-name=%{GROUP}
        WSGIScriptAlias /hg @ROOT@/hgweb.wsgi process-group=hg
    """, files={"hgweb.wsgi": HGWEB}, start=False, timeout=60)
    repo = a.path("repo")
    hg("init", repo, *(["--config", "format.revlog-compression=zlib"] if FREE_THREADED else []))
    # 300 commits, each adding a file (and changing a shared one), made in one command
    hg("debugbuilddag", "-R", repo, "--new-file", "--mergeable-file", "+%d" % COMMITS)
    with open(os.path.join(repo, ".hg", "hgrc"), "w") as f:
        f.write(HGRC)
    if os.geteuid() == 0:
        # the daemon runs as www-data: it must own the repository to push into it (and hg
        # only reads an .hg/hgrc its reader trusts)
        pw = pwd.getpwnam(RUN_USER)
        for d, dirs, files in os.walk(repo):
            for name in [d] + [os.path.join(d, n) for n in dirs + files]:
                os.chown(name, pw.pw_uid, pw.pw_gid)
    a.start()
    yield a, repo


def test_hg_clone_and_push_over_hgweb_in_daemon_mode(served):
    a, repo = served
    work = tempfile.mkdtemp(prefix="pyhost-hgclient-")
    try:
        clone = os.path.join(work, "clone")
        hg("clone", "-q", a.url("/hg"), clone)
        served_history = history(repo)
        assert len(served_history) == COMMITS
        assert history(clone) == served_history
        hg("verify", "-q", "-R", clone)

        # push a new commit back through hgweb
        hg("update", "-q", "-R", clone, "tip")
        with open(os.path.join(clone, "pushed.txt"), "w") as f:
            f.write("pushed over HTTP\n")
        hg("commit", "-q", "-A", "-R", clone, "-m", "pushed through hgweb")
        hg("push", "-q", "-R", clone, a.url("/hg"))
        after = history(repo)
        assert after == history(clone)
        assert after[:-1] == served_history and after[-1].endswith(" pushed.txt pushed through "
                                                                   "hgweb")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log = a.error_log()
    assert "WSGI0174" not in log and "Traceback" not in log, log[-3000:]
