"""The reference package and the source notebooks' solution cells cannot drift apart.

For every solution cell, each top-level function or assignment it defines
must be, AST for AST (docstrings aside), the one in ``autograder.reference``.
"""

import ast
import importlib

import pytest

from autograder import notebooks
from conftest import ROOT

REFERENCE_MODULES = {"01_finite_differences": "autograder.reference.finite_differences",
                     "02_forward_mode": "autograder.reference.forward_mode",
                     "03_reverse_mode": "autograder.reference.reverse_mode",
                     "04_adjoints": "autograder.reference.adjoints",
                     "05_hvp": "autograder.reference.hvp"}


def _definitions(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]  # the docstring
            out[node.name] = ast.dump(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            out[ast.unparse(node)] = ast.dump(node)  # a registration such as defvjp(anp.exp, ...)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = ast.dump(node.value)
    return out


def test_every_assignment_has_a_reference_module():
    assert set(REFERENCE_MODULES) == set(notebooks.assignments(ROOT))


@pytest.mark.parametrize("assignment", sorted(REFERENCE_MODULES))
def test_solution_cells_match_the_reference_package(assignment):
    module = importlib.import_module(REFERENCE_MODULES[assignment])
    reference = _definitions(ast.parse(open(module.__file__).read()))
    checked = 0
    for grade_id, code in notebooks.solutions(assignment, ROOT).items():
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # a written (markdown) answer
        for name, dump in _definitions(tree).items():
            assert name in reference, f"{name} (cell {grade_id}) is missing from {module.__name__}"
            assert dump == reference[name], f"{name}: the notebook's solution and {module.__name__} differ"
            checked += 1
    assert checked >= 5
