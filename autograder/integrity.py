"""Integrity checks of a student's notebook: flag code that reaches for what an exercise forbids.

The hidden tests judge *values*.  A value can be right for the wrong reason: a
forward difference that calls ``jax.grad``, a check silenced by replacing
``np.testing.assert_allclose``, answers read from a file.  This module reads a
submission and lists such code, each with plain words for an instructor.  It
never decides a grade: a finding means "a human should look", and the pipeline
withholds automatic credit from the exercises a finding concerns
(:func:`flags_by_exercise`).

Why static (``ast``) and never executed: the checker runs in the trusted
grading process, so it must not run the code it distrusts.  The price is that
it sees only what is written: code built from strings, or reached through the
interpreter's internals, is invisible.  That is why ``eval``, ``getattr`` with
a computed name, ``globals()``, ``__subclasses__`` and friends are flagged in
themselves, whatever they are used for: they are the doors through which
unseen code comes in.

What is checked: the solution cells, and every code cell the student added or
edited.  Cells nbgrader restores from the gradebook (locked cells, test cells)
need no checking, and neither does instructor code left as it was; they are
still read, because what they import (the setup cell's ``np``, ``course``) is
what a solution can reach.  Pass ``source_nb``: without it an instructor cell
without nbgrader metadata (the plot cell) counts as the student's.

Names are followed through aliases, across cells and scopes: ``import jax as
j; j.grad``, ``g = jax.grad`` in an added cell and ``g(f)`` in a solution, a
helper function defined in an added cell whose body uses ``jax``.  The order of
cells is ignored on purpose: a function looks its globals up when it is
*called*, and a student may run cells in any order.

What it cannot see: what is done *with objects the grader passes in*
(``f.calls -= 1`` on the counted function, or ``f.f.gradient(w)`` on the
problem it wraps), and anything inside modules the notebook imports.  Those are
for the hidden tests (which count calls) and the sandbox to catch.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Iterator

from autograder.notebooks import grade_id, is_solution


@dataclass(frozen=True)
class Finding:
    """One piece of code an instructor should look at."""

    grade_id: str | None  # the solution cell it was found in; None for a cell the student added or edited
    line: int  # 1-based, within the cell
    rule: str  # "ad-library", "dynamic-code", "introspection", "monkeypatch", "file-access", ...
    message: str  # plain words for an instructor


# ---------------------------------------------------------------------------------------------------------
# What is forbidden, and why.  Each rule's reason ends every message, so a flag explains itself.

AD_LIBRARIES = frozenset({
    "jax", "jaxlib", "autograd", "torch", "functorch", "tensorflow", "keras", "mxnet", "theano", "pytensor",
    "aesara", "sympy", "numdifftools",
})
"""Top-level packages that differentiate for you (symbolically, like sympy, or automatically)."""

AD_FUNCTIONS = frozenset({
    "scipy.differentiate", "scipy.optimize.approx_fprime", "scipy.optimize.check_grad", "scipy.misc.derivative",
    "course.oracle",  # the course's own JAX oracle: exact gradients without the word "jax"
    "course.problems.SmoothProblem.gradient",
})
"""Parts of otherwise allowed packages that compute derivatives (finite differences count: they are the exercise)."""

_WHY = {
    "ad-library": "this exercise must be implemented without an AD library",
    "forbidden-call": "the exercise asks for this to be done by hand",  # the exercise's own reason follows
    "dynamic-code": "code chosen or built at run time cannot be checked before it runs",
    "introspection": "reaching into the interpreter's internals can get around the checks",
    "monkeypatch": "changing library or course code can make a check pass without a correct answer",
    "file-access": "an exercise needs no files; this could read answers or the grader's files",
    "network": "an exercise needs no network; this could fetch answers or send data out",
    "process": "an exercise needs no access to the operating system, other processes or the interpreter",
    "magic": "IPython magics run outside plain Python and are not checked",
    "grader-code": "the grader's own code (hidden tests, and stand-ins that hold correct answers) is not for "
                   "submissions",
    "unparsable": "a cell that is not Python cannot be checked",
}

_PATH_RULES: dict[str, str] = {}
"""Dotted path (a module, or a name inside one) -> rule; the longest matching prefix decides."""
for _rule, _paths in {
    "dynamic-code": [
        "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__", "builtins.globals",
        "builtins.locals", "builtins.vars", "builtins.breakpoint", "importlib", "imp", "runpy", "pkgutil",
        "zipimport", "code", "codeop", "types.FunctionType", "types.CodeType", "types.LambdaType", "sys.modules",
    ],
    "introspection": [
        "inspect", "gc", "dis", "traceback", "sys._getframe", "sys.settrace", "sys.setprofile", "sys.gettrace",
        "sys.getprofile", "sys.exc_info", "sys.exception",
    ],
    "file-access": [
        "builtins.open", "io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "linecache", "shelve", "dbm",
        "sqlite3", "zipfile", "tarfile", "gzip", "bz2", "lzma", "mmap", "fcntl", "pickle", "marshal", "dill",
        "cloudpickle", "joblib", "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed",
        "numpy.loadtxt", "numpy.savetxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap", "numpy.DataSource",
    ],
    "network": [
        "socket", "ssl", "select", "selectors", "asyncio", "urllib", "urllib3", "requests", "http", "httpx",
        "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "webbrowser",
    ],
    "process": [
        "os", "sys", "subprocess", "signal", "multiprocessing", "threading", "_thread", "concurrent", "ctypes",
        "cffi", "pty", "resource", "atexit", "faulthandler", "posix", "nt",
    ],
    "magic": ["IPython", "ipykernel"],
    "grader-code": ["autograder"],
    "monkeypatch": ["unittest.mock", "mock"],
}.items():
    _PATH_RULES.update(dict.fromkeys(_paths, _rule))

_GETATTR_FAMILY = {"builtins.getattr", "builtins.setattr", "builtins.delattr"}
_DYNAMIC_IMPORTS = {"builtins.__import__", "importlib.import_module", "importlib.__import__"}

_INTERNALS = frozenset({
    "__dict__", "__class__", "__bases__", "__base__", "__mro__", "__subclasses__", "__globals__", "__code__",
    "__closure__", "__builtins__", "__func__", "__self__", "__defaults__", "__kwdefaults__", "__getattribute__",
    "__setattr__", "__delattr__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "__wrapped__", "__traceback__", "__objclass__", "tb_frame", "tb_next", "f_globals", "f_locals", "f_back",
    "f_builtins", "f_code", "gi_frame", "gi_code", "cr_frame", "ag_frame", "co_code", "co_consts",
})
"""Attributes that lead from any object to frames, globals, code objects or every loaded class.

