"""Common wrong answers to assignment 03_reverse_mode, each with the score it must get.

Generated from the model answers by small edits, so each entry is a whole solution cell as a student
would hand it in."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        'overwrite_instead_of_accumulate',
        {'backward': 'def topological_order(output):\n    """Every node that output depends on, each one listed after all of its parents.\n\n    An explicit stack instead of recursion: a graph can be thousands of operations deep, far beyond\n    Python\'s recursion limit.\n    """\n    order, visited, stack = [], set(), [(output, False)]\n    while stack:\n        node, parents_done = stack.pop()\n        if parents_done:\n            order.append(node)\n        elif node not in visited:\n            visited.add(node)\n            stack.append((node, True))  # comes back here once all parents are in the order\n            stack += [(parent, False) for parent, _ in node.parents if parent not in visited]\n    return order\ndef backward(output, cotangent=None):\n    """Fill in .grad of every node that output depends on; the seed is ones, or the given cotangent."""\n    order = topological_order(output)\n    for node in order:\n        node.grad = None  # a second call starts afresh instead of adding to the first one\'s result\n    output.grad = np.ones_like(output.value) if cotangent is None else cotangent\n    for node in reversed(order):  # all users of a node have sent their shares before it passes its own on\n        for parent, pullback in node.parents:\n            share = pullback(node.grad)\n            parent.grad = share  # fan-out: shares add up\n'},
        loses=('test_backward',),
        message='accumulated',
        description="backward: each share replaces the parent's gradient (fan-out loses shares)",
    ),
    Mistake(
        'recursive_backward_without_topological_order',
        {'backward': 'def topological_order(output):\n    """Every node that output depends on, each one listed after all of its parents."""\n    order, seen = [], set()\n\n    def visit(node):\n        if id(node) not in seen:\n            seen.add(id(node))\n            for parent, _ in node.parents:\n                visit(parent)\n            order.append(node)\n    visit(output)\n    return order\n\n\ndef backward(output, cotangent=None):\n    """Recursive, micrograd-style without the sort: send each share on as soon as it arrives."""\n    for node in topological_order(output):\n        node.grad = np.zeros_like(np.asarray(node.value, dtype=float))\n    output.grad = np.ones_like(output.value) if cotangent is None else cotangent\n\n    def send(node):\n        for parent, pullback in node.parents:\n            parent.grad = parent.grad + pullback(node.grad)\n            send(parent)\n    send(output)\n'},
        loses=('test_backward',),
        message='topological order',
        description='backward: recursion that forwards partial gradients (wrong on b = a + a; c = b + b)',
    ),
    Mistake(
        'backward_not_reset',
        {'backward': 'def topological_order(output):\n    """Every node that output depends on, each one listed after all of its parents.\n\n    An explicit stack instead of recursion: a graph can be thousands of operations deep, far beyond\n    Python\'s recursion limit.\n    """\n    order, visited, stack = [], set(), [(output, False)]\n    while stack:\n        node, parents_done = stack.pop()\n        if parents_done:\n            order.append(node)\n        elif node not in visited:\n            visited.add(node)\n            stack.append((node, True))  # comes back here once all parents are in the order\n            stack += [(parent, False) for parent, _ in node.parents if parent not in visited]\n    return order\ndef backward(output, cotangent=None):\n    """Fill in .grad of every node that output depends on; the seed is ones, or the given cotangent."""\n    order = topological_order(output)\n    output.grad = np.ones_like(output.value) if cotangent is None else cotangent\n    for node in reversed(order):  # all users of a node have sent their shares before it passes its own on\n        for parent, pullback in node.parents:\n            share = pullback(node.grad)\n            parent.grad = share if parent.grad is None else parent.grad + share  # fan-out: shares add up\n'},
        loses=('test_backward',),
        message='second time',
        description='backward: gradients are not reset, so a second call doubles them',
    ),
    Mistake(
        'missing_unbroadcast',
        {'vjp_rules': 'defvjp(anp.add,       lambda g, ans, x, y: g,\n                      lambda g, ans, x, y: g)\ndefvjp(anp.subtract,  lambda g, ans, x, y: g,\n                      lambda g, ans, x, y: -g)\ndefvjp(anp.multiply,  lambda g, ans, x, y: unbroadcast(x, g * y),\n                      lambda g, ans, x, y: unbroadcast(y, g * x))\ndefvjp(anp.divide,    lambda g, ans, x, y: unbroadcast(x, g / y),\n                      lambda g, ans, x, y: unbroadcast(y, -g * ans / y))\ndefvjp(anp.power,     lambda g, ans, x, y: unbroadcast(x, g * y * x ** (y - 1)),\n                      lambda g, ans, x, y: unbroadcast(y, g * ans * np.log(x)))\ndefvjp(anp.matmul,    lambda g, ans, x, y: g @ y.T if np.ndim(y) == 2 else np.multiply.outer(g, y),\n                      lambda g, ans, x, y: x.T @ g if np.ndim(x) == 2 else np.multiply.outer(x, g))\ndefvjp(anp.maximum,   lambda g, ans, x, y: unbroadcast(x, g * (x >= y)),\n                      lambda g, ans, x, y: unbroadcast(y, g * (x < y)))\ndefvjp(anp.negative,  lambda g, ans, x: -g)\ndefvjp(anp.exp,       lambda g, ans, x: g * ans)\ndefvjp(anp.log,       lambda g, ans, x: g / x)\ndefvjp(anp.tanh,      lambda g, ans, x: g * (1 - ans ** 2))\ndefvjp(anp.sqrt,      lambda g, ans, x: g / (2 * ans))\ndefvjp(anp.sum,       lambda g, ans, x, axis=None:\n                          np.broadcast_to(g if axis is None else np.expand_dims(g, axis), np.shape(x)))\ndefvjp(anp.reshape,   lambda g, ans, x, shape: np.reshape(g, np.shape(x)))\ndefvjp(anp.transpose, lambda g, ans, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)))\n'},
        loses=('test_vjp_rules',),
        message='unbroadcast',
        description='add/subtract rules return g unsummed: wrong shape when an argument was broadcast',
    ),
    Mistake(
        'matmul_missing_transpose',
        {'vjp_rules': 'defvjp(anp.add,       lambda g, ans, x, y: unbroadcast(x, g),\n                      lambda g, ans, x, y: unbroadcast(y, g))\ndefvjp(anp.subtract,  lambda g, ans, x, y: unbroadcast(x, g),\n                      lambda g, ans, x, y: unbroadcast(y, -g))\ndefvjp(anp.multiply,  lambda g, ans, x, y: unbroadcast(x, g * y),\n                      lambda g, ans, x, y: unbroadcast(y, g * x))\ndefvjp(anp.divide,    lambda g, ans, x, y: unbroadcast(x, g / y),\n                      lambda g, ans, x, y: unbroadcast(y, -g * ans / y))\ndefvjp(anp.power,     lambda g, ans, x, y: unbroadcast(x, g * y * x ** (y - 1)),\n                      lambda g, ans, x, y: unbroadcast(y, g * ans * np.log(x)))\ndefvjp(anp.matmul,    lambda g, ans, x, y: g @ y if np.ndim(y) == 2 else np.multiply.outer(g, y),\n                      lambda g, ans, x, y: x.T @ g if np.ndim(x) == 2 else np.multiply.outer(x, g))\ndefvjp(anp.maximum,   lambda g, ans, x, y: unbroadcast(x, g * (x >= y)),\n                      lambda g, ans, x, y: unbroadcast(y, g * (x < y)))\ndefvjp(anp.negative,  lambda g, ans, x: -g)\ndefvjp(anp.exp,       lambda g, ans, x: g * ans)\ndefvjp(anp.log,       lambda g, ans, x: g / x)\ndefvjp(anp.tanh,      lambda g, ans, x: g * (1 - ans ** 2))\ndefvjp(anp.sqrt,      lambda g, ans, x: g / (2 * ans))\ndefvjp(anp.sum,       lambda g, ans, x, axis=None:\n                          np.broadcast_to(g if axis is None else np.expand_dims(g, axis), np.shape(x)))\ndefvjp(anp.reshape,   lambda g, ans, x, shape: np.reshape(g, np.shape(x)))\ndefvjp(anp.transpose, lambda g, ans, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)))\n'},
        loses=('test_vjp_rules',),
        message='transpose',
        description='matmul rule for X: g Y instead of g Y^T',
    ),
    Mistake(
        'tanh_rule_uses_input',
        {'vjp_rules': 'defvjp(anp.add,       lambda g, ans, x, y: unbroadcast(x, g),\n                      lambda g, ans, x, y: unbroadcast(y, g))\ndefvjp(anp.subtract,  lambda g, ans, x, y: unbroadcast(x, g),\n                      lambda g, ans, x, y: unbroadcast(y, -g))\ndefvjp(anp.multiply,  lambda g, ans, x, y: unbroadcast(x, g * y),\n                      lambda g, ans, x, y: unbroadcast(y, g * x))\ndefvjp(anp.divide,    lambda g, ans, x, y: unbroadcast(x, g / y),\n                      lambda g, ans, x, y: unbroadcast(y, -g * ans / y))\ndefvjp(anp.power,     lambda g, ans, x, y: unbroadcast(x, g * y * x ** (y - 1)),\n                      lambda g, ans, x, y: unbroadcast(y, g * ans * np.log(x)))\ndefvjp(anp.matmul,    lambda g, ans, x, y: g @ y.T if np.ndim(y) == 2 else np.multiply.outer(g, y),\n                      lambda g, ans, x, y: x.T @ g if np.ndim(x) == 2 else np.multiply.outer(x, g))\ndefvjp(anp.maximum,   lambda g, ans, x, y: unbroadcast(x, g * (x >= y)),\n                      lambda g, ans, x, y: unbroadcast(y, g * (x < y)))\ndefvjp(anp.negative,  lambda g, ans, x: -g)\ndefvjp(anp.exp,       lambda g, ans, x: g * ans)\ndefvjp(anp.log,       lambda g, ans, x: g / x)\ndefvjp(anp.tanh,      lambda g, ans, x: g * (1 - x ** 2))\ndefvjp(anp.sqrt,      lambda g, ans, x: g / (2 * ans))\ndefvjp(anp.sum,       lambda g, ans, x, axis=None:\n                          np.broadcast_to(g if axis is None else np.expand_dims(g, axis), np.shape(x)))\ndefvjp(anp.reshape,   lambda g, ans, x, shape: np.reshape(g, np.shape(x)))\ndefvjp(anp.transpose, lambda g, ans, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)))\n'},
        loses=('test_vjp_rules',),
        message='1 - ans^2',
        description='tanh rule: 1 - x^2 instead of 1 - tanh(x)^2',
    ),
    Mistake(
        'finite_difference_gradient',
        {'grad': 'def grad(f):\n    """Central differences dressed up as a gradient: d + 1 evaluations, and only approximately right."""\n    def gradient(*args):\n        grads = []\n        for arg in args:\n            arg = np.asarray(arg, dtype=float)\n            g = np.zeros_like(arg)\n            for index in np.ndindex(arg.shape):\n                step = np.zeros_like(arg)\n                step[index] = 1e-6\n                up = [a if a is not arg else arg + step for a in args]\n                down = [a if a is not arg else arg - step for a in args]\n                g[index] = (f(*[np.asarray(a, dtype=float) for a in up]) - f(*[np.asarray(a, dtype=float) for a in down])) / 2e-6\n            grads.append(g)\n        return grads[0] if len(grads) == 1 else tuple(grads)\n    return gradient\n'},
        loses=('test_grad',),
        message='evaluated f',
        description='grad by central differences: close values, but 2d evaluations of f',
    ),
    Mistake(
        'calls_jax_grad',
        {'grad': 'import jax\n\n\ndef grad(f):\n    """jax.grad in disguise: not allowed in this assignment."""\n    def gradient(*args):\n        argnums = tuple(range(len(args)))\n        grads = jax.grad(f, argnums=argnums)(*[np.asarray(a, dtype=float) for a in args])\n        grads = tuple(np.asarray(g) for g in grads)\n        return grads[0] if len(grads) == 1 else grads\n    return gradient\n'},
        loses=('test_grad',),
        message='without jax.grad',
        description="grad calls jax.grad instead of the student's engine",
    ),
    Mistake(
        'lecture_adjoint_missing_direct_share',
        {'lecture_adjoints': 'def lecture_adjoints(w):\n    """The reverse sweep of L(w1, w2) = w2 log w1 + sqrt(w2 log w1), by hand: the adjoint of every step."""\n    w1, w2 = w\n    v1 = np.log(w1)                  # forward pass: every value the backward pass will need\n    v2 = w2 * v1\n    v3 = np.sqrt(v2)\n    L_bar = 1.0                      # backward pass: from the output to the inputs\n    v3_bar = L_bar * 1.0             # L = v2 + v3\n    v2_bar = v3_bar / (2 * np.sqrt(v2))  # v2 reaches L directly and through v3\n    v1_bar = v2_bar * w2             # v2 = w2 v1\n    w2_bar = v2_bar * v1\n    w1_bar = v1_bar / w1             # v1 = log w1\n    return {"L": L_bar, "v3": v3_bar, "v2": v2_bar, "v1": v1_bar, "w1": w1_bar, "w2": w2_bar}\n'},
        loses=('test_lecture_adjoints',),
        message='direct share',
        description="the adjoint of v2 misses L = v2 + v3's direct route",
    ),
    Mistake(
        'unbroadcast_drops_kept_axes',
        {'unbroadcast': 'def unbroadcast(x, g):\n    """Sum the gradient g back down to the shape of x, undoing the broadcasting of the forward pass.\n\n    If x was stretched along an axis (or had axes prepended) to meet the other operand, every copy of\n    x influenced the output, so the gradient of x is the sum over those copies.\n    """\n    shape = np.shape(x)\n    if np.shape(g) == shape:\n        return g\n    g = np.sum(g, axis=tuple(range(np.ndim(g) - len(shape))))  # axes that broadcasting prepended\n    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)\n    return np.sum(g, axis=stretched) if stretched else g\n'},
        loses=('test_unbroadcast',),
        message='shape',
        description='unbroadcast sums the length-1 axes away instead of keeping them',
    ),
    Mistake(
        'reflected_subtract_swapped',
        {'var': 'class Var:\n    """A node of the computation graph: a value, and the (parent, pullback) pairs it was computed from.\n\n    A pullback maps this node\'s gradient to its share of the parent\'s gradient: it is a vector-Jacobian\n    product, g -> g J, for the Jacobian J of this node with respect to that parent.\n    """\n\n    __array_ufunc__ = None  # `ndarray + Var` must hand over to Var.__radd__, not loop over the array\n    __slots__ = ("value", "parents", "grad")  # one node per operation: small and quick (list any new attribute)\n\n    def __init__(self, value, parents=()):\n        self.value = value\n        self.parents = parents  # (Var, pullback) pairs, one per Var argument\n        self.grad = None        # filled in by backward()\n\n    @property\n    def shape(self):\n        return np.shape(self.value)\n\n    def __repr__(self):\n        return f"Var({self.value!r})"\n    def __add__(self, other): return anp.add(self, other)\n    def __radd__(self, other): return anp.add(other, self)\n    def __sub__(self, other): return anp.subtract(self, other)\n    def __rsub__(self, other): return anp.subtract(self, other)\n    def __mul__(self, other): return anp.multiply(self, other)\n    def __rmul__(self, other): return anp.multiply(other, self)\n    def __truediv__(self, other): return anp.divide(self, other)\n    def __rtruediv__(self, other): return anp.divide(other, self)\n    def __pow__(self, other): return anp.power(self, other)\n    def __rpow__(self, other): return anp.power(other, self)\n    def __matmul__(self, other): return anp.matmul(self, other)\n    def __rmatmul__(self, other): return anp.matmul(other, self)\n    def __neg__(self): return anp.negative(self)\n\n    @property\n    def T(self):\n        return anp.transpose(self)\n\n    def sum(self, axis=None):\n        return anp.sum(self, axis=axis)\n\n    def reshape(self, *shape):\n        return anp.reshape(self, shape[0] if len(shape) == 1 else shape)\ndef primitive(fn):\n    """Wrap a NumPy function so that, called on Vars, it records how to send gradients back."""\n    def wrapped(*args, **kwargs):\n        values = [arg.value if isinstance(arg, Var) else arg for arg in args]\n        ans = fn(*values, **kwargs)\n        parents = [(arg, lambda g, i=i: VJP_RULES[wrapped][i](g, ans, *values, **kwargs))\n                   for i, arg in enumerate(args) if isinstance(arg, Var)]  # constants get no pullback\n        return Var(ans, parents) if parents else ans\n    wrapped.__name__ = fn.__name__\n    return wrapped\n'},
        loses=('test_var',),
        message='swapped',
        description='Var.__rsub__ computes self - other',
    ),
    Mistake(
        'jacobian_rows_as_columns',
        {'jacobian_reverse': 'def jacobian_reverse(f, w):\n    """The Jacobian of f: R^n -> R^m at w, row by row: one forward pass, then one backward pass per output."""\n    value, pullback = vjp(f, w)\n    rows = [pullback(e) for e in np.eye(np.size(value))]  # row i is e_i^T J\n    return np.stack(rows, axis=1)\n'},
        loses=('test_jacobian_reverse',),
        message='transposed',
        description='jacobian_reverse stacks the rows as columns',
    ),
    Mistake(
        'mlp_loss_not_averaged',
        {'mlp_loss': 'def mlp_loss(params, x, y):\n    """Mean squared error of the network v_k = tanh(v_{k-1} W_k), whose last layer is linear."""\n    v = x\n    for W in params[:-1]:\n        v = anp.tanh(v @ W)\n    prediction = v @ params[-1]\n    return anp.sum((prediction - y) ** 2)\n'},
        loses=('test_mlp_loss',),
        message='batch size',
        description='mlp_loss sums the squared errors without dividing by the batch size',
    ),
    Mistake(
        'checkpointing_in_name_only',
        {'checkpointed_grad': 'def checkpointed_grad(params, x, y, every):\n    """Claims checkpoints, but differentiates the whole network in one graph."""\n    grads = grad(lambda *Ws: mlp_loss(list(Ws), x, y))(*params)\n    grads = list(grads) if isinstance(grads, tuple) else [grads]\n    return grads, -(-len(params) // every)\n'},
        loses=('test_checkpointed_grad',),
        message='largest graph',
        description='checkpointed_grad returns the plain gradient and the right count, but builds the whole graph',
    ),
]


