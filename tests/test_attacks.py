"""The attack suite: hostile and broken submissions, graded end to end through the sandboxed pipeline.

Every attack is a real submission in a real course directory, graded with
two parallel workers next to an honest "victim" student.  For each one we
assert: no undeserved credit, the victim's grade unchanged, nothing outside
the sandbox changed, the run completed, and a reason an instructor can read.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import course_dir, demo, grading, notebooks, pipeline, sandbox
from autograder import status as status_mod
from conftest import ROOT

pytestmark = [pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                                 reason="sandboxed grading needs bubblewrap and root (see README)"),
              # One sandboxed class at a time: the process checks look at every sandbox user.
              pytest.mark.xdist_group("sandbox")]

A = "01_finite_differences"
AUTOMATIC = ["test_lecture_gradient", "test_forward_difference", "test_central_difference",
             "test_complex_step", "test_step_size_errors", "test_best_steps"]
WRONG_FORWARD = '''
def forward_difference(f, w, eps):
    return -np.ones(len(w))
'''
PORT_FILE = "attack-port.txt"


def _attacks(course: Path, port: int, sentinel: Path) -> dict[str, object]:
    """student -> submission (a notebook, raw bytes, or (file name, content))."""
    release = notebooks.notebook_path(A, "release", course)
    right = demo.correct_answers(A, course)

    def with_cell(first_cell_code: str, **answers):
        """A correct submission with extra code in front of lecture_gradient's cell (or other answers)."""
        code = {**right, **answers}
        code["lecture_gradient"] = first_cell_code + "\n" + code["lecture_gradient"]
        return notebooks.fill(release, code)

    def with_added_cell(code: str, **answers):
        nb = notebooks.fill(release, {**right, **answers})
        nb.cells.insert(3, nbformat.v4.new_code_cell(code))
        return nb

    secrets = [str(course / "gradebook.db"), str(notebooks.notebook_path(A, "source", course)),
               str(ROOT / "autograder" / "reference" / "finite_differences.py"),
               str(course / "submitted" / "victim" / A / release.name)]
    reader = "\n".join(
        f"try:\n    print('READ', len(open({p!r}, 'rb').read()))\nexcept Exception as e:\n    print('DENIED', type(e).__name__)"
        for p in secrets)
    old = nbformat.convert(notebooks.fill(release, right), 3)

    edited = notebooks.fill(release, {**right, "forward_difference": WRONG_FORWARD})
    for cell in edited.cells:
        if notebooks.grade_id(cell) == "test_forward_difference":
            cell.source = "print('all good')"      # edited test cell
            cell.metadata["nbgrader"]["points"] = 100  # and more points
    deleted = notebooks.fill(release, {**right, "forward_difference": WRONG_FORWARD})
    deleted.cells = [c for c in deleted.cells if notebooks.grade_id(c) != "test_forward_difference"]
    duplicated = notebooks.fill(release, {**right, "forward_difference": WRONG_FORWARD})
    test_cell = next(c for c in duplicated.cells if notebooks.grade_id(c) == "test_central_difference")
    copy = nbformat.from_dict(json.loads(json.dumps(test_cell)))
    copy.pop("id", None)
    duplicated.cells.append(copy)

    return {
        "victim": notebooks.fill(release, right),
        "patches_asserts": with_added_cell(
            "np.testing.assert_allclose = lambda *a, **k: None\nimport course.checks\n"
            "course.checks.compare = lambda *a, **k: course.checks.Comparison(True, 'ok')\n"
            "np.allclose = lambda *a, **k: True", forward_difference=WRONG_FORWARD),
        "patches_quietly": with_added_cell(  # the same, written to slip past a naive static check
            "vars(np.testing)['assert_allclose'] = print\n", forward_difference=WRONG_FORWARD),
        "reads_secrets": with_cell(reader),
        "writes_gradebook": with_cell(
            "import sqlite3\ntry:\n    db = sqlite3.connect(%r)\n    db.execute(\"update grade set auto_score = 99\")\n"
            "    db.commit()\nexcept Exception as e:\n    print('DENIED', e)\n"
            "try:\n    open(%r, 'w').write('pwned')\nexcept Exception as e:\n    print('DENIED', e)"
            % (str(course / "gradebook.db"), str(course / "submitted" / "victim" / A / release.name))),
        "background_process": with_cell(
            "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 4; echo pwned > %s'], "
            "start_new_session=True)" % sentinel),
        "network": with_cell(
            "import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=2).sendall(b'pwned')\n"
            "    print('CONNECTED')\nexcept Exception as e:\n    print('DENIED', e)" % port),
        "infinite_loop": with_cell("while True:\n    pass"),
        "sleeps": with_cell("import time\ntime.sleep(10**6)"),
        "memory_bomb": with_cell("blocks = []\nwhile True:\n    blocks.append(bytearray(2**28))"),
        "fork_bomb": with_cell("import os\nfor _ in range(100000):\n    try:\n        os.fork()\n"
                               "    except OSError:\n        break"),
        "exits_kernel": with_cell("import os\nos._exit(0)"),
        "segfault": with_cell("import ctypes\nctypes.string_at(0)"),
        "floods_output": with_cell("import sys\nfor _ in range(2**10):\n    sys.stdout.write('x' * 2**16)  # 64 MiB, 320 times the cap"),
        "edits_test_cell": edited,
        "deletes_test_cell": deleted,
        "duplicates_grade_id": duplicated,
        "aliases_jax_grad": notebooks.fill(release, {**right, "forward_difference":
            "import jax as j\nd = j.grad\n\ndef forward_difference(f, w, eps):\n    return np.asarray(d(f)(w))"}),
        "dunder_import_jax": notebooks.fill(release, {**right, "forward_difference":
            "def forward_difference(f, w, eps):\n    return np.asarray(__import__('jax').grad(f)(w))"}),
        "not_json": b'{"cells": [oops',
        "empty_file": b"",
        "not_utf8": b"\xff\xfe\x00\x00 binary \x80\x81",
        "old_nbformat": nbformat.writes(old, version=3).encode(),
        "wrong_file_name": ("my homework.ipynb", notebooks.fill(release, right)),
        "warns_but_correct": with_cell("import warnings\nwarnings.warn('a harmless warning')"),
    }


