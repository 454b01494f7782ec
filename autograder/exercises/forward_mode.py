"""Hidden tests of assignment 02_forward_mode.

Test functions are written once against an ``ops`` namespace (``ops.exp``,
``ops.dot``, ...) and built twice: with the stand-ins below for the probe,
and with ``jax.numpy`` for the oracle in the judge.

One mistake costs points once.  A broken ``Dual`` would break every later
exercise, so while the probes of ``jvp``, ``jacobian_forward``,
``grad_forward`` and ``lecture_table`` run, the student's ``Dual``, its
elementary functions (and, for the later exercises, ``jvp`` and
``jacobian_forward``) are replaced by the correct stand-ins of this module,
as ``StepSizeErrors`` does in assignment 1.  ``Dual`` arithmetic, ``power``
and the elementary functions are tested on their own.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from autograder.exercises.base import Exercise, swapped
from autograder.exercises.base import oracle
from course.checks import Comparison, compare
from course.counting import Counted

# ---------------------------------------------------------------------------
# Stand-ins: a minimal, correct dual number (runs in the student's kernel, without JAX).


class _Dual:
    __array_ufunc__ = None

    def __init__(self, value, tangent):
        self.value, self.tangent = value, tangent

    @classmethod
    def lift(cls, x):
        return x if isinstance(x, _Dual) else cls(x, 0.0)

    def _mul(self, a, b):
        return type(self)(a.value * b.value, a.tangent * b.value + a.value * b.tangent)

    def _div(self, a, b):
        return type(self)(a.value / b.value, (a.tangent * b.value - a.value * b.tangent) / b.value ** 2)

    def _pow(self, a, b):
        value = a.value ** b.value
        tangent = b.value * a.value ** (b.value - 1) * a.tangent
        if np.any(np.asarray(b.tangent) != 0):
            tangent = tangent + value * np.log(a.value) * b.tangent
        return type(self)(value, tangent)

    def __add__(self, o):
        o = self.lift(o)
        return type(self)(self.value + o.value, self.tangent + o.tangent)

    __radd__ = __add__

    def __sub__(self, o):
        o = self.lift(o)
        return type(self)(self.value - o.value, self.tangent - o.tangent)

    def __rsub__(self, o):
        return self.lift(o) - self

    def __neg__(self):
        return type(self)(-self.value, -self.tangent)

    def __mul__(self, o):
        return self._mul(self, self.lift(o))

    def __rmul__(self, o):
        return self._mul(self.lift(o), self)

    def __truediv__(self, o):
        return self._div(self, self.lift(o))

    def __rtruediv__(self, o):
        return self._div(self.lift(o), self)

    def __pow__(self, o):
        return self._pow(self, self.lift(o))

    def __rpow__(self, o):
        return self._pow(self.lift(o), self)

    def __lt__(self, o):
        return self.value < self.lift(o).value

    def __gt__(self, o):
        return self.value > self.lift(o).value

    def __le__(self, o):
        return self.value <= self.lift(o).value

    def __ge__(self, o):
        return self.value >= self.lift(o).value

    def __getitem__(self, i):
        return type(self)(self.value[i], np.broadcast_to(self.tangent, np.shape(self.value))[i])


def _power_building(Dual):
    """A correct ``power(a, b)`` that returns the student's own ``Dual`` (for testing ``__pow__``/``__rpow__``)."""
    def power(a, b):
        value_of = lambda z: getattr(z, "value", z)  # noqa: E731
        tangent_of = lambda z: getattr(z, "tangent", 0.0)  # noqa: E731
        out = _Dual(value_of(a), tangent_of(a))._pow(_Dual(value_of(a), tangent_of(a)),
                                                     _Dual(value_of(b), tangent_of(b)))
        return Dual(out.value, out.tangent)
    return power


def _primitive(f, df):
    def apply(x):
        if isinstance(x, _Dual):
            return type(x)(f(x.value), df(x.value) * x.tangent)
        return f(x)
    return apply


def _dot(A, x):
    return _Dual(A @ x.value, A @ x.tangent) if isinstance(x, _Dual) else A @ x


def _sum(x):
    return _Dual(np.sum(x.value), np.sum(x.tangent)) if isinstance(x, _Dual) else np.sum(x)


