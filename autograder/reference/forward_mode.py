"""Reference solutions for assignment 02_forward_mode.

Each definition here is, token for token, the code of the matching solution
cell of ``source/02_forward_mode/forward_mode.ipynb`` (generated from the same text);
``tests/test_reference_sync.py`` fails if the two drift apart.
"""

import numpy as np


class Dual:
    """A value carried together with its tangent (a directional derivative): floats or arrays of one shape."""

    __array_ufunc__ = None  # NumPy arrays and scalars hand `array * Dual` over to Dual's own methods

    def __init__(self, value, tangent):
        self.value = value
        self.tangent = tangent

    @staticmethod
    def lift(x):
        """A plain number or array as a Dual: a constant, so its tangent is zero."""
        return x if isinstance(x, Dual) else Dual(x, 0.0)

    def __add__(self, other):
        other = Dual.lift(other)
        return Dual(self.value + other.value, self.tangent + other.tangent)

    __radd__ = __add__

    def __sub__(self, other):
        other = Dual.lift(other)
        return Dual(self.value - other.value, self.tangent - other.tangent)

    def __rsub__(self, other):
        return Dual.lift(other) - self

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    def __mul__(self, other):
        other = Dual.lift(other)  # product rule: (xy)' = x'y + xy'
        return Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = Dual.lift(other)  # quotient rule: (x/y)' = (x'y - xy') / y^2
        return Dual(self.value / other.value,
                    (self.tangent * other.value - self.value * other.tangent) / other.value ** 2)

    def __rtruediv__(self, other):
        return Dual.lift(other) / self

    def __pow__(self, other):
        return power(self, other)

    def __rpow__(self, other):
        return power(other, self)

    # Comparisons look at values only: a program may branch on them.
    def __lt__(self, other):
        return self.value < Dual.lift(other).value

    def __le__(self, other):
        return self.value <= Dual.lift(other).value

    def __gt__(self, other):
        return self.value > Dual.lift(other).value

    def __ge__(self, other):
        return self.value >= Dual.lift(other).value

    def __getitem__(self, index):
        return Dual(self.value[index], self.tangent[index])

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"


def power(a, b):
    """a ** b for numbers or Duals a and b (a > 0 wherever the exponent b carries a tangent)."""
    a, b = Dual.lift(a), Dual.lift(b)
    value = a.value ** b.value
    tangent = b.value * a.value ** (b.value - 1) * a.tangent  # the base varies
    if np.any(b.tangent != 0):  # the exponent varies: d(a^b)/db = a^b log a
        tangent = tangent + value * np.log(a.value) * b.tangent
    return Dual(value, tangent)


def exp(x):
    """e^x, elementwise; for a Dual also its tangent."""
    if isinstance(x, Dual):
        y = np.exp(x.value)
        return Dual(y, y * x.tangent)
    return np.exp(x)
def log(x):
    """The natural logarithm, elementwise (x > 0)."""
    if isinstance(x, Dual):
        y = np.log(x.value)
        return Dual(y, 1 / x.value * x.tangent)
    return np.log(x)
def sqrt(x):
    """The square root, elementwise (x > 0 for a Dual)."""
    if isinstance(x, Dual):
        y = np.sqrt(x.value)
        return Dual(y, 1 / (2 * y) * x.tangent)
    return np.sqrt(x)
def sin(x):
    """The sine, elementwise."""
    if isinstance(x, Dual):
        y = np.sin(x.value)
        return Dual(y, np.cos(x.value) * x.tangent)
    return np.sin(x)
def cos(x):
    """The cosine, elementwise."""
    if isinstance(x, Dual):
        y = np.cos(x.value)
        return Dual(y, -np.sin(x.value) * x.tangent)
    return np.cos(x)
def tanh(x):
    """The hyperbolic tangent, elementwise."""
    if isinstance(x, Dual):
        y = np.tanh(x.value)
        return Dual(y, (1 - y ** 2) * x.tangent)
    return np.tanh(x)


def jvp(f, w, v):
    """(f(w), J_f(w) v) by one forward pass of f on Dual numbers."""
    out = f(Dual(np.asarray(w, dtype=float), np.asarray(v, dtype=float)))
    if not isinstance(out, Dual):  # f does not depend on w: a zero tangent
        return out, np.zeros_like(np.asarray(out, dtype=float))
    return out.value, out.tangent


def jacobian_forward(f, w):
    """The Jacobian of f at w, column by column: one forward pass per input direction."""
    columns = [jvp(f, w, e)[1] for e in np.eye(len(w))]  # column k is J e_k
    return np.stack(columns, axis=-1)


def grad_forward(f, w):
    """The gradient of a scalar f at w: n forward passes, one per coordinate."""
    return np.array([jvp(f, w, e)[1] for e in np.eye(len(w))])


def lecture_table(w):
    """Forward-mode table of L(w1, w2) = w2 log w1 + sqrt(w2 log w1): (value, d/dw1, d/dw2) per step."""
    w1, w2 = w
    dw1, dw2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])  # both seed directions at once
    v1, dv1 = np.log(w1), dw1 / w1
    v2, dv2 = w2 * v1, w2 * dv1 + v1 * dw2
    v3, dv3 = np.sqrt(v2), dv2 / (2 * np.sqrt(v2))
    L, dL = v2 + v3, dv2 + dv3  # v2 reaches L directly and through v3
    return {"v1": (v1, *dv1), "v2": (v2, *dv2), "v3": (v3, *dv3), "L": (L, *dL)}
