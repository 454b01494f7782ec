"""Count calls, so that tests can grade an algorithm's *cost* and not only its values.

A forward-difference gradient that calls ``f`` 2d times instead of d + 1 has
the right values and the wrong algorithm; only a count shows it.

``Counted(f)`` wraps a function and counts its calls.  It also refuses to be
differentiated by JAX: an exercise that asks for finite differences passes a
``Counted`` function, and a solution that calls ``jax.grad`` on it gets a
message that says so instead of a confusing tracer error.

``count_calls(module, "name")`` temporarily replaces ``module.name`` by a
counting wrapper, to count a primitive (say ``scipy.linalg.lu_factor``) used
*inside* a student's code.

``primitive_counts(f, *args)`` counts the JAX primitives that ``f`` traces
(``{"lu": 1, "triangular_solve": 4, ...}``): a factorization is seen however
it was asked for, so a test can require "one LU per forward and backward
pass" without knowing which function the student called.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Callable, Iterator


class ForbiddenDifferentiation(TypeError):
    """Raised when an exercise's function is handed to an AD system."""


def _is_jax_tracer(x) -> bool:
    if isinstance(x, (tuple, list)):  # f((a, b)) or f({"W": W}): look inside
        return any(_is_jax_tracer(item) for item in x)
    if isinstance(x, dict):
        return any(_is_jax_tracer(item) for item in x.values())
    return type(x).__module__.startswith("jax") and "Tracer" in type(x).__name__


class Counted:
    """A function wrapper that counts its calls (``.calls``)."""

    def __init__(self, f: Callable, *, forbid_ad: bool = True, name: str | None = None):
        self.f = f
        self.calls = 0
        self.forbid_ad = forbid_ad
        self.name = name or getattr(f, "__name__", "f")
        self.__doc__ = getattr(f, "__doc__", None)

    def __call__(self, *args, **kwargs):
        if self.forbid_ad and _is_jax_tracer((args, kwargs)):
            raise ForbiddenDifferentiation(
                f"{self.name} was called with a JAX tracer: this exercise asks you to compute the "
                "derivative yourself, without jax.grad / jax.jvp / jax.vjp or any AD library.")
        self.calls += 1
        return self.f(*args, **kwargs)

    def reset(self) -> None:
        self.calls = 0


@contextlib.contextmanager
def count_calls(owner, attribute: str) -> Iterator[Counted]:
    """Count calls of ``owner.attribute`` (a module function or a method) inside the block."""
    own = getattr(owner, "__dict__", {}).get(attribute, _MISSING)
    if isinstance(owner, type):  # a class: keep methods bound, static and class methods as they were
        raw = inspect.getattr_static(owner, attribute)
        if isinstance(raw, (staticmethod, classmethod)):
            counted = Counted(raw.__func__, forbid_ad=False, name=attribute)
            replacement = type(raw)(counted)
        elif inspect.isfunction(raw):
            counted = Counted(raw, forbid_ad=False, name=attribute)

            @functools.wraps(raw)
            def replacement(*args, **kwargs):  # a function, so that instance.attribute binds self
                return counted(*args, **kwargs)
        else:
            counted = replacement = Counted(getattr(owner, attribute), forbid_ad=False, name=attribute)
    else:
        counted = replacement = Counted(getattr(owner, attribute), forbid_ad=False, name=attribute)
    setattr(owner, attribute, replacement)
    try:
        yield counted
    finally:
        if own is _MISSING:  # it came from the class or a base class: uncover it again
            delattr(owner, attribute)
        else:
            setattr(owner, attribute, own)


_MISSING = object()


# ---------------------------------------------------------------------------------------------------------
# Counting what JAX does: the primitives of a traced function.

FACTORIZATIONS = ("lu", "qr", "geqrf", "geqp3", "householder_product", "cholesky", "svd", "eigh", "eig", "schur",
                  "hessenberg", "tridiagonal")
"""JAX primitives that factorize a matrix (each costs O(n^3) for an n x n matrix)."""


def _sub_jaxprs(value) -> Iterator:
    """The jaxprs nested in one equation parameter (a loop body, a branch, a custom rule's jaxpr, ...)."""
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _sub_jaxprs(item)
    elif hasattr(value, "jaxpr") and hasattr(value, "consts"):  # a ClosedJaxpr
        yield value.jaxpr
    elif hasattr(value, "eqns"):  # a Jaxpr
        yield value


def _walk(jaxpr) -> Iterator:
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for sub in _sub_jaxprs(param):
                yield from _walk(sub)


def primitive_counts(f: Callable, *args) -> dict[str, int]:
    """How many times each JAX primitive appears in ``f(*args)``, nested calls included.

    ``primitive_counts(lambda A, b, g: jax.vjp(solve, A, b)[1](g), A, b, g)["lu"]`` is the number of LU
    factorizations in a forward and a backward pass of ``solve``.  It counts what JAX *traces*, so it
    sees a factorization however it was asked for (``jnp.linalg.solve``, ``lu_factor``, ``inv``, ...).
    Code in plain NumPy cannot be traced: it raises JAX's TracerArrayConversionError.
    """
    import jax
    counts: dict[str, int] = {}
    for eqn in _walk(jax.make_jaxpr(f)(*args).jaxpr):
        counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
    return counts


# Primitives that run Python (or anything) outside the trace: what they compute, no count can see.
ESCAPES = ("pure_callback", "io_callback", "callback", "python_callback", "outside_call", "host_callback")


def factorizations(counts: dict[str, int]) -> dict[str, int]:
    """The matrix factorizations among :func:`primitive_counts`' counts (``{"lu": 1}``), and any escapes.

    A ``jax.pure_callback`` or ``io_callback`` hides work from the trace (a factorization done in
    NumPy inside one is invisible), so an escape is listed too, under its primitive's name: a cost
    that must be "one LU" is then not met.
    """
    return {name: counts[name] for name in FACTORIZATIONS + ESCAPES if counts.get(name)}


def triangular_solve_shapes(f: Callable, *args) -> list[tuple[int, ...]]:
    """The shapes of the right-hand sides of every triangular solve in ``f(*args)`` (each LU solve makes two)."""
    import jax
    return [tuple(eqn.invars[1].aval.shape) for eqn in _walk(jax.make_jaxpr(f)(*args).jaxpr)
            if eqn.primitive.name == "triangular_solve"]
