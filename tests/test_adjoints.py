"""Assignment 04_adjoints: what its hidden tests and rules catch, in-process (fast; nbgrader is test_grading's job).

The probes and judges run here on a namespace built like a student's kernel (the setup cell, then the
answers), so each check below is shown to fail on a wrong answer and to pass on the right one.
"""

import nbformat
import numpy as np
import pytest

from autograder import demo, integrity, notebooks
from autograder.exercises import ASSIGNMENTS, FORBIDDEN_CALLS, adjoints
from autograder.exercises.base import judge_all, observe, seed_for
from conftest import ROOT

A = "04_adjoints"
SOURCE = nbformat.read(notebooks.notebook_path(A, "source", ROOT), as_version=4)
RELEASE = notebooks.notebook_path(A, "release", ROOT)
ANSWERS = notebooks.solutions(A, ROOT)
SETUP = next(c.source for c in SOURCE.cells if notebooks.grade_id(c) == "setup")


def kernel(answers=None) -> dict:
    """The globals of a kernel that ran the setup cell and the answers (model answers unless replaced)."""
    namespace = {}
    exec(SETUP, namespace)
    for gid, code in {**ANSWERS, **(answers or {})}.items():
        if gid.endswith("written_answer"):
            continue
        exec(code, namespace)
    return namespace


def verdict(namespace, exercise, seed=1):
    spec = ASSIGNMENTS[A][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise, seed)))
    return judge_all(spec, cases, [observe(spec, namespace, case) for case in cases])


@pytest.fixture(scope="module")
def model():
    return kernel()


@pytest.mark.parametrize("exercise", list(ASSIGNMENTS[A]))
@pytest.mark.parametrize("seed", [1, 2])
def test_model_answers_pass_every_hidden_test(model, exercise, seed):
    result = verdict(model, exercise, seed)
    assert result.ok, result.message


# --- the generated inputs are never degenerate ------------------------------------------------------------


def test_matrices_are_well_conditioned_non_symmetric_and_have_distinct_singular_values():
    rng = np.random.default_rng(0)
    for n in [2, 4, 6, 8]:
        A_ = adjoints.well_conditioned(rng, n)
        assert np.linalg.cond(A_) < adjoints.MAX_CONDITION and not np.allclose(A_, A_.T)
    for m, n in [(4, 4), (6, 3), (3, 5), (7, 4)]:
        s = np.linalg.svd(adjoints.distinct_singular_values(rng, m, n), compute_uv=False)
        assert s.min() > 0.5 and np.min(-np.diff(s)) >= adjoints.MIN_GAP * s[0]


# --- behaviour: JAX's AD, inverses and refactorizations are caught by the probes themselves --------------

VJP_BY_JAX = demo.ALIASES_JAX_GRAD[A][1]


@pytest.mark.parametrize("code", [
    VJP_BY_JAX,
    "def solve_vjp(A, b, x, g, lu=None):\n    return jax.vjp(jnp.linalg.solve, A, b)[1](g)",
    "from jax import jacrev as J\n\ndef solve_vjp(A, b, x, g, lu=None):\n"
    "    J(jnp.linalg.solve)(A, b)\n    return (-jnp.outer(jnp.linalg.solve(A.T, g), x), jnp.linalg.solve(A.T, g))",
], ids=["alias (the demo student)", "jax.vjp", "jacrev imported under a name"])
def test_solve_vjp_computed_by_jax_ad_fails_and_says_so(code):
    result = verdict(kernel({"solve_vjp": code}), "solve_vjp")
    assert not result.ok and "automatic differentiation" in result.message


def test_the_ad_functions_are_restored_after_the_probe():
    import jax
    before = {name: getattr(jax, name) for name in adjoints.AD_TRANSFORMS}
    namespace = kernel({"solve_vjp": VJP_BY_JAX})
    verdict(namespace, "solve_vjp")
    assert {name: getattr(jax, name) for name in adjoints.AD_TRANSFORMS} == before
    assert namespace["derivative"] is jax.vjp


