"""The instructor's pipeline end to end through its command line, on a temporary course.

collect from an LMS zip -> grade with 2 workers -> feedback -> export -> report, then an idempotent
rerun and a run that is killed halfway and resumed.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest

from autograder import build, course_dir, demo, grading, notebooks, sandbox
from autograder import status as status_mod
from autograder.mistakes import catalogue
from conftest import ROOT

pytestmark = [pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                                 reason="sandboxed grading needs bubblewrap and root (see README)"),
              # One sandboxed class at a time: the process checks look at every sandbox user.
              pytest.mark.xdist_group("sandbox")]
A = "01_finite_differences"


def cli(course, *args, check=True, **kwargs):
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=check, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    course = course_dir.make_copy(base / "course")
    build.build(course, A, duedate=demo.DUE)
    release = notebooks.notebook_path(A, "release", course)
    right = demo.correct_answers(A, course)
    sign = next(m for m in catalogue(A) if m.name == "forward_wrong_sign")
    downloads = {
        "Ada Lovelace_1001_assignsubmission_file_finite_differences.ipynb": notebooks.fill(release, right),
        "Alan Turing_1002_assignsubmission_file_finite_differences.ipynb":
            notebooks.fill(release, {**right, **sign.answers}),
        "Grace Hopper_1003_assignsubmission_file_finite_differences.ipynb": nbformat.read(release, 4),
        "README.txt": None,
    }
    archive = base / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, nb in downloads.items():
            z.writestr(name, nbformat.writes(nb) if nb is not None else "not a submission")
    collected = cli(course, "collect", A, str(archive))
    graded = cli(course, "grade", A, "--jobs", "2", "--timeout", "20")
    return {"course": course, "collected": collected, "graded": graded, "archive": archive}


def test_collect_imports_attributable_files_and_reports_the_rest(course):
    out = course["collected"].stdout
    assert sorted(p.name for p in (course["course"] / "submitted").iterdir()) == ["1001", "1002", "1003"]
    assert "README.txt" in out
    for student in ("1001", "1002", "1003"):
        assert (course["course"] / "submitted" / student / A / "finite_differences.ipynb").exists()


def test_grade_scores_every_submission(course):
    results = grading.results(course["course"], A)
    assert set(results) == {"1001", "1002", "1003"}
    auto = {s: {g: c.score for g, c in r.cells.items() if not c.needs_manual_grade} for s, r in results.items()}
    assert all(score > 0 for score in auto["1001"].values())
    assert auto["1002"]["test_forward_difference"] == 0 and auto["1002"]["test_central_difference"] > 0
    assert all(score == 0 for score in auto["1003"].values())
    assert "3/3 graded" in course["graded"].stderr  # the progress line


def test_feedback_names_the_mistake_and_hides_the_hidden_tests(course):
    cli(course["course"], "feedback", A)
    pages = {p.parts[-3]: p.read_text() for p in (course["course"] / "feedback").glob(f"*/{A}/*.html")}
    assert set(pages) == {"1001", "1002", "1003"}
    assert "wrong way round" in pages["1002"]
    for page in pages.values():
        assert "run_hidden_tests" not in page and "BEGIN HIDDEN" not in page


def test_export_has_nbgrader_columns_and_status(course, tmp_path):
    target = tmp_path / "grades.csv"
    cli(course["course"], "export", str(target))
    rows = list(csv.DictReader(target.open()))
    assert list(rows[0])[:11] == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                                  "email", "raw_score", "late_submission_penalty", "score", "max_score"]
    by_student = {r["student_id"]: r for r in rows}
    assert by_student["1001"]["status"] == "graded" and float(by_student["1001"]["raw_score"]) == 17.0
    assert float(by_student["1003"]["raw_score"]) == 0.0


def test_report_is_a_self_contained_page(course):
    out = cli(course["course"], "report", A).stdout
    page = (course["course"] / "reports" / f"{A}.html").read_text()
    assert "reports" in out and "data:image/png;base64," in page
    assert "test_forward_difference" in page and "Submissions that need a human" in page
    assert "1001" in page  # its written answer still has to be graded by hand


def test_a_rerun_regrades_nothing_and_changes_nothing(course):
    before = {s: r.score for s, r in grading.results(course["course"], A).items()}
    stamps = {p.name: p.stat().st_mtime_ns for p in (course["course"] / "grading" / A).glob("*.json")}
    again = cli(course["course"], "grade", A, "--jobs", "2")
    assert "3 submission(s) already graded and unchanged" in again.stderr
    assert {s: r.score for s, r in grading.results(course["course"], A).items()} == before
    assert {p.name: p.stat().st_mtime_ns for p in (course["course"] / "grading" / A).glob("*.json")} == stamps


def test_an_interrupted_run_resumes_without_regrading_what_is_done(course, tmp_path):
    other = course_dir.make_copy(tmp_path / "course")
    build.build(other, A)
    release = notebooks.notebook_path(A, "release", other)
    right = demo.correct_answers(A, other)
    demo.write_submissions(other, A, {f"s{i}": notebooks.fill(release, right) for i in range(4)})
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.Popen([sys.executable, "-m", "autograder", "--course", str(other), "grade", A,
                            "--jobs", "1"], cwd=ROOT, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((other / "grading" / A).glob("*.json")):
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # interrupted mid-class, as by a power cut
    run.wait()
    done = {p.stem: p.stat().st_mtime_ns for p in (other / "grading" / A).glob("*.json")}
    assert 1 <= len(done) < 4
    resumed = cli(other, "grade", A, "--jobs", "2")
    assert f"{len(done)} submission(s) already graded and unchanged" in resumed.stderr
    after = status_mod.load_all(other, A)
    assert set(after) == {f"s{i}" for i in range(4)}
    assert all(after[s].status == "graded" for s in after)
    assert {s: (other / "grading" / A / f"{s}.json").stat().st_mtime_ns for s in done} == done
    assert all(r.score == 17.0 for r in grading.results(other, A).values())
