"""What a submission may reach, what it may not, and why: the checker's tables.

Deny by default.  A solution computes derivatives with NumPy, ``math`` and the
course's helpers (and JAX where the exercise allows it); that is a short list,
so it is written down (:data:`ALLOWED_MODULES`) and everything else reached
through a module -- a submodule nobody thought of, a module that an allowed one
happens to hold (``np.lib.npyio``, ``course.plots.plt``), a private name --
is reported.  The older design listed what is *forbidden* and let the rest
through; every attack that got past it went through a door the list did not
name.

Two kinds of table follow.  :data:`PATH_RULES` and :data:`MEMBER_RULES` name
known dangers with a specific rule, so that a flag explains itself ("process",
"file-access").  The allowlist catches the rest under the rule
``outside-allowlist``.  A dotted path is judged by :func:`classify`.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import re
import types
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One piece of code an instructor should look at."""

    grade_id: str | None  # the solution cell it was found in; None for a cell the student added or edited
    line: int  # 1-based, within the cell as the student wrote it
    rule: str  # a key of WHY: "ad-library", "dynamic-code", "outside-allowlist", "too-complex", ...
    message: str  # plain words for an instructor


WHY = {
    "ad-library": "this exercise must be implemented without an AD library",
    "forbidden-call": "the exercise asks for this to be done by hand",  # the exercise's own reason follows
    "dynamic-code": "code chosen or built at run time cannot be checked before it runs",
    "introspection": "reaching into the interpreter's internals can get around the checks",
    "private-attribute": "names starting with _ are a library's (or the grader's) internals, the way around "
                         "its public behaviour",
    "outside-allowlist": "a solution needs only NumPy, math, cmath, functools, itertools, the course's public "
                         "helpers (and JAX where the exercise allows it); what lies outside them is not checked",
    "monkeypatch": "changing library or course code can make a check pass without a correct answer",
    "file-access": "an exercise needs no files; this could read answers or the grader's files, or write code "
                   "that is imported later",
    "network": "an exercise needs no network; this could fetch answers or send data out",
    "process": "an exercise needs no access to the operating system, other processes or the interpreter",
    "magic": "IPython's shell object and its magics run outside plain Python and are not checked",
    "grader-code": "the grader's own code (hidden tests, and stand-ins that hold correct answers) is not for "
                   "submissions",
    "unparsable": "a cell that is not Python cannot be checked",
    "too-complex": "the checker works within fixed bounds, so that it always finishes; a cell beyond them is "
                   "left to a human",
}
"""Each rule's reason ends every message of that rule, so that a flag explains itself."""

LOCAL_RULES = frozenset({"ad-library", "forbidden-call"})
"""Rules whose findings concern only the exercise they were found in (see ``policy.flags_by_exercise``).

Everything else -- a patched module, ``exec``, files, a cell too complex to check -- may change the
whole kernel, and so every check after it."""


# ---------------------------------------------------------------------------------------------------------
# Automatic differentiation: forbidden where an exercise asks for the derivative by hand.

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


@functools.lru_cache(maxsize=1 << 16)
def ad_of(path: str | None) -> str | None:
    """``path`` itself if it is (or lies under) an AD library or function, else None."""
    if not path:
        return None
    parts = path.split(".")
    if parts[0] in AD_LIBRARIES:
        return path
    if any(".".join(parts[:n]) in AD_FUNCTIONS for n in range(2, len(parts) + 1)):
        return path
    return None


# ---------------------------------------------------------------------------------------------------------
# The allowlist: modules a solution may use, and which of their attributes.


@dataclass(frozen=True)
class Public:
    """Every public attribute of the installed module that is not itself a module, minus ``exclude``.

    Read from the module's ``__dict__`` (never ``getattr``, which may import more), once per process, so
    the list follows the installed version and is the same for every submission.  Submodules are
    allowed only where they have their own entry in :data:`ALLOWED_MODULES`: a module that another one
    merely imports (``numpy.lib``'s file readers, ``matplotlib.pyplot.sys``) is not part of its API.
    """

    exclude: frozenset[str] = frozenset()
    prefix: str = ""  # only names that start with it (``assert_`` in numpy.testing)