def test_a_custom_vjp_whose_backward_pass_asks_jax_fails():
    code = ANSWERS["solve"].replace("return solve_vjp(A, b, x, g, lu=lu)",
                                    "return jax.vjp(lambda A, b: lu_solve(lu, b), A, b)[1](g)")
    assert code != ANSWERS["solve"]
    result = verdict(kernel({"solve": code}), "solve")
    assert not result.ok and "automatic differentiation" in result.message


@pytest.mark.parametrize("code, words", [
    ("def solve_vjp(A, b, x, g, lu=None):\n    lam = np.linalg.inv(A).T @ g\n"
     "    return (-jnp.outer(lam, x) if jnp.ndim(x) == 1 else -lam @ x.T), lam", "numpy.linalg.inv"),
    ("from jax.numpy.linalg import pinv\n\ndef solve_vjp(A, b, x, g, lu=None):\n    lam = pinv(A.T) @ g\n"
     "    return (-jnp.outer(lam, x) if jnp.ndim(x) == 1 else -lam @ x.T), lam", "pinv"),
], ids=["numpy inv", "jax pinv imported by name"])
def test_an_explicit_inverse_in_solve_vjp_fails_with_its_name(code, words):
    result = verdict(kernel({"solve_vjp": code}), "solve_vjp")
    assert not result.ok and "explicit inverse" in result.message and words in result.message


def test_an_inverse_in_disguise_solving_against_the_identity_fails():
    code = ANSWERS["solve"].replace("    lu = lu_factor(A)\n    x = lu_solve(lu, b)\n",
                                    "    lu = lu_factor(A)\n    x = lu_solve(lu, jnp.eye(A.shape[0])) @ b\n")
    assert code != ANSWERS["solve"]
    result = verdict(kernel({"solve": code}), "solve")
    assert not result.ok and "n x n right-hand side" in result.message


def test_solve_without_custom_vjp_fails_even_though_jax_factorizes_once():
    # jnp.linalg.solve's own VJP also reuses its LU: only the custom_vjp check tells this apart.
    result = verdict(kernel({"solve": "def solve(A, b):\n    return jnp.linalg.solve(A, b)"}), "solve")
    assert not result.ok and "custom_vjp" in result.message


def test_numpy_inside_the_custom_vjp_is_reported_as_untraceable():
    code = ANSWERS["solve"].replace("    A, b, x, lu = residuals\n    return solve_vjp(A, b, x, g, lu=lu)",
                                    "    A, b, x, lu = residuals\n    lam = np.asarray(lu_solve(lu, g, trans=1))\n"
                                    "    return (-jnp.outer(lam, x) if jnp.ndim(x) == 1 else -lam @ x.T), lam")
    assert code != ANSWERS["solve"]
    result = verdict(kernel({"solve": code}), "solve")
    assert not result.ok and ("jax.numpy" in result.message or "Tracer" in result.message)


def test_ridge_loss_that_bypasses_solve_fails():
    code = ANSWERS["ridge_validation_loss"].replace("w = solve(", "w = jnp.linalg.solve(")
    assert code != ANSWERS["ridge_validation_loss"]
    result = verdict(kernel({"ridge_validation_loss": code}), "ridge_validation_loss")
    assert not result.ok and "did not call `solve`" in result.message


def test_a_wrong_solve_vjp_costs_its_own_points_only(model):
    # The later probes swap a correct solve_vjp in: a mistake in Exercise 1 does not fail Exercises 2, 7, 8.
    namespace = kernel({"solve_vjp": ANSWERS["solve_vjp"].replace("trans=1", "trans=0")})
    assert not verdict(namespace, "solve_vjp").ok
    for exercise in ["solve", "ridge_validation_loss", "tune_log_lam"]:
        assert verdict(namespace, exercise).ok, exercise


# --- static rules: FORBIDDEN_CALLS, read by the integrity checker -------------------------------------------


