"""Common wrong answers to assignment 05_hvp (generated from the model answers, one change each)."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        'hvp_returns_gradient',
        {'hvp_forward_over_reverse': 'def hvp_forward_over_reverse(f, x, v):\n    """H(x) v as the derivative of the gradient along v: one JVP of grad f (Pearlmutter\'s trick)."""\n    return jax.jvp(jax.grad(f), (x,), (v,))[0]  # the primal output of the JVP: grad f(x) itself\n'},
        loses=('test_hvp_forward_over_reverse',),
        message='gradient of f, not H v',
        description='takes the first output of jax.jvp (grad f(x)) instead of the tangent H v',
    ),
    Mistake(
        'hvp_x_and_v_swapped',
        {'hvp_reverse_over_reverse': 'def hvp_reverse_over_reverse(f, x, v):\n    """H(x) v as the gradient of the scalar y -> <grad f(y), v> (the Hessian is symmetric)."""\n    def slope(y):\n        return jnp.vdot(jax.grad(f)(y), x)\n    return jax.grad(slope)(v)  # the Hessian taken at v, applied to x\n'},
        loses=('test_hvp_reverse_over_reverse',),
        message='x and v are swapped',
        description='differentiates at the point v along x: H(v) x instead of H(x) v',
    ),
    Mistake(
        'fd_missing_division_by_eps',
        {'hvp_finite_difference': 'def hvp_finite_difference(f, x, v, eps):\n    """H(x) v from two gradients: a central difference along v, error O(eps^2) + O(u / eps)."""\n    grad = jax.grad(f)\n    return (grad(x + eps * v) - grad(x - eps * v)) / 2\n'},
        loses=('test_hvp_finite_difference',),
        message='missing 1/eps',
        description='divides the difference of gradients by 2 but not by eps',
    ),
    Mistake(
        'fd_one_sided',
        {'hvp_finite_difference': 'def hvp_finite_difference(f, x, v, eps):\n    """H(x) v from two gradients: a central difference along v, error O(eps^2) + O(u / eps)."""\n    grad = jax.grad(f)\n    return (grad(x + eps * v) - grad(x)) / eps  # one-sided: error O(eps)\n'},
        loses=('test_hvp_finite_difference',),
        message='one-sided difference',
        description='a forward (one-sided) difference of gradients: O(eps) error, large at the eps the test uses',
    ),
    Mistake(
        'hessian_one_hvp_per_entry',
        {'hessian_from_hvps': 'def hessian_from_hvps(f, x, hvp=None):\n    """The n x n Hessian of f at x from exactly n calls hvp(f, x, v), one per column (default hvp: yours)."""\n    if hvp is None:\n        hvp = hvp_forward_over_reverse\n    n = len(x)\n    H = np.zeros((n, n))\n    for i in range(n):\n        for j in range(n):\n            H[i, j] = hvp(f, x, np.eye(n)[j])[i]  # one HVP for each entry\n    return H\n'},
        loses=('test_hessian_from_hvps',),
        message='one HVP per entry',
        description='n^2 HVPs, one per entry H[i, j], where one per column gives n entries at once',
    ),
    Mistake(
        'newton_calls_jax_hessian',
        {'newton_cg': 'def truncated_cg(hvp, g, eta, max_iter):\n    """Solve H p = -g roughly by CG, with H only as hvp(d) = H d; stop at ||H p + g|| <= eta ||g|| or curvature <= 0."""\n    p = jnp.zeros_like(g)\n    r = g  # the residual H p + g at p = 0\n    d = -r\n    rr = float(r @ r)\n    target = eta * np.sqrt(rr)\n    for i in range(max_iter):\n        Hd = hvp(d)\n        curvature = float(d @ Hd)\n        if curvature <= 0:\n            return -g if i == 0 else p\n        alpha = rr / curvature\n        p = p + alpha * d\n        r = r + alpha * Hd\n        rr_new = float(r @ r)\n        if np.sqrt(rr_new) <= target:  # the stopping rule of inexact Newton\n            break\n        d = -r + (rr_new / rr) * d\n        rr = rr_new\n    return p\ndef newton_cg(f, x0, tol=1e-6, max_iter=200):\n    """Minimize f from x0 by Newton-CG, Hessian only through HVPs; return (x, ||grad f|| at every iterate)."""\n    value_and_grad = jax.jit(jax.value_and_grad(f))\n    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])  # compiled once, reused for every HVP\n    x = jnp.asarray(x0, dtype=float)\n    fx, g = value_and_grad(x)\n    grad_norms = [float(jnp.linalg.norm(g))]\n    while grad_norms[-1] > tol and len(grad_norms) <= max_iter:\n        eta = min(0.5, np.sqrt(grad_norms[-1]))  # forcing term: loose far away, tight close to the minimum\n        H = jax.hessian(f)(x)  # the dense n x n Hessian\n        p = -jnp.linalg.solve(H, g)\n        slope = float(g @ p)  # negative: p is a descent direction\n        t = 1.0\n        while True:  # backtracking line search: accept the first step with enough decrease (Armijo)\n            x_new = x + t * p\n            f_new, g_new = value_and_grad(x_new)\n            if f_new <= fx + 1e-4 * t * slope or t < 1e-12:\n                break\n            t = t / 2\n        x, fx, g = x_new, f_new, g_new\n        grad_norms.append(float(jnp.linalg.norm(g)))\n    return x, grad_norms\n'},
        loses=('test_newton_cg',),
        message='called jax.hessian',
        description="Newton's step from the dense Hessian (n x n: 3 GB at n = 20,000, 80 GB at n = 100,000)",
    ),
    Mistake(
        'cg_without_stopping_rule',
        {'newton_cg': 'def truncated_cg(hvp, g, eta, max_iter):\n    """Solve H p = -g roughly by CG, with H only as hvp(d) = H d; stop at ||H p + g|| <= eta ||g|| or curvature <= 0."""\n    p = jnp.zeros_like(g)\n    r = g  # the residual H p + g at p = 0\n    d = -r\n    rr = float(r @ r)\n    target = eta * np.sqrt(rr)\n    for i in range(max_iter):\n        Hd = hvp(d)\n        curvature = float(d @ Hd)\n        if curvature <= 0:\n            return -g if i == 0 else p\n        alpha = rr / curvature\n        p = p + alpha * d\n        r = r + alpha * Hd\n        rr_new = float(r @ r)\n        d = -r + (rr_new / rr) * d\n        rr = rr_new\n    return p\ndef newton_cg(f, x0, tol=1e-6, max_iter=200):\n    """Minimize f from x0 by Newton-CG, Hessian only through HVPs; return (x, ||grad f|| at every iterate)."""\n    value_and_grad = jax.jit(jax.value_and_grad(f))\n    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])  # compiled once, reused for every HVP\n    x = jnp.asarray(x0, dtype=float)\n    fx, g = value_and_grad(x)\n    grad_norms = [float(jnp.linalg.norm(g))]\n    while grad_norms[-1] > tol and len(grad_norms) <= max_iter:\n        eta = min(0.5, np.sqrt(grad_norms[-1]))  # forcing term: loose far away, tight close to the minimum\n        p = truncated_cg(lambda d: hvp(x, d), g, eta, max_iter=x.size)\n        slope = float(g @ p)  # negative: p is a descent direction\n        t = 1.0\n        while True:  # backtracking line search: accept the first step with enough decrease (Armijo)\n            x_new = x + t * p\n            f_new, g_new = value_and_grad(x_new)\n            if f_new <= fx + 1e-4 * t * slope or t < 1e-12:\n                break\n            t = t / 2\n        x, fx, g = x_new, f_new, g_new\n        grad_norms.append(float(jnp.linalg.norm(g)))\n    return x, grad_norms\n'},
        loses=('test_newton_cg',),
        message='did not finish within',
        description='CG runs its full n iterations at every Newton step: no residual test',
    ),
]