ALLOWED_MODULES: dict[str, Public | frozenset[str]] = {
    # NumPy's numerical API.  Its file readers and writers have their own rule (MEMBER_RULES).
    "numpy": Public(),
    "numpy.linalg": Public(),
    "numpy.fft": Public(),
    "numpy.random": Public(),
    "numpy.testing": Public(prefix="assert_"),  # its other helpers run code from strings, use files, gc...
    "math": Public(),
    "cmath": Public(),
    "functools": Public(),
    "itertools": Public(),
    # The course's public helpers, by name: not the oracle (JAX's answers), not the internals of counting.
    "course": frozenset({"setup", "is_grading", "autograding"}),
    "course.checks": frozenset({
        "compare", "assert_close", "check_gradient", "check_value", "check_jvp", "check_jacobian", "check_vjp",
        "check_calls", "check_hvp", "check_hessian", "check_minimizer", "require", "random_like", "time_limit",
        "OutOfTime", "CheckFailed", "Comparison", "EXACT_RTOL", "FLOAT32_RTOL", "ATOL_FLOOR",
    }),
    "course.counting": frozenset({"Counted", "ForbiddenDifferentiation", "primitive_counts", "factorizations",
                                  "triangular_solve_shapes"}),  # not count_calls: it replaces attributes
    "course.problems": frozenset({"lecture_loss", "wiggly", "wiggly_gradient", "SmoothProblem", "random_point",
                                  "extended_rosenbrock", "logistic_cubic"}),  # not array_module: it returns modules
    "course.plots": frozenset({"step_size_errors"}),
    # JAX's public API.  Where an exercise forbids AD, the rule "ad-library" reports every use of it anyway.
    "jax": Public(exclude=frozenset({"ad", "config"})),  # jax.ad: internals; jax.config: see MEMBER_RULES
    "jax.numpy": Public(),
    "jax.numpy.linalg": Public(),
    "jax.numpy.fft": Public(),
    "jax.scipy": frozenset(),  # only its submodules below
    "jax.scipy.linalg": Public(),
    "jax.scipy.special": Public(),
    "jax.lax": Public(),
    "jax.random": Public(),
    "jax.nn": Public(),
    "jax.tree_util": Public(),
    "jax.tree": Public(),
    # Harmless parts of the standard library that ordinary answers (and the course's own cells) use.
    "operator": Public(),  # attrgetter and methodcaller: MEMBER_RULES (getattr by string)
    "collections": Public(),
    "collections.abc": Public(),
    "dataclasses": Public(),
    "heapq": Public(),
    "bisect": Public(),
    "numbers": Public(),
    "random": Public(),
    "copy": frozenset({"copy", "deepcopy"}),
    "abc": frozenset({"ABC", "ABCMeta", "abstractmethod"}),
    "typing": frozenset({  # not get_type_hints, which evaluates strings
        "Any", "Callable", "Optional", "Union", "Sequence", "Iterable", "Iterator", "Mapping", "Tuple", "List",
        "Dict", "Set", "NamedTuple", "TypeVar", "Generic", "Protocol", "Literal", "Final", "ClassVar", "cast",
        "overload",
    }),
    "types": frozenset({"SimpleNamespace"}),  # not FunctionType and friends, which build code
    "warnings": frozenset({"warn", "catch_warnings", "simplefilter", "filterwarnings", "resetwarnings"}),
    "time": frozenset({"perf_counter", "perf_counter_ns", "process_time", "monotonic", "time", "time_ns",
                       "sleep"}),
    # The instructors' plot cells: pyplot's drawing functions (saving and reading images: MEMBER_RULES).
    "matplotlib": frozenset({"rcParams"}),
    "matplotlib.pyplot": Public(),
}
"""Module -> the attributes a submission may reach through it (:class:`Public`, or the names themselves)."""


