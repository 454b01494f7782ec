"""The integrity checker is linear in its input and bounded: a cell it cannot finish is reported, not waited for.

Every assertion is on the findings and on the work the checker counts (characters tokenized, AST nodes, name
resolution steps), which is the same on every machine; each test also has one generous backstop on wall time,
only so that a regression fails instead of hanging the suite.
"""

import time

import nbformat
import pytest

from autograder import integrity, notebooks
from autograder.integrity import budget
from conftest import ROOT

ASSIGNMENT = "01_finite_differences"
RELEASE = ROOT / "release" / ASSIGNMENT / "finite_differences.ipynb"
SOURCE = nbformat.read(ROOT / "source" / ASSIGNMENT / "finite_differences.ipynb", as_version=4)
ANSWERS = notebooks.solutions(ASSIGNMENT)
FORBID_AD = {"lecture_gradient", "forward_difference", "central_difference", "complex_step", "step_size_errors",
             "best_steps"}
BACKSTOP_SECONDS = 20  # wall time, loosely: only so that a regression fails instead of hanging


def analyse(*added_cells):
    """The model answers, with ``added_cells`` inserted after the setup cell; timed loosely."""
    nb = notebooks.fill(RELEASE, ANSWERS)
    for number, code in enumerate(added_cells):
        nb.cells.insert(3 + number, nbformat.v4.new_code_cell(code))
    started = time.perf_counter()
    report = integrity.analyse(nb, forbid_ad=FORBID_AD, source_nb=SOURCE)
    assert time.perf_counter() - started < BACKSTOP_SECONDS
    return report


BASELINE = integrity.analyse(notebooks.fill(RELEASE, ANSWERS), forbid_ad=FORBID_AD, source_nb=SOURCE).work


def rules(report):
    return {(f.rule, f.grade_id) for f in report.findings}


def alias_chain(size: int, first: int = 0) -> str:
    """``a1 = a0``, ``a2 = a1``, ... until the text has ``size`` characters."""
    lines, number = [], first
    while sum(map(len, lines)) < size:
        number += 1
        lines.append(f"a{number} = a{number - 1}\n")
    return "".join(lines)


# --- a cell over the bound is reported, at the cost of the bound ----------------------------------------


def test_a_126_kb_alias_chain_is_reported_at_the_cost_of_the_bound():
    cell = "a0 = np\n" + alias_chain(126_000) + "a_end = a0\n"
    assert len(cell) >= 126_000
    report = analyse(cell)
    assert rules(report) == {("too-complex", None)}
    assert "more than 10,000 AST nodes" in report.findings[0].message
    # The checker stopped counting at the bound: it read the cell's nodes once, up to the bound, and did not
    # follow a single one of its names.
    assert report.work.nodes - BASELINE.nodes <= budget.MAX_CELL_NODES + 1
    assert report.work.steps == BASELINE.steps


def test_a_too_complex_cell_withholds_every_automatic_point():
    report = analyse("a0 = np\n" + alias_chain(126_000))
    tests = integrity.solution_to_tests(SOURCE)
    assert set(integrity.flags_by_exercise(report.findings, tests)) == {t for ts in tests.values() for t in ts}


@pytest.mark.parametrize("cell", [
    "x = " + "[" * 150 + "]" * 150,
    "".join("    " * depth + f"def f{depth}():\n" for depth in range(99)) + "    " * 99 + "return np.save\n",
    "x = np" + ".b" * 60_000,
    "f = " + "lambda: " * 3_000 + "np",
], ids=["nested brackets", "nested functions", "an attribute chain 60,000 long", "nested lambdas"])
def test_deep_nesting_is_reported_not_recursed_into(cell):
    report = analyse(cell)
    assert rules(report) <= {("too-complex", None), ("unparsable", None)} and report.findings
    assert report.work.nodes - BASELINE.nodes <= budget.MAX_CELL_NODES + 1
    assert report.work.steps == BASELINE.steps


def test_a_cell_full_of_ipython_syntax_costs_at_most_the_tokenizer_bound():
    # IPython's transformer re-reads the whole cell for each escape: 2,000 of them would read it 2,000 times.
    report = analyse("!ls\n" * 2_000)
    assert rules(report) == {("too-complex", None)}
    assert "IPython's transformer" in report.findings[0].message
    assert report.work.characters - BASELINE.characters <= budget.MAX_TOKENIZED


def test_the_notebook_as_a_whole_is_bounded_too():
    cell = "a0 = np\n" + alias_chain(28_000)  # under the bound of one cell; twelve of them are not
    report = analyse(*[cell] * 12)
    assert ("too-complex", None) in rules(report)
    assert any("notebook has reached" in f.message for f in report.findings)
    assert report.work.nodes <= budget.MAX_NOTEBOOK_NODES + 1


