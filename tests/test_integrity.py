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


# === Deny by default ========================================================================================
# Each class of route below got wrong answers full credit past the old checker, which listed what is
# forbidden and let everything else through.  Now only a short list of modules (and their public attributes)
# is allowed, and anything else a name reaches is reported.


def findings_of(code, where="added"):
    """Findings for ``code`` in an added cell (where="added") or as forward_difference's answer."""
    if where == "added":
        return check(submission(added=code))
    return check(submission({"forward_difference": code}))


MODULE_REACH = {
    # a module that an allowed module holds as an attribute: not part of its API
    "numpy's own file module": ("np.lib.npyio.savetxt('hidden.py', [1])", "outside-allowlist"),
    "numpy.lib imported": ("import numpy.lib.format as fmt\nfmt.open_memmap('x')", "outside-allowlist"),
    "numpy.random's internal module": ("np.random.mtrand.RandomState", "outside-allowlist"),
    "the oracle held by course.checks": (FD.format("return course.checks.oracle.gradient(f, w)"),
                                         "outside-allowlist"),
    "pyplot held by course.plots": ("import course.plots\ncourse.plots.plt.gcf()", "outside-allowlist"),
    "sys held by pyplot": ("import matplotlib.pyplot as plt\nplt.sys.modules", "outside-allowlist"),
    "the course's internals": ("from course.notebook import show_failed_checks_as_messages", "outside-allowlist"),
    "an unlisted library": ("import scipy.linalg\nscipy.linalg.solve", "outside-allowlist"),
    # a module handed around as a value, where no name follows what is reached through it
    "module in a list": ("for m in [np]:\n    m.save('x', 1)", "outside-allowlist"),
    "module returned": ("def get():\n    return np\nget().save('x', 1)", "outside-allowlist"),
    "module as a default": ("def f(m=np):\n    return m.save('x', 1)", "outside-allowlist"),
    "module in a class attribute": ("class A:\n    xp = np\n    def f(self):\n        return self.xp.save('x', 1)",
                                    "outside-allowlist"),
    "module passed to a call": ("import functools\nfunctools.partial(getattr, np)('save')('x', 1)",
                                "outside-allowlist"),
    # and a module given another name is followed, wherever Python puts that name
    "walrus in a comprehension": ("[(m := np) for _ in [0]]\nm.save('x', 1)", "file-access"),
}


@pytest.mark.parametrize("code, rule", MODULE_REACH.values(), ids=MODULE_REACH.keys())
def test_what_an_allowed_module_holds_is_not_allowed_with_it(code, rule):
    where = "answer" if code.startswith("def forward_difference") else "added"
    assert rule in {f.rule for f in findings_of(code, where)}


def test_an_alias_of_an_allowed_module_is_followed_not_flagged():
    assert findings_of("xp = np if True else None\nla = xp.linalg\nla.norm(np.ones(2))") == []
    assert {f.rule for f in findings_of("xp = np\nxp.save('x', 1)")} == {"file-access"}


def test_unlisted_ad_libraries_are_reported_even_where_jax_is_allowed():
    code = FD.format("import torch\n    return torch.zeros(len(w))")
    findings = check(submission({"forward_difference": code}), forbid_ad=set())
    assert flagged(findings) == {("outside-allowlist", "forward_difference")}


IPYTHON_SHELL = {
    "get_ipython()": ("get_ipython().system('ls')", "magic"),
    "through an alias": ("ip = get_ipython\nip().run_line_magic('cd', '/')", "magic"),
    "from builtins": ("import builtins\nbuiltins.get_ipython().system('ls')", "magic"),
    "imported from builtins": ("from builtins import get_ipython as g\ng().system('ls')", "magic"),
    "through __builtins__": ("__builtins__.get_ipython()", "magic"),
    "exit holds the shell": ("exit._ip.system('ls')", "magic"),
    "quit": ("quit.__dict__", "magic"),
    "input history": ("_ih[-1]", "magic"),
    "In and Out": ("print(In[1], Out)", "magic"),
    "one cell's input": ("print(_i1)", "magic"),
    "the last output": ("x = _", "magic"),
    "x = !cmd": ("listing = !ls", "process"),
    "line magic": ("%cd /", "process"),
    "help syntax": ("np.save??", "magic"),
}


@pytest.mark.parametrize("code, rule", IPYTHON_SHELL.values(), ids=IPYTHON_SHELL.keys())
def test_ipythons_shell_object_and_injected_names_are_flagged(code, rule):
    assert rule in {f.rule for f in findings_of(code)}


def test_a_name_the_notebook_defines_is_its_own_not_ipythons():
    assert findings_of("In = [1, 2]\nprint(In[0])\nfor _ in range(2):\n    pass") == []


