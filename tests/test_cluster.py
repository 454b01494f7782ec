"""Grading on a Dask cluster into a PostgreSQL gradebook, with real parts.

The slow tests start a real PostgreSQL server (Debian's binaries, run as an unprivileged user on a Unix
socket in a temporary folder) and a ``LocalCluster`` of two worker processes, grade a small demo class
of assignment 1 on it, and compare every score with the single-machine pipeline's on SQLite.  During
that run one worker is killed with SIGKILL while it grades, and one submission is *poisoned*: a
test-only worker plugin (Dask's own extension point, nothing in the grader or the sandbox) SIGKILLs
whichever worker process starts grading it, every time.  The fast tests check the gradebook writes
(one transaction, idempotent) and the worker's start checks in-process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from autograder import cluster, gradebook, sandbox
from conftest import ROOT

A = "01_finite_differences"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                          if p.parent.name.isdigit() else 0, reverse=True)), Path("/usr/lib/postgresql/15/bin"))
POISONED = "zz_poisoned"
KILLED = "correct"  # the submission whose worker is killed once, mid-run

can_grade = pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                               reason="sandboxed grading needs bubblewrap and root (see README)")


# ---------------------------------------------------------------------------------------------------------
# Fast: the gradebook writes and the worker's checks, in-process.

def _tiny_gradebook(url):
    with gradebook.open_gradebook(url, "c") as gb:
        gb.add_assignment("a", duedate="2026-11-20 23:59:00 UTC")
        gb.add_notebook("nb", "a")
        gb.add_grade_cell("t1", "nb", "a", max_score=2, cell_type="code")
        gb.add_grade_cell("t2", "nb", "a", max_score=3, cell_type="code")
        gb.add_solution_cell("s1", "nb", "a")


def _scores(t1, t2, comment=None):
    return gradebook.SubmissionScores("ada", "a", timestamp="2026-11-20T18:00:00", notebooks={
        "nb": gradebook.NotebookScores({"t1": t1, "t2": t2}, {"s1": comment})})


def test_a_submission_written_twice_is_counted_once_and_keeps_manual_grades(tmp_path):
    url = gradebook.sqlite_url(tmp_path)
    _tiny_gradebook(url)
    with gradebook.open_gradebook(url, "c") as gb:
        gradebook.write_submission(gb, _scores(2.0, 0.0, "No response."))
        once = gradebook.row_counts(gb, "a")
        gb.find_grade("t2", "nb", "a", "ada").manual_score = 1.0  # a teaching assistant's
        gb.db.commit()
        gradebook.write_submission(gb, _scores(0.0, 3.0))  # a retried task, or a rerun
        assert gradebook.row_counts(gb, "a") == once == {"submissions": 1, "notebooks": 1, "grades": 2,
                                                         "comments": 1}
        t1, t2 = (gb.find_grade(c, "nb", "a", "ada") for c in ("t1", "t2"))
        assert (t1.auto_score, t1.needs_manual_grade) == (0.0, False)
        assert (t2.auto_score, t2.manual_score, t2.needs_manual_grade) == (3.0, 1.0, True)
        assert gb.find_comment("s1", "nb", "a", "ada").auto_comment is None
        assert gb.find_submission("a", "ada").score == 1.0  # nbgrader: the manual score wins


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    url = gradebook.sqlite_url(tmp_path)
    _tiny_gradebook(url)
    broken = _scores(2.0, 3.0)
    broken.notebooks["nb"].auto_scores["no_such_cell"] = 1.0
    with gradebook.open_gradebook(url, "c") as gb:
        with pytest.raises(Exception):
            gradebook.write_submission(gb, broken)
    with gradebook.open_gradebook(url, "c") as gb:  # one transaction: not even the student or submission
        assert gradebook.row_counts(gb, "a")["submissions"] == 0 and not gb.students


def test_the_gradebook_url_comes_from_db_or_nbgrader_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    assert gradebook.url(tmp_path) == gradebook.sqlite_url(tmp_path)
    assert gradebook.url(tmp_path, "postgresql://u:secret@h/db").startswith("postgresql")
    with open(tmp_path / "nbgrader_config.py", "a") as f:
        f.write("c.CourseDirectory.db_url = 'postgresql://u@h:5433/course'\n")
    assert gradebook.url(tmp_path).endswith("://u@h:5433/course")
    assert gradebook.redacted("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_a_worker_that_cannot_grade_says_why(monkeypatch):
    monkeypatch.setattr(cluster, "_READY", False)
    monkeypatch.setattr(cluster, "_PROBLEM", None)
    assert "--nthreads 1" in cluster.prepare_worker(nthreads=4)
    monkeypatch.setattr(cluster, "_PROBLEM", None)
    monkeypatch.setattr(sandbox, "missing_tools", lambda: ["bwrap"])
    assert "bwrap" in cluster.prepare_worker(nthreads=1)
    monkeypatch.setattr(cluster, "_PROBLEM", None)
    monkeypatch.setattr(sandbox, "missing_tools", lambda: [])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in cluster.prepare_worker(nthreads=1)


def test_a_bundle_that_does_not_match_its_digest_is_refused():
    bundle = cluster.Bundle(A, {"nbgrader_config.py": b"c = get_config()\n"}, None)
    bundle.digest = bundle.compute_digest()
    bundle.files["source/x.ipynb"] = b"{}"
    with pytest.raises(ValueError, match="digest"):
        cluster._private_course(bundle)


# ---------------------------------------------------------------------------------------------------------
# Slow: a real PostgreSQL server and a real LocalCluster.

@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL's binaries are not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="pg-"))  # short: a Unix socket's path has a length limit
    shutil.chown(base, "nobody")

    def as_nobody(*argv):
        return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                              capture_output=True, text=True, timeout=120, check=True)

    as_nobody(str(PG_BIN / "initdb"), "-D", str(base / "data"), "-U", "grader", "--auth=trust", "-E", "UTF8")
    as_nobody(str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"), "-w", "-o",
              f"-k {base} -c listen_addresses='' -p 5439", "start")
    as_nobody(str(PG_BIN / "createdb"), "-h", str(base), "-p", "5439", "-U", "grader", "course")
    try:
        yield f"postgresql://grader@/course?host={base}&port=5439"
    finally:
        subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(PG_BIN / "pg_ctl"),
                        "-D", str(base / "data"), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:
    WorkerPlugin = object


class PoisonPlugin(WorkerPlugin):
    """Test-only: a second after a worker starts grading the poisoned submission, its process dies."""

    name = "poison"

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and f"-{POISONED}-" in str(key):
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGKILL)).start()


def _cells(results):
    return {s: {g: (c.score, c.max_score, c.needs_manual_grade) for g, c in r.cells.items()}
            for s, r in results.items()}


@pytest.fixture(scope="module")
def graded(postgres, tmp_path_factory):
    import dask
    from distributed import Client, LocalCluster

    from autograder import build, course_dir, demo, grading, pipeline

    base = tmp_path_factory.mktemp("cluster")
    course = course_dir.make_copy(base / "course")
    build.build(course, A, duedate=demo.DUE)
    subs = demo.demo_submissions(A, course)
    mistakes = [s for s in subs if s not in ("correct", "blank")][:3]
    chosen = {s: subs[s] for s in ["correct", "blank", *mistakes]}
    demo.write_submissions(course, A, {**chosen, POISONED: subs["correct"]})
    single = base / "single"
    shutil.copytree(course, single)
    shutil.rmtree(single / "submitted" / POISONED)

    # The single-machine pipeline, on SQLite: what every score must equal.
    pipeline.grade(single, A, sorted(chosen), jobs=2, force=True)
    expected = _cells(grading.results(single, A))

    # The cluster: two worker processes; a task is given up after 2 workers died running it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                             host="127.0.0.1")
    client = Client(local)
    client.register_plugin(PoisonPlugin(), name=PoisonPlugin.name)
    killed = {}

    def kill_one_worker_mid_task():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for address, keys in client.processing().items():
                if any(f"-{KILLED}-" in str(k) for k in keys):
                    time.sleep(3)  # well into grading it
                    pid = client.run(os.getpid, workers=[address])[address]
                    os.kill(pid, signal.SIGKILL)
                    killed[address] = pid
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_worker_mid_task, daemon=True)
    killer.start()
    log = tempfile.TemporaryFile("w+")
    started = time.perf_counter()
    try:
        statuses = pipeline.grade(course, A, sorted([*chosen, POISONED]), force=True, cluster=client,
                                  db=postgres, out=log)
        seconds = time.perf_counter() - started
        killer.join(timeout=5)
        summary = dict(cluster.LAST_SUMMARY)
        with gradebook.open_gradebook(gradebook.url(course, postgres), "autodiff") as gb:
            counts = gradebook.row_counts(gb, A)
        # A second run on the same, still running cluster (its workers keep their private courses).
        again = pipeline.grade(course, A, ["blank"], force=True, cluster=client, db=postgres, out=log)
    finally:
        client.close()
        local.close()
    log.seek(0)
    return {"course": course, "single": single, "db": postgres, "expected": expected, "statuses": statuses,
            "summary": summary, "killed": killed, "log": log.read(), "seconds": seconds, "students": chosen,
            "counts": counts, "again": again}


@can_grade
@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_every_score_on_the_cluster_equals_the_single_machine_pipeline(graded):
    from autograder import grading
    got = _cells(grading.results(graded["course"], A, db_url=graded["db"]))
    assert set(got) == set(graded["students"])  # the poisoned one has no scores, and is not lost (below)
    assert got == graded["expected"]
    assert got["correct"] and all(s == m for s, m, manual in got["correct"].values() if not manual)
    assert "dashboard:" in graded["log"] and "2 Dask worker(s)" in graded["log"]
    # The feedback inputs came back too: the autograded notebook, in the real course.
    assert (graded["course"] / "autograded" / "blank" / A / "finite_differences.ipynb").exists()


@can_grade
@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_a_worker_killed_mid_task_loses_nothing_and_counts_nothing_twice(graded):
    from autograder import status as status_mod
    assert graded["killed"], "the worker was not killed (the test's timing)"
    assert KILLED in graded["summary"]["retried"]
    assert f"retried after a worker died: {KILLED}" in graded["log"]
    assert not graded["summary"]["lost"]
    with gradebook.open_gradebook(gradebook.url(graded["course"], graded["db"]), "autodiff") as gb:
        on_cluster = gradebook.row_counts(gb, A)
    with gradebook.open_gradebook(gradebook.sqlite_url(graded["single"]), "autodiff") as gb:
        single = gradebook.row_counts(gb, A)
    assert on_cluster == single == graded["counts"] and on_cluster["submissions"] == len(graded["students"])
    assert graded["again"]["blank"].status == "graded"  # regraded on the same cluster, counted once
    statuses = status_mod.load_all(graded["course"], A)
    assert {s: statuses[s].status for s in graded["students"]} == {
        s: st.status for s, st in status_mod.load_all(graded["single"], A).items()}


@can_grade
@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_a_poisoned_submission_is_given_up_after_the_retry_limit_and_reported(graded):
    from autograder import status as status_mod
    assert graded["summary"]["poisoned"] == [POISONED]
    assert f"given up after killing every worker that tried: {POISONED}" in graded["log"]
    state = status_mod.load(graded["course"], A, POISONED)
    assert state.status == "crashed" and "every worker that graded it died" in state.reasons[0]


@can_grade
@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_the_command_line_regrades_on_a_local_cluster_idempotently(graded):
    course, db = graded["course"], graded["db"]
    with gradebook.open_gradebook(gradebook.url(course, db), "autodiff") as gb:
        before = gradebook.row_counts(gb, A)
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade", A,
                          "--cluster", "local:1", "--db", db],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    # A rerun resumes: everything (the given-up submission too) is already graded and unchanged ...
    assert f"{len(graded['students']) + 1} submission(s) already graded and unchanged" in run.stderr
    run = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade", A,
                          "--cluster", "local:1", "--db", db, "--student", "blank", "--force"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "1/1 graded" in run.stderr and "dashboard:" in run.stderr
    with gradebook.open_gradebook(gradebook.url(course, db), "autodiff") as gb:
        assert gradebook.row_counts(gb, A) == before  # ... and a forced regrade overwrites, never adds