class Listener(threading.Thread):
    """A TCP server on the host's loopback that records whether anything connected."""

    def __init__(self):
        super().__init__(daemon=True)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.server.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    course = course_dir.make_copy(base / "course")
    sentinel = base / "outside" / "sentinel.txt"
    sentinel.parent.mkdir()
    from autograder import build
    build.build(course, A)
    listener = Listener()
    listener.start()
    submissions = _attacks(course, listener.port, sentinel)
    students = demo.write_submissions(course, A, submissions)
    # The victim is graded first, then everyone (the victim again included) in parallel.
    limits = sandbox.Limits(cell_timeout=8, wall_timeout=120, memory_bytes=3 * 2**30)
    pipeline.grade(course, A, ["victim"], jobs=1, limits=limits)
    victim_before = grading.results(course, A)["victim"]
    started = time.perf_counter()
    statuses = pipeline.grade(course, A, students, jobs=2, limits=limits, force=True)
    elapsed = time.perf_counter() - started
    time.sleep(5)  # give a surviving background process time to act
    listener.stop = True
    return {"course": course, "statuses": statuses, "results": grading.results(course, A),
            "victim_before": victim_before, "sentinel": sentinel, "listener": listener,
            "elapsed": elapsed, "students": students}


def _auto(result, cells=AUTOMATIC):
    return {gid: result.cells[gid].score for gid in cells if gid in result.cells}


def _outputs(course, student) -> str:
    """Everything the student's notebook printed while graded (stream outputs only, not the code)."""
    path = course / "autograded" / student / A / "finite_differences.ipynb"
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_every_submission_was_graded_and_reported(attacked):
    assert set(attacked["results"]) == set(attacked["students"])
    for student, state in attacked["statuses"].items():
        assert state.status in status_mod.NEEDS_HUMAN | {status_mod.GRADED}
        if state.status != status_mod.GRADED:
            assert state.reasons, f"{student}: status {state.status} without a reason"


def test_the_victim_keeps_full_marks(attacked):
    before = _auto(attacked["victim_before"])
    after = _auto(attacked["results"]["victim"])
    assert before == after and all(score > 0 for score in after.values())
    assert attacked["results"]["victim"].score == attacked["victim_before"].score


@pytest.mark.parametrize("student", ["patches_asserts", "patches_quietly", "edits_test_cell",
                                     "deletes_test_cell", "duplicates_grade_id"])
def test_wrong_answers_get_nothing_however_the_checks_are_attacked(attacked, student):
    result = attacked["results"][student]
    assert result.cells["test_forward_difference"].score == 0, student
    assert result.max_score == attacked["results"]["victim"].max_score  # points metadata restored


