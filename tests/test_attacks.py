"""The attack suite: hostile and broken submissions, graded end to end through the sandboxed pipeline.

Every attack is a real submission in a real course directory, graded with two
parallel workers next to an honest "victim" student.  The attacks come by
class (``tests/attack_catalogue.py``: output injection, evidence forgery,
capability escape, resource exhaustion, active content), several variants
each, and every variant is held to the same three things: the honest score
(what it loses is 0, what it did not touch keeps full marks), the victim's
grade unchanged, and nothing changed outside its sandbox.  The load class
lives in ``tests/test_load.py``.  The class is graded once per test run, under
a file lock shared by the xdist workers.
"""

from __future__ import annotations

import fcntl
import json
import re
import os
import resource
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

import attack_catalogue as catalogue
from attack_catalogue import A, AUTOMATIC, WRONG_FORWARD
from autograder import course_dir, demo, grading, notebooks, pipeline, sandbox
from autograder import status as status_mod
from conftest import ROOT

pytestmark = [pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                                 reason="sandboxed grading needs bubblewrap and root (see README)"),
              pytest.mark.slow,
              # One sandboxed class at a time: the process checks look at every sandbox user.
              pytest.mark.xdist_group("sandbox")]

def _more_submissions(course: Path, port: int, sentinel: Path) -> dict[str, object]:
    """Attacks on the sandbox's walls and broken files: student -> submission (a notebook, raw bytes,
    or (file name, content))."""
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
        "exits_kernel": with_cell("import os\nos._exit(0)"),
        "segfault": with_cell("import ctypes\nctypes.string_at(0)"),
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


LIMITS = sandbox.Limits(cell_timeout=8, wall_factor=3, wall_timeout=240, memory_bytes=3 * 2**30)


def _grade_the_attacks(base: Path) -> dict:
    course = course_dir.make_copy(base / "course")
    sentinel = base / "outside" / "sentinel.txt"
    sentinel.parent.mkdir()
    from autograder import build
    build.build(course, A)
    listener = Listener()
    listener.start()
    submissions = _more_submissions(course, listener.port, sentinel)
    submissions.update({attack.name: catalogue.submission(attack, course) for attack in catalogue.ATTACKS})
    students = demo.write_submissions(course, A, submissions)
    before = sorted(str(p) for p in Path(tempfile.gettempdir()).glob("sandbox-*"))  # other graders' folders
    # The victim is graded alone first, then everyone (the victim again included) in parallel.
    pipeline.grade(course, A, ["victim"], jobs=1, limits=LIMITS)
    victim_before = grading.results(course, A)["victim"]
    pipeline.grade(course, A, students, jobs=2, limits=LIMITS, force=True)
    time.sleep(5)  # give a surviving background process time to act
    listener.stop = True
    grading.generate_feedback(course, A)
    left = sorted(str(p) for p in Path(tempfile.gettempdir()).glob("sandbox-*") if str(p) not in before)
    facts = {"students": students, "connections": listener.connections, "sandbox_folders_left": left,
             "victim_before": {gid: c.score for gid, c in victim_before.cells.items()},
             "victim_total_before": victim_before.score,
             "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
    (base / "facts.json").write_text(json.dumps(facts))
    return facts


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    base = shared / "attack-class"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "facts.json").exists():
            _grade_the_attacks(base)
    facts = json.loads((base / "facts.json").read_text())
    course = base / "course"
    return {**facts, "course": course, "sentinel": base / "outside" / "sentinel.txt",
            "statuses": status_mod.load_all(course, A), "results": grading.results(course, A)}


def _auto(result, cells=AUTOMATIC):
    return {gid: result.cells[gid].score for gid in cells if gid in result.cells}


def _autograded(course, student):
    return nbformat.read(course / "autograded" / student / A / "finite_differences.ipynb", as_version=4)


def _outputs(course, student) -> str:
    """Everything the student's notebook printed while graded (stream outputs only, not the code)."""
    nb = _autograded(course, student)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# ---------------------------------------------------------------------------------------------------------
# Every class: the honest score, the victim unchanged, nothing changed outside.

