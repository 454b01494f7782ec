"""Common wrong answers to assignment 02_forward_mode."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        "product_rule_missing_term",
        {"dual_arithmetic": 'class Dual:\n    """A value carried together with its tangent (a directional derivative): floats or arrays of one shape."""\n\n    __array_ufunc__ = None  # NumPy arrays and scalars hand `array * Dual` over to Dual\'s own methods\n\n    def __init__(self, value, tangent):\n        self.value = value\n        self.tangent = tangent\n\n    @staticmethod\n    def lift(x):\n        """A plain number or array as a Dual: a constant, so its tangent is zero."""\n        return x if isinstance(x, Dual) else Dual(x, 0.0)\n\n    def __add__(self, other):\n        other = Dual.lift(other)\n        return Dual(self.value + other.value, self.tangent + other.tangent)\n\n    __radd__ = __add__\n\n    def __sub__(self, other):\n        other = Dual.lift(other)\n        return Dual(self.value - other.value, self.tangent - other.tangent)\n\n    def __rsub__(self, other):\n        return Dual.lift(other) - self\n\n    def __neg__(self):\n        return Dual(-self.value, -self.tangent)\n\n    def __mul__(self, other):\n        other = Dual.lift(other)  # product rule: (xy)\' = x\'y + xy\'\n        return Dual(self.value * other.value, self.tangent * other.value)\n\n    __rmul__ = __mul__\n\n    def __truediv__(self, other):\n        other = Dual.lift(other)  # quotient rule: (x/y)\' = (x\'y - xy\') / y^2\n        return Dual(self.value / other.value,\n                    (self.tangent * other.value - self.value * other.tangent) / other.value ** 2)\n\n    def __rtruediv__(self, other):\n        return Dual.lift(other) / self\n\n    def __pow__(self, other):\n        return power(self, other)\n\n    def __rpow__(self, other):\n        return power(other, self)\n\n    # Comparisons look at values only: a program may branch on them.\n    def __lt__(self, other):\n        return self.value < Dual.lift(other).value\n\n    def __le__(self, other):\n        return self.value <= Dual.lift(other).value\n\n    def __gt__(self, other):\n        return self.value > Dual.lift(other).value\n\n    def __ge__(self, other):\n        return self.value >= Dual.lift(other).value\n\n    def __getitem__(self, index):\n        return Dual(self.value[index], self.tangent[index])\n\n    def __repr__(self):\n        return f"Dual({self.value!r}, {self.tangent!r})"\n'},
        loses=("test_dual_arithmetic",),
        message="product rule",
        description="Dual * Dual: (xy)' = x'y, the term x y' is missing",
    ),
    Mistake(
        "quotient_rule_sign_slip",
        {"dual_arithmetic": 'class Dual:\n    """A value carried together with its tangent (a directional derivative): floats or arrays of one shape."""\n\n    __array_ufunc__ = None  # NumPy arrays and scalars hand `array * Dual` over to Dual\'s own methods\n\n    def __init__(self, value, tangent):\n        self.value = value\n        self.tangent = tangent\n\n    @staticmethod\n    def lift(x):\n        """A plain number or array as a Dual: a constant, so its tangent is zero."""\n        return x if isinstance(x, Dual) else Dual(x, 0.0)\n\n    def __add__(self, other):\n        other = Dual.lift(other)\n        return Dual(self.value + other.value, self.tangent + other.tangent)\n\n    __radd__ = __add__\n\n    def __sub__(self, other):\n        other = Dual.lift(other)\n        return Dual(self.value - other.value, self.tangent - other.tangent)\n\n    def __rsub__(self, other):\n        return Dual.lift(other) - self\n\n    def __neg__(self):\n        return Dual(-self.value, -self.tangent)\n\n    def __mul__(self, other):\n        other = Dual.lift(other)  # product rule: (xy)\' = x\'y + xy\'\n        return Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)\n\n    __rmul__ = __mul__\n\n    def __truediv__(self, other):\n        other = Dual.lift(other)  # quotient rule: (x/y)\' = (x\'y - xy\') / y^2\n        return Dual(self.value / other.value,\n                    (self.tangent * other.value + self.value * other.tangent) / other.value ** 2)\n\n    def __rtruediv__(self, other):\n        return Dual.lift(other) / self\n\n    def __pow__(self, other):\n        return power(self, other)\n\n    def __rpow__(self, other):\n        return power(other, self)\n\n    # Comparisons look at values only: a program may branch on them.\n    def __lt__(self, other):\n        return self.value < Dual.lift(other).value\n\n    def __le__(self, other):\n        return self.value <= Dual.lift(other).value\n\n    def __gt__(self, other):\n        return self.value > Dual.lift(other).value\n\n    def __ge__(self, other):\n        return self.value >= Dual.lift(other).value\n\n    def __getitem__(self, index):\n        return Dual(self.value[index], self.tangent[index])\n\n    def __repr__(self):\n        return f"Dual({self.value!r}, {self.tangent!r})"\n'},
        loses=("test_dual_arithmetic",),
        message="quotient rule",
        description="Dual / Dual: (x'y + xy') / y^2 instead of (x'y - xy') / y^2",
    ),
    Mistake(
        "log_without_chain_factor",
        {"elementary_functions": 'def exp(x):\n    """e^x, elementwise; for a Dual also its tangent."""\n    if isinstance(x, Dual):\n        y = np.exp(x.value)\n        return Dual(y, y * x.tangent)\n    return np.exp(x)\ndef log(x):\n    """The natural logarithm, elementwise (x > 0)."""\n    if isinstance(x, Dual):\n        y = np.log(x.value)\n        return Dual(y, 1 / x.value)\n    return np.log(x)\ndef sqrt(x):\n    """The square root, elementwise (x > 0 for a Dual)."""\n    if isinstance(x, Dual):\n        y = np.sqrt(x.value)\n        return Dual(y, 1 / (2 * y) * x.tangent)\n    return np.sqrt(x)\ndef sin(x):\n    """The sine, elementwise."""\n    if isinstance(x, Dual):\n        y = np.sin(x.value)\n        return Dual(y, np.cos(x.value) * x.tangent)\n    return np.sin(x)\ndef cos(x):\n    """The cosine, elementwise."""\n    if isinstance(x, Dual):\n        y = np.cos(x.value)\n        return Dual(y, -np.sin(x.value) * x.tangent)\n    return np.cos(x)\ndef tanh(x):\n    """The hyperbolic tangent, elementwise."""\n    if isinstance(x, Dual):\n        y = np.tanh(x.value)\n        return Dual(y, (1 - y ** 2) * x.tangent)\n    return np.tanh(x)\n'},
        loses=("test_elementary_functions",),
        message="chain factor",
        description="log's tangent is 1/x, not multiplied by the incoming tangent",
    ),
    Mistake(
        "sqrt_missing_half",
        {"elementary_functions": 'def exp(x):\n    """e^x, elementwise; for a Dual also its tangent."""\n    if isinstance(x, Dual):\n        y = np.exp(x.value)\n        return Dual(y, y * x.tangent)\n    return np.exp(x)\ndef log(x):\n    """The natural logarithm, elementwise (x > 0)."""\n    if isinstance(x, Dual):\n        y = np.log(x.value)\n        return Dual(y, 1 / x.value * x.tangent)\n    return np.log(x)\ndef sqrt(x):\n    """The square root, elementwise (x > 0 for a Dual)."""\n    if isinstance(x, Dual):\n        y = np.sqrt(x.value)\n        return Dual(y, 1 / y * x.tangent)\n    return np.sqrt(x)\ndef sin(x):\n    """The sine, elementwise."""\n    if isinstance(x, Dual):\n        y = np.sin(x.value)\n        return Dual(y, np.cos(x.value) * x.tangent)\n    return np.sin(x)\ndef cos(x):\n    """The cosine, elementwise."""\n    if isinstance(x, Dual):\n        y = np.cos(x.value)\n        return Dual(y, -np.sin(x.value) * x.tangent)\n    return np.cos(x)\ndef tanh(x):\n    """The hyperbolic tangent, elementwise."""\n    if isinstance(x, Dual):\n        y = np.tanh(x.value)\n        return Dual(y, (1 - y ** 2) * x.tangent)\n    return np.tanh(x)\n'},
        loses=("test_elementary_functions",),
        message="factor 1/2",
        description="sqrt's tangent 1/sqrt(x) instead of 1/(2 sqrt(x))",
    ),
    Mistake(
        "power_ignores_exponent_tangent",
        {"power": 'def power(a, b):\n    """a ** b for numbers or Duals a and b (a > 0 wherever the exponent b carries a tangent)."""\n    a, b = Dual.lift(a), Dual.lift(b)\n    value = a.value ** b.value\n    tangent = b.value * a.value ** (b.value - 1) * a.tangent  # the base varies\n    return Dual(value, tangent)\n'},
        loses=("test_power",),
        message="exponent's tangent",
        description="Dual ** Dual without the x^y log(x) y' term",
    ),
    Mistake(
        "jacobian_transposed",
        {"jacobian_forward": '''
def jacobian_forward(f, w):
    columns = [jvp(f, w, e)[1] for e in np.eye(len(w))]
    return np.array(columns)  # the columns stacked as rows: n x m, the transpose
'''},
        loses=("test_jacobian_forward",),
        message="transpose",
        description="jacobian_forward returns J^T (columns stacked as rows)",
    ),
    Mistake(
        "jacobian_pass_per_output",
        {"jacobian_forward": '''
def jacobian_forward(f, w):
    m = len(f(w))
    rows = []
    for i in range(m):  # one row per output, as reverse mode would do it
        rows.append([jvp(f, w, e)[1][i] for e in np.eye(len(w))])
    return np.array(rows)
'''},
        loses=("test_jacobian_forward",),
        message="should call it exactly",
        description="jacobian_forward loops over outputs: m n + 1 passes instead of n",
    ),
]


def _model(cell: str, old: str, new: str) -> dict[str, str]:
    """The model answer of one cell with ``old`` replaced by ``new`` (which must occur in it)."""
    from autograder import notebooks
    code = notebooks.solutions("02_forward_mode")[cell]
    assert old in code, f"{old!r} is not in the model answer of {cell}"
    return {cell: code.replace(old, new)}


MISTAKES += [
    Mistake(
        "comparisons_on_tangents",
        _model("dual_arithmetic", "        return self.value < Dual.lift(other).value\n",
               "        return self.tangent < Dual.lift(other).tangent\n"),
        loses=("test_dual_arithmetic",),
        message="must compare their values",
        description="Dual < Dual compares the tangents instead of the values",
    ),
    Mistake(
        "less_than_not_strict",
        _model("dual_arithmetic", "        return self.value < Dual.lift(other).value\n",
               "        return self.value <= Dual.lift(other).value\n"),
        loses=("test_dual_arithmetic",),
        message="must be strict",
        description="Dual.__lt__ written with <=: x < x is True",
    ),
    Mistake(
        "getitem_whole_tangent",
        _model("dual_arithmetic", "return Dual(self.value[index], self.tangent[index])",
               "return Dual(self.value[index], self.tangent)"),
        loses=("test_dual_arithmetic",),
        message="Dual.__getitem__",
        description="indexing a Dual indexes the value but keeps the whole tangent",
    ),
    Mistake(
        "power_log_term_always",
        _model("power", "    if np.any(b.tangent != 0):  # the exponent varies: d(a^b)/db = a^b log a\n"
                        "        tangent = tangent + value * np.log(a.value) * b.tangent\n",
               "    tangent = tangent + value * np.log(a.value) * b.tangent  # even for a constant exponent\n"),
        loses=("test_power",),
        message="constant exponent",
        description="x ** 3 adds x^3 log(x) * 0, NaN for a negative x",
    ),
    # (A jvp mistake would also cost jacobian_forward in plain nbgrader: that cell's visible check uses `layer`,
    # defined after the hidden tests of jvp's cell, which stop at their first failure.)
    Mistake(
        "grad_forward_assumes_a_dual",
        {"grad_forward": '''
def grad_forward(f, w):
    w = np.asarray(w, dtype=float)
    return np.array([f(Dual(w, e)).tangent for e in np.eye(len(w))])  # f(Dual) may be a plain number
'''},
        loses=("test_grad_forward",),
        message="does not depend on w",
        description="grad_forward reads f(Dual).tangent even when f returned a constant",
    ),
]