def test_ipython_syntax_is_reported_once_at_the_line_written():
    findings = findings_of("\n\nx = 1\n!echo one \\\n  two\ny = %who_ls\nimport os")
    assert [(f.line, f.rule) for f in findings] == [(4, "process"), (6, "magic"), (7, "process")]
    assert "`!echo one \\`" in findings[0].message


FILE_WRITERS = {
    "np.save": "np.save('hidden', np.ones(2))",
    "np.savetxt": "np.savetxt('hidden.py', [1], fmt='import os  # %d')",
    "jnp.save": "import jax.numpy as jnp\njnp.save('hidden', jnp.ones(2))",
    "array.tofile": "np.zeros(3).tofile('hidden')",
    "ndarray.dump": "np.ndarray.dump",
    "pathlib": "import pathlib\npathlib.Path('hidden.py').write_text('x = 1')",
    "io.open": "import io\nio.open('hidden.py', 'w')",
    "codecs.open": "import codecs\ncodecs.open('hidden.py', 'w')",
    "shutil": "import shutil\nshutil.copy('a', 'b')",
    "tempfile": "import tempfile\ntempfile.mkdtemp()",
    "savefig": "import matplotlib.pyplot as plt\nplt.savefig('figure.png')",
    "open": "open('hidden.py', 'w')",
    "%%writefile": "%%writefile hidden.py\nx = 1",
}


@pytest.mark.parametrize("code", FILE_WRITERS.values(), ids=FILE_WRITERS.keys())
def test_file_readers_and_writers_are_flagged(code):
    assert "file-access" in {f.rule for f in findings_of(code)}


PRIVATE = {
    "jax._src": ("import jax._src.api as api\napi.grad", "private-attribute"),
    "from jax._src": ("from jax._src import api", "private-attribute"),
    "numpy's private core": ("np._core.multiarray", "private-attribute"),
    "a private attribute of what the grader passes in": (FD.format("return f._f(w)"), "private-attribute"),
    "a private attribute by name": ("getattr(check_calls, '_impl')", "private-attribute"),
    "a private name nobody defines": ("open_it = __file__", "private-attribute"),
    "__loader__": ("__loader__.load_module", "introspection"),
    "__globals__": ("check_calls.__globals__", "introspection"),
    "__closure__": (FD.format("return f.__closure__"), "introspection"),
    "__code__": ("code = (lambda: 0).__code__", "introspection"),
    "__dict__ of a module": ("np.__dict__['save']", "introspection"),
    "f_back": ("frames = (x for x in [])\nframes.gi_frame.f_back", "introspection"),
    "__init__ of an object from outside": (FD.format("f.__init__(lambda w: 0)\n    return w"),
                                           "private-attribute"),
    "one's own method with another's object as self": (
        "class Peek:\n    def get(self):\n        return self._secret\nPeek.get(check_calls)", "private-attribute"),
}


@pytest.mark.parametrize("code, rule", PRIVATE.values(), ids=PRIVATE.keys())
def test_private_attributes_are_flagged(code, rule):
    where = "answer" if code.startswith("def forward_difference") else "added"
    assert rule in {f.rule for f in findings_of(code, where)}


def test_the_students_own_private_attributes_are_fine():
    code = ("class Node:\n    _count = 0\n\n    def __init__(self, value):\n        super().__init__()\n"
            "        self._value = value\n        self._cache = {}\n        Node._count += 1\n\n"
            "    @classmethod\n    def made(cls):\n        return cls._count\n\n"
            "    def __mul__(self, other):\n        return Node(self._value * other)\n\n"
            "    __rmul__ = __mul__\n\n"
            "    def twice(self):\n        return self.__class__(2 * self._value)\n\n"
            "leaf = Node(1.0)\nprint(leaf._value, Node._count, Node.made(), leaf._value.__add__(1))\n\n"
            "class Leaf(Node):\n    def __init__(self):\n        Node.__init__(self, 0.0)\n        self._w = self._value")
    assert findings_of(code) == []


def test_changing_even_a_harmless_dunder_of_an_object_from_outside_is_flagged():
    findings = findings_of(FD.format("type(f).__call__ = lambda self, x: 0\n    return w"), "answer")
    assert ("private-attribute", "forward_difference") in flagged(findings)
    assert "changes `type(f).__call__`" in findings[0].message


def test_the_class_of_ones_own_object_may_be_named_but_not_another_objects():
    assert findings_of("class P:\n    def __repr__(self):\n        return f'{self.__class__.__name__}()'") == []
    assert flagged(findings_of("x = np.ones(2)\nx.__class__.__name__")) == {("introspection", None)}


def test_a_parameter_is_not_the_students_own_object():
    code = "class Node:\n    def same(self, other):\n        return self._value == other._value"
    assert [(f.line, f.rule) for f in findings_of(code)] == [(3, "private-attribute")]
    assert "other._value" in findings_of(code)[0].message


