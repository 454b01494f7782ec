"""Hidden tests of assignment 04_adjoints: the adjoints of the linear solve and of the singular values.

Inputs are never degenerate: every ``A`` is random, non-symmetric and well
conditioned (condition number below ``MAX_CONDITION``), every ``W`` is
rectangular or square with well separated, nonzero singular values (relative
gap at least ``MIN_GAP``), so the derivatives exist and JAX's own ones are
accurate to round-off.  Cotangents are random normal, never all ones.

Besides values, the probes look at *how* the answer was computed:

* the formula exercises (``solve_vjp``, ``svdvals_vjp``) and the custom VJPs
  (``solve``, ``nuclear_norm``) run with ``jax.grad``, ``jax.vjp`` & co.
  replaced by functions that raise (under every name the notebook bound them
  to): computing the adjoint with JAX's AD instead of the formula fails with a
  message that says so (the static integrity check flags it too, see
  ``FORBIDDEN_CALLS``);
* explicit inverses (``inv``, ``pinv`` from NumPy, SciPy, JAX) are recorded
  while those probes run, and fail the exercise;
* ``solve``: the forward and backward passes are traced with
  ``jax.make_jaxpr`` and their matrix factorizations counted
  (:func:`course.counting.primitive_counts`): counting what JAX traces sees a
  factorization however it was requested, which wrapping a few functions would
  not.  Exactly one is allowed, and no triangular solve against an n x n
  right-hand side (that is an inverse, or n solves where one is enough).

One mistake costs points once: while ``solve`` is probed, the student's
``solve_vjp`` is replaced by a correct stand-in (with the same signature), and
so on down the notebook (``svdvals_vjp`` for ``nuclear_norm``; ``solve`` for
``ridge_validation_loss``; both of those for ``tune_log_lam``).
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from autograder.exercises.base import Exercise, swapped
from autograder.exercises.base import oracle
from course.checks import Comparison, compare
from course.counting import factorizations, primitive_counts, triangular_solve_shapes

MAX_CONDITION = 50.0  # A: errors of the adjoint grow with cond(A); 50 keeps them ~1e-14, far below EXACT_RTOL
MIN_GAP = 0.15  # W: singular values apart by at least 15% of the largest; the SVD's derivative needs distinct ones


def _jax():
    return oracle._jax()


# ---------------------------------------------------------------------------------------------------------
# Inputs


def well_conditioned(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random non-symmetric n x n matrix with condition number below MAX_CONDITION."""
    while True:
        A = rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
        if np.linalg.cond(A) < MAX_CONDITION and np.linalg.norm(A - A.T) > 0.5 * np.sqrt(n):
            return A


