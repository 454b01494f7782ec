"""Grading a class on a Dask cluster: one task per submission, results written by the client.

``python -m autograder grade A --cluster tcp://HOST:8786`` (an existing ``distributed`` scheduler) or
``--cluster local:N`` (a ``LocalCluster`` of N worker processes here).  No shared file system:

* a task carries the submission's files (bytes) and the assignment's *bundle*: ``nbgrader_config.py``,
  ``source/<A>/`` and ``release/<A>/`` and the due date, pinned by their sha256, which the worker
  checks before it builds (once per bundle) a private course directory from it, with its own SQLite
  gradebook made by nbgrader's ``generate_assignment``;
* the worker runs the single-machine grader, :func:`autograder.pipeline.grade_one` -- the same
  sandbox, the same trusted judge, nbgrader's own scoring -- on that private course, and returns
  what nbgrader stored (per-cell scores and comments, the late penalty), the autograded notebook (for
  feedback) and the :class:`~autograder.status.SubmissionStatus`;
* the client writes them into the real course: the autograded folder, then the gradebook (any
  SQLAlchemy URL; one transaction per submission, idempotent: :mod:`autograder.gradebook`), then the
  status file, last, so an interrupted client resumes like the process pool does.

Every worker checks at start (:class:`GraderPlugin`) that it can grade: root, bubblewrap, a real
sandbox start, one thread.  Faults are Dask's: a worker that dies mid-task has its task retried
elsewhere (the summary lists it as retried), and a task that was running on ``allowed-failures + 1``
workers that all died is given up (:class:`distributed.KilledWorker`) and reported as such.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder import gradebook, preflight
from autograder.status import CRASHED, GRADED, SubmissionStatus

log = logging.getLogger("autograder.cluster")

START_TOPIC = "autograder-start"      # a worker's event when it starts a submission (retries show here)
SLOT_BASE = 16000                     # sandbox user ids of cluster workers: apart from the process pool's
MAX_SLOTS = 1024                      # worker processes per machine
DEFAULT_TRIES = 3                     # a submission runs on at most this many workers that all die


# ---------------------------------------------------------------------------------------------------------
# What travels.

@dataclass
class Bundle:
    """The assignment as a worker needs it: files by relative path, and the due date; pinned by ``digest``."""

    assignment: str
    files: dict[str, bytes]
    duedate: str | None
    digest: str = ""

    def compute_digest(self) -> str:
        h = hashlib.sha256(self.assignment.encode() + b"\0" + (self.duedate or "").encode() + b"\0")
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()


def _files_under(root: Path, folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}


def bundle_of(course: Path, assignment: str, db_url: str) -> Bundle:
    files = {"nbgrader_config.py": (course / "nbgrader_config.py").read_bytes()}
    for kind in ("source", "release"):
        files.update(_files_under(course, course / kind / assignment))
    bundle = Bundle(assignment, files, gradebook.duedate(db_url, gradebook.course_id(course), assignment))
    bundle.digest = bundle.compute_digest()
    return bundle


@dataclass
class Submission:
    student: str
    assignment: str
    files: dict[str, bytes]        # relative to submitted/<student>/<assignment>/
    fingerprint: str


def submission_of(course: Path, assignment: str, student: str) -> Submission:
    folder = course / "submitted" / student / assignment
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return Submission(student, assignment, files, preflight.fingerprint(folder))


@dataclass
class Outcome:
    """What a worker sends back for one submission."""

    status: dict
    scores: gradebook.SubmissionScores | None
    autograded: dict[str, bytes] = field(default_factory=dict)   # relative to autograded/<student>/<A>/
    worker: str = ""


# ---------------------------------------------------------------------------------------------------------
# The worker's side.

_PROBLEM: str | None = None      # why this worker cannot grade, once checked
_READY = False
_SLOT_LOCK = None                # held for the process's life: the sandbox user id is ours alone
_PRIVATE: Path | None = None     # this process's private course directory
_BUILT: dict[str, str] = {}      # assignment -> digest of the bundle its private copy was built from
_CONFIG_DIGEST = ""


def _claim_slot() -> int:
    """A sandbox slot no other worker process on this machine holds (a lock that dies with the process)."""
    global _SLOT_LOCK
    from autograder import sandbox
    folder = Path(tempfile.gettempdir()) / "autograder-slots"
    folder.mkdir(mode=0o700, exist_ok=True)
    for slot in range(SLOT_BASE, SLOT_BASE + MAX_SLOTS):
        handle = open(folder / f"{sandbox.uid_for(slot)}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _SLOT_LOCK = handle
        return slot
    raise RuntimeError(f"more than {MAX_SLOTS} grading worker processes on this machine")


def _remove_dead_workers_folders() -> None:
    """Private course folders left by worker processes that were killed (no teardown ran)."""
    for folder in Path(tempfile.gettempdir()).glob("autograder-worker-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def prepare_worker(nthreads: int = 1) -> str | None:
    """Check that this process can grade and set it up; returns why not, or None."""
    global _PROBLEM, _READY, _PRIVATE
    if _READY or _PROBLEM:
        return _PROBLEM
    from autograder import pipeline, sandbox
    try:
        if nthreads != 1:
            raise sandbox.SandboxUnavailable(
                f"this worker runs {nthreads} threads; a grading worker grades one submission at a time: "
                "start it with --nthreads 1 (more processes, not threads: --nworkers N)")
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        _PROBLEM = f"{exc}"
        return _PROBLEM
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("COURSE_JAX_CACHE", str(Path.home() / ".cache" / "autodiff-course" / "jax"))
    import warnings
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)
    pipeline._SLOT = _claim_slot()
    _remove_dead_workers_folders()
    _PRIVATE = Path(tempfile.mkdtemp(prefix=f"autograder-worker-{os.getpid()}-")) / "course"
    _PRIVATE.mkdir()
    # Kept for the process's life (a plugin registered again by the next run must not lose it).
    atexit.register(shutil.rmtree, _PRIVATE.parent, True)
    _READY = True
    return None


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the process pool needs no Dask
    WorkerPlugin = object


class GraderPlugin(WorkerPlugin):
    """Registered on every worker (and every worker that joins later): can this worker grade?"""

    name = "autograder-grader"

    def setup(self, worker):
        problem = prepare_worker(worker.state.nthreads)
        if problem:
            log.error("worker %s cannot grade: %s", worker.address, problem)
            from autograder.sandbox import SandboxUnavailable
            raise SandboxUnavailable(f"worker {worker.address} cannot grade: {problem}")


def _private_course(bundle: Bundle) -> Path:
    """This worker's course directory for the bundle's assignment, rebuilt when the bundle changed."""
    global _CONFIG_DIGEST
    from autograder import grading, pipeline

    if bundle.compute_digest() != bundle.digest:
        raise ValueError(f"the bundle of {bundle.assignment} does not match its digest: refusing to grade with it")
    if _BUILT.get(bundle.assignment) == bundle.digest:
        return _PRIVATE
    course = _PRIVATE
    config = bundle.files["nbgrader_config.py"]
    config_digest = hashlib.sha256(config).hexdigest()
    if config_digest != _CONFIG_DIGEST:
        # The instructor's configuration, but this worker's own gradebook (the real one is the client's).
        (course / "nbgrader_config.py").write_bytes(
            config + f"\nc.CourseDirectory.db_url = {gradebook.sqlite_url(course)!r}\n".encode())
        _CONFIG_DIGEST = config_digest
        pipeline._API = None  # nbgrader's API is made from the configuration
        _BUILT.clear()
    with gradebook.open_gradebook(gradebook.sqlite_url(course), gradebook.course_id(course)) as gb:
        if gradebook.has_assignment(gb, bundle.assignment):
            gb.remove_assignment(bundle.assignment)
    for kind in ("source", "release"):
        shutil.rmtree(course / kind / bundle.assignment, ignore_errors=True)

    def write(names):
        for name in names:
            target = course / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bundle.files[name])

    write(n for n in bundle.files if n.startswith("source/"))
    grading.build(course, bundle.assignment)  # nbgrader generate_assignment: the gradebook's copy of the tests
    write(n for n in bundle.files if n.startswith("release/"))  # exactly what the students were given
    if bundle.duedate:
        with gradebook.open_gradebook(gradebook.sqlite_url(course), gradebook.course_id(course)) as gb:
            gb.update_or_create_assignment(bundle.assignment, duedate=bundle.duedate)
    _BUILT[bundle.assignment] = bundle.digest
    return course


def _clean(course: Path, assignment: str, student: str) -> None:
    from autograder import pipeline, status as status_mod
    for kind in ("submitted", pipeline.STAGED, "autograded"):
        shutil.rmtree(course / kind / student, ignore_errors=True)
    status_mod.status_path(course, assignment, student).unlink(missing_ok=True)


def grade_task(bundle: Bundle, submission: Submission, limits) -> Outcome:
    """One Dask task: grade one submission in this worker's private course, return what the client writes."""
    from distributed import get_worker

    from autograder import pipeline, sandbox

    worker = get_worker()
    problem = prepare_worker(worker.state.nthreads)  # the plugin did this, unless it was not registered
    if problem:
        raise sandbox.SandboxUnavailable(f"worker {worker.address} cannot grade: {problem}")
    worker.log_event(START_TOPIC, {"student": submission.student, "assignment": submission.assignment,
                                   "worker": worker.address})
    student, assignment = submission.student, submission.assignment
    try:
        course = _private_course(bundle)
        _clean(course, assignment, student)
        folder = course / "submitted" / student / assignment
        for name, data in submission.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        state = pipeline.grade_one(course, assignment, student, limits)
        with gradebook.open_gradebook(gradebook.sqlite_url(course), gradebook.course_id(course)) as gb:
            scores = gradebook.read_submission(gb, assignment, student)
            if scores is not None:
                gb.remove_submission(assignment, student)
        out = course / "autograded" / student / assignment
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        _clean(course, assignment, student)
        state.fingerprint = submission.fingerprint  # what was shipped is what was graded
    except Exception:  # a bug of ours, or of this machine: report it, keep grading the others
        # No fingerprint: as with the process pool, the next run grades it again.
        state = SubmissionStatus(student, assignment, status=CRASHED,
                                 reasons=[f"grader error on {worker.address}: "
                                          + traceback.format_exc(limit=3)[-400:]])
        scores, files = None, {}
    return Outcome(asdict(state), scores, files, worker.address)