``x.__class__(...)`` (a new object of the same type, common in a Dual-number class) is allowed; any other
use of ``__class__`` is flagged."""

_PROTECTED_ROOTS = frozenset({"course", "autograder", "numpy", "builtins", "jax", "nbgrader", "sys"})
"""Packages whose *contents* (``course.checks.TOLERANCES["x"] = ...``) a student must not change either."""

_DEFAULT_MODULES = {"np": "numpy", "numpy": "numpy", "course": "course", "autograder": "autograder",
                    "builtins": "builtins", "__builtins__": "builtins", "get_ipython": "IPython.get_ipython"}
"""What a name means when no cell binds it: IPython and the course's habits make these available."""

# IPython: what runs a shell, what touches files, what runs Python.  Everything else is rule "magic".
_SHELL_MAGICS = frozenset({
    "!", "!!", "sx", "system", "sc", "bash", "sh", "script", "perl", "ruby", "python", "python2", "python3",
    "pypy", "pip", "conda", "mamba", "micromamba", "uv", "cd", "pushd", "popd", "dhist", "dirs", "bookmark",
    "env", "set_env", "rehashx", "alias", "killbgscripts", "cat", "cp", "ldir", "lf", "lk", "ll", "ls", "lx",
    "mkdir", "mv", "rm", "rmdir", "pwd",
})
_FILE_MAGICS = frozenset({"writefile", "file", "run", "load", "loadpy", "save", "pycat", "pfile", "logstart",
                          "logon", "edit", "ed", "store"})
_PYTHON_MAGICS = frozenset({"time", "timeit", "prun", "debug", "capture"})
"""Magics whose argument (line magic) or body (cell magic) is Python run in the kernel: it is checked too."""
_LINE_MAGICS = frozenset({
    "alias", "alias_magic", "autoawait", "autocall", "automagic", "bookmark", "cat", "cd", "code_wrap", "colors",
    "conda", "config", "cp", "debug", "dhist", "dirs", "doctest_mode", "ed", "edit", "env", "gui", "hist",
    "history", "killbgscripts", "ldir", "lf", "lk", "ll", "load", "load_ext", "loadpy", "logoff", "logon",
    "logstart", "logstate", "logstop", "ls", "lsmagic", "lx", "macro", "magic", "mamba", "matplotlib",
    "micromamba", "mkdir", "mv", "notebook", "page", "pastebin", "pdb", "pdef", "pdoc", "pfile", "pinfo",
    "pinfo2", "pip", "popd", "pprint", "precision", "prun", "psearch", "psource", "pushd", "pwd", "pycat",
    "pylab", "quickref", "recall", "rehashx", "reload_ext", "rep", "rerun", "reset", "reset_selective", "rm",
    "rmdir", "run", "save", "sc", "set_env", "sx", "system", "tb", "time", "timeit", "unalias", "unload_ext",
    "uv", "who", "who_ls", "whos", "xdel", "xmode",
})
"""IPython's line magics and aliases: a one-line cell starting with one of them (``cat /etc/passwd``) runs it
as a magic ("automagic") unless the name is defined in the notebook."""


# ---------------------------------------------------------------------------------------------------------
# Public API


def check_notebook(nb, *, forbid_ad: set[str], forbid_calls: dict[str, dict[str, str]] | None = None,
                   source_nb=None) -> list[Finding]:
    """Every finding in a submission, in notebook order.

    ``forbid_ad``: grade_ids of the solution cells where AD libraries are forbidden.  ``forbid_calls``:
    finer rules for exercises that use an AD library but must not use *some* of it, ``{grade_id: {dotted
    name: why}}`` (``{"newton_cg": {"jax.hessian": "Newton-CG must touch the Hessian only through HVPs"}}``);
    a name covers everything under it (``jax.numpy.linalg.inv``).  ``source_nb``: the
    instructor's notebook; with it, a cell's role comes from the source (a student cannot relabel an added
    cell as locked) and unchanged instructor cells are not checked.
    """
    cells = _read_cells(nb, source_nb)
    names = _Names(cells, _answer_names(cells, source_nb))
    found: list[tuple[int, Finding]] = []
    for cell in cells:
        if not cell.checked:
            continue
        found += [(cell.index, f) for f in _magics(cell, names)]
        if cell.tree is None:
            continue
        for rule_family in (_dynamic_code, _introspection, _monkeypatching, _system_access):
            found += [(cell.index, f) for f in rule_family(cell, names)]
        if cell.grade_id in forbid_ad:
            found += [(cell.index, f) for f in _ad_library(cell, names)]
        if forbid_calls and cell.grade_id in forbid_calls:
            found += [(cell.index, f) for f in _forbidden_calls(cell, names, forbid_calls[cell.grade_id])]
    found += _ad_redefinitions(cells, names, forbid_ad)
    unique = dict.fromkeys(sorted(found, key=lambda item: (item[0], item[1].line, item[1].rule, item[1].message)))
    return [finding for _, finding in unique]


def solution_to_tests(source_nb) -> dict[str, list[str]]:
    """``solution grade_id -> grade_ids of the test cells that judge it``, from the source notebook's layout.

    Each solution cell is followed by its test cell(s); a test cell belongs to the last solution cell above
    it.  A solution cell that is graded itself (a written answer, graded by hand) also maps to itself, so a
    finding in it withholds its own points.
    """
    mapping: dict[str, list[str]] = {}
    current = None
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if is_solution(cell):
            current = grade_id(cell)
            mapping[current] = [current] if meta.get("grade") else []
        elif current is not None and meta.get("grade") and cell.get("cell_type") == "code":
            mapping[current].append(grade_id(cell))
    return mapping