def distinct_singular_values(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """A random m x n matrix whose singular values are nonzero and well separated (never degenerate)."""
    k = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = np.linspace(3.0, 0.6, k) + rng.uniform(-0.05, 0.05, k)  # gaps about 2.4 / (k - 1), never below MIN_GAP
    assert k == 1 or np.min(-np.diff(s)) >= MIN_GAP * s[0], "test matrices need well separated singular values"
    return U @ np.diag(s) @ V.T


def ridge_data(rng: np.random.Generator, n_train: int, n_val: int, d: int) -> dict:
    w = rng.standard_normal(d)
    X_train, X_val = rng.standard_normal((n_train, d)), rng.standard_normal((n_val, d))
    noise = 1.5  # noisy enough that the best lambda is well inside (0, inf)
    return {"X_train": X_train, "y_train": X_train @ w + noise * rng.standard_normal(n_train),
            "X_val": X_val, "y_val": X_val @ w + noise * rng.standard_normal(n_val)}


# ---------------------------------------------------------------------------------------------------------
# Correct stand-ins (they run in the student's kernel, with the student's signatures)


def _solve_vjp(A, b, x, g, lu=None):
    jnp, jsl = _jax().numpy, _jax().scipy.linalg
    if lu is None:
        lu = jsl.lu_factor(A)
    grad_b = jsl.lu_solve(lu, g, trans=1)
    grad_A = -jnp.outer(grad_b, x) if jnp.ndim(x) == 1 else -grad_b @ x.T
    return grad_A, grad_b


def _make_solve():
    jax = _jax()
    jsl = jax.scipy.linalg

    @jax.custom_vjp
    def solve(A, b):
        return jsl.lu_solve(jsl.lu_factor(A), b)

    def fwd(A, b):
        lu = jsl.lu_factor(A)
        x = jsl.lu_solve(lu, b)
        return x, (A, b, x, lu)

    def bwd(residuals, g):
        A, b, x, lu = residuals
        return _solve_vjp(A, b, x, g, lu=lu)

    solve.defvjp(fwd, bwd)
    return solve


def _svdvals_vjp(W, g, usv=None):
    U, s, Vt = _jax().numpy.linalg.svd(W, full_matrices=False) if usv is None else usv
    return (U * g) @ Vt


def _ridge_loss(solve, penalty=None):
    """The validation loss with ``solve``; ``penalty(log_lam)`` is lambda (exp, unless a mistake is imitated)."""
    jnp = _jax().numpy
    penalty = penalty or jnp.exp

    def ridge_validation_loss(log_lam, X_train, y_train, X_val, y_val):
        d = X_train.shape[1]
        w = solve(X_train.T @ X_train + penalty(log_lam) * jnp.eye(d), X_train.T @ y_train)
        return jnp.mean((X_val @ w - y_val) ** 2)
    return ridge_validation_loss


class _CountedSolve:
    """A correct ``solve`` that counts its calls (to see that the student's loss goes through it)."""

    def __init__(self):
        self.solve, self.calls = _make_solve(), 0

    def __call__(self, A, b):
        self.calls += 1
        return self.solve(A, b)


# ---------------------------------------------------------------------------------------------------------
# Watching how the answer is computed


AD_TRANSFORMS = ("grad", "value_and_grad", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "jacobian", "hessian")


class UsedAutomaticDifferentiation(RuntimeError):
    """Raised when an exercise that asks for the adjoint formula calls JAX's AD instead."""


@contextlib.contextmanager
def _patched(namespace: dict, targets: list[tuple[object, str]], make):
    """Replace ``owner.attribute`` for every target, and every namespace name bound to the same object.

    ``make(original, label)`` builds the replacement.  Everything is restored afterwards.
    """
    saved_attributes, saved_names = [], {}
    try:
        for owner, attribute in targets:
            original = getattr(owner, attribute, None)
            if original is None:
                continue
            label = f"{getattr(owner, '__name__', owner)}.{attribute}"
            replacement = make(original, label)
            for name, value in list(namespace.items()):
                if value is original and name not in saved_names:
                    saved_names[name] = value
                    namespace[name] = replacement
            saved_attributes.append((owner, attribute, original))
            setattr(owner, attribute, replacement)
        yield
    finally:
        for owner, attribute, original in reversed(saved_attributes):
            setattr(owner, attribute, original)
        namespace.update(saved_names)


def _no_ad(namespace: dict, exercise: str):
    """``jax.grad``, ``jax.vjp``, ... raise while the student's code runs (the probe keeps the originals)."""
    jax = _jax()

    def make(original, label):
        def forbidden(*args, **kwargs):
            raise UsedAutomaticDifferentiation(
                f"`{exercise}` called {label}: this exercise asks for the adjoint formula itself, "
                "written with solves and matrix products, not JAX's automatic differentiation")
        return forbidden
    return _patched(namespace, [(jax, name) for name in AD_TRANSFORMS], make)


def _inverse_targets() -> list[tuple[object, str]]:
    jax = _jax()
    targets = [(jax.numpy.linalg, "inv"), (jax.numpy.linalg, "pinv"), (jax.scipy.linalg, "inv"),
               (np.linalg, "inv"), (np.linalg, "pinv")]
    if "scipy.linalg" in sys.modules:  # only if the student imported it: never import SciPy for them
        targets += [(sys.modules["scipy.linalg"], "inv"), (sys.modules["scipy.linalg"], "pinv")]
    return targets


@contextlib.contextmanager
def _recording_inverses(namespace: dict):
    """Record every call of an explicit inverse (``inv``, ``pinv``) while the student's code runs."""
    used: list[str] = []

    def make(original, label):
        def recorded(*args, **kwargs):
            if label not in used:
                used.append(label)
            return original(*args, **kwargs)
        return recorded
    with _patched(namespace, _inverse_targets(), make):
        yield used


@contextlib.contextmanager
def _watched(namespace: dict, exercise: str):
    jax = _jax()
    originals = {name: getattr(jax, name) for name in AD_TRANSFORMS}
    with _no_ad(namespace, exercise), _recording_inverses(namespace) as inverses:
        yield originals, inverses


def _short(exc: BaseException, limit: int = 400) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + " ..."


def _inverse_verdict(name: str, used) -> Comparison | None:
    if used:
        return Comparison(False, f"`{name}` formed an explicit inverse ({', '.join(used)}). The adjoint needs "
                          "lambda = A^{-T} g, which is one solve with A^T -- no inverse: forming A^{-1} costs "
                          "about three times an LU factorization and is less accurate. Use "
                          "lu_solve(lu, g, trans=1) (or jnp.linalg.solve(A.T, g)).",
                          diagnosis="explicit inverse")
    return None


# ---------------------------------------------------------------------------------------------------------
# The linear solve


INVERSE_NOT_TRANSPOSE = ("this looks like A^{-1} g: the adjoint needs A^{-T} g (solve with A^T, i.e. "
                         "lu_solve(lu, g, trans=1)), because <g, A^{-1} db> = <A^{-T} g, db>")
SIGN = "the sign of grad_A is dropped: dx = A^{-1}(db - dA x), so grad_A = -lambda x^T, with a minus sign"
OUTER_TRANSPOSED = ("the outer product is the wrong way round: grad_A = -lambda x^T (an n x n matrix whose (i, j) "
                    "entry is -lambda_i x_j), not -x lambda^T")
OUTER_WITH_G = "grad_A uses g where it needs lambda = A^{-T} g: grad_A = -lambda x^T"


def _solve_truth(case):
    """x, grad_A, grad_b by jax.vjp through jnp.linalg.solve (the oracle), and the mistakes' answers."""
    jnp = _jax().numpy
    A, b, g = case["A"], case["b"], case["g"]
    x, pullback = oracle.vjp(jnp.linalg.solve, A, b)
    grad_A, grad_b = pullback(g)
    outer = (lambda u, v: np.outer(u, v)) if b.ndim == 1 else (lambda U, V: U @ V.T)
    lam_wrong = np.linalg.solve(A, g)  # A^{-1} g
    hints_b = {INVERSE_NOT_TRANSPOSE: lambda e: lam_wrong}
    hints_A = {INVERSE_NOT_TRANSPOSE: lambda e: -outer(lam_wrong, x),
               SIGN: lambda e: outer(grad_b, x),
               OUTER_TRANSPOSED: lambda e: -outer(x, grad_b),
               OUTER_TRANSPOSED + " (and the sign is dropped too)": lambda e: outer(x, grad_b),
               OUTER_WITH_G: lambda e: -outer(g, x),
               OUTER_TRANSPOSED + "; and it uses g where it needs lambda = A^{-T} g": lambda e: -outer(x, g)}
    return x, grad_A, grad_b, hints_A, hints_b


def _solve_cases(rng):
    cases = []
    for n, k in [(6, None), (5, 3), (7, None), (4, 2)]:
        A = well_conditioned(rng, n)
        shape = (n,) if k is None else (n, k)
        b = rng.standard_normal(shape)
        cases.append({"A": A, "b": b, "x": np.linalg.solve(A, b), "g": rng.standard_normal(shape)})
    return cases


class SolveVjp(Exercise):
    """(grad_A, grad_b) = (-A^{-T} g x^T, A^{-T} g) for vector and matrix right-hand sides; no AD, no inverse."""

    name = "solve_vjp"

    def cases(self, rng):
        return _solve_cases(rng)

    def probe(self, namespace, case):
        f = self.student(namespace)
        A, b, x, g = case["A"].copy(), case["b"].copy(), case["x"].copy(), case["g"].copy()
        with _watched(namespace, self.name) as (_, inverses):
            grad_A, grad_b = f(A, b, x, g)
            lu = _jax().scipy.linalg.lu_factor(A)
            try:  # given the forward pass's LU, solve_vjp must not factorize again
                with_lu = factorizations(primitive_counts(lambda g: f(A, b, x, g, lu=lu), g))
            except Exception:  # NumPy code cannot be traced: the custom VJP of Exercise 2 will say so
                with_lu = {}
        return {"grad_A": np.asarray(grad_A, dtype=float), "grad_b": np.asarray(grad_b, dtype=float),
                "inverses": list(inverses), "factorizations_with_lu": with_lu}

    def judge(self, case, observed):
        _, grad_A, grad_b, hints_A, hints_b = _solve_truth(case)
        shape = "shaped like b: " + ("(n,)" if case["b"].ndim == 1 else "(n, k), one column per right-hand side")
        comparison = compare(observed["grad_b"], grad_b, name="grad_b", meaning=shape, hints=hints_b)
        if comparison.ok:
            comparison = compare(observed["grad_A"], grad_A, name="grad_A", meaning="shaped like A: (n, n)",
                                 hints=hints_A)
        if not comparison.ok:
            return comparison
        inverse = _inverse_verdict(self.name, observed["inverses"])
        if inverse is not None:
            return inverse
        counts = {str(k): int(v) for k, v in observed["factorizations_with_lu"].items()}
        escape = _escape_verdict(self.name, counts)
        if escape is not None:
            return escape
        if counts:
            return Comparison(False, f"`solve_vjp` was given the factorization (lu=lu_factor(A)) and still "
                              f"factorized a matrix ({', '.join(f'{v} x {k}' for k, v in counts.items())}): with "
                              "`lu` given, use it (lu_solve(lu, g, trans=1)); factorize A only when lu is None.",
                              diagnosis="wrong number of factorizations")
        return comparison


def _escape_verdict(name: str, counts: dict[str, int]) -> Comparison | None:
    """A computation hidden from JAX's trace (a callback into Python) cannot be costed: no credit."""
    from course.counting import ESCAPES
    hidden = sorted(k for k in counts if k in ESCAPES)
    if hidden:
        return Comparison(False, f"`{name}` runs part of its work outside JAX's trace ({', '.join(hidden)}), "
                          "where its factorizations cannot be counted: write it with jax.numpy and "
                          "jax.scipy operations.", diagnosis="work hidden from the trace")
    return None


class Solve(Exercise):
    """``solve`` is a jax.custom_vjp; its values and VJP match JAX; forward + backward factorize A once."""

    name = "solve"

    def cases(self, rng):
        return _solve_cases(rng)

    def probe(self, namespace, case):
        jax = _jax()
        solve = self.student(namespace)
        if not isinstance(solve, jax.custom_vjp):
            return {"custom_vjp": False, "type": type(solve).__name__}
        A, b, g = case["A"].copy(), case["b"].copy(), case["g"].copy()
        with swapped(namespace, {"solve_vjp": _solve_vjp}), _watched(namespace, self.name) as (ad, inverses):
            plain = solve(A, b)  # the plain call runs the primal function, not solve_fwd: both must be right
            x, pullback = ad["vjp"](solve, A, b)
            grad_A, grad_b = pullback(g)
            try:
                forward_backward = lambda A, b, g: ad["vjp"](solve, A, b)[1](g)  # noqa: E731
                counts = factorizations(primitive_counts(forward_backward, A, b, g))
                shapes = [list(s) for s in triangular_solve_shapes(forward_backward, A, b, g)]
                traced = ""
            except Exception as exc:  # plain NumPy on JAX's tracers, typically
                counts, shapes, traced = {}, [], _short(exc)
        return {"custom_vjp": True, "x": np.asarray(x, dtype=float), "grad_A": np.asarray(grad_A, dtype=float),
                "plain": np.asarray(plain, dtype=float), "grad_b": np.asarray(grad_b, dtype=float),
                "factorizations": counts,
                "rhs_shapes": shapes, "not_traceable": traced, "inverses": list(inverses)}

    def judge(self, case, observed):
        if not observed["custom_vjp"]:
            return Comparison(False, f"`solve` is a {observed['type']}, not a jax.custom_vjp function: decorate it "
                              "with @jax.custom_vjp and register its passes with solve.defvjp(solve_fwd, solve_bwd).")
        x, grad_A, grad_b, hints_A, hints_b = _solve_truth(case)
        n = case["A"].shape[0]
        for actual, expected, label, hints in [(observed["plain"], x, "x = solve(A, b), called plainly", {}),
                                               (observed["x"], x, "x = solve(A, b) under jax.vjp (solve_fwd)", {}),
                                               (observed["grad_b"], grad_b, "the cotangent of b", hints_b),
                                               (observed["grad_A"], grad_A, "the cotangent of A", hints_A)]:
            comparison = compare(actual, expected, name=label, hints=hints)
            if not comparison.ok:
                return comparison
        verdict = _inverse_verdict(self.name, observed["inverses"])
        if verdict is not None:  # (a failed Comparison is falsy: test for None)
            return verdict
        if observed["not_traceable"]:
            return Comparison(False, "the forward and backward passes of `solve` could not be traced by JAX to "
                              f"count their factorizations ({observed['not_traceable']}). Write them with "
                              "jax.numpy and jax.scipy.linalg (lu_factor, lu_solve), not NumPy or SciPy.")
        counts = {str(k): int(v) for k, v in observed["factorizations"].items()}
        escape = _escape_verdict(self.name, counts)
        if escape is not None:
            return escape
        total = sum(counts.values())
        if total != 1:
            listed = ", ".join(f"{v} x {k}" for k, v in counts.items()) or "none"
            why = (" -- the backward pass factorized A again (jnp.linalg.solve(A.T, g), or solve_vjp without "
                   "the forward's `lu`): store lu_factor(A) among the residuals and pass it on"
                   if total > 1 else "")
            return Comparison(False, f"a forward and backward pass of `solve` factorized a matrix {total} times "
                              f"({listed}); it should be exactly once: the backward pass reuses the forward "
                              f"pass's LU factorization{why}.", diagnosis="wrong number of factorizations")
        # (shapes come back from the sandbox as lists or, when they all have one length, as an array's rows)
        shapes = [tuple(int(size) for size in np.ravel(shape)) for shape in observed["rhs_shapes"]]
        square = [s for s in shapes if len(s) >= 2 and s[-2:] == (n, n)]
        if square:
            return Comparison(False, f"`solve` solves against an n x n right-hand side ({n} x {n}): that is an "
                              "explicit inverse (A^{-1} = solve(A, I)) or n solves where one is enough. The "
                              "forward pass needs one solve with b and the backward pass one with g.",
                              diagnosis="explicit inverse")
        return Comparison(True, "solve OK")


# ---------------------------------------------------------------------------------------------------------
# The singular values


TRANSPOSES = ("this looks like U^T diag(g) V: the transposes are on the wrong factors; the gradient is "
              "U diag(g) V^T (and jnp.linalg.svd returns V^T, not V)")
VT_AS_V = "jnp.linalg.svd returns V^T (called Vt), not V: U diag(g) V^T is U @ diag(g) @ Vt, not U @ diag(g) @ Vt.T"
FULL_SVD = ("For a non-square W, the full SVD (jnp.linalg.svd's default, full_matrices=True) gives U of shape "
            "(m, m) and V^T of shape (n, n), and U diag(g) V^T does not fit together: use the thin SVD, "
            "jnp.linalg.svd(W, full_matrices=False): U (m, k), s (k,), V^T (k, n) with k = min(m, n).")


def _svd_cases(rng):
    return [{"W": distinct_singular_values(rng, m, n), "g": rng.standard_normal(min(m, n))}
            for m, n in [(4, 4), (6, 3), (3, 5), (5, 5), (7, 4)]]  # square first: their failures name the mistake


class SvdvalsVjp(Exercise):
    """U diag(g) V^T with the thin SVD, square and rectangular W; no AD."""

    name = "svdvals_vjp"

    def cases(self, rng):
        return _svd_cases(rng)

    def probe(self, namespace, case):
        f = self.student(namespace)
        try:
            with _watched(namespace, self.name):
                out = f(case["W"].copy(), case["g"].copy())
                W, g = case["W"].copy(), case["g"].copy()
                usv = _jax().numpy.linalg.svd(W, full_matrices=False)
                try:  # given the forward pass's SVD, svdvals_vjp must not compute it again
                    with_usv = factorizations(primitive_counts(lambda g: f(W, g, usv=usv), g))
                except Exception:  # NumPy code cannot be traced: nuclear_norm's custom VJP will say so
                    with_usv = {}
        except UsedAutomaticDifferentiation as exc:
            return {"error": _short(exc)}
        except Exception as exc:
            return {"raised": _short(exc)}
        return {"grad_W": np.asarray(out, dtype=float), "factorizations_with_usv": with_usv}

    def judge(self, case, observed):
        W, g = case["W"], case["g"]
        m, n = W.shape
        if "raised" in observed:
            hint = ("\n" + FULL_SVD) if m != n else ""
            return Comparison(False, f"your code raised {observed['raised']} for W of shape ({m}, {n}).{hint}",
                              diagnosis="full SVD" if m != n else None)
        jnp = _jax().numpy
        _, pullback = oracle.vjp(lambda W: jnp.linalg.svd(W, compute_uv=False), W)
        (expected,) = pullback(g)
        U, s, Vt = (np.asarray(a) for a in jnp.linalg.svd(jnp.asarray(W), full_matrices=False))
        hints = {}
        if m == n:
            hints = {TRANSPOSES: lambda e: U.T @ np.diag(g) @ Vt.T, VT_AS_V: lambda e: U @ np.diag(g) @ Vt.T}
        comparison = compare(observed["grad_W"], expected, name="dL/dW", meaning="shaped like W: (m, n)",
                             hints=hints)
        if not comparison.ok:
            return comparison
        counts = {str(k): int(v) for k, v in observed.get("factorizations_with_usv", {}).items()}
        escape = _escape_verdict(self.name, counts)
        if escape is not None:
            return escape
        if counts:
            return Comparison(False, f"`svdvals_vjp` was given the SVD (usv=(U, s, Vt)) and still factorized W "
                              f"({', '.join(f'{v} x {k}' for k, v in counts.items())}): with `usv` given, use it; "
                              "compute the SVD only when usv is None.", diagnosis="wrong number of factorizations")
        return comparison


class NuclearNorm(Exercise):
    """``nuclear_norm`` is a jax.custom_vjp; value and VJP (random cotangent) match JAX's."""

    name = "nuclear_norm"

    def cases(self, rng):
        return [{"W": distinct_singular_values(rng, m, n), "u": float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))}
                for m, n in [(5, 3), (3, 6), (4, 4)]]

    def probe(self, namespace, case):
        jax = _jax()
        norm = self.student(namespace)
        if not isinstance(norm, jax.custom_vjp):
            return {"custom_vjp": False, "type": type(norm).__name__}
        with swapped(namespace, {"svdvals_vjp": _svdvals_vjp}), _watched(namespace, self.name) as (ad, inverses):
            plain = norm(case["W"].copy())  # the primal function, which jax.vjp never runs
            value, pullback = ad["vjp"](norm, case["W"].copy())
            (grad_W,) = pullback(jax.numpy.asarray(case["u"]))
            try:  # SVDs are counted as solve's LUs are: what JAX traces in a forward and a backward pass
                forward_backward = lambda W, u: ad["vjp"](norm, W)[1](u)  # noqa: E731
                counts = factorizations(primitive_counts(forward_backward, case["W"].copy(),
                                                         jax.numpy.asarray(case["u"])))
                traced = ""
            except Exception as exc:  # plain NumPy on JAX's tracers, typically
                counts, traced = {}, _short(exc)
        return {"custom_vjp": True, "value": np.asarray(value, dtype=float), "grad_W": np.asarray(grad_W, dtype=float),
                "plain": np.asarray(plain, dtype=float), "factorizations": counts, "not_traceable": traced}

    def judge(self, case, observed):
        if not observed["custom_vjp"]:
            return Comparison(False, f"`nuclear_norm` is a {observed['type']}, not a jax.custom_vjp function: "
                              "decorate it with @jax.custom_vjp and register its passes with defvjp.")
        jnp = _jax().numpy
        value, pullback = oracle.vjp(lambda W: jnp.sum(jnp.linalg.svd(W, compute_uv=False)), case["W"])
        for actual, label in [(observed["plain"], "nuclear_norm(W), called plainly"),
                              (observed["value"], "nuclear_norm(W) under jax.vjp (the forward pass)")]:
            comparison = compare(actual, value, name=label)
            if not comparison.ok:
                return comparison
        (expected,) = pullback(case["u"])
        hints = {f"the backward pass ignores its cotangent (here {case['u']:.3g}): it must return g U V^T, "
                 "not U V^T": lambda e: e / case["u"]}
        comparison = compare(observed["grad_W"], expected,
                             name=f"the VJP of nuclear_norm with cotangent {case['u']:.3g}", meaning="shaped like W",
                             hints=hints)
        if not comparison.ok:
            return comparison
        if observed.get("not_traceable"):
            return Comparison(False, "the forward and backward passes of `nuclear_norm` could not be traced by JAX "
                              f"to count their SVDs ({observed['not_traceable']}). Write them with jax.numpy.")
        counts = {str(k): int(v) for k, v in observed.get("factorizations", {}).items()}
        escape = _escape_verdict(self.name, counts)
        if escape is not None:
            return escape
        total = sum(counts.values())
        if total != 1:
            listed = ", ".join(f"{v} x {k}" for k, v in counts.items()) or "none"
            return Comparison(False, f"a forward and backward pass of `nuclear_norm` computed {total} matrix "
                              f"factorizations ({listed}); it should be exactly one SVD: the forward pass keeps "
                              "U, s, V^T among the residuals and the backward pass reuses them "
                              "(svdvals_vjp(W, g, usv=(U, s, Vt))).", diagnosis="wrong number of factorizations")
        return comparison