STAND_IN_OPS = {
    "exp": _primitive(np.exp, np.exp),
    "log": _primitive(np.log, lambda x: 1 / x),
    "sqrt": _primitive(np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    "sin": _primitive(np.sin, np.cos),
    "cos": _primitive(np.cos, lambda x: -np.sin(x)),
    "tanh": _primitive(np.tanh, lambda x: 1 - np.tanh(x) ** 2),
}
STAND_INS = SimpleNamespace(**STAND_IN_OPS, dot=_dot, sum=_sum)


def _jvp(f, w, v):
    out = f(_Dual(np.asarray(w, dtype=float), np.asarray(v, dtype=float)))
    if not isinstance(out, _Dual):
        return out, np.zeros_like(np.asarray(out, dtype=float))
    return out.value, out.tangent


def _jacobian_forward(f, w):
    return np.stack([_jvp(f, w, e)[1] for e in np.eye(len(w))], axis=-1)


def _jax_ops():
    jnp = oracle._jax().numpy
    return SimpleNamespace(exp=jnp.exp, log=jnp.log, sqrt=jnp.sqrt, sin=jnp.sin, cos=jnp.cos, tanh=jnp.tanh,
                           dot=jnp.dot, sum=jnp.sum)


def _parts(out) -> dict:
    """A Dual's value and tangent as plain float arrays (probes return data, never objects)."""
    return {"value": np.asarray(out.value, dtype=float), "tangent": np.asarray(out.tangent, dtype=float)}


# ---------------------------------------------------------------------------
# Test functions R^n -> R^m, written against ``ops``; rng-drawn parameters.


class _TestFunction:
    def __init__(self, name: str, n: int, m: int | None, build):
        self.name, self.n, self.m, self.build = name, n, m, build

    def __repr__(self) -> str:
        return f"{self.name} (n={self.n}, m={self.m or 'scalar'})"


def _layer(rng, n, m):
    A, b = rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal(m)
    return _TestFunction("tanh(A w + b) * exp(w[0] / 3)", n, m,
                         lambda ops: lambda w: ops.tanh(ops.dot(A, w) + b) * ops.exp(w[0] / 3))


def _ratio(rng, n, m):
    B, C = rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal((m, n)) / np.sqrt(n)
    return _TestFunction("sqrt(1 + (B w)^2) / (2 + sin(C w))", n, m,
                         lambda ops: lambda w: ops.sqrt(1 + ops.dot(B, w) ** 2) / (2 + ops.sin(ops.dot(C, w))))


def _reuse(rng, n):
    c = rng.uniform(0.5, 1.5, n)
    def build(ops):
        def f(w):
            y = w * w  # reused below: the tangents of both uses must add up
            return y + y * w * c - ops.cos(y)
        return f
    return _TestFunction("y = w*w; y + c*y*w - cos(y)", n, n, build)


def _scalar(rng, n):
    a = rng.standard_normal(n)
    return _TestFunction("sum(log(1 + w*w)) + cos(a.w) * w[0]", n, None,
                         lambda ops: lambda w: ops.sum(ops.log(1 + w * w)) + ops.cos(ops.dot(a, w)) * w[0])


def _scalar_nested(rng, n):
    a = rng.standard_normal(n)
    return _TestFunction("exp(-sum(w*w)/n) * sum(tanh(a*w)) / (1 + w[-1]**2)", n, None,
                         lambda ops: lambda w: ops.exp(-ops.sum(w * w) / n) * ops.sum(ops.tanh(w * a))
                         / (1 + w[n - 1] ** 2))


def _constant(rng, n, m):
    """Does not depend on w at all: f(Dual) returns a plain array, and the tangent J v is zero."""
    c = rng.standard_normal(m) if m else float(rng.standard_normal())
    return _TestFunction("a constant (f does not depend on w)", n, m,
                         lambda ops: lambda w: c.copy() if m else c)


def _unused_inputs(rng, n):
    """Depends on w[0] and w[2] only: the other columns of the Jacobian are zero."""
    a = rng.uniform(0.5, 1.5)
    return _TestFunction("sin(w[0]) * exp(a w[2]) (w[1], w[3] unused)", n, None,
                         lambda ops: lambda w: ops.sin(w[0]) * ops.exp(w[2] * a))


def _point(rng, n):
    return rng.uniform(-1.5, 1.5, n)


# ---------------------------------------------------------------------------
# Mutants: what the classic mistakes in Dual arithmetic produce (the judge's hints).


class _ProductMissesLeft(_Dual):
    def _mul(self, a, b):
        return type(self)(a.value * b.value, a.value * b.tangent)


class _ProductMissesRight(_Dual):
    def _mul(self, a, b):
        return type(self)(a.value * b.value, a.tangent * b.value)


class _QuotientSignSlip(_Dual):
    def _div(self, a, b):
        return type(self)(a.value / b.value, (a.tangent * b.value + a.value * b.tangent) / b.value ** 2)


class _PowerIgnoresExponent(_Dual):
    def _pow(self, a, b):
        return type(self)(a.value ** b.value, b.value * a.value ** (b.value - 1) * a.tangent)


PRODUCT_HINT = "product rule with a term missing: (xy)' = x'y + xy' has two terms"
QUOTIENT_HINT = "quotient rule sign slip: (x/y)' = (x'y - xy') / y^2, with a minus sign"
POWER_HINT = ("the exponent's tangent is ignored: (x^y)' = y x^(y-1) x' + x^y log(x) y'; "
              "the second term is missing")


def _mutant_tangent(cls, expression, case):
    x, y = cls(case["x"], case["dx"]), cls(case["y"], case["dy"])
    out = expression(x, y)
    return np.asarray(out.tangent if isinstance(out, _Dual) else 0.0, dtype=float) * np.ones(np.shape(out.value))


def _expected_pair(expression, case):
    """Value and tangent of expression(x, y) along (dx, dy), by jax.jvp."""
    return oracle.jvp(lambda x, y: expression(x, y), (case["x"], case["y"]), (case["dx"], case["dy"]))


# ---------------------------------------------------------------------------
# Exercises


def _reuse_expression(x, y):
    z = x * x
    return z + z * x - y / z


def _nested(x, y):
    return ((x + y) * (x - y)) / (x * y + 3.0) - (2.0 - x) / (1.0 + y * y)


class DualArithmetic(Exercise):
    """+ - * / with numbers and Duals in both directions, arrays, nesting, reuse; comparisons; branching."""

    name = "dual_arithmetic"
    EXPRESSIONS = {
        "x * y": lambda x, y: x * y,
        "x / y": lambda x, y: x / y,
        "(3 - x) * 2 + 1.5 / y - (-x) / 4 + (y - 1)": lambda x, y: (3.0 - x) * 2.0 + 1.5 / y - (-x) / 4.0 + (y - 1.0),
        "z = x*x; z + z*x - y/z": _reuse_expression,
        "((x+y)(x-y)) / (xy + 3) - (2 - x) / (1 + y*y)": _nested,
    }

    # ** dispatches to `power` (Exercise 2), here a correct stand-in: __pow__ and __rpow__ are this exercise's.
    POWERS = {"x ** y": lambda x, y: x ** y, "2.0 ** x": lambda x, y: 2.0 ** x, "y ** 3": lambda x, y: y ** 3}
    # Indexing a Dual (Dual.__getitem__) must index its tangent too; only arrays can be indexed.
    INDEXED = {
        "x[1] * y[0] - x[2:] / y[3]": lambda x, y: x[1] * y[0] - x[2:] / y[3],
        "x[::-1] * y + x[-1]": lambda x, y: x[::-1] * y + x[-1],
    }

    def cases(self, rng):
        cases = []
        for shape in [(), (4,)]:
            for text in [*self.EXPRESSIONS, *self.POWERS, *(self.INDEXED if shape else ())]:
                x, y = rng.uniform(0.5, 2.5, shape), rng.uniform(0.5, 2.5, shape)
                if shape == ():
                    x, y = float(x), float(y)
                cases.append({"expression": text, "x": x, "y": y, "dx": rng.standard_normal(shape),
                              "dy": rng.standard_normal(shape)})
        cases += [self._comparison_case(rng, equal) for equal in (False, False, False, True)]
        for _ in range(2):
            cases.append({"expression": "branch", "x": float(rng.uniform(-2, 2)), "y": float(rng.uniform(0.5, 2)),
                          "dx": float(rng.standard_normal()), "dy": float(rng.standard_normal())})
        return cases

    @staticmethod
    def _comparison_case(rng, equal_values: bool) -> dict:
        """Values x, y, t apart (or x = y), with tangents ordered the *opposite* way to the values.

        A comparison that looked at the tangents (or at both parts) then gets every strict comparison
        wrong, whatever the seed; equal values tell < from <=.
        """
        x, y, t = (float(v) for v in rng.uniform(-2, 2, 3))
        while min(abs(x - y), abs(x - t)) < 0.2:
            x, y, t = (float(v) for v in rng.uniform(-2, 2, 3))
        y = x if equal_values else y
        dx = -np.sign(x - t) * float(rng.uniform(0.5, 2.0))  # dx vs t's zero tangent: the other way round
        dy = dx + (np.sign(x - y) if not equal_values else rng.choice([-1.0, 1.0])) * float(rng.uniform(0.5, 2.0))
        return {"expression": "comparisons", "x": x, "y": y, "dx": float(dx), "dy": float(dy), "threshold": t}

    @staticmethod
    def _branch(x, y):
        return x * y if x > 0 else y / (1.0 - x)  # a program that branches on a comparison

    def probe(self, namespace, case):
        Dual = self.student(namespace, "Dual")
        x, y = Dual(case["x"], case["dx"]), Dual(case["y"], case["dy"])
        if case["expression"] == "comparisons":
            t = case["threshold"]
            return {"x<y": bool(x < y), "x>y": bool(x > y), "x<=y": bool(x <= y), "x>=y": bool(x >= y),
                    "x<t": bool(x < t), "x>t": bool(x > t), "t<x": bool(t < x), "t>x": bool(t > x),
                    "x<=t": bool(x <= t), "x>=t": bool(x >= t),
                    "x<=x": bool(x <= x), "x>=x": bool(x >= x), "x<x": bool(x < x), "x>x": bool(x > x)}
        expression = self._branch if case["expression"] == "branch" else self._expression(case["expression"])
        if case["expression"] in self.POWERS:
            with swapped(namespace, {"power": _power_building(Dual)}):
                return _parts(expression(x, y))
        if case["expression"] in self.INDEXED:  # the student's own Dual.__getitem__, on its own first
            indexed = {"x[1]": _parts(x[1]), "x[1:3]": _parts(x[1:3])}
            try:
                return {**indexed, **_parts(expression(x, y))}
            except Exception as exc:  # judged after the indexing itself, which may be the cause
                return {**indexed, "raised": f"{type(exc).__name__}: {exc}"[:300]}
        return _parts(expression(x, y))

    def judge(self, case, observed):
        if case["expression"] == "comparisons":
            x, y, t = case["x"], case["y"], case["threshold"]
            truth = {"x<y": x < y, "x>y": x > y, "x<=y": x <= y, "x>=y": x >= y, "x<t": x < t, "x>t": x > t,
                     "t<x": t < x, "t>x": t > x, "x<=t": x <= t, "x>=t": x >= t,
                     "x<=x": True, "x>=x": True, "x<x": False, "x>x": False}
            wrong = [k for k, v in truth.items() if observed.get(k) is not v]
            if wrong and set(wrong) <= {"x<x", "x>x", "x<y", "x>y"} and (x == y or set(wrong) <= {"x<x", "x>x"}):
                return Comparison(False, f"< and > must be strict: a Dual is not smaller than itself, yet "
                                  f"{', '.join(wrong)} came out True (x = {x:.3g}, y = {y:.3g}); "
                                  "use < and >, not <= and >=", diagnosis="comparison not strict")
            if wrong:
                return Comparison(False, f"comparisons of Duals must compare their values: with x = {x:.3g}, "
                                  f"y = {y:.3g}, t = {t:.3g} these came out wrong: {', '.join(wrong)}")
            return Comparison(True, "comparisons OK")
        if case["expression"] == "branch":
            expression = (lambda x, y: x * y) if case["x"] > 0 else (lambda x, y: y / (1.0 - x))
        else:
            expression = self._expression(case["expression"])
        if case["expression"] in self.INDEXED:
            verdict = self._indexing(case, observed)
            if verdict is not None:
                return verdict
            if "raised" in observed:
                return Comparison(False, f"your code raised {observed['raised']}")
        value, tangent = _expected_pair(expression, case)
        comparison = compare(observed["value"], value, name=f"the value of {case['expression']}")
        if not comparison.ok:
            return comparison
        hints = {PRODUCT_HINT: (lambda e: _mutant_tangent(_ProductMissesLeft, expression, case)),
                 PRODUCT_HINT + " ": (lambda e: _mutant_tangent(_ProductMissesRight, expression, case)),
                 QUOTIENT_HINT: (lambda e: _mutant_tangent(_QuotientSignSlip, expression, case))}
        return compare(observed["tangent"], tangent, name=f"the tangent of {case['expression']}",
                       meaning="shaped like the value", hints=hints)


    @staticmethod
    def _indexing(case, observed) -> Comparison | None:
        for index, key in [(1, "x[1]"), (slice(1, 3), "x[1:3]")]:
            value, tangent = case["x"][index], case["dx"][index]
            ok = all(np.shape(observed[key][part]) == np.shape(expected)
                     and np.allclose(observed[key][part], expected, rtol=1e-12, atol=0)
                     for part, expected in [("value", value), ("tangent", tangent)])
            if not ok:
                return Comparison(False, f"indexing a Dual must index its tangent as well as its value "
                                  f"(Dual.__getitem__): {key} should be Dual({value!r}, {tangent!r}), got "
                                  f"Dual({observed[key]['value']!r}, {observed[key]['tangent']!r})",
                                  diagnosis="__getitem__ does not index the tangent")
        return None

    def _expression(self, text):
        return self.EXPRESSIONS.get(text) or self.POWERS.get(text) or self.INDEXED[text]


class Power(Exercise):
    """x ** c, c ** x and x ** y through Dual's ** operator (which calls `power`)."""

    name = "power"
    EXPRESSIONS = {
        "x ** y": lambda x, y: x ** y,
        "x ** 3": lambda x, y: x ** 3,
        "x ** 2": lambda x, y: x ** 2,
        "x ** 2.5": lambda x, y: x ** 2.5,
        "x ** -1.5": lambda x, y: x ** -1.5,
        "2.0 ** x": lambda x, y: 2.0 ** x,
        "1.7 ** y": lambda x, y: 1.7 ** y,
    }

    # A constant integer exponent allows a negative base: (x^3)' = 3 x^2 x', no log(x) anywhere.
    NEGATIVE_BASE = ("x ** 3", "x ** 2")

    def cases(self, rng):
        cases = [{"expression": text, "x": rng.uniform(0.5, 2.5, shape), "y": rng.uniform(-1.5, 2.5, shape),
                  "dx": rng.standard_normal(shape), "dy": rng.standard_normal(shape)}
                 for shape in [(), (3,)] for text in self.EXPRESSIONS]
        cases += [{"expression": text, "x": -rng.uniform(0.5, 2.5, shape), "y": rng.uniform(-1.5, 2.5, shape),
                   "dx": rng.standard_normal(shape), "dy": rng.standard_normal(shape), "negative base": True}
                  for shape in [(), (3,)] for text in self.NEGATIVE_BASE]
        return cases

    # The arguments of power(a, b) for each expression: power is called directly, with the stand-in Dual in
    # place of the student's (so a mistake in Dual's own operators or in __pow__ costs dual_arithmetic only).
    ARGUMENTS = {"x ** y": lambda x, y: (x, y), "x ** 3": lambda x, y: (x, 3), "x ** 2": lambda x, y: (x, 2),
                 "x ** 2.5": lambda x, y: (x, 2.5), "x ** -1.5": lambda x, y: (x, -1.5),
                 "2.0 ** x": lambda x, y: (2.0, x), "1.7 ** y": lambda x, y: (1.7, y)}

    def probe(self, namespace, case):
        power = self.student(namespace)
        x, y = _Dual(case["x"], case["dx"]), _Dual(case["y"], case["dy"])
        with swapped(namespace, {"Dual": _Dual}):
            return _parts(power(*self.ARGUMENTS[case["expression"]](x, y)))

    def judge(self, case, observed):
        expression = self.EXPRESSIONS[case["expression"]]
        value, tangent = _expected_pair(expression, case)
        comparison = compare(observed["value"], value, name=f"the value of {case['expression']}")
        if not comparison.ok:
            return comparison
        if case.get("negative base") and not np.all(np.isfinite(observed["tangent"])):
            return Comparison(False, f"{case['expression']} with a negative x and a constant exponent gave a tangent "
                              "with NaN: with a constant exponent (tangent 0) the term x^y log(x) y' is zero, and "
                              "log(x) of a negative x is NaN; add that term only when the exponent varies",
                              diagnosis="log term with a constant exponent")
        return compare(observed["tangent"], tangent, name=f"the tangent of {case['expression']}",
                       meaning="shaped like the value",
                       hints={POWER_HINT: lambda e: _mutant_tangent(_PowerIgnoresExponent, expression, case)})


ELEMENTARY = ["exp", "log", "sqrt", "sin", "cos", "tanh"]


class ElementaryFunctions(Exercise):
    """exp, log, sqrt, sin, cos, tanh on floats, arrays and Duals (scalar and array), and composed."""

    name = "elementary_functions"

    def cases(self, rng):
        cases = []
        for fn in ELEMENTARY:
            cases.append({"fn": fn, "kind": "float", "x": float(rng.uniform(0.5, 2.5))})
            cases.append({"fn": fn, "kind": "array", "x": rng.uniform(0.5, 2.5, 4)})
            for shape in [(), (4,)]:
                cases.append({"fn": fn, "kind": "dual", "x": rng.uniform(0.5, 2.5, shape),
                              "dx": rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)})
        for outer, inner in [("exp", "sin"), ("log", "sqrt"), ("tanh", "cos")]:
            cases.append({"fn": outer, "inner": inner, "kind": "dual", "x": rng.uniform(0.5, 2.5, 3),
                          "dx": rng.standard_normal(3)})
        return cases

    def probe(self, namespace, case):
        fn = self.student(namespace, case["fn"])
        with swapped(namespace, {"Dual": _Dual}):  # the stand-in Dual: Dual's own mistakes cost dual_arithmetic
            if case["kind"] != "dual":
                out = fn(case["x"])
                if hasattr(out, "tangent"):
                    return {"returned_a_dual": True}
                return {"result": np.asarray(out, dtype=float)}
            x = _Dual(case["x"], case["dx"])
            if "inner" in case:
                x = self.student(namespace, case["inner"])(x)
            return _parts(fn(x))

    def judge(self, case, observed):
        jnp = _jax_ops()
        fn, label = getattr(jnp, case["fn"]), case["fn"]
        if "inner" in case:
            inner = getattr(jnp, case["inner"])
            fn, label = (lambda f, g: lambda x: f(g(x)))(fn, inner), f"{case['fn']}({case['inner']}(x))"
        if case["kind"] != "dual":
            if observed.get("returned_a_dual"):
                return Comparison(False, f"`{case['fn']}` of a plain {case['kind']} returned a Dual: for plain "
                                  "numbers and arrays return the plain result (np." + case["fn"] + ")")
            return compare(observed["result"], oracle.value(fn, case["x"]), name=f"{label} of a plain {case['kind']}")
        value, tangent = oracle.jvp(fn, (case["x"],), (case["dx"],))
        comparison = compare(observed["value"], value, name=f"the value of {label}")
        if not comparison.ok:
            return comparison
        x, dx = case["x"], case["dx"]
        hints = {}
        if case["fn"] == "log" and "inner" not in case:
            hints["log's tangent is (1/x) times the incoming tangent (chain rule); you returned 1/x alone, "
                  "without the chain factor"] = lambda e: np.asarray(1 / x, dtype=float) * np.ones_like(e)
        if case["fn"] == "sqrt" and "inner" not in case:
            hints["the derivative of sqrt(x) is 1/(2 sqrt(x)): the factor 1/2 is missing"] = 2.0
        if "inner" not in case:
            hints["the tangent lacks the chain factor: multiply the local derivative by the incoming tangent"] = \
                lambda e: e / dx
        return compare(observed["tangent"], tangent, name=f"the tangent of {label}", meaning="shaped like x",
                       hints=hints)


