"""Compare a student's answer with the truth and say *what* is wrong.

Every assignment's checks go through :func:`compare`.  A bare ``assert
np.allclose(...)`` tells a student only that something is off; ``compare``
tells them which entry, by how much, and -- when the answer matches a
classic mistake (sign flipped, a factor of 2, a transpose, all zeros, a
constant factor such as a forgotten ``/ eps``) -- which mistake.

The oracle is always JAX in float64 (see :mod:`course.oracle`), so a check
never blames the student for the precision of the reference.

Tolerance policy (the numbers behind it are in the README):

* exact derivatives (AD, adjoint formulas) in float64 agree with JAX to
  about 1e-13, so ``EXACT_RTOL = 1e-6`` leaves a wide margin for round-off
  while every conceptual mistake (a missing term, a wrong factor) produces
  errors of order one;
* a student answer in float32 (JAX's default, and what a Colab GPU gives
  with TF32 matrix products) is off by up to 6e-4 even when correct, so
  float32 answers are compared with at least ``FLOAT32_RTOL = 2e-3`` (the
  tolerance JAX's own ``check_vjp`` uses for float32);
* approximations (finite differences) pass their own, looser ``rtol`` with
  the reason next to the call.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

EXACT_RTOL = 1e-6
FLOAT32_RTOL = 2e-3
ATOL_FLOOR = 1e-12  # below this, differences are round-off around an exact zero


class CheckFailed(AssertionError):
    """Raised by the ``check_*`` helpers; its message is meant for the student."""


@dataclass
class Comparison:
    """Outcome of comparing one answer (possibly a tuple/dict of arrays)."""

    ok: bool
    message: str
    diagnosis: str | None = None
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    details: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def raise_if_failed(self) -> "Comparison":
        if not self.ok:
            raise CheckFailed(self.message)
        return self

    def _repr_pretty_(self, printer, cycle) -> None:
        """How a notebook shows a check left as a cell's last line: its verdict in words, not the dataclass."""
        printer.text(("passed: " if self.ok else "FAILED: ") + self.message)


# A hint is a likely mistake: a short explanation and what the wrong answer
# would be, as a function of the right one (or a constant factor).
Hint = Callable[[np.ndarray], np.ndarray] | float


def _generic_hints(expected: np.ndarray) -> dict[str, Hint]:
    hints: dict[str, Hint] = {
        "your answer has the opposite sign (a sign slip?)": -1.0,
        "your answer is twice the right one (a factor of 2 counted twice?)": 2.0,
        "your answer is half the right one (a missing factor of 2?)": 0.5,
    }
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1]:
        hints["your answer is the transpose of the right one"] = lambda e: e.T
    return hints


def _as_array(value: Any, name: str) -> tuple[np.ndarray | None, str | None]:
    if value is None:
        return None, f"{name} is None: did the function forget to `return` its result?"
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. a JAX tracer escaping, a ragged list
        return None, f"{name} could not be turned into an array ({type(exc).__name__}: {exc})"
    if arr.dtype == object:
        return None, f"{name} is a {type(value).__name__}, not an array of numbers"
    return arr, None