# ---------------------------------------------------------------------------------------------------------
# The client's side.

def _dashboard(client, local) -> str:
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:
        services = {}
    if local is not None:
        try:
            import bokeh  # noqa: F401
        except ImportError:
            return "dashboard: not available (Bokeh is not installed here: `pip install bokeh` to get one)"
    if "dashboard" not in services:
        return "dashboard: not available (the scheduler serves none; `pip install bokeh` on its machine)"
    return f"dashboard: {client.dashboard_link}"


def connect(cluster: str, tries: int = DEFAULT_TRIES, out=sys.stderr):
    """A Dask client for ``local:N`` (a LocalCluster started here) or a scheduler's address; and its
    LocalCluster, if one was started (the caller closes both)."""
    import dask
    from distributed import Client, LocalCluster

    if cluster.startswith("local"):
        n = int(cluster.partition(":")[2] or os.cpu_count() or 1)
        # One submission at a time per worker (no task waits on a worker, so a worker's death touches only
        # the task it was running), and a task given up after `tries` workers died running it.
        with dask.config.set({"distributed.scheduler.allowed-failures": tries - 1,
                              "distributed.scheduler.worker-saturation": 1.0}):
            local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                 silence_logs=logging.ERROR, host="127.0.0.1")
        return Client(local), local
    return Client(cluster, timeout="60s"), None


