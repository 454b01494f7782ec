"""Hidden tests of assignment 03_reverse_mode.

The engine has three parts that later exercises build on: the graph (``Var``,
``primitive``, ``anp``), the rule table (``VJP_RULES``) and the backward pass.
So that one mistake costs points once, every probe runs with the student's
code for *its own* exercise only; everything else in the namespace is
replaced, while the probe runs, by the small correct engine of this module
(the same pattern as ``StepSizeErrors`` in assignment 1).

The stand-in engine also counts: rule applications, backward passes and the
layers (matmul nodes) in each graph it differentiates.  That is how the cost
is graded without timing anything: ``grad`` must evaluate ``f`` once and apply
at most one rule per graph edge, whatever the dimension; ``jacobian_reverse``
must run one backward pass per output; ``checkpointed_grad`` must never
differentiate a graph holding more than ``every`` layers.

Test functions are written once against an ``ops`` namespace and built twice:
with the stand-in ``anp`` for the probe, with ``jax.numpy`` for the oracle.
"""

from __future__ import annotations

import contextlib

import math
from types import SimpleNamespace

import numpy as np

from autograder.exercises.base import Exercise, swapped
from autograder.exercises.base import oracle
from course.checks import Comparison, compare
from course.counting import Counted

# ---------------------------------------------------------------------------
# The stand-in engine (runs in the student's kernel, without JAX).

COUNTS = {"rules": 0, "primitives": 0, "backward": 0, "largest_graph_layers": 0}


def _reset_counts() -> None:
    COUNTS.update(dict.fromkeys(COUNTS, 0))


class _Var:
    __array_ufunc__ = None

    def __init__(self, value, parents=(), op=None):
        self.value, self.parents, self.grad, self.op = value, parents, None, op

    shape = property(lambda self: np.shape(self.value))
    T = property(lambda self: _ANP.transpose(self))
    __add__ = lambda self, o: _ANP.add(self, o)
    __radd__ = lambda self, o: _ANP.add(o, self)
    __sub__ = lambda self, o: _ANP.subtract(self, o)
    __rsub__ = lambda self, o: _ANP.subtract(o, self)
    __mul__ = lambda self, o: _ANP.multiply(self, o)
    __rmul__ = lambda self, o: _ANP.multiply(o, self)
    __truediv__ = lambda self, o: _ANP.divide(self, o)
    __rtruediv__ = lambda self, o: _ANP.divide(o, self)
    __pow__ = lambda self, o: _ANP.power(self, o)
    __rpow__ = lambda self, o: _ANP.power(o, self)
    __matmul__ = lambda self, o: _ANP.matmul(self, o)
    __rmatmul__ = lambda self, o: _ANP.matmul(o, self)
    __neg__ = lambda self: _ANP.negative(self)
    sum = lambda self, axis=None: _ANP.sum(self, axis=axis)
    reshape = lambda self, *shape: _ANP.reshape(self, shape[0] if len(shape) == 1 else shape)


