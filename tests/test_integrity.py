"""The integrity checker: model answers pass clean, and each way of cheating is flagged where it happens.

Submissions are built from the release notebook with the model answers filled in (a student who did
everything right), then one answer is swapped or one cell added to play a single attack.
"""

import nbformat
import pytest

from autograder import integrity, notebooks
from conftest import ROOT

ASSIGNMENT = "01_finite_differences"
RELEASE = ROOT / "release" / ASSIGNMENT / "finite_differences.ipynb"
SOURCE = nbformat.read(ROOT / "source" / ASSIGNMENT / "finite_differences.ipynb", as_version=4)
ANSWERS = notebooks.solutions(ASSIGNMENT)
CODE_SOLUTIONS = {"lecture_gradient", "forward_difference", "central_difference", "complex_step",
                  "step_size_errors", "best_steps"}
FORBID_AD = set(CODE_SOLUTIONS)
TESTS = {gid: [f"test_{gid}"] for gid in CODE_SOLUTIONS} | {"cost_written_answer": ["cost_written_answer"]}
FD = "def forward_difference(f, w, eps):\n    {}\n"


def submission(answers=None, added=None, after="forward_difference"):
    """The model answers, some replaced by ``answers``; ``added``: a new cell right above solution ``after``."""
    nb = notebooks.fill(RELEASE, {**ANSWERS, **(answers or {})})
    if added is not None:
        index = next(i for i, cell in enumerate(nb.cells) if notebooks.grade_id(cell) == after)
        nb.cells.insert(index, nbformat.v4.new_code_cell(added))
    return nb


def check(nb, forbid_ad=FORBID_AD, source=True):
    return integrity.check_notebook(nb, forbid_ad=forbid_ad, source_nb=SOURCE if source else None)


def flagged(findings):
    return {(f.rule, f.grade_id) for f in findings}


# --- correct work is not flagged ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", [True, False], ids=["with source", "without source"])
def test_model_answers_produce_no_findings(source):
    assert check(submission(), source=source) == []


def test_plain_numpy_math_warnings_and_own_objects_are_fine():
    answer = ("import numpy as np\nimport math\nimport warnings\n\n"
              "class Step:\n    def __init__(self, d):\n        self.d = d\n"
              "    def __add__(self, other):\n        return self.__class__(self.d + other.d)\n\n"
              "def forward_difference(f, w, eps):\n"
              '    """Docstring lines may start with symbols:\n    ! not a shell escape\n    % nor a magic\n    """\n'
              "    warnings.warn('demo') if math.isnan(eps) else None\n"
              "    f0 = f(w)\n    return np.array([(f(w + eps * e) - f0) / eps for e in np.eye(len(w))])\n")
    assert check(submission({"forward_difference": answer})) == []


def test_instructor_cell_unchanged_is_skipped_but_an_edited_one_is_checked():
    nb = submission()
    plot = next(cell for cell in nb.cells if cell.cell_type == "code" and "nbgrader" not in cell.metadata)
    assert check(nb) == []
    plot.source += "\nimport os"
    assert flagged(check(nb)) == {("process", None)}


def test_reading_the_plotted_errors_is_not_using_ad():
    # The instructor's plot cell computes `errors` with jax.grad; reading them off is what Exercise 6 asks.
    answer = "best_steps = {m: steps[int(np.argmin(errors[m]))] for m in errors}"
    assert check(submission({"best_steps": answer})) == []


def test_a_global_rebound_to_ad_by_a_later_cell_is_flagged():
    # The function reads `g` when the test cell calls it: by then the added cell below has rebound it.
    answer = "g = lambda f: None\n" + FD.format("return g(f)(w)")
    nb = submission({"forward_difference": answer}, added="g = jax.grad", after="central_difference")
    assert ("ad-library", "forward_difference") in flagged(check(nb))


def test_a_cell_relabelled_as_locked_is_still_checked_against_the_source():
    nb = submission(added="import socket")
    nb.cells[[c.source for c in nb.cells].index("import socket")].metadata["nbgrader"] = {
        "grade_id": "harmless", "locked": True, "solution": False, "grade": False}
    assert flagged(check(nb)) == {("network", None)}
    assert check(nb, source=False) == []  # without the source, the metadata is all there is


# --- one attack each: flagged with the right rule, in the right cell ---------------------------------------

