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
            # a number as the value, or in it: (1u << 20), apr_time_from_sec(1)
            m = re.match(r'#define\s+(\w+)\s+[^"/]*?(?<![\w.])\d', line)
            if not m or "/*" in line:
                continue
            j = i - 1  # a group of #defines (and the #if around them) shares the comment above
            while j >= 0 and lines[j].startswith("#") and "/*" not in lines[j]:
                j -= 1
            above = lines[j].strip() if j >= 0 else ""
            if not (above.endswith("*/") or above.startswith("#define") and "/*" in above):
                missing.append("%s: %s" % (name, line.strip()))
    assert missing == []


# Files whose every tunable number is a #define with its why (issue 12); below, the rule that
# keeps them so.
NAMED_NUMBERS = ["daemon/process.c", "daemon/watch.c", "parent/supervise.c"]


def code_only(text):
    """text without comments, string and character literals, and preprocessor lines (a #define
    is where a number gets its name)."""
    text = re.sub(r'/\*.*?\*/|//[^\n]*|"(\\.|[^"\\\n])*"|\'(\\.|[^\'\\\n])*\'',
                  lambda m: "" if m.group(0)[0] in "/" else '""', text, flags=re.S)
    return re.sub(r"^\s*#[^\n]*(\\\n[^\n]*)*", "", text, flags=re.M)


def test_no_bare_tunable_numbers():
    """In NAMED_NUMBERS, a number in the code is 0 or 1 (a start, a count of one, a flag, a
    system call's result); any other (a timeout, an interval, a pause, a buffer or field size, a
    default) is a #define whose comment says why, so it is found, and changed, in one place."""
    bare = []
    for name in NAMED_NUMBERS:
        with open(os.path.join(SRC, name)) as f:
            code = code_only(f.read())
        for n, line in enumerate(code.splitlines(), 1):
            for m in re.finditer(r"(?<![\w.])\d[\w.]*", line):
                if m.group(0) not in ("0", "1"):
                    bare.append("%s: %s" % (name, line.strip()))
    assert bare == []


def dependency_graph():
    """unit (path without extension) -> units it depends on: those whose headers it includes
    and those whose exported functions it calls (a call through a shared header's
    declaration is a dependency too)."""
    graph, defined, texts = {}, {}, {}
    for name, text in sources():
        unit = os.path.splitext(name)[0]
        if name.endswith(".c"):
            texts.setdefault(unit, []).append(text)
        deps = graph.setdefault(unit, set())
        for inc in re.findall(r'#include "([^"]+)"', text):
            if os.path.exists(os.path.join(SRC, inc)):
                deps.add(os.path.splitext(inc)[0])
        if name.endswith(".c"):
            for fn in re.findall(r"^[a-z][^;(]*\b(pyhost_\w+)\([^;]*$", text, re.M):
                defined[fn] = unit
    for unit, parts in texts.items():
        for fn in set(re.findall(r"\b(pyhost_\w+)\(", "\n".join(parts))):
            if fn in defined:
                graph[unit].add(defined[fn])
    for unit, deps in graph.items():
        deps.discard(unit)
    return graph


def cycles(graph):
    """The strongly connected components of more than one unit (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_dependency_cycles_through_daemon_shared_or_logging():
    """The daemon's process, serve, watch and recycle units, everything in shared/, and the
    logging unit take part in no include cycle: the process record lives in shared/process,
    recycle requests in daemon/recycle, the secret is passed to the serve start, and logging
    reaches preflight's explanation through a hook."""
    tangled = [sorted(u for u in comp if u.startswith(("daemon/", "shared/", "parent/"))
                      or u == "python/log") for comp in cycles(dependency_graph())]
    assert [t for t in tangled if t] == []


def include_graph():
    """unit -> units whose headers it includes (a unit is a .c file with its .h)."""
    graph = {}
    for name, text in sources():
        deps = graph.setdefault(os.path.splitext(name)[0], set())
        for inc in re.findall(r'#include "([^"]+)"', text):
            if os.path.exists(os.path.join(SRC, inc)):
                deps.add(os.path.splitext(inc)[0])
    for unit, deps in graph.items():
        deps.discard(unit)
    return graph


def test_no_include_cycles():
    """No unit of src/ includes, directly or through others, a header of a unit that includes
    its own: a type two units share lives in a header of its own (child/route.h's route,
    child/nudge.h's core output), not in one of the two."""
    assert cycles(include_graph()) == []


# What each folder of src/ may depend on: the folders say which process runs the code, and
# a process's code leans only on what is below it. (child/ reads, through parent/'s
# pyhost_daemon_death, the scoreboard's record of how a daemon ended.)
LAYERS = {
    "config": set(),
    "shared": {"config"},
    "python": {"config", "shared"},
    "daemon": {"config", "shared", "python"},
    "parent": {"config", "shared", "daemon"},
    "child": {"config", "shared", "python", "parent"},
}


def test_folders_depend_only_downwards():
    wrong = []
    for unit, deps in dependency_graph().items():
        folder = unit.split("/")[0]
        if folder not in LAYERS:
            continue  # mod_pyhost.c, the module record, ties them together
        for dep in deps:
            other = dep.split("/")[0]
            if other != folder and other not in LAYERS[folder]:
                wrong.append("%s -> %s" % (unit, dep))
    assert wrong == []