def _stand_ins(*extra: str) -> dict:
    replacements = {"Dual": _Dual, **STAND_IN_OPS}
    if "jvp" in extra:
        replacements["jvp"] = _jvp
    if "jacobian_forward" in extra:
        replacements["jacobian_forward"] = _jacobian_forward
    return replacements


def _constant_verdict(what: str, observed: dict) -> Comparison:
    return Comparison(False, f"here f does not depend on w (it returns a constant), so f(Dual) returns a plain "
                      f"number or array, not a Dual; your `{what}` raised {observed['constant_raised']}. Its output "
                      "then has a zero tangent.", diagnosis="constant output")


class Jvp(Exercise):
    name = "jvp"

    def cases(self, rng):
        functions = [_layer(rng, 3, 5), _ratio(rng, 4, 2), _reuse(rng, 3), _scalar(rng, 4), _scalar_nested(rng, 5),
                     _unused_inputs(rng, 4), _constant(rng, 3, 2), _constant(rng, 4, None)]
        return [{"f": f, "w": _point(rng, f.n), "v": rng.standard_normal(f.n)} for f in functions]

    def probe(self, namespace, case):
        w, v = case["w"].copy(), case["v"].copy()
        with swapped(namespace, _stand_ins()):
            try:
                value, tangent = self.student(namespace)(case["f"].build(STAND_INS), w, v)
            except Exception as exc:
                if not case["f"].name.startswith("a constant"):
                    raise
                return {"constant_raised": f"{type(exc).__name__}: {exc}"[:300]}
        return {"value": np.asarray(value, dtype=float), "tangent": np.asarray(tangent, dtype=float),
                "unchanged": bool(np.array_equal(w, case["w"]) and np.array_equal(v, case["v"]))}

    def judge(self, case, observed):
        if "constant_raised" in observed:
            return _constant_verdict("jvp", observed)
        if not observed["unchanged"]:
            return Comparison(False, "`jvp` changed w or v in place; leave the caller's arrays as they were.")
        value, tangent = oracle.jvp(case["f"].build(_jax_ops()), (case["w"],), (case["v"],))
        comparison = compare(observed["value"], value, name="the value f(w)", meaning="the output of f")
        if not comparison.ok:
            return comparison
        return compare(observed["tangent"], tangent, name="the tangent J v", meaning="one entry per output of f",
                       hints={"you returned f(w) in place of J v (value and tangent mixed up)": lambda e: value})