@functools.cache
def members(module: str) -> frozenset[str]:
    """The attributes of an allowed module that a submission may use (empty if it cannot be imported here)."""
    spec = ALLOWED_MODULES[module]
    if isinstance(spec, frozenset):
        return spec
    try:  # only the fixed names of ALLOWED_MODULES are ever imported, never a name from a submission
        namespace = vars(importlib.import_module(module))
    except Exception:  # not installed: nothing of it is allowed (fail closed)
        return frozenset()
    return frozenset(name for name, value in namespace.items()
                     if not name.startswith("_") and name.startswith(spec.prefix) and name not in spec.exclude
                     and not isinstance(value, types.ModuleType))


def is_allowed_module(path: str) -> bool:
    """True for the modules themselves (``numpy``, ``jax.numpy``): used as values, they reach everything."""
    return path in ALLOWED_MODULES


# ---------------------------------------------------------------------------------------------------------
# Known dangers, each with its own rule.

PATH_RULES: dict[str, str] = {}
"""Dotted path (a module, or a name inside one) -> rule; the longest listed prefix decides."""
for _rule, _paths in {
    "dynamic-code": [
        "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__", "builtins.globals",
        "builtins.locals", "builtins.vars", "builtins.breakpoint", "importlib", "imp", "runpy", "pkgutil",
        "zipimport", "code", "codeop", "types.FunctionType", "types.CodeType", "types.LambdaType", "sys.modules",
    ],
    "introspection": [
        "inspect", "gc", "dis", "traceback", "sys._getframe", "sys.settrace", "sys.setprofile", "sys.gettrace",
        "sys.getprofile", "sys.exc_info", "sys.exception", "builtins.help", "pydoc",
    ],
    "file-access": [
        "builtins.open", "io", "_io", "codecs", "pathlib", "shutil", "tempfile", "glob", "fileinput", "filecmp",
        "linecache", "shelve", "dbm", "sqlite3", "zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib", "mmap",
        "fcntl", "pickle", "_pickle", "marshal", "dill", "cloudpickle", "joblib", "csv", "json", "logging",
        "configparser", "plistlib", "wave", "netrc", "mailbox", "py_compile", "compileall", "site", "h5py",
        "pandas", "scipy.io",
    ],
    "network": [
        "socket", "_socket", "ssl", "select", "selectors", "asyncio", "urllib", "urllib3", "requests", "http",
        "httpx", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "webbrowser",
    ],
    "process": [
        "os", "posixpath", "sys", "subprocess", "signal", "multiprocessing", "threading", "_thread", "concurrent",
        "ctypes", "_ctypes", "cffi", "pty", "resource", "atexit", "faulthandler", "posix", "nt", "_posixsubprocess",
        "builtins.input", "sysconfig", "platform",
    ],
    "magic": ["IPython", "ipykernel", "builtins.exit", "builtins.quit"],  # in IPython, exit holds the shell
    "grader-code": ["autograder", "nbgrader", "nbclient", "nbformat"],
    "monkeypatch": ["unittest.mock", "mock"],
}.items():
    PATH_RULES.update(dict.fromkeys(_paths, _rule))

MEMBER_RULES: dict[str, str] = {
    **dict.fromkeys(["load", "save", "savez", "savez_compressed", "loadtxt", "savetxt", "genfromtxt", "fromfile",
                     "fromregex", "memmap", "DataSource", "open_memmap", "savefig", "imsave", "imread"],
                    "file-access"),
    "test": "process",  # numpy.test and friends run pytest
    "config": "monkeypatch",  # jax.config.update: process-wide settings (precision, caches written to disk)
    "live_arrays": "introspection",  # jax.live_arrays(): every array in the process, the grader's too
    "attrgetter": "dynamic-code", "methodcaller": "dynamic-code",  # operator's getattr by string
}
"""Attribute names that are dangers in *any* allowed module (``np.save``, ``jnp.load``, ``plt.savefig``)."""

FILE_METHODS = frozenset({"tofile", "dump", "savefig", "write_text", "write_bytes", "read_text", "read_bytes",
                          "print_figure", "print_raw", "print_rgba", "print_png", "print_svg", "print_pdf"})
