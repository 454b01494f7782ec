"""Common wrong answers to assignment 04_adjoints (generated from the model answers, one slip each)."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        'adjoint_uses_inverse_not_transpose',
        {'solve_vjp': 'def solve_vjp(A, b, x, g, lu=None):\n    """Adjoint of x = A^{-1} b: (dL/dA, dL/db) from g = dL/dx; `lu` = lu_factor(A) if the caller already has it."""\n    if lu is None:\n        lu = lu_factor(A)\n    grad_b = lu_solve(lu, g)  # lambda = A^{-T} g: one solve with A^T, from the same LU\n    if jnp.ndim(x) == 1:\n        grad_A = -jnp.outer(grad_b, x)  # -lambda x^T\n    else:\n        grad_A = -grad_b @ x.T  # -Lambda X^T: the outer products of the k columns, summed\n    return grad_A, grad_b\n'},
        loses=('test_solve_vjp',),
        message='A^{-T} g',
        description='lambda = A^{-1} g (a solve with A) instead of A^{-T} g (a solve with A^T)',
    ),
    Mistake(
        'grad_A_sign_dropped',
        {'solve_vjp': 'def solve_vjp(A, b, x, g, lu=None):\n    """Adjoint of x = A^{-1} b: (dL/dA, dL/db) from g = dL/dx; `lu` = lu_factor(A) if the caller already has it."""\n    if lu is None:\n        lu = lu_factor(A)\n    grad_b = lu_solve(lu, g, trans=1)  # lambda = A^{-T} g: one solve with A^T, from the same LU\n    if jnp.ndim(x) == 1:\n        grad_A = jnp.outer(grad_b, x)  # -lambda x^T\n    else:\n        grad_A = grad_b @ x.T  # -Lambda X^T: the outer products of the k columns, summed\n    return grad_A, grad_b\n'},
        loses=('test_solve_vjp',),
        message='sign of grad_A',
        description='grad_A = +lambda x^T: the minus sign from dx = A^{-1}(db - dA x) dropped',
    ),
    Mistake(
        'outer_product_transposed',
        {'solve_vjp': 'def solve_vjp(A, b, x, g, lu=None):\n    """Adjoint of x = A^{-1} b: (dL/dA, dL/db) from g = dL/dx; `lu` = lu_factor(A) if the caller already has it."""\n    if lu is None:\n        lu = lu_factor(A)\n    grad_b = lu_solve(lu, g, trans=1)  # lambda = A^{-T} g: one solve with A^T, from the same LU\n    if jnp.ndim(x) == 1:\n        grad_A = -jnp.outer(x, grad_b)  # -lambda x^T\n    else:\n        grad_A = -x @ grad_b.T  # -Lambda X^T: the outer products of the k columns, summed\n    return grad_A, grad_b\n'},
        loses=('test_solve_vjp',),
        message='outer product is the wrong way round',
        description='grad_A = -x lambda^T instead of -lambda x^T',
    ),
    Mistake(
        'explicit_inverse_in_solve_vjp',
        {'solve_vjp': 'def solve_vjp(A, b, x, g, lu=None):\n    A_inv = jnp.linalg.inv(A)  # right values, three times the work of an LU, and less accurate\n    grad_b = A_inv.T @ g\n    grad_A = -jnp.outer(grad_b, x) if jnp.ndim(x) == 1 else -grad_b @ x.T\n    return grad_A, grad_b\n'},
        loses=('test_solve_vjp',),
        message='explicit inverse',
        description='lambda = inv(A).T @ g: right values, but an explicit inverse',
    ),
    Mistake(
        'solve_vjp_by_jax_vjp',
        {'solve_vjp': "from jax import vjp as pullback_of\n\ndef solve_vjp(A, b, x, g, lu=None):\n    _, pullback = pullback_of(jnp.linalg.solve, A, b)  # JAX's own adjoint, not the formula\n    return pullback(g)\n"},
        loses=('test_solve_vjp',),
        message='called jax.vjp',
        description='solve_vjp computed with jax.vjp (imported under another name)',
    ),
    Mistake(
        'solve_vjp_ignores_lu',
        {'solve_vjp': 'def solve_vjp(A, b, x, g, lu=None):\n    """Adjoint of x = A^{-1} b: (dL/dA, dL/db) from g = dL/dx; `lu` = lu_factor(A) if the caller already has it."""\n    lu = lu_factor(A)  # always: the forward pass\'s factorization is thrown away\n    grad_b = lu_solve(lu, g, trans=1)  # lambda = A^{-T} g: one solve with A^T, from the same LU\n    if jnp.ndim(x) == 1:\n        grad_A = -jnp.outer(grad_b, x)  # -lambda x^T\n    else:\n        grad_A = -grad_b @ x.T  # -Lambda X^T: the outer products of the k columns, summed\n    return grad_A, grad_b\n'},
        loses=('test_solve_vjp',),
        message='still factorized',
        description="solve_vjp factorizes A even when given the forward pass's LU",
    ),
    Mistake(
        'explicit_inverse_in_solve',
        {'solve': '@jax.custom_vjp\ndef solve(A, b):\n    return jnp.linalg.inv(A) @ b\n\n\ndef solve_fwd(A, b):\n    A_inv = jnp.linalg.inv(A)  # one factorization, but an explicit inverse: about 3x the work of an LU\n    x = A_inv @ b\n    return x, (A_inv, x)\n\n\ndef solve_bwd(residuals, g):\n    A_inv, x = residuals\n    lam = A_inv.T @ g\n    return (-jnp.outer(lam, x) if jnp.ndim(x) == 1 else -lam @ x.T), lam\n\n\nsolve.defvjp(solve_fwd, solve_bwd)\n'},
        loses=('test_solve',),
        message='explicit inverse',
        description='solve stores inv(A) and multiplies by it: right values, one LU, but an inverse',
    ),
    Mistake(
        'solve_backward_refactorizes',
        {'solve': '@jax.custom_vjp\ndef solve(A, b):\n    """x = A^{-1} b through one LU factorization (the plain call, when no gradient is wanted)."""\n    return lu_solve(lu_factor(A), b)\n\n\ndef solve_fwd(A, b):\n    """The forward pass: x, and the residuals the backward pass needs -- the factorization included."""\n    lu = lu_factor(A)\n    x = lu_solve(lu, b)\n    return x, (A, b, x, lu)\n\n\ndef solve_bwd(residuals, g):\n    """The backward pass: (dL/dA, dL/db) from g = dL/dx, reusing the forward pass\'s LU."""\n    A, b, x, lu = residuals\n    return solve_vjp(A, b, x, g)\n\n\nsolve.defvjp(solve_fwd, solve_bwd)\n'},
        loses=('test_solve',),
        message='factorized a matrix 2 times',
        description="the backward pass calls solve_vjp without the forward's LU: two factorizations",
    ),
    Mistake(
        'svd_transposes',
        {'svdvals_vjp': 'def svdvals_vjp(W, g, usv=None):\n    """dL/dW = U diag(g) V^T (thin SVD) for g = dL/ds, s the singular values; `usv` = (U, s, Vt) if already known."""\n    U, s, Vt = jnp.linalg.svd(W, full_matrices=False) if usv is None else usv\n    return U.T @ jnp.diag(g) @ Vt.T  # U diag(g) V^T without forming diag(g): column i of U scaled by g_i\n'},
        loses=('test_svdvals_vjp',),
        message='U^T diag(g) V',
        description='U^T diag(g) V instead of U diag(g) V^T',
    ),
    Mistake(
        'full_svd',
        {'svdvals_vjp': 'def svdvals_vjp(W, g, usv=None):\n    """dL/dW = U diag(g) V^T (thin SVD) for g = dL/ds, s the singular values; `usv` = (U, s, Vt) if already known."""\n    U, s, Vt = jnp.linalg.svd(W) if usv is None else usv\n    return U @ jnp.diag(g) @ Vt  # U diag(g) V^T without forming diag(g): column i of U scaled by g_i\n'},
        loses=('test_svdvals_vjp',),
        message='full_matrices=False',
        description='the full SVD (U m x m, V^T n x n): fails for m != n',
    ),
    Mistake(
        'nuclear_norm_ignores_cotangent',
        {'nuclear_norm': '@jax.custom_vjp\ndef nuclear_norm(W):\n    """The nuclear norm of W: the sum of its singular values."""\n    return jnp.sum(jnp.linalg.svd(W, compute_uv=False))\n\n\ndef nuclear_norm_fwd(W):\n    """The forward pass: the norm, and the thin SVD for the backward pass."""\n    U, s, Vt = jnp.linalg.svd(W, full_matrices=False)\n    return jnp.sum(s), (W, U, s, Vt)\n\n\ndef nuclear_norm_bwd(residuals, g):\n    """The backward pass: d(sum s)/ds is all ones, scaled by the incoming cotangent g (a number)."""\n    W, U, s, Vt = residuals\n    return (svdvals_vjp(W, jnp.ones_like(s), usv=(U, s, Vt)),)\n\n\nnuclear_norm.defvjp(nuclear_norm_fwd, nuclear_norm_bwd)\n'},
        loses=('test_nuclear_norm',),
        message='ignores its cotangent',
        description='the backward pass returns U V^T whatever the incoming cotangent',
    ),
    Mistake(
        'ridge_without_exp',
        {'ridge_validation_loss': 'def ridge_validation_loss(log_lam, X_train, y_train, X_val, y_val):\n    """Mean squared error on the validation set of ridge regression fitted with lambda = exp(log_lam), via `solve`."""\n    d = X_train.shape[1]\n    w = solve(X_train.T @ X_train + log_lam * jnp.eye(d), X_train.T @ y_train)\n    return jnp.mean((X_val @ w - y_val) ** 2)\n'},
        loses=('test_ridge_validation_loss',),
        message='lambda = exp(log_lam)',
        description='the penalty is log_lam itself, not exp(log_lam)',
    ),
    Mistake(
        'tune_climbs',
        {'tune_log_lam': 'def tune_log_lam(log_lam0, learning_rate, steps, X_train, y_train, X_val, y_val):\n    """Gradient descent on log(lambda) with the hypergradient: the steps + 1 iterates, log_lam0 first."""\n    hypergradient = jax.grad(ridge_validation_loss)  # flows through the custom VJP of `solve`\n    path = [float(log_lam0)]\n    for _ in range(steps):\n        slope = hypergradient(path[-1], X_train, y_train, X_val, y_val)\n        path.append(path[-1] + learning_rate * float(slope))\n    return np.array(path)\n'},
        loses=('test_tune_log_lam',),
        message='descent',
        description='gradient ascent: the step adds the hypergradient',
    ),
]