@pytest.mark.parametrize("attack", catalogue.ATTACKS, ids=lambda a: f"{a.kind}-{a.name}")
def test_each_attack_gets_exactly_its_honest_score(attacked, attack):
    result, state = attacked["results"][attack.name], attacked["statuses"][attack.name]
    victim = _auto(attacked["results"]["victim"])
    scores = _auto(result)
    for gid in attack.loses:
        assert scores[gid] == 0, f"{attack.name}: {gid} earned {scores[gid]} ({result.cells[gid].message})"
    keeps = [g for g in AUTOMATIC if g not in attack.loses] if attack.keeps is None else attack.keeps
    for gid in keeps:
        if gid in state.flags:  # code a human must look at (IPython's shell, files, processes): no credit yet
            assert scores[gid] == 0 and state.status in status_mod.NEEDS_HUMAN
            continue
        assert scores[gid] == victim[gid], f"{attack.name}: {gid} lost points it deserved: {result.cells[gid].message}"
    assert result.max_score == attacked["results"]["victim"].max_score  # no bonus points from added cells
    allowed = attack.status or (status_mod.NEEDS_HUMAN | {status_mod.GRADED}) - {status_mod.MALFORMED}
    assert state.status in allowed, (attack.name, state.status, state.reasons)
    if state.status != status_mod.GRADED:
        assert state.reasons, f"{attack.name}: status {state.status} without a reason"


def test_every_submission_was_graded_and_reported(attacked):
    assert set(attacked["results"]) == set(attacked["students"])
    for student, state in attacked["statuses"].items():
        assert state.status in status_mod.NEEDS_HUMAN | {status_mod.GRADED}
        if state.status != status_mod.GRADED:
            assert state.reasons, f"{student}: status {state.status} without a reason"


def test_the_victim_keeps_full_marks(attacked):
    after = _auto(attacked["results"]["victim"])
    assert after == {g: attacked["victim_before"][g] for g in after} and all(s > 0 for s in after.values())
    assert attacked["results"]["victim"].score == attacked["victim_total_before"]
    assert attacked["statuses"]["victim"].status == status_mod.GRADED