def flags_by_exercise(findings, solution_to_tests: dict[str, list[str]]) -> dict[str, list[str]]:
    """``test grade_id -> messages``: which test cells each finding invalidates.

    Only a forbidden AD library or call is local: found in solution cell S, it concerns S's tests only.  Anything
    else (a patched module, ``exec``, file or process access, ...) changes the whole kernel, and so every
    check and every probe after it: it concerns every test, wherever it was written.  So does any
    finding in a cell the student added (or in a cell the mapping does not know).
    """
    every_test = list(dict.fromkeys(test for tests in solution_to_tests.values() for test in tests))
    flags: dict[str, list[str]] = {}
    for finding in findings:
        local = finding.grade_id is not None and finding.rule in {"ad-library", "forbidden-call"}
        tests = solution_to_tests.get(finding.grade_id) if local else None
        for test in every_test if tests is None else tests:
            messages = flags.setdefault(test, [])
            if finding.message not in messages:
                messages.append(finding.message)
    return flags


# ---------------------------------------------------------------------------------------------------------
# Reading the cells: which to check, and their code once IPython's own syntax is taken out.


@dataclass
class _Magic:
    line: int
    name: str  # "!" for a shell escape, else the magic's name ("bash", "time", "pinfo")
    text: str  # the line as written


@dataclass
class _Cell:
    index: int  # position in the notebook
    grade_id: str | None  # the solution cell's grade_id; None for any other cell
    checked: bool
    source: str
    tree: ast.Module | None = None
    error: str | None = None  # why the cell does not parse
    magics: list[_Magic] = field(default_factory=list)
    automagic: str | None = None  # a one-line cell that IPython may run as this magic
    module: "_Scope | None" = None
    sites: list["_Site"] = field(default_factory=list)


def _read_cells(nb, source_nb) -> list[_Cell]:
    """The notebook's code cells, each with its role decided and its code parsed."""
    roles = _roles(source_nb) if source_nb is not None else None
    instructor_code, restored = set(), {}
    if source_nb is not None:
        for cell in source_nb.cells:
            if cell.get("cell_type") == "code" and not is_solution(cell):
                instructor_code.add(_text(cell.get("source", "")).strip())
                if roles.get(grade_id(cell)) == "restored":
                    restored[grade_id(cell)] = _text(cell.get("source", ""))
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":  # markdown and raw cells are not run
            continue
        gid = grade_id(cell)
        role = (roles.get(gid, "student") if gid else "student") if roles is not None else _role(cell)
        source = _text(cell.get("source", ""))
        if role == "restored":
            source = restored.get(gid, source)  # what nbgrader puts back is what runs
            checked = False
        else:
            checked = role == "solution" or source.strip() not in instructor_code
        parsed = _Cell(index, gid if role == "solution" else None, checked, source)
        parsed.tree, parsed.error, parsed.magics, parsed.automagic = _parse(source)
        cells.append(parsed)
    return cells


def _answer_names(cells: list[_Cell], source_nb) -> set[str]:
    """The names the exercises ask for: what the source's solution cells define, and the solution grade_ids.

    A solution may call another exercise's answer (``step_size_errors`` calls ``forward_difference``):
    that is the notebook's design, and AD inside that answer is flagged in its own cell, not again here.
    """
    answers = {cell.grade_id for cell in cells if cell.grade_id}
    for cell in source_nb.cells if source_nb is not None else []:
        if is_solution(cell) and cell.get("cell_type") == "code" and _parses(_text(cell.get("source", ""))):
            for node in ast.parse(_text(cell.get("source", ""))).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    answers.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    answers.update(t.id for t in targets if isinstance(t, ast.Name))
    return answers