ATTACKS = {
    # name: (answers, added cell, expected (rule, grade_id))
    "jax.grad in a solution": ({"forward_difference": FD.format("return jax.grad(f)(w)")}, None,
                               ("ad-library", "forward_difference")),
    "import jax as j": ({"forward_difference": "import jax as j\n" + FD.format("return j.grad(f)(w)")}, None,
                        ("ad-library", "forward_difference")),
    "grad imported in an added cell": ({"forward_difference": FD.format("return g(f)(w)")},
                                       "from jax import grad as g", ("ad-library", "forward_difference")),
    "helper defined in an added cell": ({"forward_difference": FD.format("return helper(f, w)")},
                                        "def helper(f, w):\n    return jax.grad(f)(w)",
                                        ("ad-library", "forward_difference")),
    "alias set through global": ({"central_difference": FD.format("return g(f)(w)")},
                                 "def setup():\n    global g\n    g = jax.grad\nsetup()",
                                 ("ad-library", "central_difference")),
    "star import from jax": ({"complex_step": FD.format("return grad(f)(w)")}, "from jax import *",
                             ("ad-library", "complex_step")),
    "scipy's finite differences": ({"forward_difference": "from scipy.optimize import approx_fprime\n"
                                    + FD.format("return approx_fprime(w, f, eps)")}, None,
                                   ("ad-library", "forward_difference")),
    "the course's oracle": ({"lecture_gradient": "def lecture_gradient(w):\n"
                             "    return course.oracle.gradient(lecture_loss, w)"}, None,
                            ("ad-library", "lecture_gradient")),
    "autograd": ({"forward_difference": "import autograd\n" + FD.format("return autograd.grad(f)(w)")}, None,
                 ("ad-library", "forward_difference")),
    "torch": ({"complex_step": "import torch\ndef complex_step(f, w, h):\n    return torch.zeros(len(w))"}, None,
              ("ad-library", "complex_step")),
    "tensorflow as tf": ({"complex_step": "import tensorflow as tf\ndef complex_step(f, w, h):\n"
                          "    return tf.zeros(len(w))"}, None, ("ad-library", "complex_step")),
    "redefined below the solution": (None, FD.format("return jax.grad(f)(w)"), ("ad-library", None)),
    "__import__": ({"forward_difference": FD.format("return __import__('jax').grad(f)(w)")}, None,
                   ("dynamic-code", "forward_difference")),
    "importlib": ({"forward_difference": "import importlib\n"
                   + FD.format("return importlib.import_module('jax').grad(f)(w)")}, None,
                  ("dynamic-code", "forward_difference")),
    "eval": ({"lecture_gradient": "def lecture_gradient(w):\n    return eval('np.zeros(2)')"}, None,
             ("dynamic-code", "lecture_gradient")),
    "exec": (None, "exec('x = 1')", ("dynamic-code", None)),
    "sys.modules": ({"forward_difference": "import sys\n" + FD.format("return sys.modules['jax'].grad(f)(w)")},
                    None, ("dynamic-code", "forward_difference")),
    "globals()": (None, "globals()['x'] = 1", ("dynamic-code", None)),
    "getattr with a computed name": (None, "name = 'all' + 'close'\ncheck = getattr(np, name)",
                                     ("dynamic-code", None)),
    "__subclasses__": (None, "classes = ().__class__.__base__.__subclasses__()", ("introspection", None)),
    "function globals": (None, "check_calls.__globals__['np'] = None", ("introspection", None)),
    "assert_allclose replaced": (None, "np.testing.assert_allclose = lambda *a, **k: None", ("monkeypatch", None)),
    "course.checks.compare replaced": (None, "import course.checks\ncourse.checks.compare = lambda *a, **k: None",
                                       ("monkeypatch", None)),
    "setattr on numpy": (None, "setattr(np, 'allclose', lambda *a, **k: True)", ("monkeypatch", None)),
    "instructor import rebound": (None, "def check_calls(*args, **kwargs):\n    pass", ("monkeypatch", None)),
    "open": ({"forward_difference": FD.format("return open('/etc/passwd').read()")}, None,
             ("file-access", "forward_difference")),
    "os.system": (None, "import os\nos.system('ls')", ("process", None)),
    "socket": (None, "import socket", ("network", None)),
    "ctypes": (None, "import ctypes", ("process", None)),
    "shell escape": (None, "!ls", ("process", None)),
    "bash cell magic": (None, "%%bash\ncat /etc/passwd", ("process", None)),
    "one-line automagic": (None, "cat /etc/passwd", ("process", None)),
    "get_ipython": (None, "get_ipython().system('ls')", ("magic", None)),
    "unparsable": (None, "def f(:\n    pass", ("unparsable", None)),
}