def _sandbox_processes(uids) -> list[str]:
    rows = subprocess.run(["ps", "-eo", "uid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    # Zombies are already dead: they only wait for the kernel to reap them.
    return [row for row in rows if int(row.split()[0]) in uids and not row.split()[1].startswith("Z")]


def test_nothing_outside_the_sandbox_changed(attacked):
    """No process outlives its sandbox, nothing reached the network, no file outside was written."""
    assert not attacked["sentinel"].exists()
    assert attacked["connections"] == 0
    uids = {s.sandbox_uid for s in attacked["statuses"].values() if s.sandbox_uid is not None}
    assert uids  # the users this class's sandboxes ran as (other graders on the machine have their own)
    deadline = time.time() + 30  # the kernel tears a PID namespace down asynchronously
    while _sandbox_processes(uids) and time.time() < deadline:
        time.sleep(0.5)
    assert not _sandbox_processes(uids)
    victim_file = attacked["course"] / "submitted" / "victim" / A / "finite_differences.ipynb"
    assert "pwned" not in victim_file.read_text()
    assert attacked["sandbox_folders_left"] == []  # each sandbox's folders removed when it ended


# ---------------------------------------------------------------------------------------------------------
# Output injection: the test cells nbgrader scores hold the verdict and nothing else.

@pytest.mark.parametrize("attack", catalogue.by_kind("output injection"), ids=lambda a: a.name)
def test_graded_cells_hold_only_the_verdict(attacked, attack):
    nb = _autograded(attacked["course"], attack.name)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            assert len(cell.outputs) == 1, (notebooks.grade_id(cell), cell.outputs)
            out = cell.outputs[0]
            assert out.output_type in ("error", "stream") and out.get("name", "stdout") == "stdout"
            assert "hidden tests passed" in out.get("text", "") or out.output_type == "error"
    assert "bonus" not in {notebooks.grade_id(c) for c in nb.cells}


# ---------------------------------------------------------------------------------------------------------
# Evidence forgery: nothing of the grader's is inside the sandbox to forge.

def test_the_seed_never_enters_the_sandbox(attacked):
    assert "seed seen: None" in _outputs(attacked["course"], "writes_old_records")


def test_served_functions_show_nothing_of_the_problem(attacked):
    # The verdict (kept beside the integrity flag that getattr earns): the fallback answer, judged wrong.
    message = attacked["statuses"]["reaches_inside_f"].messages["test_forward_difference"]
    assert "Hidden test 1" in message and "called f" not in message


def test_a_counter_cannot_be_reset_from_inside(attacked):
    message = attacked["statuses"]["resets_the_counter"].messages["test_forward_difference"]
    assert "called f 6 times for d = 3" in message


# ---------------------------------------------------------------------------------------------------------
# Capability escape.

@pytest.mark.parametrize("attack", catalogue.by_kind("capability escape"), ids=lambda a: a.name)
def test_no_ad_library_exists_in_the_sandbox(attacked, attack):
    message = attacked["results"][attack.name].cells["test_forward_difference"].message
    assert "gradient" not in message.split("failed", 1)[-1][:40] or "raised" in message or "Flagged" in message


# ---------------------------------------------------------------------------------------------------------
# Resource exhaustion.

def test_disk_inside_the_sandbox_is_bounded(attacked):
    text = _outputs(attacked["course"], "fills_tmp")
    assert "DISK FULL 28" in text and "HOME FULL 28" in text  # ENOSPC: each tmpfs has its bound


def test_a_flood_of_stderr_costs_the_grader_no_memory(attacked):
    assert attacked["statuses"]["floods_stderr"].status in {status_mod.GRADED, status_mod.FLAGGED}  # os.write: flagged
    assert attacked["max_rss_kib"] < 3 * 2**20  # KiB: no worker grew past 3 GiB (JAX alone is ~0.5)


def test_a_flood_of_output_is_truncated(attacked):
    path = attacked["course"] / "autograded" / "floods_output" / A / "finite_differences.ipynb"
    assert path.stat().st_size < 5 * 2**20
    assert "truncated" in path.read_text()


def test_cpu_limits_are_cpu_seconds_and_say_so(attacked):
    loop = attacked["statuses"]["infinite_loop"]
    assert "cell time limit (8 CPU s)" in " ".join(loop.reasons) and not loop.wall_limited
    sleeper = attacked["statuses"]["sleeps"]  # no CPU used: only the wall-clock backstop stops it
    assert sleeper.wall_limited and sleeper.regraded_alone and "wall-clock backstop" in " ".join(sleeper.reasons)
    for student in ("infinite_loop", "sleeps"):  # the cells after the interrupted one still ran
        assert attacked["results"][student].cells["test_central_difference"].score > 0


def test_running_out_of_memory_is_reported_as_such(attacked):
    state = attacked["statuses"]["memory_bomb"]
    assert state.status == status_mod.CRASHED and "out of memory" in " ".join(state.reasons)


# ---------------------------------------------------------------------------------------------------------
# Active content.

@pytest.mark.parametrize("attack", catalogue.by_kind("active content"), ids=lambda a: a.name)
def test_nothing_active_reaches_the_instructor(attacked, attack):
    nb = _autograded(attacked["course"], attack.name)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert set(output.get("data", {})) <= {"text/plain", "image/png"}, output
            assert "<script" not in json.dumps(output.get("data", {}))
        if cell.cell_type == "markdown":
            assert "<script" not in cell.source and "onerror" not in cell.source
    feedback = attacked["course"] / "feedback" / attack.name / A / "finite_differences.html"
    html = feedback.read_text()
    # The payload may be shown as text (escaped, in the student's code); never as markup.
    assert not re.search(r"<script[^>]*>[^<]*__pwned", html)
    assert not re.search(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", html)
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I)


# ---------------------------------------------------------------------------------------------------------
# The sandbox's walls and broken files (kept from the first attack suite).

@pytest.mark.parametrize("student", ["patches_asserts", "patches_quietly", "edits_test_cell",
                                     "deletes_test_cell", "duplicates_grade_id"])
def test_wrong_answers_get_nothing_however_the_checks_are_attacked(attacked, student):
    result = attacked["results"][student]
    assert result.cells["test_forward_difference"].score == 0, student
    assert result.max_score == attacked["results"]["victim"].max_score  # points metadata restored


@pytest.mark.parametrize("student", ["patches_asserts", "patches_quietly", "aliases_jax_grad",
                                     "dunder_import_jax", "reads_secrets", "writes_gradebook",
                                     "background_process", "network", "segfault"])
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


@pytest.mark.parametrize("student", ["exits_kernel", "segfault"])
def test_crashes_are_reported_and_score_nothing_undeserved(attacked, student):
    state = attacked["statuses"][student]
    assert state.status in {status_mod.CRASHED, status_mod.FLAGGED}
    assert state.reasons
    assert _auto(attacked["results"][student])["test_lecture_gradient"] == 0


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