# === No false positives: the reference solutions, and the natural ways of writing them =====================

ASSIGNMENTS = notebooks.assignments()


def check_assignment(assignment, answers=None, added=None, source=True):
    """The model answers of ``assignment`` with some replaced, checked with that assignment's own rules."""
    from autograder.exercises import AD_FORBIDDEN, FORBIDDEN_CALLS
    release = notebooks.notebook_path(assignment, "release")
    source_nb = nbformat.read(notebooks.notebook_path(assignment, "source"), as_version=4)
    nb = notebooks.fill(release, {**notebooks.solutions(assignment), **(answers or {})})
    if added is not None:
        nb.cells.insert(len(nb.cells) - 1, nbformat.v4.new_code_cell(added))
    return integrity.check_notebook(nb, forbid_ad=set(AD_FORBIDDEN.get(assignment, ())),
                                    forbid_calls=FORBIDDEN_CALLS.get(assignment, {}),
                                    source_nb=source_nb if source else None)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_reference_solution_is_clean(assignment):
    assert check_assignment(assignment) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_demo_submission_that_does_not_cheat_is_clean(assignment):
    """The demo class: correct answers, catalogued mistakes, blank, late... only cheats and crashes are flagged."""
    from autograder import demo
    from autograder.exercises import AD_FORBIDDEN, FORBIDDEN_CALLS
    source_nb = nbformat.read(notebooks.notebook_path(assignment, "source"), as_version=4)
    cheats = {"aliases_jax_grad", "patches_asserts", "crashes_kernel", "forward_calls_jax_grad", "calls_jax_grad",
              "explicit_inverse_in_solve_vjp", "solve_vjp_by_jax_vjp", "explicit_inverse_in_solve",
              "newton_calls_jax_hessian"}
    for student, nb in demo.demo_class(assignment, ROOT).items():
        nb = nb[1] if isinstance(nb, tuple) else nb
        if isinstance(nb, bytes) or student in cheats:
            continue
        findings = integrity.check_notebook(nb, forbid_ad=set(AD_FORBIDDEN.get(assignment, ())),
                                            forbid_calls=FORBIDDEN_CALLS.get(assignment, {}), source_nb=source_nb)
        assert findings == [], student


NATURAL = {
    "np.linalg.norm and zeros_like": FD.format(
        "g = np.zeros_like(w, dtype=float)\n    for k in range(len(w)):\n        e = np.zeros_like(g)\n"
        "        e[k] = 1.0\n        g[k] = (f(w + eps * e) - f(w)) / eps\n"
        "    return g * np.linalg.norm(w) / np.linalg.norm(w)"),
    "comprehension, lambda, zip, enumerate": FD.format(
        "f0 = f(w)\n    step = lambda k: np.eye(len(w))[k] * eps\n"
        "    return np.array([(f(w + step(k)) - f0) / eps for k, _ in enumerate(zip(w, w))])"),
    "functools.reduce and math.log": "import functools\nimport math\n\n" + FD.format(
        "total = functools.reduce(lambda a, b: a + b, [math.log(math.e), 0.0])\n"
        "    return np.array([(f(w + eps * e) - f(w)) / eps * total for e in np.eye(len(w))])"),
    "from math import, itertools, numpy.linalg as la": "from math import sqrt\nimport itertools\n"
        "import numpy.linalg as la\n\n" + FD.format(
        "pairs = list(itertools.product(range(1), repeat=2))\n"
        "    return np.array([(f(w + eps * e) - f(w)) / eps for e in np.eye(len(w))]) * sqrt(1.0) * la.norm([1.0])"),
    "annotations, dataclass, defaultdict, lru_cache": "from dataclasses import dataclass\n"
        "from collections import defaultdict\nfrom typing import Callable\nimport functools\n\n"
        "@dataclass\nclass Step:\n    size: float\n\n@functools.lru_cache(maxsize=None)\ndef unit(d: int, k: int):\n"
        "    return tuple(np.eye(d)[k])\n\n"
        "def forward_difference(f: Callable, w: np.ndarray, eps: float) -> np.ndarray:\n"
        "    seen = defaultdict(int)\n    f0 = f(w)\n"
        "    return np.array([(f(w + Step(eps).size * np.array(unit(len(w), k))) - f0) / eps for k in range(len(w))])",
    "numpy helpers and its ufunc methods": FD.format(
        "with np.errstate(divide='ignore'):\n        tiny = np.finfo(float).eps\n"
        "    assert isinstance(np.asarray(w), np.ndarray) and np.multiply.outer(w, w).shape and np.add.reduce(w) + 1\n"
        "    rng = np.random.default_rng(0)\n"
        "    return np.array([(f(w + eps * e) - f(w)) / eps for e in np.eye(len(w))]) + 0 * tiny * rng.random()"),
    "checks of one's own": FD.format("return np.array([(f(w + eps * e) - f(w)) / eps for e in np.eye(len(w))])")
        + "\nnp.testing.assert_allclose(forward_difference(lambda w: w @ w, np.ones(2), 1e-6), [2, 2], rtol=1e-4)\n"
          "check_gradient(forward_difference(lecture_loss, np.array([2.0, 3.0]), 1e-7), lecture_loss,"
          " np.array([2.0, 3.0]), rtol=1e-5)\nif __name__ == '__main__':\n    print(f'{1e-3:.1e}', __doc__)",
    "try, generators, sorted with a key, warnings, time": "import warnings\nimport time\n\n" + FD.format(
        "start = time.perf_counter()\n    try:\n        f0 = f(w)\n    except ValueError as error:\n"
        "        warnings.warn(str(error))\n        raise\n    order = sorted(range(len(w)), key=lambda k: -k)\n"
        "    return np.array(list((f(w + eps * np.eye(len(w))[k]) - f0) / eps for k in sorted(order)))"),
}