def test_resolution_beyond_its_bound_is_reported_for_the_whole_notebook(monkeypatch):
    monkeypatch.setattr(budget, "MAX_STEPS", BASELINE.steps + 50)
    report = analyse("a0 = np\n" + alias_chain(2_000))
    (finding,) = [f for f in report.findings if f.rule == "too-complex"]
    assert finding.grade_id is None and "steps" in finding.message
    assert report.work.steps <= budget.MAX_STEPS + 1


# --- under the bounds, names are followed in linear work ------------------------------------------------


def test_an_alias_chain_split_over_many_cells_in_reverse_order_is_followed_in_linear_work():
    # The order that made the old fixed point take one round per alias: each cell's aliases read the next cell's.
    cells = ["".join(f"a{i} = a{i - 1}\n" for i in range(40 * number + 1, 40 * number + 41)) for number in range(150)]
    report = analyse(*cells[::-1], "a0 = np", "a6000.save('answers', 1)")
    assert rules(report) == {("file-access", None)}
    assert [f.line for f in report.findings] == [1] and "numpy.save" in report.findings[0].message
    assert report.work.steps <= 3 * report.work.nodes


def steps_for(aliases: int) -> int:
    """Steps to follow a chain of ``aliases`` names re-bound in a loop, in reverse order, beyond the baseline."""
    code = "for _ in range(3):\n" + "".join(f"    a{i} = a{i + 1}\n" for i in range(aliases)) + \
           f"    a{aliases} = np\na0.save('answers', 1)\n"
    report = analyse(code)
    assert rules(report) == {("file-access", None)}
    return report.work.steps - BASELINE.steps


def test_many_names_rebound_in_a_loop_are_followed_in_linear_work():
    small, large = steps_for(700), steps_for(1_400)
    assert large <= 2.2 * small  # twice the names, twice the work: quadratic would be four times
    assert large <= 10 * 1_400


def test_a_name_growing_through_a_loop_is_reported_once_it_holds_more_than_the_checker_follows():
    ring = 1_000
    code = "a0 = np\nfor _ in range(3):\n" + "".join(f"    a{i} = a{(i + 1) % ring}.x\n" for i in range(ring))
    report = analyse(code)
    assert ("too-complex", None) in rules(report)
    assert any("more ways than the checker follows" in f.message for f in report.findings)
    assert report.work.steps - BASELINE.steps <= (budget.MAX_VALUES + 3) * 4 * ring


def test_one_name_bound_to_many_modules_is_reported():
    code = "for _ in range(3):\n" + "".join(f"    a = np.linalg{'.x' * depth}\n" for depth in range(12)) + \
           "a.save('answers', 1)\n"
    report = analyse(code)
    assert any(f.rule == "too-complex" and "`a.save`" in f.message for f in report.findings)


def test_the_same_notebook_always_costs_the_same_and_gets_the_same_findings():
    cell = "a0 = np\n" + alias_chain(20_000) + "b = jax.grad\n"
    first, second = analyse(cell), analyse(cell)
    assert first.findings == second.findings and first.work == second.work


def test_more_cells_than_the_bound_are_reported_not_read():
    report = analyse(*["x = 1"] * (budget.MAX_CELLS + 10))
    assert ("too-complex", None) in rules(report)
    assert any("more than 1,000 code cells" in f.message for f in report.findings)
    assert report.work.nodes <= BASELINE.nodes + 4 * budget.MAX_CELLS


def test_a_flood_of_findings_is_summarised_and_flags_the_same_exercises():
    # 1,200 uses of np.save would be 1,200 findings (and as many messages for every test); five and a count do.
    report = analyse("\n".join(f"s{i} = np.save" for i in range(1_200)))
    assert [f.rule for f in report.findings] == ["file-access"] * (budget.MAX_REPORTED + 1)
    assert "and 1,195 more findings of this kind" in report.findings[-1].message
    tests = integrity.solution_to_tests(SOURCE)
    assert set(integrity.flags_by_exercise(report.findings, tests)) == {t for ts in tests.values() for t in ts}


def test_a_flood_of_local_findings_stays_local():
    answer = "def forward_difference(f, w, eps):\n" + "".join(f"    g{i} = jax.grad\n" for i in range(50)) + \
             "    return w\n"
    nb = notebooks.fill(RELEASE, {**ANSWERS, "forward_difference": answer})
    findings = integrity.check_notebook(nb, forbid_ad=FORBID_AD, source_nb=SOURCE)
    assert len(findings) == budget.MAX_REPORTED + 1
    flags = integrity.flags_by_exercise(findings, integrity.solution_to_tests(SOURCE))
    assert set(flags) == {"test_forward_difference"}
