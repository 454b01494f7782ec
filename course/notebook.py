"""What every notebook's first cell calls: the same environment on a laptop, on Colab and in the grader."""

from __future__ import annotations

import os
import sys

from course import contract


def setup(*, quiet: bool = False) -> None:
    """Prepare this kernel for the course.

    * JAX computes in float64 (the checks compare to 1e-6; float32 and the
      TF32 matrix products of GPUs are good to about 1e-3 only);
    * JAX stays on the CPU unless told otherwise, which also keeps it from
      printing a warning on stderr (nbgrader scores a cell that writes to
      stderr as 0).
    """
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # JAX reads this when it is imported; if it already is, switch it on directly.  Either way JAX
    # itself is only imported when a check or the student needs it (a second saved per graded run).
    os.environ["JAX_ENABLE_X64"] = "1"
    if "jax" in sys.modules:
        from course import oracle
        oracle.enable_float64()
    show_failed_checks_as_messages()
    if not quiet and not is_grading():
        print("course ready: JAX will compute in float64")


class LazyModule:
    """A module imported on first use: ``jnp = lazy_import("jax.numpy")`` costs nothing until ``jnp.sin``.

    The notebooks' checks compare with JAX, but a graded run of an assignment that forbids automatic
    differentiation has no JAX at all: a setup cell that imported it directly would fail there.
    """

    def __init__(self, name: str):
        self.__name = name

    def __getattr__(self, attribute):
        import importlib
        return getattr(importlib.import_module(self.__name), attribute)

    def __repr__(self) -> str:
        return f"<module {self.__name!r}, imported on first use>"


def lazy_import(name: str) -> LazyModule:
    return LazyModule(name)


def judged_outside() -> bool:
    """True in the sandboxed grader, where a trusted process judges the answers (see autograder.judge).

    The checks in the notebook then skip their own comparison with JAX: it would
    cost every student's run a JAX start-up and decide nothing.
    """
    return bool(os.environ.get(contract.JUDGED_OUTSIDE))


def is_grading() -> bool:
    """True while nbgrader autogrades or validates: illustrations may then do less work."""
    return os.environ.get(contract.NBGRADER_EXECUTION) == "autograde" or bool(os.environ.get(contract.NBGRADER_VALIDATING))


def autograding() -> bool:
    """True while nbgrader autogrades (and not while a student validates).

    Where an exercise builds on earlier ones (a reverse-mode engine), the visible checks run the
    student's whole stack, so one early mistake would fail every later check.  When graded, those
    checks step aside: the hidden tests judge each exercise with correct stand-ins for the others.
    """
    return os.environ.get(contract.NBGRADER_EXECUTION) == "autograde"


def show_failed_checks_as_messages() -> None:
    """In IPython, show a failed check as its message alone, without a traceback.

    A failed check is feedback, not a crash: the traceback would only point
    into the course package (and, under grading, at test code).  The cell
    still ends in an error, so nbgrader still scores it 0.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from course.checks import CheckFailed

    def show(shell, etype, value, tb, tb_offset=None):
        structured = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, structured)
        return structured

    shell.set_custom_exc((CheckFailed,), show)
