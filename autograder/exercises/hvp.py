"""Hidden tests of assignment 05_hvp: Hessian-vector products and Newton-CG.

The truth is JAX in float64: ``jax.hessian`` at small n, and at large n (where
no dense Hessian fits) the forward-over-reverse HVP, itself cross-checked
against reverse-over-reverse before it judges anyone.  At large n the
student's HVP must also be symmetric as a bilinear form, w^T (H v) = v^T (H w),
which an HVP taken at the wrong point (x and v swapped) or a gradient in its place fails.

Cost is graded, not only values:

* while an HVP, ``hessian_from_hvps`` or ``newton_cg`` runs, ``jax.hessian``,
  ``jax.jacfwd`` and ``jax.jacrev`` (and every name in the notebook bound to
  them) raise an error that says why: an HVP never needs the dense Hessian;
  while ``newton_cg`` runs, building an n x n identity (``np.eye(n)``,
  ``jnp.eye(n)``, n >= 1000) raises too;
* ``hessian_from_hvps`` is handed a counting HVP and must call it exactly n
  times, one per column (a ``jax.vmap`` over the n directions counts as n);
* ``newton_cg`` runs under a deadline: a loop without a stopping rule is
  reported as "did not finish within N s" after a few seconds, long before
  the notebook's per-cell time limit.  After one case runs out of time the
  remaining cases are not started (the verdict is the same, and the grader
  does not wait three times).

One mistake costs points once: while ``hessian_from_hvps`` and ``newton_cg``
are probed, correct stand-ins replace the student's two exact HVP functions.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from autograder.exercises.base import Exercise, swapped
from autograder.exercises.base import oracle
from course.checks import Comparison, OutOfTime, compare, time_limit

DENSE = ("hessian", "jacfwd", "jacrev")
NEWTON_SECONDS = 10.0  # CPU seconds per case; the jitted reference needs under 1 s for each, without jit up to 8 s
LARGE_N = 20_000

# ---------------------------------------------------------------------------
# Test functions R^n -> R, written in jax.numpy, with rng-drawn parameters.


def _jnp():
    return oracle._jax().numpy


class _Function:
    """A named scalar test function; the same object serves the probe and the judge."""

    def __init__(self, name: str, n: int, f, minimizer=None):
        self.__name__, self.n, self.f, self.minimizer = name, n, f, minimizer

    def __call__(self, x):
        return self.f(x)

    def __repr__(self) -> str:
        return f"{self.__name__} (n={self.n})"


def _logistic(rng, n, m=None, lam=1e-2):
    """L2-regularised logistic regression: dense coupling of all coordinates."""
    m = m or n + 2
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], m)

    def f(x):
        jnp = _jnp()
        return jnp.sum(jnp.logaddexp(0.0, -y * (A @ x))) + 0.5 * lam * jnp.dot(x, x)
    out = _Function("logistic regression", n, f)
    out.lambda_max = 0.25 * np.linalg.norm(A, 2) ** 2 + lam  # softplus'' <= 1/4: H <= A^T A / 4 + lam I
    return out


def _coupled(rng, n):
    """exp(-|x|^2 / n) sum(sin(c x)) + (a.x)^3 / 6 + cos(x_0) x_{n-1}: nonconvex, non-separable, cubic."""
    a, c = rng.standard_normal(n) / np.sqrt(n), rng.uniform(0.5, 1.5, n)

    def f(x):
        jnp = _jnp()
        return (jnp.exp(-jnp.dot(x, x) / n) * jnp.sum(jnp.sin(c * x)) + jnp.dot(a, x) ** 3 / 6
                + jnp.cos(x[0]) * x[n - 1])
    return _Function("exp(-|x|^2/n) sum(sin(c x)) + (a.x)^3/6 + cos(x0) x_last", n, f)


def _chain(rng, n):
    """A chained Rosenbrock-like sum: tridiagonal Hessian with entries of order 1000, indefinite in places."""
    s = rng.uniform(0.5, 2.0, n - 1)

    def f(x):
        jnp = _jnp()
        return jnp.sum(100.0 * s * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return _Function("chained Rosenbrock", n, f)


def _rosenbrock(n):
    """The extended Rosenbrock function: n/2 independent 2-d valleys, minimum 0 at x = (1, ..., 1)."""
    def f(x):
        jnp = _jnp()
        a, b = x[0::2], x[1::2]
        return jnp.sum(100.0 * (b - a ** 2) ** 2 + (1.0 - a) ** 2)
    return _Function("extended Rosenbrock", n, f, minimizer=np.ones(n))


def _softplus_chain(rng, n, lam=0.1):
    """sum(softplus(a x_i - b x_{i+1} + c)) + lam/2 |x|^2 + sum(exp(x / 4)) / n: strongly convex, coupled."""
    a, b, c = rng.uniform(0.5, 2.0, n - 1), rng.uniform(0.5, 2.0, n - 1), rng.standard_normal(n - 1)

    def f(x):
        jnp = _jnp()
        return (jnp.sum(jnp.logaddexp(0.0, a * x[:-1] - b * x[1:] + c)) + 0.5 * lam * jnp.dot(x, x)
                + jnp.sum(jnp.exp(x / 4)) / n)
    out = _Function("softplus chain", n, f)
    # Gershgorin: softplus'' <= 1/4 and a, b <= 2 give row sums <= 1/4 (2 * 2 * 4) = 4, plus lam, plus
    # exp(x / 4) / (16 n), negligible for |x| < 20: lambda_max <= 5.
    out.lambda_max = 5.0
    return out


def _double_well(n, coupling=0.1):
    """sum((x^2 - 1)^2) / 4 + coupling/2 sum((x_{i+1} - x_i)^2): negative definite wherever all |x_i| < 0.3.

    There H = diag(3 x^2 - 1) + coupling L with ||L|| <= 4, so H <= (0.27 - 1 + 0.4) I < 0: the very first CG
    direction -g has negative curvature, and Newton-CG must fall back on steepest descent at once.
    """
    def f(x):
        jnp = _jnp()
        return jnp.sum((x ** 2 - 1.0) ** 2) / 4 + 0.5 * coupling * jnp.sum((x[1:] - x[:-1]) ** 2)
    return _Function("double well (negative curvature at x0)", n, f)


# Newton-CG's tolerance must be one its line search can resolve.  The Armijo test compares f at two points;
# computed in float64, f (a sum of N positive terms, at most f(x0) along a descent path) is off by up to
# ROUNDING * u * f(x0) (pairwise summation: about log2(N) roundings; 10 covers N = 20,000 with margin).
# A Newton step from a gradient g lowers f by 1/2 g^T H^{-1} g >= |g|^2 / (2 lambda_max), which must exceed
# that error RESOLUTION times over; so no tol below sqrt(2 lambda_max RESOLUTION ROUNDING u f(x0)) is fair
# (below it a correct line search stalls, as the reference did on 3% of seeds at tol = 1e-8 with f ~ 1e4).
UNIT_ROUNDOFF, ROUNDING, RESOLUTION = 2.2e-16, 10.0, 10.0


def resolvable_tol(requested: float, f_at_x0: float, lambda_max: float) -> float:
    """The requested tolerance, or the smallest one a line search on f can resolve if that is larger."""
    floor = np.sqrt(2 * lambda_max * RESOLUTION * ROUNDING * UNIT_ROUNDOFF * abs(f_at_x0))
    return float(max(requested, floor))


def _point(rng, n):
    return rng.uniform(-1.5, 1.5, n)


def exact_hvp(f, x, v):
    """The oracle at any n: forward-over-reverse, and reverse-over-reverse must agree with it (else our bug)."""
    jax = oracle._jax()
    x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
    both = jax.jit(lambda x, v: (jax.jvp(jax.grad(f), (x,), (v,))[1],
                                 jax.grad(lambda y: jax.numpy.vdot(jax.grad(f)(y), v))(x)))
    forward, reverse = (np.asarray(a) for a in both(x, v))
    scale = np.max(np.abs(forward)) + 1e-300
    if np.max(np.abs(forward - reverse)) > 1e-10 * scale:
        raise RuntimeError("the grader's two exact HVPs disagree: a bug in the grader, not in your answer")
    return forward


def _hessian_times(f, x, v):
    """H v with H from jax.hessian (small n) or without it (large n)."""
    if np.size(x) <= 200:
        return oracle.hessian(f, x) @ np.asarray(v, dtype=float)
    return exact_hvp(f, x, v)


# ---------------------------------------------------------------------------
# Guards that run in the student's kernel while a probe runs.

class DenseHessianForbidden(RuntimeError):
    pass


def _refuse(what: str, name: str):
    def refuse(*args, **kwargs):
        raise DenseHessianForbidden(
            f"`{what}` called {name}, which builds the whole n x n matrix of second derivatives "
            f"(forbidden here): {what} must touch the Hessian only through Hessian-vector products")
    return refuse


def _refuse_large_identity(what: str, original, name: str):
    def eye(N, *args, **kwargs):
        if int(N) >= 1000:
            raise DenseHessianForbidden(
                f"`{what}` built a {int(N)} x {int(N)} identity with {name}: an n x n array is as large as the "
                "Hessian itself; Newton-CG needs only vectors of length n")
        return original(N, *args, **kwargs)
    return eye


@contextlib.contextmanager
def no_dense_hessian(namespace: dict, what: str, identity: bool = False):
    """Make jax.hessian/jacfwd/jacrev (and, if asked, large identities) raise, here and under every alias."""
    jax = oracle._jax()
    jnp = jax.numpy
    patches = [(jax, name, getattr(jax, name), _refuse(what, f"jax.{name}")) for name in DENSE]
    if identity:
        for module, label in [(np, "np"), (jnp, "jnp")]:
            for name in ("eye", "identity"):
                original = getattr(module, name)
                patches.append((module, name, original,
                                _refuse_large_identity(what, original, f"{label}.{name}")))
    aliases = {key: replacement for key, value in list(namespace.items())
               for _, _, original, replacement in patches if value is original}
    for module, name, _, replacement in patches:
        setattr(module, name, replacement)
    try:
        with swapped(namespace, aliases):
            yield
    finally:
        for module, name, original, _ in patches:
            setattr(module, name, original)


def _directions(v) -> int:
    """How many directions one call carries: 1, or the batch size when called under jax.vmap."""
    if type(v).__name__ == "BatchTracer":
        try:
            return int(v.val.shape[v.batch_dim])
        except Exception:  # an unexpected JAX internal: count the call once
            return 1
    return 1


class CountingHvp:
    """A correct HVP (forward over reverse) that counts the directions it is asked for."""

    def __init__(self):
        self.directions = 0

    def __call__(self, f, x, v):
        jax = oracle._jax()
        self.directions += _directions(v)
        return jax.jvp(jax.grad(f), (x,), (v,))[1]


def _stand_in_forward(f, x, v):
    jax = oracle._jax()
    return jax.jvp(jax.grad(f), (x,), (v,))[1]


def _stand_in_reverse(f, x, v):
    jax = oracle._jax()
    return jax.grad(lambda y: jax.numpy.vdot(jax.grad(f)(y), v))(x)


# ---------------------------------------------------------------------------
# Exercises

GRADIENT_HINT = "this is the gradient of f, not H v: the HVP differentiates the gradient once more along v"
SWAPPED_HINT = ("this is H(v) x, the Hessian at the point v applied to x: x and v are swapped "
                "(x is where the Hessian is taken, v the direction)")


def _exact_hints(f, x, v):
    return {GRADIENT_HINT: lambda e: oracle.gradient(f, x),
            SWAPPED_HINT: lambda e: _hessian_times(f, v, x)}


class _ExactHvp(Exercise):
    """Shared by the two exact HVPs: same cases, probe and judge."""

    def cases(self, rng):
        # Small n share one size: JAX compiles each new shape once, and the grading time adds up.
        functions = [_logistic(rng, 6), _coupled(rng, 6), _chain(rng, 6)]
        cases = [{"f": f, "x": _point(rng, f.n), "v": rng.standard_normal(f.n)} for f in functions]
        f = _chain(rng, LARGE_N)
        cases.append({"f": f, "x": _point(rng, f.n), "v": rng.standard_normal(f.n),
                      "w": rng.standard_normal(f.n)})
        return cases

    def probe(self, namespace, case):
        hvp = self.student(namespace)
        x, v = case["x"].copy(), case["v"].copy()
        with no_dense_hessian(namespace, self.name):
            out = {"Hv": np.asarray(hvp(case["f"], x, v), dtype=float)}
            if "w" in case:
                out["Hw"] = np.asarray(hvp(case["f"], x, case["w"].copy()), dtype=float)
        out["unchanged"] = bool(np.array_equal(x, case["x"]) and np.array_equal(v, case["v"]))
        return out

    def judge(self, case, observed):
        if not observed["unchanged"]:
            return Comparison(False, f"`{self.name}` changed x or v in place; leave the caller's arrays alone.")
        f, x, v = case["f"], case["x"], case["v"]
        Hv = np.asarray(observed["Hv"], dtype=float)
        if "w" in case:
            Hw = np.asarray(observed["Hw"], dtype=float)
            if Hv.shape == x.shape and Hw.shape == x.shape:
                # Symmetry of the Hessian: w^T (H v) = v^T (H w), to round-off in two sums of n products.
                left, right = float(case["w"] @ Hv), float(v @ Hw)
                bound = 1e-9 * (np.abs(case["w"]) @ np.abs(Hv) + np.abs(v) @ np.abs(Hw)) + 1e-12
                if not abs(left - right) <= bound:
                    comparison = compare(Hv, exact_hvp(f, x, v), name="H v", hints=_exact_hints(f, x, v))
                    why = f"\n  Likely mistake: {comparison.diagnosis}." if comparison.diagnosis else ""
                    return Comparison(False, f"your HVP is not symmetric at n = {x.size}: w^T (H v) = {left:.10g} "
                                      f"but v^T (H w) = {right:.10g}; a Hessian is symmetric, so these must "
                                      f"agree.{why}", diagnosis=comparison.diagnosis)
        return compare(Hv, _hessian_times(f, x, v), name="H v", meaning="one entry per input, the shape of x",
                       hints=_exact_hints(f, x, v))


class HvpForwardOverReverse(_ExactHvp):
    name = "hvp_forward_over_reverse"


class HvpReverseOverReverse(_ExactHvp):
    name = "hvp_reverse_over_reverse"


def _central(f, x, v, eps):
    """The central difference of gradients itself, in float64: what a correct answer computes."""
    g = oracle.gradient
    return (g(f, x + eps * v) - g(f, x - eps * v)) / (2 * eps)


class HvpFiniteDifference(Exercise):
    name = "hvp_finite_difference"

    def cases(self, rng):
        cases = []
        for f, eps in [(_logistic(rng, 6), 1e-2), (_coupled(rng, 6), 1e-3), (_chain(rng, 6), 1e-4),
                       (_chain(rng, LARGE_N), 1e-3)]:
            cases.append({"f": f, "x": _point(rng, f.n), "v": rng.standard_normal(f.n), "eps": eps})
        return cases

    def probe(self, namespace, case):
        x, v = case["x"].copy(), case["v"].copy()
        with no_dense_hessian(namespace, self.name):
            Hv = self.student(namespace)(case["f"], x, v, case["eps"])
        return {"Hv": np.asarray(Hv, dtype=float),
                "unchanged": bool(np.array_equal(x, case["x"]) and np.array_equal(v, case["v"]))}

    def judge(self, case, observed):
        if not observed["unchanged"]:
            return Comparison(False, "`hvp_finite_difference` changed x or v in place; perturb copies.")
        f, x, v, eps = case["f"], case["x"], case["v"], case["eps"]
        expected = _central(f, x, v, eps)
        g = oracle.gradient
        # The answer is compared with the central difference itself, not with the exact H v: a correct
        # answer differs from it only by round-off, about u |grad f| / eps (u = 1.1e-16), which the atol
        # allows 1000 times over; a one-sided difference is off by O(eps), far beyond it.
        atol = 1e-6 * np.max(np.abs(expected)) + 1e-13 * np.max(np.abs(g(f, x))) / eps
        hints = {
            f"you did not divide by 2 eps: the difference of the two gradients must be divided by 2 eps "
            f"(here eps = {eps:g}); missing 1/eps": 2 * eps,
            "you divided by 2 but not by eps (missing 1/eps)": eps,
            "you divided by eps instead of 2 eps": 2.0,
            f"this is a one-sided difference (grad f(x + eps v) - grad f(x)) / eps, accurate only to O(eps) = "
            f"O({eps:g}); the central difference (grad f(x + eps v) - grad f(x - eps v)) / (2 eps) is accurate "
            f"to O(eps^2)": lambda e: (g(f, x + eps * v) - g(f, x)) / eps,
            "this is a one-sided difference taken backwards, (grad f(x) - grad f(x - eps v)) / eps":
                lambda e: (g(f, x) - g(f, x - eps * v)) / eps,
            GRADIENT_HINT: lambda e: g(f, x),
            SWAPPED_HINT: lambda e: _central(f, v, x, eps),
        }
        return compare(observed["Hv"], expected, name=f"the central-difference HVP (eps = {eps:g})", atol=atol,
                       meaning="one entry per input, the shape of x", hints=hints)


class HessianFromHvps(Exercise):
    name = "hessian_from_hvps"

    def cases(self, rng):
        functions = [_coupled(rng, 4), _logistic(rng, 6), _chain(rng, 6)]
        cases = [{"f": f, "x": _point(rng, f.n), "hvp": "given"} for f in functions]
        f = _coupled(rng, 4)  # the default, hvp=None: the student's own forward-over-reverse HVP
        return cases + [{"f": f, "x": _point(rng, f.n), "hvp": "default"}]

    def probe(self, namespace, case):
        given, forward, reverse = CountingHvp(), CountingHvp(), CountingHvp()
        x = case["x"].copy()
        stand_ins = {"hvp_forward_over_reverse": forward, "hvp_reverse_over_reverse": reverse}
        with no_dense_hessian(namespace, self.name), swapped(namespace, stand_ins):
            if case["hvp"] == "given":
                H = self.student(namespace)(case["f"], x, hvp=given)
            else:
                try:
                    H = self.student(namespace)(case["f"], x)
                except Exception as exc:
                    return {"default_raised": f"{type(exc).__name__}: {exc}"[:300]}
        return {"H": np.asarray(H, dtype=float), "hvps": given.directions + forward.directions + reverse.directions,
                "by": {"given": given.directions, "hvp_forward_over_reverse": forward.directions,
                       "hvp_reverse_over_reverse": reverse.directions}}

    def judge(self, case, observed):
        f, x = case["f"], case["x"]
        if "default_raised" in observed:
            return Comparison(False, f"`hessian_from_hvps(f, x)` without an hvp (hvp=None, the default) raised "
                              f"{observed['default_raised']}: when hvp is None, use your hvp_forward_over_reverse.",
                              diagnosis="default argument")
        comparison = compare(observed["H"], oracle.hessian(f, x), name="the Hessian",
                             meaning="(n, n): column k is H e_k")
        if not comparison.ok:
            return comparison
        n, count = x.size, observed["hvps"]
        by = {str(k): int(v) for k, v in observed.get("by", {}).items()}
        source = "given" if case["hvp"] == "given" else "hvp_forward_over_reverse"
        if count == n and by.get(source) != n:
            used = ", ".join(k for k, v in by.items() if v)
            wanted = ("the `hvp` that was passed in" if source == "given"
                      else "hvp_forward_over_reverse, the default when hvp is None")
            return Comparison(False, f"`hessian_from_hvps` computed its HVPs with {used} instead of {wanted}: "
                              "use the hvp argument when one was passed, and hvp_forward_over_reverse when hvp=None.",
                              diagnosis="hvp argument ignored")
        if count == n:
            return comparison
        if count == n * n:
            why = (f" -- one HVP per entry H[i, j]; but one HVP H e_k delivers the whole column k (n entries) at "
                   f"once, so n HVPs suffice")
        elif count == 0:
            why = (" -- none of the HVP functions was called: use the `hvp` argument (by default your "
                   "hvp_forward_over_reverse) once per column")
        else:
            why = ""
        return Comparison(False, f"`hessian_from_hvps` used {count} Hessian-vector products for n = {n}; it should "
                          f"use exactly n = {n}, one per column H e_k{why}.", diagnosis="wrong number of HVPs")


class NewtonCg(Exercise):
    name = "newton_cg"

    def cases(self, rng):
        n = LARGE_N
        start = np.tile([-1.2, 1.0], n // 2) + 0.3 * rng.standard_normal(n)
        softplus, logistic = _softplus_chain(rng, n), _logistic(rng, 300, m=500, lam=1e-2)
        x_softplus, x_logistic = 2.0 * rng.standard_normal(n), rng.standard_normal(300)
        return [
            # f = 0 at the minimum (1, ..., 1), so f's rounding error vanishes there too: 1e-6 is resolvable.
            # Called with the defaults (tol=1e-6, max_iter=200), which the other cases override.
            {"problem": 1, "f": _rosenbrock(n), "x0": start, "tol": 1e-6, "defaults": True},
            {"problem": 2, "f": softplus, "x0": x_softplus,
             "tol": resolvable_tol(1e-8, float(oracle.value(softplus, x_softplus)), softplus.lambda_max)},
            {"problem": 3, "f": logistic, "x0": x_logistic,
             "tol": resolvable_tol(1e-7, float(oracle.value(logistic, x_logistic)), logistic.lambda_max)},
            # Negative curvature on the first CG iteration (see _double_well); H <= 3 max x^2 - 1 + 0.4 <= 8
            # along the way (|x| <= 1.5).
            {"problem": 4, "f": _double_well(2000), "x0": rng.uniform(-0.25, 0.25, 2000),
             "tol": resolvable_tol(1e-6, 2000 / 4, 8.0)},
        ]

    _gave_up = False

    def probe(self, namespace, case):
        if case["problem"] == 1:  # a new run of the hidden tests starts
            NewtonCg._gave_up = False
        if NewtonCg._gave_up:
            return {"skipped": True}
        newton_cg = self.student(namespace)
        stand_ins = {"hvp_forward_over_reverse": _stand_in_forward, "hvp_reverse_over_reverse": _stand_in_reverse}
        x0 = case["x0"].copy()
        start = time.process_time()  # CPU seconds, as time_limit counts them
        try:
            with time_limit(NEWTON_SECONDS), no_dense_hessian(namespace, self.name, identity=True), \
                    swapped(namespace, stand_ins):
                result = (newton_cg(case["f"], x0) if case.get("defaults")
                          else newton_cg(case["f"], x0, tol=case["tol"], max_iter=200))
        except OutOfTime:
            NewtonCg._gave_up = True
            return {"timed_out": NEWTON_SECONDS}
        seconds = time.process_time() - start
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
            return {"returned": f"one object of type {type(result).__name__}{length}"}
        x, grad_norms = result
        return {"x": np.asarray(x, dtype=float), "grad_norms": np.asarray([float(g) for g in grad_norms]),
                "seconds": seconds, "unchanged": bool(np.array_equal(x0, case["x0"]))}

    def judge(self, case, observed):
        n, tol = case["x0"].size, case["tol"]
        if observed.get("skipped"):
            return Comparison(False, f"not run: an earlier case of `newton_cg` did not finish within "
                              f"{NEWTON_SECONDS:g} s")
        if "timed_out" in observed:
            return Comparison(False, f"`newton_cg` did not finish within {NEWTON_SECONDS:g} s of CPU time on "
                              f"{case['f'].__name__} "
                              f"(n = {n}, tol = {tol:g}); the model solution needs well under a second. Likely: the "
                              "CG loop has no stopping rule (stop when ||H p + g|| <= eta ||g||, or at negative "
                              "curvature), the Newton loop does not stop at ||grad f|| <= tol, or the line search "
                              "never ends. (Jit the gradient and the HVP: without jax.jit every step is slow.)",
                              diagnosis="did not finish")
        if "returned" in observed:
            return Comparison(False, f"`newton_cg` should return the pair (x, grad_norms); it returned "
                              f"{observed['returned']}.", diagnosis="wrong return value")
        if not observed["unchanged"]:
            return Comparison(False, "`newton_cg` changed x0 in place; work on a copy.")
        x = observed["x"]
        if x.shape != case["x0"].shape:
            return Comparison(False, f"`newton_cg` returned x of shape {x.shape}; expected {case['x0'].shape}.",
                              diagnosis="wrong shape")
        if not np.all(np.isfinite(x)):
            return Comparison(False, "`newton_cg` returned an x with NaN or inf entries (a division by a zero "
                              "curvature d^T H d, or a CG loop run past its convergence?)", diagnosis="not finite")
        f = case["f"]
        norm = float(np.linalg.norm(oracle.gradient(f, x)))
        # 1.1 tol: the grader recomputes the gradient; the same sums done in another order may differ in
        # their last digits, never by 10%.
        if not norm <= 1.1 * tol:
            return Comparison(False, f"`newton_cg` did not converge on {f.__name__} (n = {n}): at the returned x, "
                              f"||grad f(x)|| = {norm:.3g} > tol = {tol:g}.", diagnosis="did not converge")
        if f.minimizer is not None and np.max(np.abs(x - f.minimizer)) > 1e-4:
            return Comparison(False, f"`newton_cg` stopped at a stationary point that is not the minimum of "
                              f"{f.__name__} (largest distance {np.max(np.abs(x - f.minimizer)):.3g}).")
        if not float(oracle.value(f, x)) <= float(oracle.value(f, case["x0"])):
            return Comparison(False, "`newton_cg` returned a point where f is larger than at x0.")
        norms = np.asarray(observed["grad_norms"], dtype=float).ravel()
        first = float(np.linalg.norm(oracle.gradient(f, case["x0"])))
        if norms.size < 1 or not np.isclose(norms[0], first, rtol=1e-6):
            return Comparison(False, f"grad_norms[0] should be ||grad f(x0)|| = {first:.6g}; got "
                              f"{norms[0] if norms.size else 'an empty list'}.")
        if not np.isclose(norms[-1], norm, rtol=1e-3, atol=1e-3 * tol):
            return Comparison(False, f"grad_norms[-1] should be ||grad f|| at the returned x, {norm:.6g}; got "
                              f"{norms[-1]:.6g}.")
        if norms.size - 1 > 200:
            return Comparison(False, f"`newton_cg` took {norms.size - 1} iterations; max_iter was 200.")
        early = np.flatnonzero(norms[:-1] <= tol)
        if early.size:
            return Comparison(False, f"`newton_cg` kept iterating after ||grad f|| <= tol: grad_norms[{early[0]}] = "
                              f"{norms[early[0]]:.3g} <= tol = {tol:g}, yet it took {norms.size - 1 - early[0]} more "
                              "step(s). The stopping rule is ||grad f(x)|| <= tol, checked before every Newton step.",
                              diagnosis="stopping rule")
        return Comparison(True, f"converged: ||grad f|| = {norm:.2e} after {norms.size - 1} Newton steps "
                          f"({observed['seconds']:.2f} s of CPU time)")


def _dense(why: str) -> dict[str, str]:
    return {"jax.hessian": why, "jax.jacfwd": why, "jax.jacrev": why,
            "course.oracle": "the course's oracle is the grader's truth, not part of an answer"}


# This assignment is about using JAX well, so no AD library is forbidden outright; the finer rules say what not
# to use where (checked statically by autograder.integrity, and by the probes while the code runs).
AD_FORBIDDEN: set[str] = set()
FORBIDDEN_CALLS = {
    "hvp_forward_over_reverse": _dense("an HVP is one jvp of grad f; it never needs the n x n Hessian"),
    "hvp_reverse_over_reverse": _dense("an HVP is one grad of <grad f, v>; it never needs the n x n Hessian"),
    "hvp_finite_difference": _dense("the exercise is a difference of two gradients"),
    "hessian_from_hvps": _dense("the exercise is to assemble the Hessian from n HVPs yourself"),
    "newton_cg": {**_dense("Newton-CG touches the Hessian only through Hessian-vector products"),
                  "jax.scipy.optimize": "the exercise is to write Newton-CG yourself",
                  "scipy.optimize": "the exercise is to write Newton-CG yourself"},
}

EXERCISES = [HvpForwardOverReverse(), HvpReverseOverReverse(), HvpFiniteDifference(), HessianFromHvps(),
             NewtonCg()]
