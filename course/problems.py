"""Functions to differentiate, shared by the notebooks, the checks and the grader.

Each problem is written once and runs on NumPy arrays (real *or complex*,
for the complex step), on JAX arrays, and under JAX tracing (for the
oracle).  The array module is picked from the argument: JAX for JAX values,
NumPy otherwise.
"""

from __future__ import annotations

import numpy as np


def array_module(*values):
    """``jax.numpy`` if any value is a JAX array or tracer, else ``numpy``."""
    for v in values:
        if type(v).__module__.startswith(("jax", "jaxlib")):
            import jax.numpy as jnp
            return jnp
    return np


def lecture_loss(w):
    """The lecture's running example L(w1, w2) = w2 log w1 + sqrt(w2 log w1) (needs w1 > 1, w2 > 0)."""
    xp = array_module(w)
    v1 = xp.log(w[0])
    v2 = w[1] * v1
    v3 = xp.sqrt(v2)
    return v2 + v3


def wiggly(w):
    """sum_i exp(w_i) / sqrt(sin(w_i)^3 + cos(w_i)^3): a classic test of step sizes (use w_i near 1.5)."""
    xp = array_module(w)
    return xp.sum(xp.exp(w) / xp.sqrt(xp.sin(w) ** 3 + xp.cos(w) ** 3))


def wiggly_gradient(w):
    """The exact gradient of :func:`wiggly`, derived by hand (so no AD is needed to know the truth)."""
    w = np.asarray(w)
    s, c = np.sin(w), np.cos(w)
    g = s**3 + c**3
    dg = 3 * s**2 * c - 3 * c**2 * s
    return np.exp(w) / np.sqrt(g) * (1 - dg / (2 * g))


class SmoothProblem:
    """f(w) = 1/2 w^T Q w + sum(sin(B w + c)) + s * exp(a^T w / d), analytic in every w_i.

    Q is *not* symmetric (so a gradient written as Q w instead of
    (Q + Q^T) w / 2 is caught) and ``s`` sets the scale of f, so that an
    absolute error cannot pass for a relative one.
    """

    def __init__(self, rng: np.random.Generator, d: int, scale: float = 1.0):
        self.d = d
        self.Q = rng.standard_normal((d, d))
        self.B = rng.standard_normal((d + 2, d))
        self.c = rng.standard_normal(d + 2)
        self.a = rng.standard_normal(d)
        self.scale = scale
        self.__name__ = f"smooth_problem_d{d}"

    def __call__(self, w):
        xp = array_module(w)
        return self.scale * (0.5 * w @ self.Q @ w + xp.sum(xp.sin(self.B @ w + self.c))
                             + xp.exp(self.a @ w / self.d))

    def gradient(self, w):
        """The exact gradient, by hand (used to plot errors without JAX)."""
        w = np.asarray(w, dtype=float)
        return self.scale * (0.5 * (self.Q + self.Q.T) @ w + self.B.T @ np.cos(self.B @ w + self.c)
                             + self.a / self.d * np.exp(self.a @ w / self.d))

    def __repr__(self) -> str:
        return f"SmoothProblem(d={self.d}, scale={self.scale})"


def random_point(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random point with entries of order one (float64)."""
    return rng.uniform(-1.5, 1.5, size=d)


def extended_rosenbrock(x):
    """sum over pairs (a, b) = (x[2i], x[2i+1]) of 100 (b - a^2)^2 + (1 - a)^2; minimum 0 at x = (1, ..., 1).

    n/2 copies of Rosenbrock's banana-shaped valley (n even): smooth, not convex (the Hessian is indefinite
    in places), and so badly scaled that gradient descent crawls along the valley floor.
    """
    xp = array_module(x)
    a, b = x[0::2], x[1::2]
    return xp.sum(100.0 * (b - a ** 2) ** 2 + (1.0 - a) ** 2)


_LOGISTIC_CUBIC_A = np.random.default_rng(5).standard_normal((9, 6))


def logistic_cubic(x):
    """sum(log(1 + exp(A x))) + x_0 sum(x^3) / 6 for a fixed random 9 x 6 matrix A (x has 6 entries).

    Not quadratic and not separable: its Hessian is dense and changes from point to point.
    """
    xp = array_module(x)
    return xp.sum(xp.logaddexp(0.0, _LOGISTIC_CUBIC_A @ x)) + xp.sum(x ** 3) * x[0] / 6
