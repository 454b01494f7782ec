"""Reference solutions of assignment 03_reverse_mode: a reverse-mode engine over NumPy in one screen.

Kept AST-equal to the solution cells of the source notebook (tests/test_reference_sync.py).  Three
concerns, as in autograd: the graph (``Var``, ``primitive`` and the ``anp`` wrapper), the table of
vector-Jacobian rules (``defvjp``), and the backward pass (``topological_order``, ``backward``).
"""

import operator
from types import SimpleNamespace

import numpy as np


def lecture_adjoints(w):
    """The reverse sweep of L(w1, w2) = w2 log w1 + sqrt(w2 log w1), by hand: the adjoint of every step."""
    w1, w2 = w
    v1 = np.log(w1)                  # forward pass: every value the backward pass will need
    v2 = w2 * v1
    v3 = np.sqrt(v2)
    L_bar = 1.0                      # backward pass: from the output to the inputs
    v3_bar = L_bar * 1.0             # L = v2 + v3
    v2_bar = L_bar * 1.0 + v3_bar / (2 * np.sqrt(v2))  # v2 reaches L directly and through v3
    v1_bar = v2_bar * w2             # v2 = w2 v1
    w2_bar = v2_bar * v1
    w1_bar = v1_bar / w1             # v1 = log w1
    return {"L": L_bar, "v3": v3_bar, "v2": v2_bar, "v1": v1_bar, "w1": w1_bar, "w2": w2_bar}


def unbroadcast(x, g):
    """Sum the gradient g back down to the shape of x, undoing the broadcasting of the forward pass.

    If x was stretched along an axis (or had axes prepended) to meet the other operand, every copy of
    x influenced the output, so the gradient of x is the sum over those copies.
    """
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    g = np.sum(g, axis=tuple(range(np.ndim(g) - len(shape))))  # axes that broadcasting prepended
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    return np.sum(g, axis=stretched, keepdims=True) if stretched else g


class Var:
    """A node of the computation graph: a value, and the (parent, pullback) pairs it was computed from.

    A pullback maps this node's gradient to its share of the parent's gradient: it is a vector-Jacobian
    product, g -> g J, for the Jacobian J of this node with respect to that parent.
    """

    __array_ufunc__ = None  # `ndarray + Var` must hand over to Var.__radd__, not loop over the array
    __slots__ = ("value", "parents", "grad")  # one node per operation: small and quick (list any new attribute)

    def __init__(self, value, parents=()):
        self.value = value
        self.parents = parents  # (Var, pullback) pairs, one per Var argument
        self.grad = None        # filled in by backward()

    @property
    def shape(self):
        return np.shape(self.value)

    def __repr__(self):
        return f"Var({self.value!r})"
    def __add__(self, other): return anp.add(self, other)
    def __radd__(self, other): return anp.add(other, self)
    def __sub__(self, other): return anp.subtract(self, other)
    def __rsub__(self, other): return anp.subtract(other, self)
    def __mul__(self, other): return anp.multiply(self, other)
    def __rmul__(self, other): return anp.multiply(other, self)
    def __truediv__(self, other): return anp.divide(self, other)
    def __rtruediv__(self, other): return anp.divide(other, self)
    def __pow__(self, other): return anp.power(self, other)
    def __rpow__(self, other): return anp.power(other, self)
    def __matmul__(self, other): return anp.matmul(self, other)
    def __rmatmul__(self, other): return anp.matmul(other, self)
    def __neg__(self): return anp.negative(self)

    @property
    def T(self):
        return anp.transpose(self)

    def sum(self, axis=None):
        return anp.sum(self, axis=axis)

    def reshape(self, *shape):
        return anp.reshape(self, shape[0] if len(shape) == 1 else shape)