class JacobianForward(Exercise):
    name = "jacobian_forward"

    def cases(self, rng):
        functions = [_layer(rng, 3, 5), _ratio(rng, 4, 2), _reuse(rng, 3), _layer(rng, 6, 2), _constant(rng, 3, 4)]
        return [{"f": f, "w": _point(rng, f.n)} for f in functions]

    def probe(self, namespace, case):
        f = Counted(case["f"].build(STAND_INS), forbid_ad=True, name="f")
        with swapped(namespace, _stand_ins("jvp")):
            jac = self.student(namespace)(f, case["w"].copy())
        return {"jacobian": np.asarray(jac, dtype=float), "calls": f.calls}

    def judge(self, case, observed):
        expected = oracle.jacobian(case["f"].build(_jax_ops()), case["w"])
        comparison = compare(observed["jacobian"], expected, name="the Jacobian",
                             meaning="(outputs, inputs): column k is J e_k")
        if not comparison.ok:
            return comparison
        n, m = case["f"].n, case["f"].m
        if observed["calls"] != n:
            why = (" -- that is one pass per output (or more); forward mode gets a whole column J e_k per pass, so "
                   "it needs one pass per input" if observed["calls"] >= m else "")
            return Comparison(False, f"`jacobian_forward` called f {observed['calls']} times for n = {n} inputs and "
                              f"m = {m} outputs; it should call it exactly {n} times, one forward pass per input "
                              f"direction e_k{why}.", diagnosis="wrong number of function calls")
        return comparison