def _model(cell: str, old: str, new: str) -> dict[str, str]:
    """The model answer of one cell with ``old`` replaced by ``new`` (which must occur in it)."""
    from autograder import notebooks
    code = notebooks.solutions("03_reverse_mode")[cell]
    assert old in code, f"{old!r} is not in the model answer of {cell}"
    return {cell: code.replace(old, new)}


MISTAKES += [
    Mistake(
        "grad_one_argument_tuple",
        _model("grad", "        return grads[0] if len(grads) == 1 else grads\n", "        return grads\n"),
        loses=("test_grad",),
        message="bare array",
        description="grad returns a 1-tuple where f has one argument",
    ),
    Mistake(
        "grad_assumes_a_var",
        _model("grad", "        if isinstance(output, Var):\n            backward(output)\n",
               "        backward(output)\n"),
        loses=("test_grad",),
        message="does not depend on its argument",
        description="grad runs backward on f's output even when it is a constant, not a Var",
    ),
    Mistake(
        "train_one_matrix_not_wrapped",
        _model("train", "        grads = grads if isinstance(grads, tuple) else (grads,)\n", ""),
        loses=("test_train",),
        message="one weight matrix",
        description="train zips params with a bare gradient array when the network has one weight matrix",
    ),
    Mistake(
        "subtract_rule_second_not_unbroadcast",
        _model("vjp_rules", "lambda g, ans, x, y: unbroadcast(y, -g))", "lambda g, ans, x, y: -g)"),
        loses=("test_vjp_rules",),
        message="summed back to the argument's shape",
        description="the subtract rule for the second operand forgets unbroadcast",
    ),
    Mistake(
        "reshape_without_tuple",
        _model("var", "        return anp.reshape(self, shape[0] if len(shape) == 1 else shape)\n",
               "        return anp.reshape(self, shape)  # fine for x.reshape(3, 2), not x.reshape((3, 2))\n"),
        loses=("test_var",),
        message="as one tuple",
        description="Var.reshape(*shape) passes the 1-tuple ((3, 2),) on to np.reshape",
    ),
]