def primitive(fn):
    """Wrap a NumPy function so that, called on Vars, it records how to send gradients back."""
    def wrapped(*args, **kwargs):
        values = [arg.value if isinstance(arg, Var) else arg for arg in args]
        ans = fn(*values, **kwargs)
        parents = [(arg, lambda g, i=i: VJP_RULES[wrapped][i](g, ans, *values, **kwargs))
                   for i, arg in enumerate(args) if isinstance(arg, Var)]  # constants get no pullback
        return Var(ans, parents) if parents else ans
    wrapped.__name__ = fn.__name__
    return wrapped



VJP_RULES = {}  # primitive -> (rule for argument 0, rule for argument 1, ...)


def defvjp(primitive_function, *rules):
    """Register one vector-Jacobian rule per argument: rule(g, ans, *args, **kwargs) -> that argument's share."""
    VJP_RULES[primitive_function] = rules


# Arithmetic goes through Python's operators: on arrays they are NumPy's ufuncs (np.add, ...), and on
# the 0-d values of scalar code they skip the ufunc machinery (about 10 times faster per operation).
anp = SimpleNamespace(  # NumPy, recording the graph when an argument is a Var
    add=primitive(operator.add), subtract=primitive(operator.sub), multiply=primitive(operator.mul),
    divide=primitive(operator.truediv), negative=primitive(operator.neg), power=primitive(operator.pow),
    matmul=primitive(operator.matmul), exp=primitive(np.exp), log=primitive(np.log), tanh=primitive(np.tanh),
    sqrt=primitive(np.sqrt), sum=primitive(np.sum), maximum=primitive(np.maximum),
    reshape=primitive(np.reshape), transpose=primitive(np.transpose),
)


defvjp(anp.add,       lambda g, ans, x, y: unbroadcast(x, g),
                      lambda g, ans, x, y: unbroadcast(y, g))
defvjp(anp.subtract,  lambda g, ans, x, y: unbroadcast(x, g),
                      lambda g, ans, x, y: unbroadcast(y, -g))
defvjp(anp.multiply,  lambda g, ans, x, y: unbroadcast(x, g * y),
                      lambda g, ans, x, y: unbroadcast(y, g * x))
defvjp(anp.divide,    lambda g, ans, x, y: unbroadcast(x, g / y),
                      lambda g, ans, x, y: unbroadcast(y, -g * ans / y))
defvjp(anp.power,     lambda g, ans, x, y: unbroadcast(x, g * y * x ** (y - 1)),
                      lambda g, ans, x, y: unbroadcast(y, g * ans * np.log(x)))
defvjp(anp.matmul,    lambda g, ans, x, y: g @ y.T if np.ndim(y) == 2 else np.multiply.outer(g, y),
                      lambda g, ans, x, y: x.T @ g if np.ndim(x) == 2 else np.multiply.outer(x, g))
defvjp(anp.maximum,   lambda g, ans, x, y: unbroadcast(x, g * (x >= y)),
                      lambda g, ans, x, y: unbroadcast(y, g * (x < y)))
defvjp(anp.negative,  lambda g, ans, x: -g)
defvjp(anp.exp,       lambda g, ans, x: g * ans)
defvjp(anp.log,       lambda g, ans, x: g / x)
defvjp(anp.tanh,      lambda g, ans, x: g * (1 - ans ** 2))
defvjp(anp.sqrt,      lambda g, ans, x: g / (2 * ans))
defvjp(anp.sum,       lambda g, ans, x, axis=None:
                          np.broadcast_to(g if axis is None else np.expand_dims(g, axis), np.shape(x)))
defvjp(anp.reshape,   lambda g, ans, x, shape: np.reshape(g, np.shape(x)))
defvjp(anp.transpose, lambda g, ans, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)))


def topological_order(output):
    """Every node that output depends on, each one listed after all of its parents.

    An explicit stack instead of recursion: a graph can be thousands of operations deep, far beyond
    Python's recursion limit.
    """
    order, visited, stack = [], set(), [(output, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))  # comes back here once all parents are in the order
            stack += [(parent, False) for parent, _ in node.parents if parent not in visited]
    return order