def _model(cell: str, old: str, new: str) -> dict[str, str]:
    """The model answer of one cell with ``old`` replaced by ``new`` (which must occur in it)."""
    from autograder import notebooks
    code = notebooks.solutions("05_hvp")[cell]
    assert old in code, f"{old!r} is not in the model answer of {cell}"
    return {cell: code.replace(old, new)}


MISTAKES += [
    Mistake(
        "hessian_ignores_hvp_argument",
        _model("hessian_from_hvps", "    if hvp is None:\n        hvp = hvp_forward_over_reverse\n",
               "    hvp = hvp_forward_over_reverse  # always its own HVP, whatever was passed\n"),
        loses=("test_hessian_from_hvps",),
        message="that was passed in",
        description="hessian_from_hvps ignores its hvp argument",
    ),
    Mistake(
        "hessian_default_not_handled",
        _model("hessian_from_hvps", "    if hvp is None:\n        hvp = hvp_forward_over_reverse\n", ""),
        loses=("test_hessian_from_hvps",),
        message="hvp=None",
        description="hessian_from_hvps calls hvp even when it is None (the default)",
    ),
    Mistake(
        "newton_ignores_tol",
        _model("newton_cg", "while grad_norms[-1] > tol and len(grad_norms) <= max_iter:",
               "while len(grad_norms) <= max_iter:  # every step, converged or not"),
        loses=("test_newton_cg",),
        message="kept iterating after",
        description="Newton-CG runs all max_iter steps, never checking tol",
    ),
    Mistake(
        "cg_first_negative_curvature_returns_zero",
        _model("newton_cg", "            return -g if i == 0 else p\n", "            return p\n"),
        loses=("test_newton_cg",),
        message="did not converge on double well",
        description="truncated CG returns p = 0 when the first direction has negative curvature",
    ),
]
