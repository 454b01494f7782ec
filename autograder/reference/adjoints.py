"""Reference solutions for assignment 04_adjoints.

Each definition here is, token for token, the code of the matching solution
cell of ``source/04_adjoints/adjoints.ipynb`` (generated from the same text);
``tests/test_reference_sync.py`` fails if the two drift apart.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import lu_factor, lu_solve

from course import oracle

oracle.enable_float64()


def solve_vjp(A, b, x, g, lu=None):
    """Adjoint of x = A^{-1} b: (dL/dA, dL/db) from g = dL/dx; `lu` = lu_factor(A) if the caller already has it."""
    if lu is None:
        lu = lu_factor(A)
    grad_b = lu_solve(lu, g, trans=1)  # lambda = A^{-T} g: one solve with A^T, from the same LU
    if jnp.ndim(x) == 1:
        grad_A = -jnp.outer(grad_b, x)  # -lambda x^T
    else:
        grad_A = -grad_b @ x.T  # -Lambda X^T: the outer products of the k columns, summed
    return grad_A, grad_b


@jax.custom_vjp
def solve(A, b):
    """x = A^{-1} b through one LU factorization (the plain call, when no gradient is wanted)."""
    return lu_solve(lu_factor(A), b)


def solve_fwd(A, b):
    """The forward pass: x, and the residuals the backward pass needs -- the factorization included."""
    lu = lu_factor(A)
    x = lu_solve(lu, b)
    return x, (A, b, x, lu)


def solve_bwd(residuals, g):
    """The backward pass: (dL/dA, dL/db) from g = dL/dx, reusing the forward pass's LU."""
    A, b, x, lu = residuals
    return solve_vjp(A, b, x, g, lu=lu)


solve.defvjp(solve_fwd, solve_bwd)


def svdvals_vjp(W, g, usv=None):
    """dL/dW = U diag(g) V^T (thin SVD) for g = dL/ds, s the singular values; `usv` = (U, s, Vt) if already known."""
    U, s, Vt = jnp.linalg.svd(W, full_matrices=False) if usv is None else usv
    return (U * g) @ Vt  # U diag(g) V^T without forming diag(g): column i of U scaled by g_i


@jax.custom_vjp
def nuclear_norm(W):
    """The nuclear norm of W: the sum of its singular values."""
    return jnp.sum(jnp.linalg.svd(W, compute_uv=False))


def nuclear_norm_fwd(W):
    """The forward pass: the norm, and the thin SVD for the backward pass."""
    U, s, Vt = jnp.linalg.svd(W, full_matrices=False)
    return jnp.sum(s), (W, U, s, Vt)


def nuclear_norm_bwd(residuals, g):
    """The backward pass: d(sum s)/ds is all ones, scaled by the incoming cotangent g (a number)."""
    W, U, s, Vt = residuals
    return (svdvals_vjp(W, g * jnp.ones_like(s), usv=(U, s, Vt)),)


nuclear_norm.defvjp(nuclear_norm_fwd, nuclear_norm_bwd)


def ridge_validation_loss(log_lam, X_train, y_train, X_val, y_val):
    """Mean squared error on the validation set of ridge regression fitted with lambda = exp(log_lam), via `solve`."""
    d = X_train.shape[1]
    w = solve(X_train.T @ X_train + jnp.exp(log_lam) * jnp.eye(d), X_train.T @ y_train)
    return jnp.mean((X_val @ w - y_val) ** 2)


def tune_log_lam(log_lam0, learning_rate, steps, X_train, y_train, X_val, y_val):
    """Gradient descent on log(lambda) with the hypergradient: the steps + 1 iterates, log_lam0 first."""
    hypergradient = jax.grad(ridge_validation_loss)  # flows through the custom VJP of `solve`
    path = [float(log_lam0)]
    for _ in range(steps):
        slope = hypergradient(path[-1], X_train, y_train, X_val, y_val)
        path.append(path[-1] - learning_rate * float(slope))
    return np.array(path)