def backward(output, cotangent=None):
    """Fill in .grad of every node that output depends on; the seed is ones, or the given cotangent."""
    order = topological_order(output)
    for node in order:
        node.grad = None  # a second call starts afresh instead of adding to the first one's result
    output.grad = np.ones_like(output.value) if cotangent is None else cotangent
    for node in reversed(order):  # all users of a node have sent their shares before it passes its own on
        for parent, pullback in node.parents:
            share = pullback(node.grad)
            parent.grad = share if parent.grad is None else parent.grad + share  # fan-out: shares add up


def grad(f):
    """The gradient function of a scalar f: one array per argument (just the array when f takes one)."""
    def gradient(*args):
        inputs = [Var(np.asarray(arg, dtype=np.result_type(arg, 0.0))) for arg in args]
        output = f(*inputs)
        if isinstance(output, Var):
            backward(output)
        grads = tuple(x.grad if x.grad is not None else np.zeros_like(x.value) for x in inputs)
        return grads[0] if len(grads) == 1 else grads
    return gradient


def vjp(f, *args):
    """(f(*args), pullback): one forward pass now; pullback(g) then costs one backward pass per call."""
    inputs = [Var(np.asarray(arg, dtype=np.result_type(arg, 0.0))) for arg in args]
    output = f(*inputs)

    def pullback(g):
        if isinstance(output, Var):
            backward(output, np.asarray(g, dtype=np.result_type(output.value)))
        grads = tuple(x.grad if x.grad is not None else np.zeros_like(x.value) for x in inputs)
        return grads[0] if len(grads) == 1 else grads

    return (output.value if isinstance(output, Var) else output), pullback


def jacobian_reverse(f, w):
    """The Jacobian of f: R^n -> R^m at w, row by row: one forward pass, then one backward pass per output."""
    value, pullback = vjp(f, w)
    rows = [pullback(e) for e in np.eye(np.size(value))]  # row i is e_i^T J
    return np.stack(rows)


def mlp_loss(params, x, y):
    """Mean squared error of the network v_k = tanh(v_{k-1} W_k), whose last layer is linear."""
    v = x
    for W in params[:-1]:
        v = anp.tanh(v @ W)
    prediction = v @ params[-1]
    return anp.sum((prediction - y) ** 2) / len(x)


def train(params, x, y, steps, learning_rate):
    """Plain gradient descent on mlp_loss with your own engine: the new parameters and the loss per step."""
    params, losses = list(params), []
    for _ in range(steps):
        loss, pullback = vjp(lambda *Ws: mlp_loss(list(Ws), x, y), *params)
        grads = pullback(1.0)
        grads = grads if isinstance(grads, tuple) else (grads,)
        params = [W - learning_rate * dW for W, dW in zip(params, grads)]
        losses.append(float(loss))
    return params, losses


def checkpointed_grad(params, x, y, every):
    """The gradient of mlp_loss keeping only every `every`-th activation: (gradients, activations stored)."""
    t = len(params)

    def layers(v, Ws, start):
        """Layers start, start+1, ... applied to v (the last layer of the network is linear)."""
        for k, W in enumerate(Ws, start=start):
            v = v @ W if k == t - 1 else anp.tanh(v @ W)
        return v

    checkpoints, v = {}, x
    for k in range(t):  # forward pass on plain arrays: no graph, only the checkpoints are kept
        if k % every == 0:
            checkpoints[k] = v
        v = layers(v, params[k:k + 1], k)

    grads, g = [None] * t, None
    for start in reversed(range(0, t, every)):  # backward, one segment at a time, recomputing its inside
        stop = min(start + every, t)

        def segment(v, *Ws):
            out = layers(v, Ws, start)
            return anp.sum((out - y) ** 2) / len(x) if stop == t else out

        _, pullback = vjp(segment, checkpoints[start], *params[start:stop])
        shares = pullback(1.0 if stop == t else g)
        g, grads[start:stop] = shares[0], shares[1:]
    return grads, len(checkpoints)
