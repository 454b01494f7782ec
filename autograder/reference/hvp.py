"""Reference solutions for assignment 05_hvp.

Each definition here is, token for token, the code of the matching solution
cell of ``source/05_hvp/hvp.ipynb`` (generated from the same text);
``tests/test_reference_sync.py`` fails if the two drift apart.
"""

import jax
import jax.numpy as jnp
import numpy as np


def hvp_forward_over_reverse(f, x, v):
    """H(x) v as the derivative of the gradient along v: one JVP of grad f (Pearlmutter's trick)."""
    return jax.jvp(jax.grad(f), (x,), (v,))[1]


def hvp_reverse_over_reverse(f, x, v):
    """H(x) v as the gradient of the scalar y -> <grad f(y), v> (the Hessian is symmetric)."""
    def slope_along_v(y):
        return jnp.vdot(jax.grad(f)(y), v)  # a scalar again, so reverse mode applies a second time
    return jax.grad(slope_along_v)(x)


def hvp_finite_difference(f, x, v, eps):
    """H(x) v from two gradients: a central difference along v, error O(eps^2) + O(u / eps)."""
    grad = jax.grad(f)
    return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)


def hessian_from_hvps(f, x, hvp=None):
    """The n x n Hessian of f at x from exactly n calls hvp(f, x, v), one per column (default hvp: yours)."""
    if hvp is None:
        hvp = hvp_forward_over_reverse
    columns = [hvp(f, x, e) for e in np.eye(len(x))]  # H e_k is column k
    return jnp.stack(columns, axis=1)


def truncated_cg(hvp, g, eta, max_iter):
    """Solve H p = -g roughly by CG, with H only as hvp(d) = H d; stop at ||H p + g|| <= eta ||g|| or curvature <= 0."""
    p = jnp.zeros_like(g)
    r = g  # the residual H p + g at p = 0
    d = -r
    rr = float(r @ r)
    target = eta * np.sqrt(rr)
    for i in range(max_iter):
        Hd = hvp(d)
        curvature = float(d @ Hd)
        if curvature <= 0:
            return -g if i == 0 else p
        alpha = rr / curvature
        p = p + alpha * d
        r = r + alpha * Hd
        rr_new = float(r @ r)
        if np.sqrt(rr_new) <= target:  # the stopping rule of inexact Newton
            break
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return p
def newton_cg(f, x0, tol=1e-6, max_iter=200):
    """Minimize f from x0 by Newton-CG, Hessian only through HVPs; return (x, ||grad f|| at every iterate)."""
    value_and_grad = jax.jit(jax.value_and_grad(f))
    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])  # compiled once, reused for every HVP
    x = jnp.asarray(x0, dtype=float)
    fx, g = value_and_grad(x)
    grad_norms = [float(jnp.linalg.norm(g))]
    while grad_norms[-1] > tol and len(grad_norms) <= max_iter:
        eta = min(0.5, np.sqrt(grad_norms[-1]))  # forcing term: loose far away, tight close to the minimum
        p = truncated_cg(lambda d: hvp(x, d), g, eta, max_iter=x.size)
        slope = float(g @ p)  # negative: p is a descent direction
        t = 1.0
        while True:  # backtracking line search: accept the first step with enough decrease (Armijo)
            x_new = x + t * p
            f_new, g_new = value_and_grad(x_new)
            if f_new <= fx + 1e-4 * t * slope or t < 1e-12:
                break
            t = t / 2
        x, fx, g = x_new, f_new, g_new
        grad_norms.append(float(jnp.linalg.norm(g)))
    return x, grad_norms