# ---------------------------------------------------------------------------------------------------------
# Ridge regression's penalty, tuned by its hypergradient


def _ridge_truth(case, log_lam):
    jnp = _jax().numpy
    loss = _ridge_loss(jnp.linalg.solve)
    args = (case["X_train"], case["y_train"], case["X_val"], case["y_val"])
    return oracle.value(loss, log_lam, *args), oracle.gradient(loss, log_lam, *args)


class RidgeValidationLoss(Exercise):
    """The validation MSE of ridge regression with lambda = exp(log_lam), through `solve`, and its hypergradient."""

    name = "ridge_validation_loss"

    def cases(self, rng):
        # log_lam > 0 first: a failure there can be told apart from "log_lam used as lambda" (a positive penalty)
        return [{**ridge_data(rng, n_train, n_val, d), "log_lam": float(rng.uniform(*interval))}
                for (n_train, n_val, d), interval in [((20, 15, 8), (0.3, 2.5)), ((12, 10, 10), (-2.0, -0.3)),
                                                      ((20, 15, 8), (0.3, 3.0))]]  # (few shapes: fewer compilations)

    def probe(self, namespace, case):
        jax = _jax()
        counted = _CountedSolve()
        args = (case["X_train"].copy(), case["y_train"].copy(), case["X_val"].copy(), case["y_val"].copy())
        with swapped(namespace, {"solve": counted}):
            loss = self.student(namespace)
            value = loss(case["log_lam"], *args)
            slope = jax.grad(loss)(case["log_lam"], *args)
        return {"value": np.asarray(value, dtype=float), "hypergradient": np.asarray(slope, dtype=float),
                "solve_calls": counted.calls}

    def judge(self, case, observed):
        value, slope = _ridge_truth(case, case["log_lam"])
        jnp = _jax().numpy
        args = (case["log_lam"], case["X_train"], case["y_train"], case["X_val"], case["y_val"])
        no_exp = _ridge_loss(jnp.linalg.solve, penalty=lambda t: t)  # hints are only evaluated on a failure
        hints = {"log_lam was used as lambda itself: the penalty is lambda = exp(log_lam)":
                 lambda e: oracle.value(no_exp, *args),
                 "the loss should be the mean of the squared errors on the validation set, not their sum":
                 lambda e: e * len(case["y_val"])}
        comparison = compare(observed["value"], value, name="the validation loss", hints=hints)
        if not comparison.ok:
            return comparison
        if observed["solve_calls"] == 0:
            return Comparison(False, "`ridge_validation_loss` did not call `solve`: fit the ridge weights with "
                              "your own solve(X^T X + lambda I, X^T y), so that the hypergradient flows through "
                              "its custom VJP.", diagnosis="solve not used")
        return compare(observed["hypergradient"], slope, name="the hypergradient dL/dlog_lam")