def _model(cell: str, old: str, new: str) -> dict[str, str]:
    """The model answer of one cell with ``old`` replaced by ``new`` (which must occur in it)."""
    from autograder import notebooks
    code = notebooks.solutions("04_adjoints")[cell]
    assert old in code, f"{old!r} is not in the model answer of {cell}"
    return {cell: code.replace(old, new)}


MISTAKES += [
    Mistake(
        "nuclear_backward_recomputes_svd",
        _model("nuclear_norm", "svdvals_vjp(W, g * jnp.ones_like(s), usv=(U, s, Vt))",
               "svdvals_vjp(W, g * jnp.ones_like(s))"),
        loses=("test_nuclear_norm",),
        message="exactly one SVD",
        description="nuclear_norm's backward pass computes the SVD again instead of reusing the forward's",
    ),
    Mistake(
        "svdvals_vjp_ignores_usv",
        _model("svdvals_vjp", "jnp.linalg.svd(W, full_matrices=False) if usv is None else usv",
               "jnp.linalg.svd(W, full_matrices=False)  # even when usv is given"),
        loses=("test_svdvals_vjp",),
        message="was given the SVD",
        description="svdvals_vjp recomputes the SVD although usv was passed",
    ),
]

MISTAKES += [
    Mistake(
        "solve_primal_transposed",
        _model("solve", "    return lu_solve(lu_factor(A), b)\n", "    return lu_solve(lu_factor(A), b, trans=1)\n"),
        loses=("test_solve",),
        message="called plainly",
        description="the plain call of solve solves A^T x = b; only solve_fwd (used under jax.vjp) is right",
    ),
]