@pytest.mark.parametrize("answers, added, expected", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_is_flagged(answers, added, expected):
    assert expected in flagged(check(submission(answers, added)))


def test_message_names_what_where_and_why():
    findings = check(submission({"forward_difference": FD.format("return jax.grad(f)(w)")}))
    assert [(f.grade_id, f.line, f.message) for f in findings] == [
        ("forward_difference", 2, "uses jax.grad in `forward_difference`: "
                                  "this exercise must be implemented without an AD library")]


def test_both_lines_of_the_import_alias_attack_are_reported():
    findings = check(submission({"forward_difference": "import jax as j\n" + FD.format("return j.grad(f)(w)")}))
    assert [(f.line, f.rule) for f in findings] == [(1, "ad-library"), (3, "ad-library")]
    assert "`j.grad` (jax.grad)" in findings[1].message


def test_magic_lines_are_reported_and_the_rest_of_the_cell_still_checked():
    findings = check(submission(added="x = 1\n!ls\n%time exec('y = 2')\nimport socket"))
    assert {(f.line, f.rule) for f in findings} == {
        (2, "process"), (3, "magic"), (3, "dynamic-code"), (4, "network")}


def test_jax_is_allowed_where_the_exercise_allows_it_but_eval_is_not():
    answer = FD.format("return jax.grad(f)(w) + eval('0')")
    findings = check(submission({"forward_difference": answer}), forbid_ad=FORBID_AD - {"forward_difference"})
    assert flagged(findings) == {("dynamic-code", "forward_difference")}


def test_local_names_shadow_the_notebooks_aliases():
    answer = FD.format("return (lambda g: g)(np.zeros(len(w)))")
    assert check(submission({"forward_difference": answer}, added="from jax import grad as g")) == []


def test_calling_another_exercises_answer_is_not_flagged_again():
    findings = check(submission({"forward_difference": FD.format("return jax.grad(f)(w)")}))
    assert {f.grade_id for f in findings} == {"forward_difference"}  # not step_size_errors, which calls it


# --- which tests a finding invalidates ---------------------------------------------------------------------


def test_solution_to_tests_follows_the_source_layout():
    assert integrity.solution_to_tests(SOURCE) == TESTS


def test_a_finding_in_a_solution_invalidates_its_own_tests():
    findings = check(submission({"forward_difference": FD.format("return jax.grad(f)(w)")}))
    flags = integrity.flags_by_exercise(findings, integrity.solution_to_tests(SOURCE))
    assert flags == {"test_forward_difference": [findings[0].message]}


def test_a_finding_in_an_added_cell_invalidates_every_test():
    findings = check(submission(added="np.testing.assert_allclose = lambda *a, **k: None"))
    flags = integrity.flags_by_exercise(findings, TESTS)
    assert set(flags) == {test for tests in TESTS.values() for test in tests}
    assert all(messages == [findings[0].message] for messages in flags.values())


def test_flags_by_exercise_treats_an_unknown_cell_as_added():
    finding = integrity.Finding("renamed_cell", 1, "dynamic-code", "uses eval")
    assert set(integrity.flags_by_exercise([finding], {"a": ["test_a"], "b": ["test_b"]})) == {"test_a", "test_b"}


def test_only_an_ad_library_is_local_to_its_exercise():
    """A patched module or exec in one solution cell changes the whole kernel: every test is concerned."""
    from autograder.integrity import Finding, flags_by_exercise
    mapping = {"a": ["test_a"], "b": ["test_b"]}
    local = flags_by_exercise([Finding("a", 1, "ad-library", "uses jax.grad")], mapping)
    assert set(local) == {"test_a"}
    for rule in ("monkeypatch", "dynamic-code", "file-access"):
        everywhere = flags_by_exercise([Finding("a", 1, rule, "patches numpy")], mapping)
        assert set(everywhere) == {"test_a", "test_b"}, rule


# --- finer rules: an exercise that may use JAX, but not all of it --------------------------------------------

FORBID_CALLS = {"forward_difference": {"jax.hessian": "form the Hessian only through HVPs",
                                       "numpy.linalg.inv": "no explicit inverse"}}


@pytest.mark.parametrize("code, added", [
    ("return jax.hessian(f)(w)[0]", None),
    ("return H(f)(w)[0]", "from jax import hessian as H"),
    ("return inv(np.eye(len(w))) @ w", "inv = np.linalg.inv"),
    ("return np.linalg.inv(np.eye(len(w))) @ w", None),
], ids=["direct", "imported alias", "alias in another cell", "numpy inverse"])
def test_a_forbidden_call_is_flagged_through_aliases_with_its_reason(code, added):
    findings = integrity.check_notebook(submission({"forward_difference": FD.format(code)}, added=added),
                                        forbid_ad=set(), forbid_calls=FORBID_CALLS, source_nb=SOURCE)
    assert flagged(findings) == {("forbidden-call", "forward_difference")}
    reason = "Hessian" if "inv" not in code else "inverse"
    assert reason in findings[0].message
    flags = integrity.flags_by_exercise(findings, TESTS)
    assert set(flags) == {"test_forward_difference"}  # local to its exercise, like an AD library


def test_what_a_finer_rule_does_not_name_stays_allowed():
    code = "return jax.grad(f)(w) + np.linalg.solve(np.eye(len(w)), w) * 0"
    findings = integrity.check_notebook(submission({"forward_difference": FD.format(code)}),
                                        forbid_ad=set(), forbid_calls=FORBID_CALLS, source_nb=SOURCE)
    assert findings == []


def test_using_the_graders_stand_ins_is_flagged():
    """The probes' correct stand-ins are importable inside the sandbox; a submission may not borrow them."""
    added = "from autograder.exercises import forward_mode as answers"
    findings = check(submission({"forward_difference": FD.format("return answers._jvp(f, w, w)[1]")}, added=added))
    assert ("grader-code", None) in flagged(findings)