class TuneLogLam(Exercise):
    """Gradient descent on log(lambda): the steps + 1 iterates, judged against the same steps taken by JAX."""

    name = "tune_log_lam"

    def cases(self, rng):
        return [{**ridge_data(rng, n_train, n_val, d), "log_lam0": float(rng.uniform(-1.0, 2.0)),
                 "learning_rate": float(rng.uniform(0.5, 1.5)), "steps": steps}
                for (n_train, n_val, d), steps in [((20, 15, 8), 6), ((12, 10, 10), 4)]]

    def probe(self, namespace, case):
        counted = _CountedSolve()
        args = (case["X_train"].copy(), case["y_train"].copy(), case["X_val"].copy(), case["y_val"].copy())
        with swapped(namespace, {"solve": counted, "ridge_validation_loss": _ridge_loss(counted)}):
            path = self.student(namespace)(case["log_lam0"], case["learning_rate"], case["steps"], *args)
        return {"path": np.asarray(path, dtype=float)}

    def judge(self, case, observed):
        def walk(direction):
            path = [case["log_lam0"]]
            for _ in range(case["steps"]):
                path.append(path[-1] + direction * case["learning_rate"] * float(_ridge_truth(case, path[-1])[1]))
            return np.array(path)
        meaning = f"steps + 1 = {case['steps'] + 1} values of log(lambda), starting with log_lam0"
        return compare(observed["path"], walk(-1), name="the gradient-descent path", meaning=meaning,
                       hints={"the path climbs: gradient *descent* subtracts learning_rate * gradient":
                              lambda e: walk(+1)})


