"""Sanitizer reports of tools/test-asan: which test each came after, and their frames' names.

As a pytest plugin (-p asan_reports): a report is a file in $PYHOST_ASAN_REPORTS written by
whichever Apache process made it; after each test (its set-up, call and teardown, so a report
made while Apache stops counts for the test that stopped it) the new ones are appended as
"report-file test-id" lines to $PYHOST_ASAN_REPORTS.tests.

As a command (asan_reports.py REPORT...): prints each report with its frames symbolized. The
runtime writes them unsymbolized (symbolize=0): a process that ends while its report is being
symbolized (a daemon's _exit, Apache stopping) would leave it cut after its first lines.
"""
import os
import re
import shutil
import subprocess
import sys

# tools/test-asan put this directory on PYTHONPATH for pytest to find this plugin; the Apache
# processes the tests start inherit the environment and must not see it.
if "PYHOST_ASAN_PYTHONPATH" in os.environ:
    os.environ["PYTHONPATH"] = os.environ.pop("PYHOST_ASAN_PYTHONPATH")
    if not os.environ["PYTHONPATH"]:
        del os.environ["PYTHONPATH"]


def _seen():
    d = os.environ.get("PYHOST_ASAN_REPORTS")
    return set(os.listdir(d)) if d and os.path.isdir(d) else set()


_before = set()


def pytest_runtest_logstart(nodeid, location):
    global _before
    _before = _seen()


def pytest_runtest_logfinish(nodeid, location):
    d = os.environ.get("PYHOST_ASAN_REPORTS")
    new = sorted(_seen() - _before)
    if new:
        with open(d + ".tests", "a") as f:
            for name in new:
                f.write("%s %s\n" % (name, nodeid))


FRAME = re.compile(r"^(\s*#\d+ 0x[0-9a-f]+) +\((/[^+()]+)\+(0x[0-9a-f]+)\)\s*$")


def symbolize(path, offset):
    """'function file:line' (innermost inlined frame first, joined with ' / '), or ''."""
    if shutil.which("llvm-symbolizer"):
        cmd = ["llvm-symbolizer", "--obj=" + path, offset]
    else:
        cmd = ["addr2line", "-f", "-i", "-C", "-e", path, offset]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [l for l in out.splitlines() if l.strip()]
    return " / ".join("%s %s" % (f, loc) for f, loc in zip(lines[::2], lines[1::2]))


def main(paths):
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                m = FRAME.match(line.rstrip("\n"))
                if m:
                    name = symbolize(m.group(2), m.group(3))
                    line = "%s in %s (%s+%s)\n" % (m.group(1), name or "?", m.group(2),
                                                  m.group(3))
                sys.stdout.write(line)


if __name__ == "__main__":
    main(sys.argv[1:])
