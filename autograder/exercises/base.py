"""Hidden tests as data: cases drawn from a seed, a probe, and a judge.

A hidden test is split in three so that the grade never depends on code the
student can tamper with:

* ``cases(rng)`` draws inputs from a seeded generator.  The grader picks a
  fresh seed for every run, so knowing the test code does not reveal the
  inputs;
* ``probe(namespace, case)`` runs in the student's kernel: it calls the
  student's code on one case and returns plain data (arrays, numbers,
  strings) -- outputs, call counts, whether an input was modified;
* ``judge(case, observed)`` compares that data with the truth (JAX in
  float64, or the reference solution) and returns a :class:`Comparison`.

In a notebook (Colab, JupyterLab, plain ``nbgrader autograde``) all three
run in the kernel and a failure raises :class:`course.checks.CheckFailed`.
The grading pipeline runs only the probes inside the sandbox and judges the
recorded data in its own, trusted process.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from typing import Any

import numpy as np

from course.checks import Comparison

DEFAULT_SEED = 20261126
SEED_VARIABLE = "COURSE_GRADING_SEED"


class _Oracle:
    """``course.oracle``, imported when a judge first uses it.

    The exercise modules are imported in the student's sandbox too (the probes run there), where an
    assignment that forbids automatic differentiation has no JAX and no oracle: only the judges, which
    run in the trusted grader, ever touch it.
    """

    def __getattr__(self, name):
        from course import oracle as module
        return getattr(module, name)


oracle = _Oracle()


class Served:
    """A function the grader hands to the student's code, evaluated and counted by the grader.

    Under sandboxed grading the student's kernel receives a proxy
    (:class:`autograder.agent.Proxy`): each call travels to the trusted grader,
    which evaluates this object and counts the call, so neither the count nor
    the function's internals (a hidden problem's parameters, its exact gradient)
    are within the student's reach.  In a notebook (Colab, ``nbgrader
    validate``) it is simply called and counted here.  After a probe the number
    of calls is added to the observation as ``served_calls[name]``: judges read
    counts from there, never from the probe.
    """

    def __init__(self, fn, name: str, label: str | None = None):
        self.fn, self.name, self.label, self.calls = fn, name, label or name, 0

    def __call__(self, *args):
        from course.counting import ForbiddenDifferentiation, _is_jax_tracer
        if _is_jax_tracer(args):  # in a notebook, where JAX is at hand: say so plainly
            raise ForbiddenDifferentiation(
                f"{self.label} was called with a JAX tracer: this exercise asks you to compute the "
                "derivative yourself, without jax.grad / jax.jvp / jax.vjp or any AD library.")
        self.calls += 1
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<function {self.label}>"


def served_calls(case: dict) -> dict[str, int]:
    return {value.name: value.calls for value in case.values() if isinstance(value, Served)}


def seed_for(exercise: str, base: int | None = None) -> int:
    """The seed of one exercise's cases: the run's base seed mixed with the exercise's name."""
    if base is None:
        base = int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))
    return (base * 1_000_003 + zlib.crc32(exercise.encode())) % 2**63


class Exercise:
    """One graded exercise; subclasses define ``name``, ``cases``, ``probe`` and ``judge``."""

    name: str = ""
    description: str = ""

    def cases(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        raise NotImplementedError

    def probe(self, namespace: dict, case: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, case: dict[str, Any], observed: dict[str, Any]) -> Comparison:
        raise NotImplementedError

    def student(self, namespace: dict, name: str | None = None):
        """The student's object called ``name`` (default: the exercise's), with a clear error if missing."""
        name = name or self.name
        if name not in namespace:
            raise NameError(f"`{name}` is not defined: run the cell that defines it (and the cells above it)")
        return namespace[name]


def observe(exercise: Exercise, namespace: dict, case: dict) -> dict[str, Any]:
    """Run one probe; an exception in the student's code becomes data, not a crash."""
    try:
        observed = exercise.probe(namespace, case)
    except Exception as exc:  # the student's code may raise anything
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    return observed if isinstance(observed, dict) else {"error": "the probe returned no observation"}


def judge_all(exercise: Exercise, cases: list[dict], observations: list[dict]) -> Comparison:
    """Judge every case; the exercise passes only if every case passes."""
    for number, (case, observed) in enumerate(zip(cases, observations), start=1):
        if "error" in observed:
            verdict = Comparison(False, f"your code raised {observed['error']}")
        else:
            try:
                verdict = exercise.judge(case, observed)
            except Exception as exc:  # malformed observations: wrong type, wrong keys
                verdict = Comparison(False, f"your answer could not be checked ({type(exc).__name__}: {exc})")
        if not verdict.ok:
            where = describe(case)
            return Comparison(False, f"Hidden test {number} of {len(cases)} for `{exercise.name}` failed"
                              f"{' (' + where + ')' if where else ''}:\n{verdict.message}",
                              diagnosis=verdict.diagnosis)
    return Comparison(True, f"`{exercise.name}`: all {len(cases)} hidden tests passed.")


def describe(case: dict) -> str:
    """A short, student-readable description of a case's inputs."""
    parts = []
    for key, value in case.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key}: array of shape {value.shape}")
        elif callable(value) and hasattr(value, "__name__") and not hasattr(value, "d"):
            parts.append(f"{key}={value.__name__}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


_MISSING = object()


@contextlib.contextmanager
def swapped(namespace: dict, replacements: dict):
    """Put correct stand-ins into the student's namespace while a probe runs, then restore it.

    The student's functions look their globals up when called, so a later exercise's probe sees the
    stand-ins instead of the student's earlier answers: one mistake costs points only once.
    """
    saved = {name: namespace.get(name, _MISSING) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value