@pytest.mark.parametrize("answer", NATURAL.values(), ids=NATURAL.keys())
def test_natural_variants_of_a_correct_answer_are_clean(answer):
    assert check(submission({"forward_difference": answer})) == []


DUAL = '''class Dual:
    """A value and its tangent."""

    __array_ufunc__ = None
    __slots__ = ("value", "tangent", "_cache")

    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent
        self._cache = {}

    @classmethod
    def lift(cls, x):
        return x if isinstance(x, cls) else cls(x, 0.0)

    def __add__(self, other):
        other = Dual.lift(other)
        return type(self)(self.value + other.value, self.tangent + other.tangent)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1.0) * Dual.lift(other)

    def __rsub__(self, other):
        return Dual.lift(other) - self

    def __neg__(self):
        return -1.0 * self

    def __mul__(self, other):
        other = Dual.lift(other)
        key = ("mul", id(other))
        if key not in self._cache:
            self._cache[key] = Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)
        return self._cache[key]

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = Dual.lift(other)
        return self * Dual(1 / other.value, -other.tangent / other.value ** 2)

    def __rtruediv__(self, other):
        return Dual.lift(other) / self

    def __pow__(self, other):
        return power(self, other)

    def __rpow__(self, other):
        return power(other, self)

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
        return f"{type(self).__name__}({self.value!r}, {self.tangent!r})"
'''

NATURAL_ELSEWHERE = {
    "a Dual class with a cache, classmethod and type(self)": ("02_forward_mode", {"dual_arithmetic": DUAL}),
    "a Var with private fields and a helper of the class": ("03_reverse_mode", {"backward": (
        "def topological_order(output):\n    order, seen = [], set()\n\n    def visit(node):\n"
        "        if id(node) in seen:\n            return\n        seen.add(id(node))\n"
        "        for parent, _ in node.parents:\n            visit(parent)\n        order.append(node)\n\n"
        "    visit(output)\n    return order\n\n\n"
        "def backward(output, cotangent=None):\n    import functools, operator\n    order = topological_order(output)\n"
        "    for node in order:\n        node.grad = None\n"
        "    output.grad = np.ones_like(output.value) if cotangent is None else cotangent\n"
        "    for node in reversed(order):\n        for parent, pullback in node.parents:\n"
        "            shares = [pullback(node.grad)] + ([parent.grad] if parent.grad is not None else [])\n"
        "            parent.grad = functools.reduce(operator.add, shares)\n")}),
    "JAX where it is allowed: jit, partial, lax, tree_util": ("05_hvp", {"hvp_finite_difference": (
        "import functools\n\n@functools.partial(jax.jit, static_argnums=0)\ndef _grad_at(f, x):\n"
        "    return jax.grad(f)(x)\n\n"
        "def hvp_finite_difference(f, x, v, eps):\n    g = jax.grad(f)\n"
        "    plus, minus = jax.tree_util.tree_map(lambda d: g(x + d * v), (eps, -eps))\n"
        "    return jax.lax.div(plus - minus, 2 * eps) + 0 * jnp.linalg.norm(v)\n")}),
    "numpy's linalg in an adjoint": ("04_adjoints", {"svdvals_vjp": (
        "def svdvals_vjp(W, g, usv=None):\n    U, s, Vt = np.linalg.svd(np.asarray(W), full_matrices=False)"
        " if usv is None else usv\n    return jnp.asarray(U @ np.diag(np.asarray(g)) @ Vt)\n")}),
}


@pytest.mark.parametrize("assignment, answers", NATURAL_ELSEWHERE.values(), ids=NATURAL_ELSEWHERE.keys())
def test_natural_variants_in_other_assignments_are_clean(assignment, answers):
    assert check_assignment(assignment, answers) == []
