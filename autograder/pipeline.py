"""Grade a whole class: parallel workers, one sandbox per submission, a trusted judge, resumable.

Each worker process imports nbgrader and JAX once and then grades
submission after submission (nbgrader's start-up, about 2 s, is paid once
per worker, not once per student).  For one submission a worker

1. stages it (:mod:`autograder.preflight`): unreadable files become a
   blank notebook and a reason, the original is never touched;
2. runs nbgrader's autograde on the staged copy, with nbgrader's kernel
   execution replaced by :class:`SandboxedExecute`: the notebook runs in a
   sandbox, the hidden tests' records are judged in the worker, integrity
   findings are applied, and nbgrader then scores and saves as usual;
3. writes a :class:`~autograder.status.SubmissionStatus` -- last, so an
   interrupted run simply regrades what has no status yet.
"""

from __future__ import annotations

import multiprocessing
import re
import os
import secrets
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import notebooks, preflight, status as status_mod
from autograder.status import CRASHED, GRADED, MALFORMED, SubmissionStatus

STAGED = "staged"


@dataclass
class Job:
    """What the sandboxed execution step needs to know about the submission being graded."""

    course: Path
    assignment: str
    student: str
    slot: int
    seed: int
    limits: object
    status: SubmissionStatus


CURRENT: Job | None = None  # one submission at a time per worker process


def _sandboxed_execute_class():
    from nbgrader.preprocessors import NbGraderPreprocessor

    class SandboxedExecute(NbGraderPreprocessor):
        """Replaces nbgrader's ``Execute``: run in the sandbox, gather evidence and judge in this process."""

        def preprocess(self, nb, resources):
            from autograder import decision, execution, judge
            from autograder.exercises import AD_FORBIDDEN, FORBIDDEN_CALLS

            job = CURRENT
            source_nb = nbformat.read(notebooks.notebook_path(job.assignment, "source", job.course), as_version=4)
            exercises = {gid: exercise for gid, (_, exercise) in judge.exercises_of(source_nb).items()}
            run = execution.run_notebook(nb, assignment=job.assignment, exercises=exercises, seed=job.seed,
                                         slot=job.slot, limits=job.limits,
                                         allow_ad=allows_ad(job.assignment, source_nb, AD_FORBIDDEN))
            decision.decide(nb, source_nb, job.assignment, run, job.status,
                            forbid_ad=AD_FORBIDDEN.get(job.assignment, ()),
                            forbid_calls=FORBIDDEN_CALLS.get(job.assignment, {}))
            return nb, resources

    return SandboxedExecute


def allows_ad(assignment: str, source_nb, ad_forbidden: dict) -> bool:
    """Whether the sandbox of this assignment gets JAX: only if some code answer may use it."""
    forbidden = set(ad_forbidden.get(assignment, ()))
    answers = {notebooks.grade_id(c) for c in source_nb.cells if c.cell_type == "code" and notebooks.is_solution(c)}
    return bool(answers - forbidden)