"""Methods that read or write files on objects of allowed modules (``array.tofile``, ``figure.savefig``,
``canvas.print_raw``, which writes whatever bytes the pixels hold)."""

BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_")) - {
    "get_ipython", "display", "In", "Out"}  # in case the checker runs inside IPython: those are not Python's
"""Python's own builtins (the dangerous ones have a rule in PATH_RULES)."""


# ---------------------------------------------------------------------------------------------------------
# Private attributes and names.

INTERNALS = frozenset({
    "__dict__", "__class__", "__bases__", "__base__", "__mro__", "__subclasses__", "__globals__", "__code__",
    "__closure__", "__builtins__", "__func__", "__self__", "__defaults__", "__kwdefaults__", "__getattribute__",
    "__setattr__", "__delattr__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "__wrapped__", "__traceback__", "__objclass__", "__init_subclass__", "__set_name__", "__get__",
    "tb_frame", "tb_next", "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "gi_code",
    "cr_frame", "ag_frame", "co_code", "co_consts",
})
"""Attributes that lead from any object to frames, globals, code objects or every loaded class (rule
"introspection", on any object, even the student's own).

``x.__class__(...)`` (a new object of the same type, common in a Dual-number class) is allowed; any other
use of ``__class__`` is flagged."""

HARMLESS_DUNDERS = frozenset({
    # Strings describing an object: reading them reaches nothing.
    "__name__", "__qualname__", "__doc__", "__module__", "__version__",
    # Operators and protocols spelled as methods: ``a.__mul__(b)`` does what ``a * b`` does.
    "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
    "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__abs__", "__invert__",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__getitem__", "__setitem__", "__len__", "__iter__", "__next__", "__contains__",
    "__call__", "__bool__", "__float__", "__int__", "__complex__", "__index__", "__array__", "__hash__",
    "__repr__", "__str__", "__format__", "__enter__", "__exit__", "__round__",
})
"""Dunder attributes that are harmless on any object.  ``__init__`` is not among them: on an object from
outside it re-initializes it (a counted function's count, say); on the student's own class, or through
``super()``, it is fine, like every private attribute of the student's own objects."""

HARMLESS_NAMES = frozenset({"__name__", "__doc__", "__debug__", "__version__"})
"""Private *names* that are harmless although the notebook does not define them (``__name__`` is
"__main__", the classic ``if __name__ == "__main__":``)."""

IPYTHON_NAMES = frozenset({"get_ipython", "In", "Out", "exit", "quit", "_ih", "_oh", "_dh", "_i", "_ii", "_iii",
                           "_", "__", "___", "_exit_code", "__IPYTHON__"})
"""Names IPython puts in the kernel's namespace: the shell object and the history (``_i1``, ``_1`` too)."""


_HISTORY_NAME = re.compile(r"_i?\d+")  # _i3: the code of cell 3; _3: its output


def ipython_name(name: str) -> bool:
    """Is ``name`` one that IPython defines in every kernel (when the notebook does not define it itself)?"""
    return name in IPYTHON_NAMES or _HISTORY_NAME.fullmatch(name) is not None


def private(name: str) -> bool:
    """A name or attribute that starts with ``_`` and is not listed as harmless."""
    return name.startswith("_") and name not in HARMLESS_DUNDERS


# ---------------------------------------------------------------------------------------------------------
# Judging a dotted path.