@pytest.mark.parametrize("student", ["patches_asserts", "patches_quietly", "aliases_jax_grad",
                                     "dunder_import_jax", "reads_secrets", "writes_gradebook",
                                     "background_process", "network", "fork_bomb", "segfault"])
def test_forbidden_code_is_flagged_with_a_reason(attacked, student):
    state = attacked["statuses"][student]
    assert state.flags, f"{student} was not flagged"
    assert any("integrity" in r for r in state.reasons)
    for gid in state.flags:
        assert attacked["results"][student].cells[gid].score == 0


def test_secrets_are_not_readable_inside_the_sandbox(attacked):
    text = _outputs(attacked["course"], "reads_secrets")
    assert "READ" not in text and text.count("DENIED") == 4


def test_the_gradebook_and_other_submissions_cannot_be_written(attacked):
    text = _outputs(attacked["course"], "writes_gradebook")
    assert text.count("DENIED") == 2
    victim_file = attacked["course"] / "submitted" / "victim" / A / "finite_differences.ipynb"
    assert "pwned" not in victim_file.read_text()


def _sandbox_processes() -> list[str]:
    rows = subprocess.run(["ps", "-eo", "uid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    # Zombies are already dead: they only wait for the kernel to reap them.
    ours = range(sandbox.uid_for(0), sandbox.uid_for(0) + 16)  # this test process's sandbox users only
    return [row for row in rows if int(row.split()[0]) in ours and not row.split()[1].startswith("Z")]


def test_no_process_outlives_its_sandbox(attacked):
    """A detached process dies with its sandbox: it never acts after grading, and soon it is gone."""
    assert not attacked["sentinel"].exists()
    deadline = time.time() + 30  # the kernel tears a PID namespace down asynchronously
    while _sandbox_processes() and time.time() < deadline:
        time.sleep(0.5)
    assert not _sandbox_processes()


def test_there_is_no_network(attacked):
    assert attacked["listener"].connections == 0
    assert "CONNECTED" not in _outputs(attacked["course"], "network")


@pytest.mark.parametrize("student", ["infinite_loop", "sleeps"])
def test_loops_and_sleeps_time_out_and_are_reported(attacked, student):
    state = attacked["statuses"][student]
    assert state.status == status_mod.TIMED_OUT and "time limit" in " ".join(state.reasons)
    assert attacked["results"][student].cells["test_lecture_gradient"].score == 0
    # The cells after the interrupted one still ran and kept their points.
    assert attacked["results"][student].cells["test_central_difference"].score > 0


@pytest.mark.parametrize("student", ["exits_kernel", "segfault", "memory_bomb"])
def test_crashes_are_reported_and_score_nothing_undeserved(attacked, student):
    state = attacked["statuses"][student]
    # On a loaded machine a memory bomb may hit the cell's time limit before the memory limit: both
    # are reported, and neither earns the interrupted exercise anything.
    assert state.status in {status_mod.CRASHED, status_mod.FLAGGED, status_mod.TIMED_OUT}
    assert state.reasons
    assert _auto(attacked["results"][student])["test_lecture_gradient"] == 0


def test_a_fork_bomb_is_contained(attacked):
    assert attacked["results"]["fork_bomb"].cells["test_lecture_gradient"].score == 0
    assert _auto(attacked["results"]["victim"]) == _auto(attacked["victim_before"])


def test_a_flood_of_output_is_truncated(attacked):
    path = attacked["course"] / "autograded" / "floods_output" / A / "finite_differences.ipynb"
    assert path.stat().st_size < 5 * 2**20
    assert "truncated" in path.read_text()


@pytest.mark.parametrize("student,words", [("not_json", "not a valid notebook"), ("empty_file", "empty"),
                                           ("not_utf8", "not UTF-8")])
def test_unreadable_files_score_zero_with_a_reason(attacked, student, words):
    state = attacked["statuses"][student]
    assert state.status == status_mod.MALFORMED and words in " ".join(state.reasons)
    assert attacked["results"][student].score == 0


@pytest.mark.parametrize("student,words", [("old_nbformat", "upgraded"), ("wrong_file_name", "wrong file name")])
def test_repairable_files_are_graded_and_the_repair_reported(attacked, student, words):
    state = attacked["statuses"][student]
    assert words in " ".join(state.reasons)
    assert _auto(attacked["results"][student]) == _auto(attacked["results"]["victim"])


def test_a_correct_answer_that_warns_keeps_full_marks(attacked):
    assert _auto(attacked["results"]["warns_but_correct"]) == _auto(attacked["results"]["victim"])
    assert attacked["statuses"]["warns_but_correct"].status == status_mod.GRADED