class GradForward(Exercise):
    name = "grad_forward"

    def cases(self, rng):
        functions = [_scalar(rng, 2), _scalar_nested(rng, 5), _scalar(rng, 8), _unused_inputs(rng, 4),
                     _constant(rng, 3, None)]
        return [{"f": f, "w": _point(rng, f.n)} for f in functions]

    def probe(self, namespace, case):
        f = Counted(case["f"].build(STAND_INS), forbid_ad=True, name="f")
        with swapped(namespace, _stand_ins("jvp", "jacobian_forward")):
            try:
                grad = self.student(namespace)(f, case["w"].copy())
            except Exception as exc:
                if not case["f"].name.startswith("a constant"):
                    raise
                return {"constant_raised": f"{type(exc).__name__}: {exc}"[:300]}
        return {"gradient": np.asarray(grad, dtype=float), "calls": f.calls}

    def judge(self, case, observed):
        if "constant_raised" in observed:
            return _constant_verdict("grad_forward", observed)
        comparison = compare(observed["gradient"], oracle.gradient(case["f"].build(_jax_ops()), case["w"]),
                             name="the gradient", meaning="one partial derivative per input, the shape of w")
        if not comparison.ok:
            return comparison
        n = case["f"].n
        if observed["calls"] != n:
            return Comparison(False, f"`grad_forward` called f {observed['calls']} times for n = {n}; it should "
                              f"call it exactly {n} times (one forward pass per coordinate).",
                              diagnosis="wrong number of function calls")
        return comparison