@functools.lru_cache(maxsize=1 << 16)
def classify(path: str) -> str | None:
    """The rule the dotted path ``path`` breaks, or None where a submission may use it.

    In order: a listed danger (the longest listed prefix, so that ``numpy.save`` is "file-access" while
    ``numpy`` is fine); an interpreter internal (``f.__globals__``); a private part (``jax._src``); an
    attribute that touches files (``.tofile``); and, for everything else, the allowlist.
    """
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        rule = PATH_RULES.get(".".join(parts[:n]))
        if rule is not None:
            return rule
    if parts == ["builtins"]:
        return "dynamic-code"  # the module itself: every builtin can be swapped or reached through it
    if any(part in INTERNALS for part in parts):
        return "introspection"
    if any(private(part) for part in parts):
        return "private-attribute"
    if any(part in FILE_METHODS for part in parts[1:]):
        return "file-access"
    if parts[0] == "builtins":  # builtins.get_ipython exists in a kernel: IPython puts its shell there
        return "magic" if ipython_name(parts[1]) else None if parts[1] in BUILTIN_NAMES else "outside-allowlist"
    for n in range(len(parts), 0, -1):
        module = ".".join(parts[:n])
        if module in ALLOWED_MODULES:
            if n == len(parts):
                return None
            member = parts[n]
            if member in MEMBER_RULES:
                return MEMBER_RULES[member]
            return None if member in members(module) else "outside-allowlist"
    return "outside-allowlist"


# ---------------------------------------------------------------------------------------------------------
# Names, functions and IPython syntax with a meaning of their own.

GETATTR_FAMILY = frozenset({"builtins.getattr", "builtins.setattr", "builtins.delattr"})
DYNAMIC_IMPORTS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})

PROTECTED_ROOTS = frozenset({"course", "autograder", "numpy", "builtins", "jax", "nbgrader", "sys"})
"""Packages whose *contents* (``course.checks.TOLERANCES["x"] = ...``) a student must not change either."""

DEFAULT_NAMES = {"np": "numpy", "numpy": "numpy", "course": "course", "autograder": "autograder",
                 "builtins": "builtins", "__builtins__": "builtins"}
"""What a name means when no cell binds it: IPython and the course's habits make these available."""

SHELL_MAGICS = frozenset({
    "!", "!!", "sx", "system", "sc", "bash", "sh", "script", "perl", "ruby", "python", "python2", "python3",
    "pypy", "pip", "conda", "mamba", "micromamba", "uv", "cd", "pushd", "popd", "dhist", "dirs", "bookmark",
    "env", "set_env", "rehashx", "alias", "killbgscripts", "cat", "cp", "ldir", "lf", "lk", "ll", "ls", "lx",
    "mkdir", "mv", "rm", "rmdir", "pwd", "man", "less", "more", "clear",
})
"""Magics that run a shell or change the process's environment (rule "process")."""

FILE_MAGICS = frozenset({"writefile", "file", "run", "load", "loadpy", "save", "pycat", "pfile", "logstart",
                         "logon", "edit", "ed", "store", "notebook", "macro"})
"""Magics that read or write files (rule "file-access"); every other magic has the rule "magic"."""

PYTHON_MAGICS = {"time": None, "timeit": "n:r:tcp:qo", "prun": "D:l:rs:T:q", "debug": None, "capture": None}
"""Magics whose argument (line magic) or body (cell magic) is Python run in the kernel, with their options
in IPython's ``parse_options`` notation: that Python is checked too."""

KERNEL_LINE_MAGICS = frozenset({"clear", "less", "more", "man", "connect_info", "qtconsole", "autosave", "edit",
                                "ed", "rep", "hist", "alias", "unalias"})
"""Line magics that ipykernel and IPython's aliases add to those of ``IPython.core.magics``."""


def magic_rule(name: str) -> str:
    """The rule of an IPython magic or shell command (``!``)."""
    return "process" if name in SHELL_MAGICS else "file-access" if name in FILE_MAGICS else "magic"


@functools.cache
def line_magics() -> frozenset[str]:
    """Every line magic a kernel knows by default: IPython's own, its shell aliases, ipykernel's."""
    from IPython.core import magics
    from IPython.core.alias import default_aliases
    names = set(KERNEL_LINE_MAGICS)
    for name in dir(magics):  # IPython 9 loads its magics classes on first access
        value = getattr(magics, name, None)
        table = getattr(value, "magics", None)
        if isinstance(value, type) and isinstance(table, dict) and "line" in table:
            names.update(table["line"])
    names.update(alias for alias, _ in default_aliases())
    return frozenset(names)