def _index(flat_index: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    return " at index " + str(tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def _shape_text(shape: tuple[int, ...], meaning: str | None) -> str:
    return f"{shape}" + (f" ({meaning})" if meaning else "")


def _errors(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float):
    abs_err = np.abs(actual - expected)
    allowed = atol + rtol * np.abs(expected)
    return abs_err, allowed


def _close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    if actual.shape != expected.shape:
        return False
    abs_err, allowed = _errors(actual, expected, rtol, atol)
    return bool(np.all(abs_err <= allowed))


def _diagnose(actual: np.ndarray, expected: np.ndarray, rtol: float,
              hints: Mapping[str, Hint]) -> str | None:
    if not np.any(expected) or actual.shape != expected.shape:
        return None
    if not np.any(actual):
        return "your answer is all zeros (is the loop body or the update missing?)"
    for text, hint in {**hints, **_generic_hints(expected)}.items():
        wrong = expected * hint if isinstance(hint, (int, float)) else np.asarray(hint(expected))
        if wrong.shape == actual.shape and _close(actual, wrong, rtol, rtol * np.max(np.abs(wrong)) + ATOL_FLOOR):
            return text
    # Proportional to the right answer with some other factor: a forgotten
    # division by a step size, a wrong normalisation, ...
    # (Needs two nonzero entries: any wrong number is "proportional" to a single one.)
    e, a = expected.ravel(), actual.ravel()
    factor = float(np.dot(a, e) / np.dot(e, e))
    if (np.count_nonzero(e) >= 2 and factor != 0 and np.isfinite(factor)
            and not np.isclose(factor, 1.0, rtol=10 * rtol)):
        residual = np.max(np.abs(a - factor * e)) / max(np.max(np.abs(a)), 1e-300)
        if residual <= 10 * rtol:
            return (f"your answer is the right one multiplied by {factor:.3g} "
                    "(a constant factor is missing or extra)")
    return None


def _compare_leaf(actual: Any, expected: Any, name: str, rtol: float, atol: float | None,
                  meaning: str | None, hints: Mapping[str, Hint]) -> Comparison:
    expected = np.asarray(expected)
    arr, problem = _as_array(actual, name)
    if problem:
        return Comparison(False, problem)
    if np.iscomplexobj(arr) and not np.iscomplexobj(expected):
        if np.allclose(arr.imag, 0):
            arr = arr.real
        else:
            return Comparison(False, f"{name} is complex but should be real "
                              "(for the complex step, keep only the imaginary part: f(w + ih e).imag / h)")
    if arr.shape != expected.shape:
        msg = (f"{name} has shape {arr.shape}, expected {_shape_text(expected.shape, meaning)}.")
        if arr.shape == expected.shape[::-1] and arr.ndim == 2:
            msg += " It looks transposed."
        elif arr.size == expected.size:
            msg += " It has the right number of entries: reshape or ravel it."
        return Comparison(False, msg, diagnosis="wrong shape")
    if np.issubdtype(arr.dtype, np.floating) and np.finfo(arr.dtype).bits < 64:
        rtol = max(rtol, FLOAT32_RTOL)  # float32 answers: see the module docstring
    arr = arr.astype(np.float64) if arr.dtype != np.float64 else arr
    expected = expected.astype(np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    atol = rtol * scale + ATOL_FLOOR if atol is None else atol

    bad = ~np.isfinite(arr)
    if np.any(bad & np.isfinite(expected)):
        where = int(np.flatnonzero(bad & np.isfinite(expected))[0])
        kind = "NaN" if np.isnan(arr.ravel()[where]) else "inf"
        return Comparison(False, f"{name} contains {kind}{_index(where, arr.shape)} "
                          f"({int(bad.sum())} non-finite entr{'y' if bad.sum() == 1 else 'ies'} in all); "
                          f"expected {expected.ravel()[where]:.6g} there.", diagnosis="not finite")

    abs_err, allowed = _errors(arr, expected, rtol, atol)
    abs_err = np.where(np.isfinite(abs_err), abs_err, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(expected != 0, abs_err / np.abs(expected), 0.0)
    max_abs = float(abs_err.max()) if abs_err.size else 0.0
    max_rel = float(rel_err.max()) if rel_err.size else 0.0
    if np.all(abs_err <= allowed):
        return Comparison(True, f"{name}: OK (max abs error {max_abs:.2e}, max rel error {max_rel:.2e})",
                          max_abs_error=max_abs, max_rel_error=max_rel)

    worst = int(np.argmax(abs_err - allowed))
    worst_rel = int(np.argmax(rel_err))
    lines = [f"{name} is wrong: {int(np.sum(abs_err > allowed))} of {arr.size} entries are off.",
             f"  largest absolute error {max_abs:.3g}{_index(int(np.argmax(abs_err)), arr.shape)}",
             f"  largest relative error {max_rel:.3g}{_index(worst_rel, arr.shape)}",
             f"  e.g.{_index(worst, arr.shape) or ''}: yours {arr.ravel()[worst]:.10g}, "
             f"expected {expected.ravel()[worst]:.10g}",
             f"  (tolerance: |yours - expected| <= {atol:.1e} + {rtol:.1e} * |expected|)"]
    diagnosis = _diagnose(arr, expected, rtol, hints)
    if diagnosis:
        lines.insert(1, f"  Likely mistake: {diagnosis}.")
    return Comparison(False, "\n".join(lines), diagnosis=diagnosis,
                      max_abs_error=max_abs, max_rel_error=max_rel)


def compare(actual: Any, expected: Any, *, name: str = "your answer", rtol: float = EXACT_RTOL,
            atol: float | None = None, meaning: str | None = None,
            hints: Mapping[str, Hint] | None = None) -> Comparison:
    """Compare ``actual`` with ``expected`` (arrays, numbers, or tuples/lists/dicts of them).

    ``meaning`` explains the expected shape in words ("d,: one partial
    derivative per input") and is shown on a shape mismatch.  ``hints`` maps
    a description of a likely mistake to what that mistake would produce
    (a constant factor, or a function of the right answer); the first one
    that matches is reported as the likely mistake.
    """
    hints = hints or {}
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return Comparison(False, f"{name} should be a dict with keys {sorted(expected)}, "
                              f"got {type(actual).__name__}")
        missing = [k for k in expected if k not in actual]
        if missing:
            return Comparison(False, f"{name} is missing the key(s) {missing}")
        parts = [compare(actual[k], expected[k], name=f"{name}[{k!r}]", rtol=rtol, atol=atol,
                         meaning=meaning, hints=hints) for k in expected]
        return _combine(parts)
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            got = f"a {type(actual).__name__} of length {len(actual)}" if isinstance(actual, (tuple, list)) \
                else f"a {type(actual).__name__}"
            return Comparison(False, f"{name} should be a tuple of {len(expected)} items, got {got}")
        parts = [compare(a, e, name=f"{name}[{i}]", rtol=rtol, atol=atol, meaning=meaning, hints=hints)
                 for i, (a, e) in enumerate(zip(actual, expected))]
        return _combine(parts)
    return _compare_leaf(actual, expected, name, rtol, atol, meaning, hints)


def _combine(parts: list[Comparison]) -> Comparison:
    failed = [p for p in parts if not p.ok]
    return Comparison(
        ok=not failed,
        message="\n".join(p.message for p in (failed or parts)),
        diagnosis=next((p.diagnosis for p in failed if p.diagnosis), None),
        max_abs_error=max((p.max_abs_error for p in parts), default=0.0),
        max_rel_error=max((p.max_rel_error for p in parts), default=0.0),
    )


def assert_close(actual: Any, expected: Any, **kwargs) -> Comparison:
    """:func:`compare`, raising :class:`CheckFailed` with the explanation on failure."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    return compare(actual, expected, **kwargs).raise_if_failed()


# ---------------------------------------------------------------------------
# Checks against the JAX oracle.  In the sandboxed grader they step aside: a
# trusted process outside the student's kernel judges the answers instead.

SKIPPED = Comparison(True, "judged by the grader, outside this notebook")


def judged_outside() -> bool:
    from course.notebook import judged_outside as outside
    return outside()


# Each check takes the student's *result* (so the notebook shows plainly what
# was called) and the function it is about.

GRADIENT_SHAPE = "one partial derivative per input, the shape of w"


def check_gradient(estimate, f, w, *, rtol: float = EXACT_RTOL, name: str = "the gradient",
                   hints: Mapping[str, Hint] | None = None) -> Comparison:
    """Check a gradient of the scalar function ``f`` at ``w`` against ``jax.grad``."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    return assert_close(estimate, oracle.gradient(f, w), name=name, rtol=rtol,
                        meaning=GRADIENT_SHAPE, hints=hints)


def check_value(actual, f, *args, rtol: float = EXACT_RTOL, name: str = "the value") -> Comparison:
    """Check ``actual == f(*args)`` with ``f`` evaluated by JAX in float64."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    return assert_close(actual, oracle.value(f, *args), name=name, rtol=rtol)


def check_jvp(result, f, w, v, *, rtol: float = EXACT_RTOL, hints=None) -> Comparison:
    """Check ``result == (f(w), J_f(w) v)`` against ``jax.jvp``."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    value, tangent = oracle.jvp(f, (w,), (v,))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"a JVP should return the pair (f(w), J v), got {type(result).__name__}")
    assert_close(result[0], value, name="the value f(w)", rtol=rtol)
    return assert_close(result[1], tangent, name="the tangent J v", rtol=rtol,
                        meaning="one entry per output of f", hints=hints)


def check_jacobian(jac, f, w, *, rtol: float = EXACT_RTOL, hints=None) -> Comparison:
    """Check an m x n Jacobian of ``f`` at ``w`` (row i: gradient of output i)."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    expected = oracle.jacobian(f, w)
    return assert_close(jac, expected, name="the Jacobian", rtol=rtol, hints=hints,
                        meaning="(outputs, inputs): row i is the gradient of output i")


def random_like(rng: np.random.Generator, tree):
    """Random normal arrays shaped like ``tree`` (float64) -- cotangents and directions."""
    import jax
    return jax.tree_util.tree_map(lambda a: rng.standard_normal(np.shape(a)), tree)


def check_vjp(vjp_fn, f, *primals, seed: int = 0, rtol: float = EXACT_RTOL, hints=None) -> Comparison:
    """Check a pullback ``vjp_fn(u) -> (u^T J_1, u^T J_2, ...)`` of ``f`` at ``primals``.

    The cotangent ``u`` is random: with ``u`` all ones, a rule that sums
    where it should not (a wrong broadcast) or transposes a square Jacobian
    can still give the right answer.  Two tests are made: the cotangents are
    compared entry by entry with ``jax.vjp`` (to say *where* they are wrong),
    and the dot-product identity <u, J v> = <J^T u, v> is checked for a random
    direction ``v`` computed with ``jax.jvp`` (which does not depend on JAX's
    own VJP rules).
    """
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    rng = np.random.default_rng(seed)
    value, pullback = oracle.vjp(f, *primals)
    u = random_like(rng, value)
    got = vjp_fn(u)
    got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
    expected = pullback(u)
    comparison = assert_close(got, tuple(expected), name="the VJP u^T J", rtol=rtol, hints=hints,
                              meaning="one cotangent per input, each shaped like that input")
    v = random_like(rng, tuple(primals))
    _, jv = oracle.jvp(f, primals, v)
    lhs = _dot(u, jv)
    # Pair the answer's arrays with v's the way compare walked them (the primals may be
    # dicts or tuples), and allow the error that the entries' tolerance adds up to: a
    # float32 answer gets FLOAT32_RTOL here too, and cancellation in the sum is no fault.
    pairs = [(np.real(g), w) for g, w in zip(_leaves_like(got, expected), _leaves_like(v, expected))]
    if any(np.issubdtype(g.dtype, np.floating) and np.finfo(g.dtype).bits < 64 for g, _ in pairs):
        rtol = max(rtol, FLOAT32_RTOL)
    pairs = [(g.astype(np.float64), np.asarray(w, dtype=np.float64)) for g, w in pairs]
    rhs = float(sum(np.vdot(g, w) for g, w in pairs))
    bound = float(sum(np.vdot(np.abs(g) + np.max(np.abs(g), initial=0.0), np.abs(w)) for g, w in pairs))
    assert_close(rhs, lhs, name="<J^T u, v> (dot-product test against <u, J v>)", rtol=rtol,
                 atol=rtol * bound + ATOL_FLOOR)
    return comparison


def _leaves_like(tree, like) -> list[np.ndarray]:
    """The arrays of ``tree``, walked like :func:`compare` walks ``like`` (dict keys, then positions)."""
    if isinstance(like, Mapping):
        return [leaf for k in like for leaf in _leaves_like(tree[k], like[k])]
    if isinstance(like, (tuple, list)):
        return [leaf for t, e in zip(tree, like) for leaf in _leaves_like(t, e)]
    return [np.asarray(tree)]


def _dot(a, b) -> float:
    import jax
    return float(sum(np.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))))


def require(condition, message: str) -> None:
    """A visible check's plain condition: fails with ``message`` alone, shown without a traceback (unlike assert)."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if not condition:
        raise CheckFailed(message)


def check_calls(counted, expected: int, *, what: str, why: str = "") -> None:
    """Check how often a :class:`course.counting.Counted` function was called."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if counted.calls != expected:
        raise CheckFailed(f"{what} called f {counted.calls} times; it should call it exactly "
                          f"{expected} times" + (f" ({why})" if why else "") + ".")


def check_hvp(result, f, x, v, *, rtol: float = EXACT_RTOL, name: str = "the HVP H v", hints=None) -> Comparison:
    """Check a Hessian-vector product of the scalar ``f`` at ``x`` along ``v`` against JAX (jvp of grad)."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    return assert_close(result, oracle.hvp(f, x, v), name=name, rtol=rtol, hints=hints,
                        meaning="one entry per input, the shape of x")


def check_hessian(H, f, x, *, rtol: float = EXACT_RTOL, hints=None) -> Comparison:
    """Check a dense n x n Hessian of the scalar ``f`` at ``x`` against ``jax.hessian`` (small n only)."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return SKIPPED
    from course import oracle
    return assert_close(H, oracle.hessian(f, x), name="the Hessian", rtol=rtol, hints=hints,
                        meaning="(n, n): column k is H e_k")


class OutOfTime(BaseException):
    """Raised inside code that runs past a :func:`time_limit`.

    A ``BaseException``, like ``KeyboardInterrupt``, so that an ``except Exception`` in the code
    being timed cannot swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with :class:`OutOfTime` after ``seconds`` of this process's CPU time.

    A loop that never stops (a conjugate-gradient loop without a stopping rule) is then reported
    in words after a few seconds, instead of hanging the notebook.  CPU time, not wall time, so a
    busy machine changes no verdict (``ITIMER_PROF`` counts every thread of the process).  In a
    thread other than the main one, or on Windows, the block simply runs without a limit.  Code
    inside one long compiled computation is interrupted only when it returns to Python.
    """
    import signal
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise OutOfTime(f"did not finish within {seconds:g} s (of CPU time)")

    previous = signal.signal(signal.SIGPROF, interrupt)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def check_minimizer(minimize, f, x0, *, tol: float, within: float = 20.0, **options):
    """Run ``minimize(f, x0, tol=tol, **options) -> (x, grad_norms)`` for at most ``within`` seconds and check
    that the gradient of ``f`` at the returned ``x``, recomputed by JAX, has norm <= tol (times 1.1: the same
    sum done in another order may differ in its last digits).  Returns ``(x, grad_norms, seconds)``."""
    __tracebackhide__ = True  # IPython hides this frame: a failure points at the student's code
    if judged_outside():
        return None, [], 0.0
    import time

    from course import oracle
    start = time.perf_counter()
    try:
        with time_limit(within):
            x, grad_norms = minimize(f, np.array(x0, dtype=float), tol=tol, **options)
    except OutOfTime:
        raise CheckFailed(f"{getattr(minimize, '__name__', 'the minimizer')} did not finish within {within:g} s "
                          f"(n = {np.size(x0)}): does every loop have a stopping rule?") from None
    seconds = time.perf_counter() - start
    x = np.asarray(x, dtype=float)
    if x.shape != np.shape(x0):
        raise CheckFailed(f"the minimizer returned x of shape {x.shape}; expected {np.shape(x0)}, the shape of x0")
    norm = float(np.linalg.norm(oracle.gradient(f, x)))
    if not norm <= 1.1 * tol:
        raise CheckFailed(f"not converged: ||grad f(x)|| = {norm:.3g} at the returned x, but tol = {tol:g}")
    return x, [float(g) for g in grad_norms], seconds