def make_api(course: Path):
    """nbgrader's API for ``course``, grading the staged copies with the sandboxed execution step."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, LimitOutput, SaveAutoGrades

    from autograder import course_dir

    config = course_dir.load_config(course)
    config.CourseDirectory.submitted_directory = STAGED
    config.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back (and scores 0)
    config.Autograde.autograde_preprocessors = [_sandboxed_execute_class(), ClearMetadataPreprocessor,
                                                LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                                CheckCellMetadata]
    return course_dir.api(course, config)


_API = None
_SLOT = 0


def _init_worker(slots) -> None:
    global _SLOT
    _SLOT = slots.get()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # The judges' JAX compilations, kept on disk between workers and runs (the sandbox's --clearenv
    # keeps this away from student code).
    os.environ.setdefault("COURSE_JAX_CACHE", str(Path.home() / ".cache" / "autodiff-course" / "jax"))
    # nbgrader's gradebook code triggers SQLAlchemy's "not in session" warnings on every submission:
    # harmless (nbgrader's own), and they would bury the progress bar.
    import warnings
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)


def grade_one(course: Path, assignment: str, student: str, limits, slot: int | None = None) -> SubmissionStatus:
    """Grade one submission end to end and record its status (never raises for a bad submission)."""
    global CURRENT, _API
    from autograder import grading

    course = Path(course)
    started = time.perf_counter()
    if _API is None:
        _API = make_api(course)
    release = notebooks.notebook_path(assignment, "release", course)
    state = SubmissionStatus(student, assignment, seed=secrets.randbits(62))
    check = preflight.stage(course / "submitted" / student / assignment,
                            course / STAGED / student / assignment, release.name, release)
    state.fingerprint = check.fingerprint
    state.reasons += check.reasons
    if not check.ok:
        state.status = MALFORMED
    CURRENT = Job(course, assignment, student, _SLOT if slot is None else slot, state.seed, limits, state)
    try:
        outcome = _API.autograde(assignment, student, force=True, create=True)
    finally:
        CURRENT = None
    if not outcome["success"]:
        state.status = CRASHED if state.status == GRADED else state.status
        log = (outcome.get("error") or "") + "\n" + (outcome.get("log") or "")
        errors = [line.strip() for line in log.splitlines()
                  if re.match(r"^\s*[\w.]*(Error|Exception)\b.*:", line)]
        state.reasons.append("nbgrader could not grade it: " + (errors[-1][:300] if errors else "see its log"))
    result = grading.results(course, assignment, students=[student]).get(student)
    if result is not None:
        state.late = result.late
        state.timestamp = result.timestamp
    state.seconds = round(time.perf_counter() - started, 2)
    state.save(course)
    return state


def _grade_task(course, assignment, student, limits):
    try:
        return grade_one(course, assignment, student, limits)
    except Exception:  # a bug of ours: report it, keep grading the others
        state = SubmissionStatus(student, assignment, status=CRASHED,
                                 reasons=["grader error: " + traceback.format_exc(limit=3)[-400:]])
        return state


def pending(course: Path, assignment: str, students: list[str], force: bool) -> list[str]:
    """The students still to grade: no status yet, or their submission changed since."""
    if force:
        return students
    todo = []
    for student in students:
        done = status_mod.load(course, assignment, student)
        folder = course / "submitted" / student / assignment
        if done is None or done.fingerprint != preflight.fingerprint(folder):
            todo.append(student)
    return todo


def grade(course: Path, assignment: str, students: list[str], *, jobs: int = 2, limits=None,
          force: bool = False, out=sys.stderr, cluster=None, db: str | None = None,
          tries: int | None = None) -> dict[str, SubmissionStatus]:
    """Grade ``students`` with ``jobs`` worker processes; print progress; return their statuses.

    With ``cluster`` (``"local:N"``, a Dask scheduler's address, or a ``distributed.Client``) the
    submissions are graded on Dask workers instead (:mod:`autograder.cluster`), and the results written
    into the gradebook ``db`` (any SQLAlchemy URL; default: the course's, see
    :func:`autograder.gradebook.url`); ``tries`` bounds the workers a submission may kill (``local:N`` only:
    a running scheduler has its own ``allowed-failures``).
    """
    from autograder import sandbox

    if cluster is None:
        sandbox.check_available()
        if db is not None:
            from autograder import gradebook
            if gradebook.normalise(db) != gradebook.url(course):
                raise gradebook.GradebookError("--db needs --cluster; on one machine, set c.CourseDirectory.db_url in "
                                 "nbgrader_config.py (nbgrader's own workers then write there)")
    limits = limits or sandbox.Limits()
    course = Path(course).resolve()
    todo = pending(course, assignment, students, force)
    skipped = len(students) - len(todo)
    results: dict[str, SubmissionStatus] = {}
    start = time.perf_counter()
    if skipped:
        print(f"{assignment}: {skipped} submission(s) already graded and unchanged (use --force to regrade)",
              file=out)
    if not todo:
        return results
    if cluster is not None:
        from autograder import cluster as cluster_mod  # the workers check the sandbox, not this machine
        return cluster_mod.grade(course, assignment, todo, cluster=cluster, db_url=db, limits=limits,
                                 tries=tries or cluster_mod.DEFAULT_TRIES, out=out)
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    # Each worker runs its sandboxes as its own user id (BASE_UID + slot): process limits are per user,
    # so one student's fork bomb cannot starve the other worker.  The offset keeps two grading runs on
    # the same machine apart as well.
    slots = context.Queue()
    offset = (os.getpid() % 1000) * 16
    for slot in range(jobs):
        slots.put(offset + slot)
    failures = 0
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context,
                             initializer=_init_worker, initargs=(slots,)) as pool:
        futures = {pool.submit(_grade_task, course, assignment, s, limits): s for s in todo}
        for done, future in enumerate(as_completed(futures), start=1):
            state = future.result()
            results[state.student] = state
            failures += state.status not in (GRADED,)
            bar = "#" * int(24 * done / len(todo))
            print(f"\r[{bar:<24}] {done}/{len(todo)} graded, {time.perf_counter() - start:5.1f} s, "
                  f"{failures} need a human   ", end="" if out.isatty() else "\n", file=out, flush=True)
    if out.isatty():
        print(file=out)
    # A wall-clock backstop depends on the machine's load, so it decides nothing on its own: such a
    # submission is graded once more, alone, and keeps that result.
    again = [s for s, state in results.items() if state.wall_limited]
    if again:
        print(f"{assignment}: {len(again)} submission(s) hit a wall-clock limit; grading them again, alone",
              file=out)
        slots.put(offset)
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                 initargs=(slots,)) as pool:
            for student in again:
                state = pool.submit(_grade_task, course, assignment, student, limits).result()
                state.regraded_alone = True
                state.save(course)
                results[student] = state
    return results