def _role(cell) -> str:
    """"solution", "restored" (nbgrader restores it from the gradebook) or "student" (anything else)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not meta.get("grade_id"):
        return "student"
    if meta.get("solution"):
        return "solution"
    if meta.get("grade") or meta.get("locked"):  # nbgrader treats test cells as locked
        return "restored"
    return "student"


def _roles(source_nb) -> dict[str, str]:
    return {grade_id(cell): _role(cell) for cell in source_nb.cells if grade_id(cell)}


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


_ESCAPE = re.compile(r"^(?P<indent>[ \t]*)(?P<esc>!!?|%%?|[,;/])(?P<rest>.*)$")
_ASSIGNED_ESCAPE = re.compile(r"^(?P<indent>[ \t]*)(?P<target>[\w\s,.\[\]()*]+?)\s*=\s*(?P<esc>!!?|%)(?P<rest>.*)$")
_HELP = re.compile(r"^(?P<indent>[ \t]*)(?:\?\??[\w.]+|[\w.\[\]()'\"]+\?\??)\s*$")
_AUTOMAGIC = re.compile(r"^\s*(?P<name>[\w.*]+)(?P<rest>.*)$")
_TIMEIT_OPTIONS = re.compile(r"^(?:\s*-(?:[nrp]\s*\d+|[a-zA-Z]+))*\s*")


def _parse(source: str):
    """(tree, error, magics, automagic): the cell as Python, with IPython's escapes replaced.

    IPython turns ``!cmd``, ``%magic``, ``x = !cmd``, ``obj?`` and ``/f x`` into Python before running a
    cell, so they are not syntax errors for a student.  We replace each by ``pass`` (keeping line numbers)
    and remember it, or, where the magic runs Python (``%time expr``, ``%%time``, ``/f x``), by that Python,
    so that it is checked like the rest.
    """
    lines = source.splitlines()
    magics: list[_Magic] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):  # a cell magic owns the whole cell
        name = (lines[first][2:].split() or [""])[0]
        magics.append(_Magic(first + 1, name, lines[first].strip()))
        if name not in _PYTHON_MAGICS:
            return ast.Module(body=[], type_ignores=[]), None, magics, None
        lines = [""] * (first + 1) + lines[first + 1:]
    if first is not None and lines[first][:1] in (" ", "\t"):  # IPython removes the first line's indent
        indent = lines[first][:len(lines[first]) - len(lines[first].lstrip())]
        lines = [line[len(indent):] if line.startswith(indent) else line for line in lines]
    text = "\n".join(lines)
    automagic = None
    if len(source.splitlines()) == 1 and (m := _AUTOMAGIC.match(source)):
        name, rest = m["name"], m["rest"].lstrip()
        if name in _LINE_MAGICS and not (rest[:1] in ("=", ",") and not rest.startswith("==")):
            automagic = name
    try:
        return ast.parse(text), None, magics, automagic
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass  # perhaps IPython syntax: replace it and try again
    starts = _statement_starts(text)
    new_lines = []
    for number, line in enumerate(text.split("\n"), 1):
        replacement, magic = _unescape(line) if number in starts else (line, None)
        new_lines.append(replacement)
        if magic is not None:
            magics.append(_Magic(number, magic, line.strip()))
    try:
        return ast.parse("\n".join(new_lines)), None, magics, automagic
    except SyntaxError as error:
        return None, f"{error.msg} at line {error.lineno}", magics, automagic
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting
        return None, type(error).__name__, magics, automagic


def _unescape(line: str) -> tuple[str, str | None]:
    """(Python for one line, the magic's name or None) -- IPython's line transforms, done statically."""
    if m := _ASSIGNED_ESCAPE.match(line):
        name = "!" if m["esc"].startswith("!") else (m["rest"].split() or [""])[0]
        return f"{m['indent']}{m['target']} = None", name
    if m := _HELP.match(line):
        return f"{m['indent']}pass", "pinfo"
    m = _ESCAPE.match(line)
    if m is None:
        return line, None
    indent, escape, rest = m["indent"], m["esc"], m["rest"]
    if escape.startswith("!"):
        return f"{indent}pass", "!"
    if escape.startswith("%"):
        name, _, argument = rest.partition(" ")
        code = _TIMEIT_OPTIONS.sub("", argument, count=1).strip()
        if name in _PYTHON_MAGICS and code and _parses(code):
            return f"{indent}{code}", name
        return f"{indent}pass", name
    function, _, argument = rest.partition(" ")  # autocall: ",f a b" -> f("a", "b"); "/f a b" -> f(a, b)
    if escape == ",":
        call = '%s("%s")' % (function, '", "'.join(argument.split()))
    elif escape == ";":
        call = '%s("%s")' % (function, argument)
    else:
        call = "%s(%s)" % (function, ", ".join(argument.split()))
    return indent + call, None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def _statement_starts(text: str) -> set[int]:
    """Line numbers where a statement may begin (not inside brackets, strings or after a backslash).

    IPython looks for escapes only there; so do we, so that a line such as ``% b)`` inside parentheses is
    left alone.
    """
    starts, depth, expect = {1}, 0, True
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if expect and token.type not in (tokenize.NL, tokenize.NEWLINE):
                starts.add(token.start[0])
                expect = False
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(depth - 1, 0)
            elif token.type in (tokenize.NL, tokenize.NEWLINE) and depth == 0:
                expect = True
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return starts


# ---------------------------------------------------------------------------------------------------------
# Names: what each name can refer to, followed through imports, aliases, scopes and cells.


@dataclass(frozen=True)
class _Value:
    """What we know statically about a value."""

    path: str | None = None  # a module or a name inside one ("numpy.testing", "builtins.eval")
    ad: str | None = None  # the AD-library thing it comes from ("jax.grad"), if any


_UNKNOWN = frozenset({_Value()})
_MAX_PATH_DEPTH = 12


def _ad_of(path: str | None) -> str | None:
    if not path:
        return None
    parts = path.split(".")
    if parts[0] in AD_LIBRARIES:
        return path
    if any(".".join(parts[:n]) in AD_FUNCTIONS for n in range(2, len(parts) + 1)):
        return path
    return None


def _module_value(path: str) -> _Value:
    return _Value(path, _ad_of(path))


def _chain(node) -> tuple[ast.Name, list[str]] | None:
    """``a.b.c`` as (the Name ``a``, ["b", "c"]); None for anything that is not a plain dotted name."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    return (node, attributes[::-1]) if isinstance(node, ast.Name) else None


def _extend(values, attributes: list[str]) -> set[_Value]:
    out = set()
    for value in values:
        path = ".".join([value.path, *attributes]) if value.path else None
        if path and path.count(".") > _MAX_PATH_DEPTH:
            path = None
        out.add(_Value(path, _ad_of(path) or value.ad))
    return out


class _Scope:
    """A Python scope inside one cell: the cell itself (module), a function, a class or a comprehension."""

    def __init__(self, kind: str, parent: "_Scope | None"):
        self.kind, self.parent = kind, parent
        self.module = parent.module if parent else self
        self.locals: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.bindings: dict[str, set[_Value]] = {}


@dataclass
class _Site:
    """A place where a name is bound, and how to work out what it is bound to."""

    name: str
    scope: _Scope  # the scope the name lives in
    line: int
    kind: str  # "import", "alias", "derived", "def", "mutate", "delete"
    node: ast.AST | None = None
    path: str | None = None  # for imports
    trusted: bool = False  # in a cell that is not checked (instructor code)


@dataclass
class _Use:
    """A reference to something with a name: ``jax.grad``, ``g``, ``import os``, ``__import__("jax")``."""

    node: ast.AST
    text: str
    values: set[_Value]
    kind: str  # "name", "import", "dynamic-import"


