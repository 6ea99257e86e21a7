"""Rules of the C source that the compiler does not check (issue 12): one out-of-memory
policy, the daemon's broken flag only through its atomic accessors, and a reason beside every
tunable number."""
import glob
import os
import re

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def sources():
    for path in sorted(glob.glob(os.path.join(SRC, "**", "*.[ch]"), recursive=True)):
        with open(path) as f:
            yield os.path.relpath(path, SRC), f.read()


def test_one_out_of_memory_policy():
    """Outside APR pools and Python's allocator, memory comes from shared/alloc.h's
    pyhost_x* functions, which log and abort on failure (nothing else calls malloc)."""
    raw = re.compile(r"(?<![\w.])(malloc|calloc|realloc|strdup)\s*\(")
    found = [(name, m.group(0)) for name, text in sources() if name != "shared/alloc.c"
             for m in raw.finditer(text)]
    assert found == []


def test_broken_flag_only_through_its_accessors():
    """daemon/serve.c: the flag the watch sets (under the worker's write lock) and the worker
    sets (without it) is read and written atomically, through is_broken/set_broken."""
    with open(os.path.join(SRC, "daemon", "serve.c")) as f:
        text = f.read()
    plain = [m.group(0) for m in re.finditer(r"(?<!&)\b\w+(->|\.)broken\b", text)]
    assert plain == []


def test_every_tunable_define_says_why():
    """As httpd's mod_cgid: a #define of a number carries a comment, on its line or just
    above it, saying why the value is what it is."""
    missing = []
    for name, text in sources():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"#define\s+(\w+)\s+\(*\d", line)
            if not m or "/*" in line:
                continue
            j = i - 1  # a group of #defines shares the comment above its first
            while j >= 0 and lines[j].startswith("#define") and "/*" not in lines[j]:
                j -= 1
            above = lines[j].strip() if j >= 0 else ""
            if not (above.endswith("*/") or above.startswith("#define") and "/*" in above):
                missing.append("%s: %s" % (name, line.strip()))
    assert missing == []