# ---------------------------------------------------------------------------------------------------------
# Integrity rules

# JAX is the point of this assignment (custom VJPs), so no solution cell bans AD libraries as a whole...
AD_FORBIDDEN: set[str] = set()

_AD_REASON = ("this exercise asks for the adjoint formula itself; JAX's automatic differentiation "
              "would compute it for you")
_INVERSE_REASON = "the adjoint needs one solve with A^T (lu_solve(lu, g, trans=1)), never an explicit inverse"
_NO_AD = {f"jax.{name}": _AD_REASON for name in AD_TRANSFORMS} | {"course.oracle": _AD_REASON}
_NO_INVERSE = {name: _INVERSE_REASON for name in ("jax.numpy.linalg.inv", "jax.numpy.linalg.pinv",
                                                   "jax.scipy.linalg.inv", "numpy.linalg.inv", "numpy.linalg.pinv",
                                                   "scipy.linalg.inv", "scipy.linalg.pinv")}

# ... but the formula exercises and the custom VJPs must not call JAX's AD, nor (for the solve) an inverse.
FORBIDDEN_CALLS = {
    "solve_vjp": {**_NO_AD, **_NO_INVERSE},
    "solve": {**_NO_AD, **_NO_INVERSE},
    "svdvals_vjp": dict(_NO_AD),
    "nuclear_norm": dict(_NO_AD),
}

EXERCISES = [SolveVjp(), Solve(), SvdvalsVjp(), NuclearNorm(), RidgeValidationLoss(), TuneLogLam()]