class _Names:
    """Resolves every name of every cell, order-independently, to what it may refer to."""

    def __init__(self, cells: list[_Cell], answers: set[str] = frozenset()):
        self.answers = answers  # exercises' answers: AD inside one is flagged where it is, not where it is called
        self.scope_of: dict[int, _Scope] = {}
        self.parent_of: dict[int, ast.AST] = {}
        self.globals: dict[str, set[_Value]] = {}  # union of every cell's module-level bindings
        self.stars: list[str] = []  # modules star-imported somewhere: an unbound name may come from them
        self.instructor_imports: dict[str, set[str]] = {}  # name -> module paths, from cells not checked
        self.modules: list[_Scope] = []  # every cell's module scope
        for cell in cells:
            if cell.tree is None:
                continue
            try:
                cell.module = self._scan(cell.tree)
                self.modules.append(cell.module)
                cell.sites = list(self._sites(cell.tree))
                for site in cell.sites:
                    site.trusted = not cell.checked
            except RecursionError:
                cell.tree, cell.error, cell.module, cell.sites = None, "too deeply nested to check", None, []
        for cell in cells:
            for site in cell.sites:
                if not cell.checked and site.kind == "import" and site.scope is site.scope.module:
                    self.instructor_imports.setdefault(site.name, set()).add(site.path)
        self._solve(cells)

    # -- scopes --------------------------------------------------------------------------------------------

    def _scan(self, tree: ast.Module) -> _Scope:
        """Give every node its scope and parent, and every scope its local names (Python's rules)."""
        module = _Scope("module", None)

        def visit(node, scope, parent):
            self.scope_of[id(node)], self.parent_of[id(node)] = scope, parent
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = _Scope("function", scope)
                if not isinstance(node, ast.Lambda):
                    scope.locals.add(node.name)
                    for outer in [*node.decorator_list, *([node.returns] if node.returns else [])]:
                        visit(outer, scope, node)
                arguments = node.args
                for default in [*arguments.defaults, *[d for d in arguments.kw_defaults if d is not None]]:
                    visit(default, scope, node)
                for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                 *([arguments.vararg] if arguments.vararg else []),
                                 *([arguments.kwarg] if arguments.kwarg else [])]:
                    self.scope_of[id(argument)], self.parent_of[id(argument)] = inner, node
                    inner.locals.add(argument.arg)
                    if argument.annotation is not None:
                        visit(argument.annotation, scope, argument)
                for statement in node.body if isinstance(node.body, list) else [node.body]:
                    visit(statement, inner, node)
                return
            if isinstance(node, ast.ClassDef):
                scope.locals.add(node.name)
                for outer in [*node.decorator_list, *node.bases, *node.keywords]:
                    visit(outer, scope, node)
                inner = _Scope("class", scope)
                for statement in node.body:
                    visit(statement, inner, node)
                return
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                visit(node.generators[0].iter, scope, node)  # the first iterable is evaluated outside
                inner = _Scope("comprehension", scope)
                for number, generator in enumerate(node.generators):
                    self.scope_of[id(generator)], self.parent_of[id(generator)] = inner, node
                    visit(generator.target, inner, generator)
                    if number:
                        visit(generator.iter, inner, generator)
                    for condition in generator.ifs:
                        visit(condition, inner, generator)
                for part in ([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]):
                    visit(part, inner, node)
                return
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                scope.locals.add(node.id)
            elif isinstance(node, ast.Global):
                scope.globals.update(node.names)
            elif isinstance(node, ast.Nonlocal):
                scope.nonlocals.update(node.names)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                scope.locals.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
            elif isinstance(node, ast.ExceptHandler) and node.name:
                scope.locals.add(node.name)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                scope.locals.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                scope.locals.add(node.rest)
            for child in ast.iter_child_nodes(node):
                visit(child, scope, node)

        visit(tree, module, None)
        return module

    def _home(self, name: str, scope: _Scope) -> _Scope:
        """The scope a name assigned in ``scope`` lives in (``global`` and ``nonlocal`` move it out)."""
        if scope.kind != "module" and name in scope.globals:
            scope.module.locals.add(name)
            return scope.module
        if name in scope.nonlocals:
            outer = scope.parent
            while outer.kind != "module" and (outer.kind == "class" or name not in outer.locals):
                outer = outer.parent
            return outer
        return scope

    def _sites(self, tree) -> Iterator[_Site]:
        """Every binding of a name in a cell, with what determines its value."""
        for node in ast.walk(tree):
            scope = self.scope_of.get(id(node))
            if scope is None:
                continue
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    path = alias.name if alias.asname else name
                    yield _Site(name, self._home(name, scope), line, "import", path=path)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    module = "." * node.level + (node.module or "")
                    if alias.name == "*":
                        if not node.level:
                            self.stars.append(module)
                        continue
                    name = alias.asname or alias.name
                    yield _Site(name, self._home(name, scope), line, "import", path=f"{module}.{alias.name}")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    yield from self._target_sites(target, node.value, scope, line)
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                yield from self._target_sites(node.target, node.value, scope, line)
            elif isinstance(node, ast.AugAssign):
                yield from self._target_sites(node.target, node.value, scope, line, kind="derived")
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                yield from self._target_sites(node.target, node.iter, scope, line, kind="derived")
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        yield from self._target_sites(item.optional_vars, item.context_expr, scope, line,
                                                      kind="derived")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield _Site(node.name, self._home(node.name, scope), line, "def", node)
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        yield _Site(target.id, self._home(target.id, scope), line, "delete")

    def _target_sites(self, target, value, scope, line, kind="alias") -> Iterator[_Site]:
        if isinstance(target, ast.Name):
            yield _Site(target.id, self._home(target.id, scope), line, kind, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pairs = (isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
                     and not any(isinstance(e, ast.Starred) for e in [*value.elts, *target.elts]))
            for number, element in enumerate(target.elts):
                element = element.value if isinstance(element, ast.Starred) else element
                yield from self._target_sites(element, value.elts[number] if pairs else value, scope, line,
                                              kind if pairs else "derived")
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            # helpers["g"] = jax.grad: the container now holds an AD function
            root = target
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                yield _Site(root.id, self._container_scope(root.id, scope), line, "mutate", value)

    def _container_scope(self, name: str, scope: _Scope) -> _Scope:
        while scope.kind != "module" and (name not in scope.locals or name in scope.globals):
            scope = scope.parent
        return scope

    # -- values --------------------------------------------------------------------------------------------

    def _solve(self, cells: list[_Cell]) -> None:
        """Propagate values through the bindings until nothing changes.

        Values only ever grow, from a finite set, so this ends; each round carries a value at least one
        binding further, hence the bound (a chain of aliases written in reverse cell order needs them all).
        """
        for _ in range(sum(len(cell.sites) for cell in cells) + 2):
            changed = False
            for cell in cells:
                for site in cell.sites:
                    new = self.site_value(site)
                    known = site.scope.bindings.setdefault(site.name, set())
                    if not new <= known:
                        known |= new
                        changed = True
                    if site.scope.kind == "module":
                        self.globals.setdefault(site.name, set()).update(new)
            if not changed:
                return

    def site_value(self, site: _Site, raw: bool = False) -> set[_Value]:
        """What the name bound at ``site`` may be.

        Two kinds of binding pass on only what their import path says, not what they computed with AD:
        an exercise's answer (see ``answers``), and instructor code, which uses JAX by design (the plot
        cell's ``errors`` are computed with ``jax.grad``; a student may well read them to answer).
        """
        values = self._site_value(site)
        answer = site.name in self.answers and site.scope.kind == "module"
        if raw or not (answer or site.trusted):
            return values
        return {_module_value(v.path) if v.path else _Value() for v in values}

    def _site_value(self, site: _Site) -> set[_Value]:
        if site.kind == "import":
            return {_module_value(site.path)}
        if site.kind == "alias":
            return self.value(site.node)
        if site.kind in ("derived", "def"):
            return {_Value(None, self.ad_in(site.node))}
        if site.kind == "mutate":
            ad = self.ad_in(site.node)
            holder = self.lookup(site.name, site.scope)
            return {_Value(None, ad)} if ad and not any(v.path for v in holder) else set()
        return set()  # delete

    def lookup(self, name: str, scope: _Scope) -> set[_Value]:
        """What a name read in ``scope`` may be bound to.

        A global may hold what *any* cell bound to it, this cell's own binding included: the cells can run
        in any order, and a function reads its globals when it is called, so ``g = jax.grad`` in a cell
        below the solution replaces the solution's own ``g`` by the time the test cell runs.
        """
        return self._resolve(name, scope, foreign=False)[0]

    def foreign(self, node) -> set[_Value]:
        """What the dotted name ``node`` may be bound to by *other* cells (and builtins, modules)."""
        root, attributes = _chain(node)
        return _extend(self._resolve(root.id, self.scope_of[id(root)])[1], attributes)

    def _resolve(self, name: str, scope: _Scope, foreign: bool = True) -> tuple[set[_Value], set[_Value]]:
        """(all values, those bound outside the cell of ``scope`` -- worked out only if ``foreign``)."""
        current = scope
        while current.kind != "module":
            if name in current.globals:
                current = current.module
                break
            if name in current.locals and name not in current.nonlocals and (
                    current.kind != "class" or current is scope):
                return current.bindings.get(name) or set(_UNKNOWN), set()
            current = current.parent
        if name not in self.globals:
            default = self._default(name)
            return default, default
        if not foreign:
            return self.globals[name], set()
        others = set().union(*(m.bindings.get(name, ()) for m in self.modules if m is not current))
        return self.globals[name], others

    def _default(self, name: str) -> set[_Value]:
        if name in AD_LIBRARIES:
            return {_module_value(name)}
        if name in _DEFAULT_MODULES:
            return {_Value(_DEFAULT_MODULES[name])}
        if hasattr(builtins, name):
            return {_Value(f"builtins.{name}")}
        return {_module_value(f"{module}.{name}") for module in self.stars} or set(_UNKNOWN)

    def value(self, node) -> set[_Value]:
        """What an expression may evaluate to, as far as modules and AD are concerned."""
        chain = _chain(node)
        if chain is not None:
            root, attributes = chain
            return _extend(self.lookup(root.id, self.scope_of[id(root)]), attributes)
        if isinstance(node, ast.Call):
            imported = self.dynamic_import(node)
            if imported is not None:  # __import__("a.b") returns a; import_module("a.b") returns a.b
                function, module = imported
                return {_module_value(module.split(".")[0] if function == "builtins.__import__" else module)}
            attribute = self.literal_getattr(node)
            if attribute is not None:
                return _extend(self.value(node.args[0]), [attribute])
        if isinstance(node, ast.Subscript):
            module = self.modules_entry(node)
            if module is not None:
                return {_module_value(module)}
        if isinstance(node, ast.NamedExpr):
            return self.value(node.value)
        if isinstance(node, ast.IfExp):
            return self.value(node.body) | self.value(node.orelse)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.value(v) for v in node.values))
        return {_Value(None, self.ad_in(node))}

    def paths(self, node) -> set[str]:
        return {v.path for v in self.value(node) if v.path}

    def ad_in(self, node) -> str | None:
        """The first AD-library thing used anywhere inside ``node``, or None."""
        for use in self.uses(node):
            for value in sorted(use.values, key=_order):
                if value.ad:
                    return value.ad
        return None

    def dynamic_import(self, call: ast.Call) -> tuple[str, str] | None:
        """``__import__("jax")`` -> ("builtins.__import__", "jax"); None unless a module is imported by name."""
        module = _literal(call.args[0]) if call.args else None
        functions = sorted(self.paths(call.func) & _DYNAMIC_IMPORTS) if module is not None else []
        return (functions[0], module) if functions else None

    def modules_entry(self, node: ast.Subscript) -> str | None:
        """``sys.modules["jax"]`` -> "jax"."""
        if _literal(node.slice) is not None and "sys.modules" in self.paths(node.value):
            return _literal(node.slice)
        return None

    def literal_getattr(self, call: ast.Call) -> str | None:
        """``getattr(np, "testing")`` -> "testing"."""
        if len(call.args) >= 2 and _literal(call.args[1]) is not None and "builtins.getattr" in self.paths(call.func):
            return _literal(call.args[1])
        return None

    def uses(self, node) -> Iterator[_Use]:
        """Every reference under ``node``: maximal dotted names, imports, and imports by string."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, (ast.Import, ast.ImportFrom)):
                yield from self._import_uses(current)
                continue
            chain = _chain(current)
            if chain is not None and isinstance(current.ctx, ast.Load):
                yield _Use(current, ast.unparse(current), self.value(current), "name")
                continue
            if isinstance(current, ast.Attribute) and not isinstance(current.ctx, ast.Load):
                stack.append(current.value)  # np.x = ...: the reference is to np
                continue
            module = None
            if isinstance(current, ast.Call):
                module = (self.dynamic_import(current) or (None, None))[1]
            elif isinstance(current, ast.Subscript):
                module = self.modules_entry(current)
            if module is not None:
                yield _Use(current, module, {_module_value(module)}, "dynamic-import")
            stack.extend(reversed(list(ast.iter_child_nodes(current))))

    def _import_uses(self, node) -> Iterator[_Use]:
        for alias in node.names:
            if isinstance(node, ast.Import):
                path = alias.name
            elif node.level:
                continue  # a relative import: the student's own package, if any
            else:
                path = node.module if alias.name == "*" else f"{node.module}.{alias.name}"
            yield _Use(node, path, {_module_value(path)}, "import")


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _order(value: _Value):
    return value.path or "", value.ad or ""


def _classify(path: str | None) -> str | None:
    """The rule a dotted path falls under, by its longest listed prefix; None for ordinary code."""
    if not path:
        return None
    parts = path.split(".")
    if parts == ["builtins"]:
        return "dynamic-code"  # the module itself: every builtin can be swapped or reached through it
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in _PATH_RULES:
            return _PATH_RULES[prefix]
        if prefix == "builtins":
            return None  # len, range, print: plain Python
    return None


def _shown(path: str) -> str:
    return path.removeprefix("builtins.")


def _describe(use: _Use, path: str) -> str:
    """"uses jax.grad", "uses `g` (jax.grad)", "imports os", "imports jax at run time"."""
    if use.kind == "import":
        return f"imports {path}"
    if use.kind == "dynamic-import":
        return f"imports {path} at run time"
    text = use.text if len(use.text) <= 60 else use.text[:57] + "..."
    return f"uses {text}" if text == _shown(path) else f"uses `{text}` ({_shown(path)})"


def _where(cell: _Cell) -> str:
    if cell.grade_id is not None:
        return f"in `{cell.grade_id}`"
    return f"in a cell the student added or edited (cell {cell.index + 1})"


def _finding(cell: _Cell, node_or_line, rule: str, what: str) -> Finding:
    line = node_or_line if isinstance(node_or_line, int) else getattr(node_or_line, "lineno", 1)
    return Finding(cell.grade_id, line, rule, f"{what} {_where(cell)}: {_WHY[rule]}")


def _classified(cell: _Cell, names: _Names, rules: set[str]) -> list[Finding]:
    """Findings for every use whose dotted path falls under one of ``rules``."""
    found = []
    for use in names.uses(cell.tree):
        for value in sorted(use.values, key=_order):
            rule = _classify(value.path)
            if rule in rules:
                found.append(_finding(cell, use.node, rule, _describe(use, value.path)))
    return found


def _source_of(node) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------------------
# The rules, one function per family.


def _ad_library(cell: _Cell, names: _Names) -> list[Finding]:
    """In a solution cell where AD is forbidden: any use of an AD library, however it was reached.

    Aliases count (``j.grad``, ``g`` bound to ``jax.grad`` in another cell, a helper whose body uses jax),
    and so do strings (``__import__("jax")``): the exercise is to compute the derivative oneself.  A value
    merely *computed* from AD inside this same cell (``v = jnp.log(x)``, then ``v``) is not flagged again
    where it is used: its source line already is.
    """
    found = []
    for use in names.uses(cell.tree):
        reported = use.values if use.kind != "name" else (
            {v for v in use.values if v.path} | names.foreign(use.node))
        ad = next((v.ad for v in sorted(reported, key=_order) if v.ad), None)
        if ad:
            found.append(_finding(cell, use.node, "ad-library", _describe(use, ad)))
    return found


def _forbidden_calls(cell: _Cell, names: _Names, forbidden: dict[str, str]) -> list[Finding]:
    """In a solution cell with finer rules: any use of a forbidden name (or of something under it).

    Aliases count as for AD libraries (``from jax import hessian as H``, ``inv = jnp.linalg.inv`` in
    another cell), because the names are followed the same way.
    """
    found = []
    for use in names.uses(cell.tree):
        reported = use.values if use.kind != "name" else (
            {v for v in use.values if v.path} | names.foreign(use.node))
        for value in sorted(reported, key=_order):
            rule = _forbidden_rule(value.path, forbidden)
            if rule is not None:
                what = f"{_describe(use, value.path)} {_where(cell)}: {forbidden[rule]}"
                found.append(Finding(cell.grade_id, getattr(use.node, "lineno", 1), "forbidden-call", what))
                break
    return found


def _forbidden_rule(path: str | None, forbidden: dict[str, str]) -> str | None:
    """The forbidden name that ``path`` is, or lies under (``jax.hessian`` for ``jax.hessian``)."""
    if not path:
        return None
    parts = path.split(".")
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in forbidden), None)


def _ad_redefinitions(cells: list[_Cell], names: _Names, forbid_ad: set[str]) -> list[tuple[int, Finding]]:
    """Another cell redefines an AD-forbidden exercise's function with an AD library.

    ``def forward_difference(f, w, eps): return jax.grad(f)(w)`` in an added cell below the solution cell
    replaces the student's answer before the test cell runs: the solution cell looks clean, the graded
    function is not.
    """
    exercises = {site.name: cell.grade_id for cell in cells if cell.grade_id in forbid_ad
                 for site in cell.sites if site.scope is cell.module and site.name in names.answers}
    found = []
    for cell in cells:
        if not cell.checked or cell.grade_id in forbid_ad:
            continue
        for site in cell.sites:
            if site.scope is cell.module and site.name in exercises:
                ad = next((v.ad for v in sorted(names.site_value(site, raw=True), key=_order) if v.ad), None)
                if ad:
                    what = f"redefines `{site.name}` (exercise `{exercises[site.name]}`) with {ad}"
                    found.append((cell.index, _finding(cell, site.line, "ad-library", what)))
    return found


def _dynamic_code(cell: _Cell, names: _Names) -> list[Finding]:
    """Code the checker cannot see: eval/exec/compile, imports by string, globals() and the like.

    ``getattr`` is flagged when its attribute name is computed (``getattr(np, "gr" + "ad")`` hides what
    it reaches) or when it is applied to a module; passing ``getattr`` itself around is flagged too.
    """
    found = _classified(cell, names, {"dynamic-code"})
    for node in ast.walk(cell.tree):
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            found.append(_finding(cell, node, "dynamic-code", "uses __builtins__"))
        chain = _chain(node)
        if chain is not None and isinstance(node.ctx, ast.Load):
            family = sorted(names.paths(node) & _GETATTR_FAMILY)
            parent = names.parent_of.get(id(node))
            if family and not (isinstance(parent, ast.Call) and parent.func is node):
                found.append(_finding(cell, node, "dynamic-code", f"passes {_shown(family[0])} around"))
        if not (isinstance(node, ast.Call) and names.paths(node.func) & _GETATTR_FAMILY):
            continue
        function = _shown(sorted(names.paths(node.func) & _GETATTR_FAMILY)[0])
        if len(node.args) < 2 or _literal(node.args[1]) is None:
            found.append(_finding(cell, node, "dynamic-code",
                                  f"calls {function} with an attribute name computed at run time"))
        elif function == "getattr" and names.paths(node.args[0]):
            module = sorted(names.paths(node.args[0]))[0]
            found.append(_finding(cell, node, "dynamic-code", f"calls getattr on {_shown(module)}"))
    return found


def _introspection(cell: _Cell, names: _Names) -> list[Finding]:
    """Reaching into the interpreter: frames, globals of other functions, code objects, every class.

    ``().__class__.__base__.__subclasses__()`` and ``f.__globals__`` lead to any object in the process,
    the grader's included; ``inspect`` and ``gc`` do the same with a friendlier interface.
    """
    found = _classified(cell, names, {"introspection"})
    for node in ast.walk(cell.tree):
        attribute = None
        if isinstance(node, ast.Attribute) and node.attr in _INTERNALS:
            parent = names.parent_of.get(id(node))
            constructs = node.attr == "__class__" and isinstance(parent, ast.Call) and parent.func is node
            inner = isinstance(parent, ast.Attribute) and parent.attr in _INTERNALS  # report a chain once
            attribute = None if constructs or inner else node.attr
        elif (isinstance(node, ast.Call) and len(node.args) >= 2 and _literal(node.args[1]) in _INTERNALS
              and names.paths(node.func) & (_GETATTR_FAMILY | {"builtins.hasattr"})):
            attribute = _literal(node.args[1])
        if attribute is not None:
            found.append(_finding(cell, node, "introspection", f"uses {_source_of(node)}"))
    return found


def _monkeypatching(cell: _Cell, names: _Names) -> list[Finding]:
    """Changing what other code relies on: module attributes, course and library contents, imported names.

    Three forms: assigning or deleting an attribute of a module or of anything imported from one
    (``np.testing.assert_allclose = ...``, ``setattr(np, "allclose", ...)``); changing an entry of a
    protected package (``course.checks.TOLERANCES["x"] = ...``, ``sys.modules["numpy"] = ...``); and
    rebinding at top level a name an instructor cell imported (``check_calls = lambda *a: None``), which
    the test cells then call.  Attributes of the student's own objects (``self.x = ...``) are fine.
    """
    found = _classified(cell, names, {"monkeypatch"})
    for node in ast.walk(cell.tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            verb = "deletes" if isinstance(node.ctx, ast.Del) else "replaces"
            for path in sorted(names.paths(node.value)):
                found.append(_finding(cell, node, "monkeypatch", f"{verb} {_shown(path)}.{node.attr}"))
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            for path in sorted(names.paths(node.value)):
                if path.split(".")[0] in _PROTECTED_ROOTS:
                    found.append(_finding(cell, node, "monkeypatch", f"changes an entry of {_shown(path)}"))
        elif isinstance(node, ast.Call) and names.paths(node.func) & {"builtins.setattr", "builtins.delattr"}:
            function = _shown(sorted(names.paths(node.func) & {"builtins.setattr", "builtins.delattr"})[0])
            attribute = _literal(node.args[1]) if len(node.args) >= 2 else None
            for path in sorted(names.paths(node.args[0])) if node.args else []:
                target = f"{_shown(path)}.{attribute}" if attribute else f"an attribute of {_shown(path)}"
                found.append(_finding(cell, node, "monkeypatch", f"changes {target} through {function}"))
    for site in cell.sites:
        imported = names.instructor_imports.get(site.name)
        if site.scope is not cell.module or not imported or site.kind == "mutate":
            continue
        if site.kind == "delete" or not imported & {v.path for v in names.site_value(site)}:
            verb = "deletes" if site.kind == "delete" else "rebinds"
            what = f"{verb} `{site.name}`, which an instructor cell imports ({' / '.join(sorted(imported))})"
            found.append(_finding(cell, site.line, "monkeypatch", what))
    return found


def _system_access(cell: _Cell, names: _Names) -> list[Finding]:
    """Files, network, processes and the interpreter: ``open``, ``os``, ``sys``, ``socket``, ``pickle``...

    None of it is needed to compute a derivative, and each can reach the grader's files or answers; nor is
    the grader's own package, whose stand-ins hold correct answers.
    """
    return _classified(cell, names, {"file-access", "network", "process", "grader-code"})


def _magics(cell: _Cell, names: _Names) -> list[Finding]:
    """IPython's own syntax (``!cmd``, ``%magic``, ``%%bash``, ``obj?``, one-line automagic) and
    ``get_ipython()``, plus cells that do not parse at all: none of it is Python we can check."""
    found = []
    for magic in cell.magics:
        found.append(_finding(cell, magic.line, _magic_rule(magic.name),
                              f"runs the IPython {'shell command' if magic.name == '!' else 'magic'} "
                              f"`{_short(magic.text)}`"))
    if cell.automagic and cell.automagic not in names.globals:  # not shadowed by a name of the notebook
        found.append(_finding(cell, 1, _magic_rule(cell.automagic),
                              f"runs the IPython magic `{_short(cell.source.strip())}` (automagic)"))
    elif cell.tree is None:
        found.append(_finding(cell, _error_line(cell.error), "unparsable",
                              f"does not parse as Python ({cell.error})"))
    if cell.tree is not None:
        found += _classified(cell, names, {"magic"})
    return found


def _magic_rule(name: str) -> str:
    return "process" if name in _SHELL_MAGICS else "file-access" if name in _FILE_MAGICS else "magic"


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _error_line(error: str | None) -> int:
    m = re.search(r"at line (\d+)", error or "")
    return int(m[1]) if m else 1