def _allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


def _scheduler_tries(client) -> int | None:
    """How many workers may die running one task before the scheduler gives it up (its allowed-failures + 1)."""
    import dask
    for ask in (lambda: client.run_on_scheduler(_allowed_failures),  # where the scheduler can import us
                lambda: client.run_on_scheduler(dask.config.get, "distributed.scheduler.allowed-failures")):
        try:
            return int(ask()) + 1
        except Exception:
            continue
    return None


def grade(course: Path, assignment: str, todo: list[str], *, cluster, db_url: str | None = None, limits=None,
          tries: int = DEFAULT_TRIES, out=sys.stderr, task=None, task_args=()) -> dict[str, SubmissionStatus]:
    """Grade ``todo`` on ``cluster`` (``local:N``, a scheduler address, or a ``distributed.Client``).

    ``task(bundle, submission, limits, *task_args) -> Outcome`` is what a worker runs per submission:
    :func:`grade_task` (the benchmark's simulated scaling replaces it by one that sleeps instead).
    """
    from distributed import Client, KilledWorker, as_completed

    from autograder import sandbox

    limits = limits or sandbox.Limits()
    course = Path(course).resolve()
    target = gradebook.url(course, db_url)
    gradebook.ensure_assignment(course, assignment, target)
    bundle = bundle_of(course, assignment, target)
    if isinstance(cluster, Client):
        client, local, owned = cluster, None, False
    else:
        client, local = connect(cluster, tries, out)
        owned = True
    results: dict[str, SubmissionStatus] = {}
    book = contextlib.ExitStack()
    try:
        gb = book.enter_context(gradebook.open_gradebook(target, gradebook.course_id(course)))
        try:
            client.register_plugin(GraderPlugin(), name=GraderPlugin.name)
        except sandbox.SandboxUnavailable:
            raise
        except Exception as exc:  # a worker's own exception type, if it could not be unpickled here
            raise sandbox.SandboxUnavailable(str(exc)) from exc
        workers = client.nthreads()
        limit = _scheduler_tries(client)
        print(f"{assignment}: {len(todo)} submission(s) on {len(workers)} Dask worker(s) at "
              f"{client.scheduler.address}; gradebook {gradebook.redacted(target)}; a submission is given up "
              f"after {limit if limit else '(the scheduler decides)'} tries that kill their worker", file=out)
        print(_dashboard(client, local), file=out, flush=True)
        if not workers:
            print(f"{assignment}: no workers yet; waiting for some to join the scheduler", file=out, flush=True)

        starts: dict[str, int] = {}
        lock = threading.Lock()

        def on_start(event):
            _, msg = event
            if msg.get("assignment") == assignment:
                with lock:
                    starts[msg["student"]] = starts.get(msg["student"], 0) + 1

        client.subscribe_topic(START_TOPIC, on_start)
        start = time.perf_counter()
        queue = list(todo)
        futures = {}
        done_count = failures = 0
        lost: list[tuple[str, str]] = []
        poisoned: list[str] = []

        def submit(student):
            key = f"grade-{assignment}-{student}-{uuid.uuid4().hex[:8]}"
            future = client.submit(task or grade_task, bundle, submission_of(course, assignment, student), limits,
                                   *task_args, key=key, pure=False)
            futures[future] = student
            return future

        threads = {"n": sum(workers.values()), "at": time.monotonic()}

        def in_flight():
            # One task per worker thread, no more: a task never waits on a worker, so a worker that dies
            # takes only the task it was running with it (and the scheduler's retry count stays that task's).
            # Workers come and go: asked again every second.
            if time.monotonic() - threads["at"] > 1.0:
                threads.update(n=sum(client.nthreads().values()), at=time.monotonic())
            return max(1, threads["n"])

        pending = as_completed([submit(queue.pop(0)) for _ in range(min(in_flight(), len(queue)))])
        for future in pending:
            student = futures.pop(future)
            while queue and len(futures) < in_flight():
                pending.add(submit(queue.pop(0)))
            try:
                outcome = future.result()
            except KilledWorker as exc:
                try:
                    n, last = exc.allowed_failures + 1, exc.last_worker.address
                except Exception:  # pickled without its details
                    n, last = "all", "unknown"
                state = SubmissionStatus(student, assignment, status=CRASHED, fingerprint=preflight.fingerprint(
                    course / "submitted" / student / assignment), reasons=[
                    f"every worker that graded it died ({n} tries, the last on {last}): given up, not retried "
                    "by later runs (regrade it with --force)"])
                state.save(course)
                poisoned.append(student)
            except Exception as exc:
                lost.append((student, f"{type(exc).__name__}: {exc}"[:300]))
                state = None
            else:
                try:
                    state = save(course, outcome, gb)
                except Exception as exc:  # the database refused: nothing saved, a rerun grades it again
                    lost.append((student, f"not saved: {type(exc).__name__}: {exc}"[:300]))
                    state = None
            finally:
                future.release()
            if queue and not futures:
                pending.add(submit(queue.pop(0)))
            done_count += 1
            if state is not None:
                results[student] = state
                failures += state.status != GRADED
            with lock:
                retried = sum(1 for n in starts.values() if n > 1)
            bar = "#" * int(24 * done_count / len(todo))
            print(f"\r[{bar:<24}] {done_count}/{len(todo)} graded, {time.perf_counter() - start:5.1f} s, "
                  f"{failures} need a human, {retried} retried   ", end="" if out.isatty() else "\n",
                  file=out, flush=True)
        if out.isatty():
            print(file=out)

        # A wall-clock backstop depends on the load, so it decides nothing on its own: grade once more, alone.
        again = [s for s, state in results.items() if state.wall_limited]
        if again:
            print(f"{assignment}: {len(again)} submission(s) hit a wall-clock limit; grading them again, alone",
                  file=out)
            for student in again:
                try:
                    outcome = submit(student).result()
                except Exception as exc:
                    lost.append((student, f"{type(exc).__name__}: {exc}"[:300]))
                    continue
                outcome.status["regraded_alone"] = True
                results[student] = save(course, outcome, gb)

        time.sleep(0.5)  # the last start events
        client.unsubscribe_topic(START_TOPIC)
        retried = sorted(s for s, n in starts.items() if n > 1 and s not in poisoned)
        summary = {"retried": retried, "poisoned": poisoned, "lost": lost}
        if retried:
            print(f"{assignment}: retried after a worker died: " + ", ".join(
                f"{s} ({starts[s]} tries)" for s in retried), file=out)
        if poisoned:
            print(f"{assignment}: given up after killing every worker that tried: {', '.join(poisoned)}", file=out)
        for student, why in lost:
            print(f"{assignment}: {student} was not graded ({why}); a rerun grades it", file=out)
        LAST_SUMMARY.clear()
        LAST_SUMMARY.update(summary)
    finally:
        book.close()
        if owned:
            client.close()
            if local is not None:
                local.close()
    return results


LAST_SUMMARY: dict = {}  # the last run's retried, given-up and unsaved submissions (for tests and callers)


def save(course: Path, outcome: Outcome, gb) -> SubmissionStatus:
    """Write one worker's result into the real course: autograded files, gradebook, then the status (last)."""
    from autograder import status as status_mod

    state = status_mod.SubmissionStatus(**outcome.status)
    folder = course / "autograded" / state.student / state.assignment
    if outcome.autograded:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for name, data in outcome.autograded.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    if outcome.scores is not None:
        gradebook.write_submission(gb, outcome.scores)
    state.save(course)
    return state
