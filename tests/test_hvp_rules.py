"""Assignment 05_hvp: the rules that grade cost, checked without nbgrader (fast).

Statically: the finer integrity rules (FORBIDDEN_CALLS) flag the dense Hessian where HVPs are asked for,
through aliases, and leave the model answers and jax.grad alone.  At run time: the guards the probes use
(dense Hessian switched off and restored, a time limit that stops a loop without a stopping rule, an HVP
counter that counts a vmap over n directions as n HVPs).
"""

import time

import nbformat
import numpy as np
import pytest

from autograder import demo, integrity, notebooks
from autograder.exercises import FORBIDDEN_CALLS, hvp
from autograder.mistakes import catalogue
from conftest import ROOT
from course.checks import OutOfTime, time_limit

ASSIGNMENT = "05_hvp"
RELEASE = notebooks.notebook_path(ASSIGNMENT, "release", ROOT)
SOURCE = nbformat.read(notebooks.notebook_path(ASSIGNMENT, "source", ROOT), as_version=4)
ANSWERS = notebooks.solutions(ASSIGNMENT)
MAPPING = integrity.solution_to_tests(SOURCE)


def findings(answers=None, added=None):
    nb = notebooks.fill(RELEASE, {**ANSWERS, **(answers or {})})
    if added is not None:
        nb.cells.insert(len(nb.cells) - 2, nbformat.v4.new_code_cell(added))
    return integrity.check_notebook(nb, forbid_ad=set(), forbid_calls=FORBIDDEN_CALLS[ASSIGNMENT], source_nb=SOURCE)


def test_the_rules_are_registered_for_every_code_exercise():
    assert set(FORBIDDEN_CALLS[ASSIGNMENT]) == {ex.name for ex in hvp.EXERCISES}


def test_model_answers_are_clean():
    assert findings() == []


def test_the_demo_cheat_through_an_alias_is_flagged_in_its_cell_only():
    cell, code = demo.ALIASES_JAX_GRAD[ASSIGNMENT]
    found = findings({cell: code})
    assert {(f.rule, f.grade_id) for f in found} == {("forbidden-call", "hessian_from_hvps")}
    assert "HVPs yourself" in found[0].message
    assert set(integrity.flags_by_exercise(found, MAPPING)) == {"test_hessian_from_hvps"}


def test_newton_with_the_dense_hessian_is_flagged():
    (mistake,) = [m for m in catalogue(ASSIGNMENT) if m.name == "newton_calls_jax_hessian"]
    found = findings(mistake.answers)
    assert {(f.rule, f.grade_id) for f in found} == {("forbidden-call", "newton_cg")}
    assert "only through Hessian-vector products" in found[0].message


@pytest.mark.parametrize("cell, code, added", [
    ("hvp_forward_over_reverse", "def hvp_forward_over_reverse(f, x, v):\n    return J(jax.grad(f))(x) @ v",
     "from jax import jacfwd as J"),
    ("hvp_reverse_over_reverse", "def hvp_reverse_over_reverse(f, x, v):\n    return jax.jacrev(jax.grad(f))(x) @ v",
     None),
    ("newton_cg", "import scipy.optimize\n\ndef newton_cg(f, x0, tol=1e-6, max_iter=200):\n"
                  "    return scipy.optimize.minimize(f, x0, method='Newton-CG').x, []", None),
])
def test_other_dense_routes_are_flagged(cell, code, added):
    found = findings({cell: code}, added=added)
    assert ("forbidden-call", cell) in {(f.rule, f.grade_id) for f in found}


def test_jax_grad_jvp_and_jit_stay_allowed():
    code = ("def hvp_finite_difference(f, x, v, eps):\n    g = jax.jit(jax.grad(f))\n"
            "    return (g(x + eps * v) - g(x - eps * v)) / (2 * eps) + 0 * jax.jvp(f, (x,), (v,))[1]")
    assert findings({"hvp_finite_difference": code}) == []


# --- the run-time guards of the probes ----------------------------------------------------------------------


def test_dense_hessian_is_switched_off_under_every_alias_and_restored():
    import jax
    original = jax.hessian
    namespace = {"H": jax.hessian, "J": jax.jacfwd, "eye": np.eye}
    with hvp.no_dense_hessian(namespace, "newton_cg", identity=True):
        for call in (lambda: jax.hessian(sum), lambda: namespace["H"](sum), lambda: namespace["J"](sum),
                     lambda: np.eye(20_000), lambda: namespace["eye"](5000)):
            with pytest.raises(hvp.DenseHessianForbidden, match="newton_cg"):
                call()
        assert np.eye(3).shape == (3, 3)  # small identities stay allowed
    assert jax.hessian is original and namespace["H"] is original and namespace["eye"] is np.eye


def test_a_loop_without_a_stopping_rule_is_stopped_quickly():
    start = time.perf_counter()
    with pytest.raises(OutOfTime, match="did not finish within 0.3 s"):
        with time_limit(0.3):
            try:
                while True:
                    pass
            except Exception:  # student code that swallows exceptions does not swallow the time limit
                pass
    assert time.perf_counter() - start < 2


def test_a_vmap_over_n_directions_counts_as_n_hvps():
    import jax
    import jax.numpy as jnp
    counter = hvp.CountingHvp()
    f = lambda x: jnp.sum(jnp.sin(x) ** 2) * x[0]  # noqa: E731
    x = jnp.linspace(-1.0, 1.0, 5)
    H = jax.vmap(lambda e: counter(f, x, e))(jnp.eye(5))
    assert counter.directions == 5 and H.shape == (5, 5)
    counter(f, x, jnp.ones(5))
    assert counter.directions == 6


def test_newton_probe_bounds_itself_and_skips_the_remaining_problems(monkeypatch):
    from autograder.exercises.base import judge_all, observe
    monkeypatch.setattr(hvp, "NEWTON_SECONDS", 0.5)

    def newton_cg(f, x0, tol=1e-6, max_iter=200):  # CG without a stopping rule, at its most extreme
        while True:
            pass

    spec = hvp.NewtonCg()
    cases = spec.cases(np.random.default_rng(0))
    start = time.perf_counter()
    observed = [observe(spec, {"newton_cg": newton_cg}, case) for case in cases]
    assert time.perf_counter() - start < 3
    assert observed[0] == {"timed_out": 0.5} and all(o == {"skipped": True} for o in observed[1:])
    verdict = judge_all(spec, cases, observed)
    assert not verdict.ok and "did not finish within 0.5 s" in verdict.message and "stopping rule" in verdict.message