def _unbroadcast(x, g):
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    g = np.sum(g, axis=tuple(range(np.ndim(g) - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


# name -> one rule per argument, rule(g, ans, *args, **kwargs)
RULES = {
    "add": (lambda g, a, x, y: _unbroadcast(x, g), lambda g, a, x, y: _unbroadcast(y, g)),
    "subtract": (lambda g, a, x, y: _unbroadcast(x, g), lambda g, a, x, y: _unbroadcast(y, -g)),
    "multiply": (lambda g, a, x, y: _unbroadcast(x, g * y), lambda g, a, x, y: _unbroadcast(y, g * x)),
    "divide": (lambda g, a, x, y: _unbroadcast(x, g / y), lambda g, a, x, y: _unbroadcast(y, -g * a / y)),
    "power": (lambda g, a, x, y: _unbroadcast(x, g * y * x ** (y - 1)),
              lambda g, a, x, y: _unbroadcast(y, g * a * np.log(x))),
    "matmul": (lambda g, a, x, y: g @ y.T if np.ndim(y) == 2 else np.multiply.outer(g, y),
               lambda g, a, x, y: x.T @ g if np.ndim(x) == 2 else np.multiply.outer(x, g)),
    "maximum": (lambda g, a, x, y: _unbroadcast(x, g * (x >= y)), lambda g, a, x, y: _unbroadcast(y, g * (x < y))),
    "negative": (lambda g, a, x: -g,),
    "exp": (lambda g, a, x: g * a,),
    "log": (lambda g, a, x: g / x,),
    "tanh": (lambda g, a, x: g * (1 - a ** 2),),
    "sqrt": (lambda g, a, x: g / (2 * a),),
    "sum": (lambda g, a, x, axis=None: np.broadcast_to(g if axis is None else np.expand_dims(g, axis), np.shape(x)),),
    "reshape": (lambda g, a, x, shape: np.reshape(g, np.shape(x)),),
    "transpose": (lambda g, a, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)),),
}
PRIMITIVES = tuple(RULES)


def _counted_rule(rule):
    def apply(*args, **kwargs):
        COUNTS["rules"] += 1
        return rule(*args, **kwargs)
    return apply


def _primitive(name):
    fn = getattr(np, name)

    def wrapped(*args, **kwargs):
        values = tuple(a.value if isinstance(a, _Var) else a for a in args)
        ans = fn(*values, **kwargs)
        parents = tuple((a, (lambda g, i=i: _counted_rule(RULES[name][i])(g, ans, *values, **kwargs)))
                        for i, a in enumerate(args) if isinstance(a, _Var))
        if not parents:
            return ans
        COUNTS["primitives"] += 1
        return _Var(ans, parents, op=name)
    wrapped.__name__ = name
    return wrapped


_ANP = SimpleNamespace(**{name: _primitive(name) for name in PRIMITIVES})
_RULE_TABLE = {getattr(_ANP, name): RULES[name] for name in PRIMITIVES}


def _topological_order(output):
    order, visited, stack = [], set(), [(output, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p, _ in node.parents if id(p) not in visited)
    return order


def _backward(output, cotangent=None):
    order = _topological_order(output)
    COUNTS["backward"] += 1
    layers = sum(getattr(node, "op", None) == "matmul" for node in order)
    COUNTS["largest_graph_layers"] = max(COUNTS["largest_graph_layers"], layers)
    for node in order:
        node.grad = None
    output.grad = np.ones_like(output.value) if cotangent is None else cotangent
    for node in reversed(order):
        for parent, pullback in node.parents:
            share = pullback(node.grad)
            parent.grad = share if parent.grad is None else parent.grad + share


def _grads(inputs):
    grads = tuple(x.grad if x.grad is not None else np.zeros_like(x.value) for x in inputs)
    return grads[0] if len(grads) == 1 else grads


def _vjp(f, *args):
    inputs = [_Var(np.asarray(a, dtype=float)) for a in args]
    out = f(*inputs)

    def pullback(g):
        if isinstance(out, _Var):
            _backward(out, np.asarray(g, dtype=float))
        return _grads(inputs)
    return (out.value if isinstance(out, _Var) else out), pullback


def _grad(f):
    def gradient(*args):
        return _vjp(f, *args)[1](1.0)
    return gradient


def _mlp_loss(params, x, y):
    v = x
    for W in params[:-1]:
        v = _ANP.tanh(v @ W)
    return _ANP.sum((v @ params[-1] - y) ** 2) / len(x)


def _stand_ins(*keep: str) -> dict:
    """The whole correct engine, except the names in ``keep`` (the student's own answer under test)."""
    engine = {"Var": _Var, "anp": _ANP, "VJP_RULES": _RULE_TABLE, "unbroadcast": _unbroadcast,
              "primitive": lambda fn: _primitive(fn.__name__), "topological_order": _topological_order,
              "backward": _backward, "grad": _grad, "vjp": _vjp, "mlp_loss": _mlp_loss}
    return {name: value for name, value in engine.items() if name not in keep}


def _jax_ops():
    jnp = oracle._jax().numpy
    return SimpleNamespace(**{name: getattr(jnp, name) for name in PRIMITIVES})


@contextlib.contextmanager
def _constant_named(case):
    """For a constant f, an exception becomes an observation the judge can name (else it propagates)."""
    raised: list[str] = []
    try:
        yield raised
    except Exception as exc:
        if not case["f"].name.startswith("a constant"):
            raise
        raised.append(f"{type(exc).__name__}: {exc}"[:300])


def _constant_verdict(what: str, observed: dict) -> Comparison:
    return Comparison(False, f"here f does not depend on its argument (it returns a constant, not a Var), and "
                      f"`{what}` raised {observed['constant_raised']}: when f's output is not a Var there is no "
                      "graph to go back through, and every gradient is zero.", diagnosis="constant output")


def _as_tuple(values) -> bool | int:
    """False for one bare array, else how many entries the tuple (or list) has."""
    return len(values) if isinstance(values, (tuple, list)) else False


def _arity_verdict(what: str, arguments: int, observed: dict) -> Comparison | None:
    """One argument: the bare array, not a 1-tuple; several: a tuple with one array per argument."""
    as_tuple = observed.get("as_tuple", False)
    if arguments == 1 and as_tuple is not False:
        return Comparison(False, f"{what} returned a tuple of {as_tuple} for a function of one argument; it should "
                          "return the bare array when f has one argument (a tuple only for several)",
                          diagnosis="1-tuple instead of a bare array")
    if arguments > 1 and as_tuple != arguments:
        got = "a bare array" if as_tuple is False else f"a tuple of {as_tuple}"
        return Comparison(False, f"{what} returned {got} for a function of {arguments} arguments; it should return "
                          f"a tuple of {arguments} arrays, one per argument", diagnosis="wrong number of gradients")
    return None


def _arrays(values) -> list:
    values = values if isinstance(values, (tuple, list)) else (values,)
    return [np.asarray(v, dtype=float) for v in values]


# ---------------------------------------------------------------------------
# Test functions, written against ``ops`` (stand-in anp or jax.numpy); parameters drawn from the rng.


class _TestFunction:
    def __init__(self, name: str, shapes: list[tuple], build, out_shape: tuple = ()):
        self.name, self.shapes, self.build, self.out_shape = name, shapes, build, out_shape

    def __repr__(self) -> str:
        return f"{self.name} with inputs of shapes {self.shapes}"


def _layer_sum(rng, d):
    k = max(2, d // 2 + 1)
    A, b, c = rng.standard_normal((k, d)) / np.sqrt(d), rng.standard_normal(k), rng.standard_normal(k)
    return _TestFunction("sum(c * tanh(A w + b)) + sum(log(1 + w*w)) / d", [(d,)],
                         lambda ops: lambda w: ops.sum(ops.tanh(A @ w + b) * c) + ops.sum(ops.log(1 + w * w)) / d)


def _broadcasting(rng, n=4, k=3, p=2):
    W, C = rng.standard_normal((k, p)), rng.standard_normal((n, p))
    return _TestFunction("sum(C * exp(-(X W + b)^2)) + sum(sqrt(1 + X*X)) / sum(b*b + 1)", [(n, k), (p,)],
                         lambda ops: lambda X, b: ops.sum(ops.exp(-(X @ W + b) ** 2) * C)
                         + ops.sum(ops.sqrt(1 + X * X)) / ops.sum(b * b + 1))


def _fan_out(rng, d):
    c = rng.uniform(0.5, 1.5, d)
    def build(ops):
        def f(w):
            y = w * w  # used three times: the shares must add up
            z = y + y * w - ops.exp(-y) / (1 + y)
            return ops.sum(z * c)
        return f
    return _TestFunction("y = w*w; sum(c * (y + y*w - exp(-y)/(1+y)))", [(d,)], build)


def _axes_and_shapes(rng, m=3, n=4):
    u, B = rng.standard_normal(m), rng.standard_normal((m, 2))
    return _TestFunction("sum(log(1 + sum(X*X, axis=1)) * u) + sum(X.T @ B) + sum(reshape(X, (2, -1))**2)",
                         [(m, n)], lambda ops: lambda X: ops.sum(ops.log(1 + ops.sum(X * X, axis=1)) * u)
                         + ops.sum(ops.transpose(X) @ B) + ops.sum(ops.reshape(X, (2, m * n // 2)) ** 2) / 3)


def _relu(rng, d):
    M, c = rng.standard_normal((5, d)), rng.standard_normal(5)
    f = _TestFunction("sum(c * maximum(M w, 0)) + sum(w ** 3) / 10", [(d,)],
                      lambda ops: lambda w: ops.sum(ops.maximum(M @ w, 0.0) * c) + ops.sum(w ** 3) / 10)
    f.kinks = lambda w: M @ w  # the ReLU has no derivative where this is 0: test points stay away from it
    return f


def _vector_map(rng, n, m):
    A, B = rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal((m, n)) / np.sqrt(n)
    c = rng.standard_normal(n)
    return _TestFunction("tanh(A w) * exp(sum(c*w)/n) / (1 + (B w)^2)", [(n,)],
                         lambda ops: lambda w: ops.tanh(A @ w) * ops.exp(ops.sum(w * c) / n) / (1 + (B @ w) ** 2),
                         out_shape=(m,))


def _matrix_map(rng, n=3, k=4, p=2):
    W = rng.standard_normal((k, p))
    return _TestFunction("tanh(X W) * sqrt(1 + s*s) (a matrix output)", [(n, k), (p,)],
                         lambda ops: lambda X, s: ops.tanh(X @ W) * ops.sqrt(1 + s * s), out_shape=(n, p))


def _unused_argument(rng, n=3, p=2):
    """f(X, b) = sum(c * tanh(X)): b is never used, so its gradient is zero."""
    c = rng.standard_normal((n, p))
    return _TestFunction("sum(c * tanh(X)) (b unused)", [(n, p), (p,)],
                         lambda ops: lambda X, b: ops.sum(ops.tanh(X) * c))


def _constant(rng, n=4, out_shape=()):
    """Does not depend on w: f returns a plain number or array, never a Var, and every gradient is zero."""
    c = rng.standard_normal(out_shape)
    return _TestFunction("a constant (f does not depend on w)", [(n,)],
                         lambda ops: lambda w: c.copy() if out_shape else float(c), out_shape=out_shape)


def _point(rng, f: _TestFunction) -> list[np.ndarray]:
    return [rng.uniform(-1.5, 1.5, shape) for shape in f.shapes]


# ---------------------------------------------------------------------------
# Exercise 1: the lecture's backward sweep by hand


class LectureAdjoints(Exercise):
    name = "lecture_adjoints"
    KEYS = ("L", "v3", "v2", "v1", "w1", "w2")

    def cases(self, rng):
        return [{"w": np.array([rng.uniform(1.2, 5.0), rng.uniform(0.3, 4.0)])} for _ in range(3)]

    def probe(self, namespace, case):
        adjoints = self.student(namespace)(case["w"].copy())
        return {"adjoints": {k: float(adjoints[k]) for k in self.KEYS if k in adjoints}}

    def judge(self, case, observed):
        jnp = _jax_ops()
        w1, w2 = case["w"]
        v1 = float(np.log(w1))
        v2 = w2 * v1
        expected = {  # each adjoint is a partial derivative of L with the step's value as the variable
            "L": 1.0,
            "v3": 1.0,
            "v2": float(oracle.gradient(lambda v2: v2 + jnp.sqrt(v2), np.array(v2))),
            "v1": float(oracle.gradient(lambda v1: w2 * v1 + jnp.sqrt(w2 * v1), np.array(v1))),
        }
        gradient = oracle.gradient(lambda w: w[1] * jnp.log(w[0]) + jnp.sqrt(w[1] * jnp.log(w[0])), case["w"])
        expected["w1"], expected["w2"] = float(gradient[0]), float(gradient[1])
        adjoints = observed["adjoints"]
        missing = [k for k in self.KEYS if k not in adjoints]
        if missing:
            return Comparison(False, f"the dict needs the keys {list(self.KEYS)}; {missing} are missing")
        hints = {"v2": {"v2 reaches L twice, directly (L = v2 + v3) and through v3 = sqrt(v2); its adjoint is "
                        "the sum of both shares, and the direct share (1) is missing": lambda e: e - 1.0,
                        "v2 reaches L twice, directly (L = v2 + v3) and through v3 = sqrt(v2); its adjoint is "
                        "the sum of both shares, and the share through v3 is missing": lambda e: 1.0 + 0 * e}}
        for key in self.KEYS:
            comparison = compare(adjoints[key], expected[key], name=f"the adjoint of {key}", hints=hints.get(key))
            if not comparison.ok:
                return comparison
        return Comparison(True, "adjoints OK")


# ---------------------------------------------------------------------------
# Exercise 2: unbroadcast


class Unbroadcast(Exercise):
    name = "unbroadcast"
    SHAPES = [((3,), (4, 3)), ((4, 1), (4, 3)), ((), (2, 3)), ((1, 3), (5, 4, 3)), ((2, 1, 3), (2, 4, 3)),
              ((3, 2), (3, 2)), ((1,), (6,)),
              ((1, 3), (2, 3)), ((4, 1), (4, 2)), ((2,), (2, 2))]  # stretched or prepended axes of length 2

    def cases(self, rng):
        return [{"x": rng.standard_normal(x_shape) if x_shape else float(rng.standard_normal()),
                 "g": rng.standard_normal(g_shape)} for x_shape, g_shape in self.SHAPES]

    def probe(self, namespace, case):
        return {"result": np.asarray(self.student(namespace)(case["x"], case["g"].copy()), dtype=float)}

    def judge(self, case, observed):
        jnp = oracle._jax().numpy
        x_shape, g_shape = np.shape(case["x"]), case["g"].shape
        # unbroadcast is the VJP of broadcasting: JAX differentiates jnp.broadcast_to for the truth
        _, pullback = oracle.vjp(lambda x: jnp.broadcast_to(x, g_shape), np.asarray(case["x"], dtype=float))
        expected = pullback(case["g"])[0]
        return compare(observed["result"], expected, name=f"unbroadcast to shape {x_shape} of a gradient of shape "
                       f"{g_shape}", meaning=f"the shape of x, {x_shape}")


# ---------------------------------------------------------------------------
# Exercise 3: Var and primitive


def _operator_cases():
    """(text, expression(x, y), x is a Var, y is a Var, shapes of x and y)."""
    return [
        ("x + y", lambda x, y: x + y, True, True, (4, 3), (3,)),
        ("y + x (array on the left)", lambda x, y: y + x, True, False, (3,), (4, 3)),
        ("x - y", lambda x, y: x - y, True, True, (3,), (3,)),
        ("2.5 - x", lambda x, y: 2.5 - x, True, False, (3,), ()),
        ("x * y", lambda x, y: x * y, True, True, (2, 3), (2, 3)),
        ("y * x (array on the left)", lambda x, y: y * x, True, False, (2, 3), (3,)),
        ("x / y", lambda x, y: x / y, True, True, (3,), (3,)),
        ("1.5 / x", lambda x, y: 1.5 / x, True, False, (3,), ()),
        ("x ** 3.0", lambda x, y: x ** 3.0, True, False, (3,), ()),
        ("x ** 3.0 (x < 0)", lambda x, y: x ** 3.0, True, False, (3,), ()),
        ("2.0 ** x", lambda x, y: 2.0 ** x, True, False, (3,), ()),
        ("x ** y", lambda x, y: x ** y, True, True, (3,), (3,)),
        ("y @ x (matrix constant @ vector)", lambda x, y: y @ x, True, False, (3,), (4, 3)),
        ("x @ y (both Vars)", lambda x, y: x @ y, True, True, (2, 3), (3, 4)),
        ("-x", lambda x, y: -x, True, False, (3,), ()),
        ("x.T", lambda x, y: x.T, True, False, (2, 3), ()),
        ("x.sum()", lambda x, y: x.sum(), True, False, (2, 3), ()),
        ("x.sum(axis=0)", lambda x, y: x.sum(axis=0), True, False, (2, 3), ()),
        ("x.reshape(3, 2)", lambda x, y: x.reshape(3, 2), True, False, (2, 3), ()),
        ("x.reshape((3, 2))", lambda x, y: x.reshape((3, 2)), True, False, (2, 3), ()),
        ("x.reshape(-1)", lambda x, y: x.reshape(-1), True, False, (2, 3), ()),
    ]


# What the reflected operators give with their operands the wrong way round (the judge's hint).
REFLECTED_MISTAKES = {"2.5 - x": lambda x, y: x - 2.5, "1.5 / x": lambda x, y: x / 1.5,
                      "2.0 ** x": lambda x, y: x ** 2.0}

OPERATORS = {text: (expression, x_var, y_var, xs, ys) for text, expression, x_var, y_var, xs, ys in _operator_cases()}


class VarAndPrimitive(Exercise):
    """Each operator maps to the right primitive with the right argument order, values and parents right."""

    name = "var"

    def cases(self, rng):
        cases = []
        for text, (expression, _, _, x_shape, y_shape) in OPERATORS.items():
            x = rng.uniform(0.5, 2.0, x_shape) * (-1 if "(x < 0)" in text else 1)
            y = rng.uniform(0.5, 2.0, y_shape) if y_shape else float(rng.uniform(0.5, 2.0))
            out_shape = np.shape(expression(np.asarray(x), np.asarray(y)))
            cases.append({"operator": text, "x": x, "y": y, "cotangent": rng.standard_normal(out_shape)})
        cases.append({"operator": "constants only", "x": rng.uniform(0.5, 2.0, 3), "y": 0.0, "cotangent": 0.0})
        cases.append({"operator": "keyword argument", "x": rng.uniform(0.5, 2.0, (2, 3)), "y": 0.0,
                      "cotangent": rng.standard_normal(2)})
        return cases

    def probe(self, namespace, case):
        Var, anp = self.student(namespace, "Var"), self.student(namespace, "anp")
        table = {getattr(anp, name): RULES[name] for name in PRIMITIVES if hasattr(anp, name)}
        with swapped(namespace, {**_stand_ins("Var", "primitive", "anp"), "VJP_RULES": table}):
            if case["operator"] == "constants only":
                out = anp.exp(case["x"])
                return {"constant_is_var": isinstance(out, Var), "value": np.asarray(getattr(out, "value", out))}
            x = Var(case["x"].copy())
            if case["operator"] == "keyword argument":
                out, operands = anp.sum(x, axis=1), [x]
            else:
                expression, _, y_var, _, _ = OPERATORS[case["operator"]]
                y = Var(np.asarray(case["y"], dtype=float)) if y_var else case["y"]
                try:
                    out, operands = expression(x, y), ([x, y] if y_var else [x])
                except Exception as exc:
                    if "reshape" not in case["operator"]:
                        raise
                    return {"reshape_raised": f"{type(exc).__name__}: {exc}"[:300]}
            if not isinstance(out, Var):
                return {"is_var": False}
            constant_parents = [p for p, _ in out.parents if not hasattr(p, "parents")]
            if constant_parents:
                return {"is_var": True, "constant_parent": True}
            _backward(out, np.asarray(case["cotangent"], dtype=float))
            return {"is_var": True, "value": np.asarray(out.value, dtype=float),
                    "grads": [np.asarray(v.grad if v.grad is not None else np.zeros_like(v.value), dtype=float)
                              for v in operands]}

    def judge(self, case, observed):
        jnp = oracle._jax().numpy
        if "reshape_raised" in observed:
            return Comparison(False, f"{case['operator']} raised {observed['reshape_raised']}: like NumPy's, "
                              "Var.reshape must take the new shape as one tuple, x.reshape((3, 2)), or as separate "
                              "numbers, x.reshape(3, 2)", diagnosis="reshape")
        if case["operator"] == "constants only":
            if observed["constant_is_var"]:
                return Comparison(False, "a primitive called on constants only (no Var argument) returned a Var; "
                                  "it should return the plain result, which has no gradient")
            return compare(observed["value"], np.exp(case["x"]), name="anp.exp of a constant array")
        if not observed["is_var"]:
            return Comparison(False, f"`{case['operator']}` with a Var did not return a Var: the operator should "
                              "call the matching primitive of anp, which records the graph")
        if observed.get("constant_parent"):
            return Comparison(False, f"`{case['operator']}`: the node lists a constant (not a Var) among its parents; "
                              "`primitive` should record a (parent, pullback) pair only for Var arguments")
        if case["operator"] == "keyword argument":
            f, args, text = (lambda x: jnp.sum(x, axis=1)), (case["x"],), "anp.sum(x, axis=1)"
        else:
            expression, _, y_var, _, _ = OPERATORS[case["operator"]]
            text = case["operator"]
            if y_var:
                f, args = expression, (case["x"], np.asarray(case["y"], dtype=float))
            else:
                f, args = (lambda x: expression(x, case["y"])), (case["x"],)
        value, pullback = oracle.vjp(f, *args)
        swapped_operands = REFLECTED_MISTAKES.get(text)
        hints = {} if swapped_operands is None else {
            f"the operands are swapped: a reflected operator such as __rsub__ is called for `other - self`, so it "
            f"must call the primitive as primitive(other, self)": lambda e: swapped_operands(case["x"], case["y"])}
        comparison = compare(observed["value"], value, name=f"the value of {text}", hints=hints)
        if not comparison.ok:
            return comparison
        return compare(tuple(observed["grads"]), tuple(pullback(case["cotangent"])),
                       name=f"the gradients through {text} (computed with a correct backward pass and rules)",
                       meaning="shaped like the operand")


# ---------------------------------------------------------------------------
# Exercise 4: the rule table


def _rule_cases():
    """(primitive, shapes of the arguments, constants passed after them, keyword arguments, domain)."""
    return [
        ("add", [(4, 3), (3,)], (), {}, "any"), ("add", [(2, 1), (1, 3)], (), {}, "any"),
        ("add", [(1, 3), (2, 3)], (), {}, "any"),
        ("subtract", [(3,), (4, 3)], (), {}, "any"), ("subtract", [(4, 3), (4, 1)], (), {}, "any"),
        ("multiply", [(4, 3), (4, 1)], (), {}, "any"), ("multiply", [(), (2, 3)], (), {}, "any"),
        ("divide", [(4, 3), (3,)], (), {}, "positive"), ("divide", [(2, 1), (2, 3)], (), {}, "positive"),
        ("power", [(3, 4), (4,)], (), {}, "positive"), ("power", [(4,), (3, 4)], (), {}, "positive"),
        ("matmul", [(4, 3), (3, 2)], (), {}, "any"), ("matmul", [(4, 3), (3,)], (), {}, "any"),
        ("matmul", [(3,), (3, 2)], (), {}, "any"), ("maximum", [(4, 3), (3,)], (), {}, "apart"),
        ("maximum", [(1, 3), (2, 3)], (), {}, "apart"),
        ("negative", [(4, 3)], (), {}, "any"), ("exp", [(4, 3)], (), {}, "any"),
        ("log", [(4, 3)], (), {}, "positive"), ("tanh", [(4, 3)], (), {}, "any"),
        ("sqrt", [(4, 3)], (), {}, "positive"), ("sum", [(2, 3, 4)], (), {}, "any"),
        ("sum", [(2, 3, 4)], (), {"axis": 1}, "any"), ("sum", [(2, 3, 4)], (), {"axis": (0, 2)}, "any"),
        ("reshape", [(3, 4)], ((2, 6),), {}, "any"), ("transpose", [(3, 5)], (), {}, "any"),
        ("transpose", [(2, 3, 4)], (), {"axes": (1, 2, 0)}, "any"),
    ]


TANH_HINT = ("the tanh rule uses the input x where it needs the output: d tanh(x)/dx = 1 - tanh(x)^2 = 1 - ans^2, "
             "not 1 - x^2")


class VjpRules(Exercise):
    name = "vjp_rules"

    def cases(self, rng):
        cases = []
        for name, shapes, constants, kwargs, domain in _rule_cases():
            args = [rng.uniform(0.5, 2.0, s) if domain == "positive" else rng.uniform(-1.5, 1.5, s) for s in shapes]
            if domain == "apart":  # maximum: keep the two arguments apart, away from the kink x == y
                small, big = sorted((0, 1), key=lambda i: np.prod(shapes[i]))
                args[small] = rng.uniform(-1.5, 1.5, shapes[small])
                args[big] = args[small] + rng.choice([-1.0, 1.0], shapes[big]) * rng.uniform(0.2, 1.0, shapes[big])
            if name == "power":
                args[1] = rng.uniform(-1.5, 2.5, shapes[1])
            ans = getattr(np, name)(*args, *constants, **kwargs)
            cases.append({"primitive": name, "args": args, "constants": constants, "kwargs": kwargs,
                          "g": rng.standard_normal(np.shape(ans))})
        return cases

    def probe(self, namespace, case):
        anp, table = self.student(namespace, "anp"), self.student(namespace, "VJP_RULES")
        primitive = getattr(anp, case["primitive"])
        if primitive not in table:
            return {"missing": True}
        values = [a.copy() for a in case["args"]] + list(case["constants"])
        ans = getattr(np, case["primitive"])(*values, **case["kwargs"])
        rules = table[primitive]
        if len(rules) < len(case["args"]):
            return {"too_few": len(rules)}
        shares = []
        with swapped(namespace, {"unbroadcast": _unbroadcast}):
            for i in range(len(case["args"])):
                try:
                    shares.append(np.asarray(rules[i](case["g"].copy(), ans, *values, **case["kwargs"]), dtype=float))
                except Exception as exc:  # the student's rule: name which one failed, and how
                    return {"raised": i, "rule_error": f"{type(exc).__name__}: {exc}"}
        return {"shares": shares}

    def judge(self, case, observed):
        name = case["primitive"]
        call = f"anp.{name}" + (f"(..., {case['kwargs']})" if case["kwargs"] else "")
        if observed.get("missing"):
            return Comparison(False, f"no rule is registered for anp.{name}: call defvjp(anp.{name}, ...)")
        if "too_few" in observed:
            return Comparison(False, f"anp.{name} has {len(case['args'])} arguments but only {observed['too_few']} "
                              "rule(s) registered: defvjp needs one rule per argument")
        if "raised" in observed:
            i = observed["raised"]
            why = (" -- the shapes do not fit: a transpose is probably missing (for X @ Y the rules are g Y^T and "
                   "X^T g)" if name == "matmul" else "")
            return Comparison(False, f"the rule of {call} for argument {i} (shape {case['args'][i].shape}) raised "
                              f"{observed['rule_error']}{why}", diagnosis="rule raised")
        jnp = oracle._jax().numpy
        fn = getattr(jnp, name)
        f = lambda *args: fn(*args, *case["constants"], **case["kwargs"])
        _, pullback = oracle.vjp(f, *case["args"])
        expected = pullback(case["g"])
        for i, (share, truth, arg) in enumerate(zip(observed["shares"], expected, case["args"])):
            label = f"the rule of {call} for argument {i} (shape {arg.shape})"
            if share.shape != truth.shape:
                why = ("a transpose is probably missing: for X @ Y the rules are g Y^T and X^T g"
                       if name == "matmul" else
                       "the result must be summed back to the argument's shape with unbroadcast"
                       if len(case["args"]) == 2 else "the result must have the argument's shape")
                return Comparison(False, f"{label} returned shape {share.shape}, expected {truth.shape}: {why}",
                                  diagnosis="wrong shape")
            hints = {}
            if name == "tanh":
                hints[TANH_HINT] = lambda e: case["g"] * (1 - case["args"][0] ** 2)
            if name == "matmul" and truth.ndim == 2 and truth.shape[0] == truth.shape[1]:
                hints["a transpose is missing in the matmul rule"] = lambda e: e.T
            comparison = compare(share, truth, name=label, meaning="shaped like the argument", hints=hints)
            if not comparison.ok:
                return comparison
        return Comparison(True, "rules OK")


# ---------------------------------------------------------------------------
# Exercise 5: backward


def _fan_out_graph(ops):
    """b = a + a; c = b + b: dc/da = 4."""
    return lambda a: (lambda b: b + b)(a + a)


def _chain(length):
    def build(ops):
        def f(w):
            for _ in range(length):
                w = w * 0.9995 + 0.001
            return ops.sum(w)
        return f
    return build


def _backward_overwriting(output):
    """A classic mistake: each share replaces the parent's gradient instead of adding to it."""
    order = _topological_order(output)
    for node in order:
        node.grad = None
    output.grad = np.ones_like(output.value)
    for node in reversed(order):
        for parent, pullback in node.parents:
            parent.grad = pullback(node.grad)


def _backward_recursive(output):
    """Another: a depth-first recursion that forwards every share as soon as it arrives (no topological order)."""
    order = _topological_order(output)
    for node in order:
        node.grad = np.zeros_like(np.asarray(node.value, dtype=float))
    output.grad = np.ones_like(output.value)

    def send(node):
        for parent, pullback in node.parents:
            parent.grad = parent.grad + pullback(node.grad)
            send(parent)  # passes on parent.grad before every user of parent has added its share
    send(output)


class Backward(Exercise):
    name = "backward"

    def cases(self, rng):
        fan_out = _TestFunction("b = a + a; c = b + b", [()], _fan_out_graph)
        functions = [("fan-out", fan_out, [np.array(float(rng.uniform(0.5, 2.0)))]),
                     ("reuse", _fan_out(rng, 4), None), ("broadcasting", _broadcasting(rng), None),
                     ("axes and shapes", _axes_and_shapes(rng), None),
                     ("deep chain of 2000 operations", _TestFunction("w -> 0.9995 w + 0.001, 1000 times",
                                                                     [(3,)], _chain(1000)), None),
                     ("vector output with a cotangent", _vector_map(rng, 3, 5), None)]
        cases = []
        for label, f, point in functions:
            args = point if point is not None else _point(rng, f)
            cotangent = rng.standard_normal(f.out_shape) if f.out_shape else None
            cases.append({"graph": label, "f": f, "args": args, "cotangent": cotangent})
        return cases

    def probe(self, namespace, case):
        backward = self.student(namespace)
        with swapped(namespace, _stand_ins("backward", "topological_order")):
            inputs = [_Var(a.copy()) for a in case["args"]]
            out = case["f"].build(_ANP)(*inputs)
            results = []
            for _ in range(2):  # twice: a second call must give the same answer, not double it
                if case["cotangent"] is None:
                    backward(out)
                else:
                    backward(out, case["cotangent"].copy())
                results.append([np.asarray(x.grad if x.grad is not None else np.full(np.shape(x.value), np.nan),
                                           dtype=float) for x in inputs])
        return {"first": results[0], "second": results[1]}

    def judge(self, case, observed):
        f = case["f"].build(_jax_ops())
        value, pullback = oracle.vjp(f, *case["args"])
        cotangent = np.ones(np.shape(value)) if case["cotangent"] is None else case["cotangent"]
        expected = tuple(pullback(cotangent))
        hints = {}
        if case["graph"] in ("fan-out", "reuse"):
            hints = {"a node's gradient is overwritten by each new share instead of accumulated (+=): where a value "
                     "is used more than once (fan-out) only the last share survives":
                     lambda e: self._mutant(case, _backward_overwriting),
                     "the gradient is passed on recursively as soon as each share arrives, without a topological "
                     "order: a node that is used twice forwards its gradient before it is complete":
                     lambda e: self._mutant(case, _backward_recursive)}
        comparison = compare(tuple(observed["first"]), expected, name=f"the gradients on the graph '{case['graph']}'",
                             meaning="shaped like each input",
                             hints={text: (lambda e, make=make: make(e)[self._leaf(e, expected)])
                                    for text, make in hints.items()})
        if not comparison.ok:
            return comparison
        again = compare(tuple(observed["second"]), expected, name="the gradients after calling backward a second time")
        if not again.ok:
            return Comparison(False, "backward gave the right gradients the first time but not the second: reset "
                              "every node's grad before accumulating, so that calling it twice gives the same "
                              "answer\n" + again.message, diagnosis="backward not idempotent")
        return comparison

    @staticmethod
    def _leaf(e, expected) -> int:
        """Which input's gradient ``compare`` is asking a hint about (it walks the tuple leaf by leaf)."""
        return next((i for i, x in enumerate(expected) if np.shape(x) == np.shape(e) and np.allclose(x, e)), 0)

    @staticmethod
    def _mutant(case, algorithm) -> list[np.ndarray]:
        inputs = [_Var(a.copy()) for a in case["args"]]
        algorithm(case["f"].build(_ANP)(*inputs))
        return [np.asarray(x.grad, dtype=float) for x in inputs]


# ---------------------------------------------------------------------------
# Exercises 6-8: grad, vjp, jacobian_reverse


class Grad(Exercise):
    name = "grad"

    def cases(self, rng):
        functions = [_layer_sum(rng, 3), _layer_sum(rng, 300), _broadcasting(rng), _fan_out(rng, 5),
                     _axes_and_shapes(rng), _unused_argument(rng), _constant(rng)]
        cases = [{"f": f, "args": _point(rng, f)} for f in functions]
        relu = _relu(rng, 4)
        cases.append({"f": relu, "args": [self._away_from_kinks(rng, relu)]})
        return cases

    @staticmethod
    def _away_from_kinks(rng, f):
        for _ in range(1000):
            w = rng.uniform(-1.5, 1.5, f.shapes[0])
            if np.min(np.abs(f.kinks(w))) > 0.1:
                return w
        raise AssertionError("no point away from the ReLU's kinks")

    def probe(self, namespace, case):
        args = [a.copy() for a in case["args"]]
        one_pass = case["f"].build(_ANP)
        _reset_counts()
        one_pass(*[_Var(a) for a in args])
        primitives = COUNTS["primitives"]
        f = Counted(one_pass, forbid_ad=True, name="f")
        with swapped(namespace, _stand_ins("grad")), _constant_named(case) as raised:
            _reset_counts()
            grads = self.student(namespace)(f)(*args)
        if raised:
            return {"constant_raised": raised[0]}
        return {"grads": _arrays(grads), "as_tuple": _as_tuple(grads), "calls": f.calls, "rules": COUNTS["rules"],
                "primitives": primitives, "unchanged": all(np.array_equal(a, b) for a, b in zip(args, case["args"]))}

    def judge(self, case, observed):
        f = case["f"].build(_jax_ops())
        args = case["args"]
        if "constant_raised" in observed:
            return _constant_verdict("grad", observed)
        verdict = _arity_verdict("grad(f)(*args)", len(args), observed)
        if verdict is not None:
            return verdict
        expected = tuple(oracle.gradient(f, *args, argnums=tuple(range(len(args)))))
        comparison = compare(tuple(observed["grads"]), expected, name=f"the gradient of {case['f'].name}",
                             meaning="one gradient per argument, shaped like it")
        if not comparison.ok:
            return comparison
        d = sum(np.size(a) for a in args)
        if observed["calls"] != 1:
            return Comparison(False, f"grad evaluated f {observed['calls']} times for d = {d} inputs; reverse mode "
                              "needs one forward pass and one backward pass, whatever d is (finite differences "
                              "need about d evaluations)", diagnosis="wrong cost")
        if observed["rules"] > 2 * observed["primitives"]:
            return Comparison(False, f"the backward pass applied {observed['rules']} vector-Jacobian rules for a "
                              f"forward pass of {observed['primitives']} primitives; one backward pass applies at "
                              "most one rule per argument of each primitive", diagnosis="wrong cost")
        if not observed["unchanged"]:
            return Comparison(False, "grad changed its arguments in place; leave the caller's arrays as they were")
        return comparison


class Vjp(Exercise):
    name = "vjp"

    def cases(self, rng):
        functions = [_vector_map(rng, 3, 5), _vector_map(rng, 6, 2), _matrix_map(rng), _layer_sum(rng, 4),
                     _unused_argument(rng), _constant(rng, 3, (2,))]
        return [{"f": f, "args": _point(rng, f), "u1": rng.standard_normal(f.out_shape),
                 "u2": rng.standard_normal(f.out_shape)} for f in functions]

    def probe(self, namespace, case):
        f = Counted(case["f"].build(_ANP), forbid_ad=True, name="f")
        with swapped(namespace, _stand_ins("vjp")), _constant_named(case) as raised:
            value, pullback = self.student(namespace)(f, *[a.copy() for a in case["args"]])
            first, second = pullback(case["u1"].copy()), pullback(case["u2"].copy())
        if raised:
            return {"constant_raised": raised[0]}
        return {"value": np.asarray(value, dtype=float), "first": _arrays(first), "second": _arrays(second),
                "as_tuple": _as_tuple(first), "calls": f.calls}

    def judge(self, case, observed):
        if "constant_raised" in observed:
            return _constant_verdict("vjp", observed)
        verdict = _arity_verdict("the pullback", len(case["args"]), observed)
        if verdict is not None:
            return verdict
        value, pullback = oracle.vjp(case["f"].build(_jax_ops()), *case["args"])
        comparison = compare(observed["value"], value, name="the value f(*args)")
        if not comparison.ok:
            return comparison
        for key, u in (("first", case["u1"]), ("second", case["u2"])):
            comparison = compare(tuple(observed[key]), tuple(pullback(u)),
                                 name=f"the pullback of {case['f'].name} ({key} call, random cotangent u)",
                                 meaning="u^T J: one cotangent per argument, shaped like it")
            if not comparison.ok:
                return comparison
        if observed["calls"] != 1:
            return Comparison(False, f"vjp evaluated f {observed['calls']} times for one value and two pullbacks; "
                              "the pullback should reuse the graph recorded by the single forward pass",
                              diagnosis="wrong cost")
        return comparison


class JacobianReverse(Exercise):
    name = "jacobian_reverse"

    def cases(self, rng):
        return [{"f": f, "args": _point(rng, f)}
                for f in (_vector_map(rng, 3, 5), _vector_map(rng, 6, 2), _vector_map(rng, 4, 4))]

    def probe(self, namespace, case):
        f = Counted(case["f"].build(_ANP), forbid_ad=True, name="f")
        with swapped(namespace, _stand_ins("jacobian_reverse")):
            _reset_counts()
            jac = self.student(namespace)(f, case["args"][0].copy())
        return {"jacobian": np.asarray(jac, dtype=float), "calls": f.calls, "passes": COUNTS["backward"]}

    def judge(self, case, observed):
        expected = oracle.jacobian(case["f"].build(_jax_ops()), case["args"][0])
        m, n = expected.shape
        comparison = compare(observed["jacobian"], expected, name="the Jacobian",
                             meaning="(outputs, inputs): row i is e_i^T J",
                             hints={"the Jacobian is transposed: row i should be the VJP with the i-th unit "
                                    "cotangent": lambda e: e.T})
        if not comparison.ok:
            return comparison
        if observed["passes"] != m:
            return Comparison(False, f"jacobian_reverse ran {observed['passes']} backward passes for m = {m} "
                              f"outputs and n = {n} inputs; reverse mode gets one row per backward pass, so it "
                              f"needs exactly m = {m}", diagnosis="wrong cost")
        return comparison


# ---------------------------------------------------------------------------
# Exercises 9-11: the network


def _network(rng, sizes, batch):
    params = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(sizes, sizes[1:])]
    return params, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def _mlp_loss_jax(params, x, y):
    jnp = oracle._jax().numpy
    v = x
    for W in params[:-1]:
        v = jnp.tanh(v @ W)
    return jnp.sum((v @ params[-1] - y) ** 2) / len(x)


class MlpLoss(Exercise):
    name = "mlp_loss"

    def cases(self, rng):
        return [dict(zip(("params", "x", "y"), _network(rng, sizes, batch)))
                for sizes, batch in [((3, 5, 2), 4), ((4, 6, 5, 3), 7), ((2, 3, 3, 3, 1), 5)]]

    def probe(self, namespace, case):
        mlp_loss = self.student(namespace)
        params = [W.copy() for W in case["params"]]
        with swapped(namespace, _stand_ins("mlp_loss")):
            value = mlp_loss(params, case["x"].copy(), case["y"].copy())
            grads = _grad(lambda *Ws: mlp_loss(list(Ws), case["x"], case["y"]))(*params)
        return {"value": float(getattr(value, "value", value)), "grads": _arrays(grads)}

    def judge(self, case, observed):
        params, x, y = case["params"], case["x"], case["y"]
        value = float(_mlp_loss_jax(params, x, y))
        b = len(x)
        comparison = compare(observed["value"], value, name="the loss",
                             hints={"the sum of squares is not divided by the batch size b (the mean over "
                                    "examples)": float(b),
                                    "the mean is taken over every entry, not over the examples (divide the sum "
                                    "by the batch size b only)": 1 / y.shape[1]})
        if not comparison.ok:
            return comparison
        expected = tuple(oracle.gradient(lambda *Ws: _mlp_loss_jax(list(Ws), x, y), *params,
                                         argnums=tuple(range(len(params)))))
        return compare(tuple(observed["grads"]), expected, name="the gradients of the loss (through the correct "
                       "engine)", meaning="one per weight matrix, shaped like it")


class Train(Exercise):
    name = "train"

    def cases(self, rng):
        cases = []
        for sizes in [(3, 4, 2), (3, 2)]:  # (3, 2): one weight matrix, whose pullback returns a bare array
            params, x, y = _network(rng, sizes, 6)
            cases.append({"params": params, "x": x, "y": y, "steps": 4, "learning_rate": 0.1})
        return cases

    def probe(self, namespace, case):
        with swapped(namespace, _stand_ins("train")):
            params, losses = self.student(namespace)([W.copy() for W in case["params"]], case["x"], case["y"],
                                                     case["steps"], case["learning_rate"])
        return {"params": _arrays(list(params)), "losses": np.asarray(losses, dtype=float)}

    def judge(self, case, observed):
        jax = oracle._jax()
        params, x, y = [np.asarray(W) for W in case["params"]], case["x"], case["y"]
        losses = []
        for _ in range(case["steps"]):
            value, grads = oracle._numpy(jax.value_and_grad(lambda p: _mlp_loss_jax(p, x, y))(oracle._f64(params)))
            losses.append(float(value))
            params = [W - case["learning_rate"] * dW for W, dW in zip(params, grads)]
        comparison = compare(observed["losses"], np.array(losses), name="the losses before each step",
                             meaning="one loss per step")
        if comparison.ok:
            comparison = compare(tuple(observed["params"]), tuple(params),
                                 name=f"the parameters after {case['steps']} steps")
        if not comparison.ok and len(params) == 1:
            comparison.message += ("\n  (this network has one weight matrix: its pullback returns a bare array, not "
                                   "a tuple of one; zip(params, grads) would then pair the matrix with the rows "
                                   "of its gradient)")
        return comparison


class CheckpointedGrad(Exercise):
    name = "checkpointed_grad"

    def cases(self, rng):
        cases = []
        for layers, every in [(5, 2), (6, 3), (4, 1), (3, 5), (7, 3)]:
            sizes = tuple(int(s) for s in rng.integers(2, 6, layers + 1))
            params, x, y = _network(rng, sizes, int(rng.integers(3, 7)))
            cases.append({"params": params, "x": x, "y": y, "every": every})
        return cases

    def probe(self, namespace, case):
        with swapped(namespace, _stand_ins("checkpointed_grad")):
            _reset_counts()
            grads, stored = self.student(namespace)([W.copy() for W in case["params"]], case["x"].copy(),
                                                    case["y"].copy(), case["every"])
        return {"grads": _arrays(list(grads)), "stored": int(stored),
                "largest_graph_layers": COUNTS["largest_graph_layers"]}

    def judge(self, case, observed):
        params, x, y, every = case["params"], case["x"], case["y"], case["every"]
        t = len(params)
        expected = tuple(oracle.gradient(lambda *Ws: _mlp_loss_jax(list(Ws), x, y), *params,
                                         argnums=tuple(range(t))))
        comparison = compare(tuple(observed["grads"]), expected,
                             name=f"the checkpointed gradients ({t} layers, a checkpoint every {every})",
                             meaning="one per weight matrix, shaped like it")
        if not comparison.ok:
            return comparison
        checkpoints = math.ceil(t / every)
        if observed["stored"] != checkpoints:
            return Comparison(False, f"{t} layers with a checkpoint every {every} store {checkpoints} activations "
                              f"(v_0, v_{every}, ...), but you reported {observed['stored']}")
        largest = observed["largest_graph_layers"]
        if largest > min(every, t):
            return Comparison(False, f"the largest graph you differentiated held {largest} layers; with a "
                              f"checkpoint every {every} layers no graph should hold more than {min(every, t)} "
                              "(differentiate one segment at a time, recomputing it from its checkpoint)",
                              diagnosis="no checkpointing")
        return comparison


# Every exercise of this assignment is about implementing reverse mode, so no AD library anywhere.
AD_FORBIDDEN = {"lecture_adjoints", "unbroadcast", "var", "vjp_rules", "backward", "grad", "vjp", "jacobian_reverse",
                "mlp_loss", "train", "checkpointed_grad"}

EXERCISES = [LectureAdjoints(), Unbroadcast(), VarAndPrimitive(), VjpRules(), Backward(), Grad(), Vjp(),
             JacobianReverse(), MlpLoss(), Train(), CheckpointedGrad()]