def findings(answers=None, added=None):
    nb = notebooks.fill(RELEASE, {**ANSWERS, **(answers or {})})
    if added is not None:
        nb.cells.insert(3, nbformat.v4.new_code_cell(added))
    return integrity.check_notebook(nb, forbid_ad=set(), forbid_calls=FORBIDDEN_CALLS[A], source_nb=SOURCE)


def test_model_answers_break_no_rule():
    assert findings() == []


def test_jax_is_allowed_where_it_is_the_point():
    # tune_log_lam uses jax.grad (the hypergradient); solve and nuclear_norm use jax.custom_vjp.
    assert "jax.grad" in ANSWERS["tune_log_lam"] and "jax.custom_vjp" in ANSWERS["solve"]
    assert set(FORBIDDEN_CALLS[A]) == {"solve_vjp", "solve", "svdvals_vjp", "nuclear_norm"}


@pytest.mark.parametrize("cell, code, added, reason", [
    ("solve_vjp", VJP_BY_JAX, None, "adjoint formula"),
    ("solve_vjp", "def solve_vjp(A, b, x, g, lu=None):\n    return vjp(jnp.linalg.solve, A, b)[1](g)",
     "from jax import vjp", "adjoint formula"),
    ("svdvals_vjp", "def svdvals_vjp(W, g, usv=None):\n"
     "    return jax.grad(lambda W: jnp.linalg.svd(W, compute_uv=False) @ g)(W)", None, "adjoint formula"),
    ("solve", ANSWERS["solve"].replace("lu_solve(lu_factor(A), b)", "jnp.linalg.inv(A) @ b"), None, "inverse"),
    ("solve_vjp", "inverse = np.linalg.inv\n\ndef solve_vjp(A, b, x, g, lu=None):\n    lam = inverse(A).T @ g\n"
     "    return -jnp.outer(lam, x), lam", None, "inverse"),
    ("nuclear_norm", ANSWERS["nuclear_norm"].replace("return (svdvals_vjp(W, g * jnp.ones_like(s), usv=(U, s, Vt)),)",
     "return jax.vjp(lambda W: jnp.sum(jnp.linalg.svd(W, compute_uv=False)), W)[1](g)"), None, "adjoint formula"),
], ids=["demo alias of jax.vjp", "vjp imported in an added cell", "jax.grad in svdvals_vjp", "inv in solve",
        "numpy inv under another name", "jax.vjp in nuclear_norm's backward pass"])
def test_forbidden_calls_are_flagged_in_their_cell(cell, code, added, reason):
    found = findings({cell: code}, added)
    assert {(f.rule, f.grade_id) for f in found} == {("forbidden-call", cell)}
    assert reason in found[0].message
    flags = integrity.flags_by_exercise(found, integrity.solution_to_tests(SOURCE))
    assert set(flags) == {f"test_{cell}"}


# --- the counting helpers the checks rely on ---------------------------------------------------------------


def test_primitive_counts_see_a_factorization_however_it_is_requested():
    import jax
    import jax.numpy as jnp
    from course import oracle
    from course.counting import factorizations, primitive_counts, triangular_solve_shapes
    oracle.enable_float64()
    A_, b, g = adjoints.well_conditioned(np.random.default_rng(3), 4), np.ones(4), np.arange(4.0)
    through_vjp = lambda f: (lambda A, b, g: jax.vjp(f, A, b)[1](g))  # noqa: E731
    assert factorizations(primitive_counts(through_vjp(jnp.linalg.solve), A_, b, g)) == {"lu": 1}
    twice = lambda A, b, g: jnp.linalg.solve(A.T, g) + jnp.linalg.solve(A, b)  # noqa: E731
    assert factorizations(primitive_counts(twice, A_, b, g)) == {"lu": 2}
    assert factorizations(primitive_counts(lambda A: jnp.linalg.svd(A), A_)) == {"svd": 1}
    inverse = lambda A, b, g: jnp.linalg.inv(A) @ b  # noqa: E731
    assert (4, 4) in triangular_solve_shapes(inverse, A_, b, g)
    assert (4, 4) not in triangular_solve_shapes(through_vjp(jnp.linalg.solve), A_, b, g)