TABLE_KEYS = ("v1", "v2", "v3", "L")


class LectureTable(Exercise):
    name = "lecture_table"

    def cases(self, rng):
        return [{"w": np.array([rng.uniform(1.2, 5.0), rng.uniform(0.3, 4.0)])} for _ in range(3)]

    def probe(self, namespace, case):
        with swapped(namespace, _stand_ins("jvp")):
            table = self.student(namespace)(case["w"].copy())
        return {"table": {str(k): np.asarray([float(x) for x in table[k]]) for k in TABLE_KEYS if k in table}}

    def judge(self, case, observed):
        jnp = _jax_ops()
        steps = {"v1": lambda w: jnp.log(w[0]), "v2": lambda w: w[1] * jnp.log(w[0]),
                 "v3": lambda w: jnp.sqrt(w[1] * jnp.log(w[0])),
                 "L": lambda w: w[1] * jnp.log(w[0]) + jnp.sqrt(w[1] * jnp.log(w[0]))}
        w = case["w"]
        table = observed["table"]
        missing = [k for k in TABLE_KEYS if k not in table]
        if missing:
            return Comparison(False, f"the table needs the keys {list(TABLE_KEYS)}; {missing} are missing")
        rows = {}
        for key, step in steps.items():
            value = oracle.value(step, w)
            rows[key] = np.array([value, *(oracle.jvp(step, (w,), (e,))[1] for e in np.eye(2))])
        v1, v2 = rows["v1"], rows["v2"]
        hints = {
            "v2": {"v2 = w2 v1 is a product: its tangent is w2 dv1 + v1 dw2 (a term is missing)":
                   lambda e: np.array([v2[0], w[1] * v1[1], 0.0])},
            "L": {"v2 reaches L twice, directly and through v3 = sqrt(v2); you left out the route through v3":
                  lambda e: np.concatenate([e[:1], v2[1:]])},
            "v3": {"the derivative of sqrt(v2) is 1/(2 sqrt(v2)): the factor 1/2 is missing": lambda e:
                   np.concatenate([e[:1], 2 * e[1:]])},
        }
        for key in TABLE_KEYS:
            comparison = compare(table[key], rows[key], name=f"table[{key!r}]",
                                 meaning="(value, tangent along w1, tangent along w2)", hints=hints.get(key, {}))
            if not comparison.ok:
                return comparison
        return Comparison(True, "table OK")


# Every exercise of this assignment is about implementing forward mode, so no AD library anywhere.
AD_FORBIDDEN = {"dual_arithmetic", "power", "elementary_functions", "jvp", "jacobian_forward", "grad_forward",
                "lecture_table"}

EXERCISES = [DualArithmetic(), Power(), ElementaryFunctions(), Jvp(), JacobianForward(), GradForward(),
             LectureTable()]
