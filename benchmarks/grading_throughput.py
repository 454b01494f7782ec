"""Throughput of the grading pipeline against plain, serial `nbgrader autograde`, side by side.

    sudo python benchmarks/grading_throughput.py [--rounds 2] [--jobs 2] [--assignments 01_finite_differences ...]
                                                 [--scaling 1,2,4,8,16] [--sleep 2]

Three numbers in one run:

1. nbgrader against the pipeline: both grade the same demo class (every
   assignment, every student) in fresh course copies with the same per-cell
   time limit; the rounds alternate baseline and pipeline so that a slow
   spell of the machine hits both.  The pipeline runs with its sandbox on.
   Prints seconds per submission, the ratio, and the projected time for 300
   students x 5 assignments.
2. The Dask path's overhead: the same class graded by the process pool
   (``--jobs`` processes) and by a Dask ``LocalCluster`` of as many worker
   processes (started beforehand, as a real cluster is; its start is printed
   apart), interleaved round by round; the target is at most 10 % more per
   submission.
3. Scaling, simulated: N Dask workers on this machine grade submissions whose
   sandboxed run is replaced by a fixed sleep (``--sleep`` s; the bundle and
   the submission still travel, the result is a real one, and the client
   writes it into the gradebook as usual), so the cores are not the limit;
   prints throughput against N up to 16.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import build, cluster, course_dir, demo, gradebook, notebooks, pipeline  # noqa: E402

CELL_TIMEOUT = 10


def prepare(where: Path, assignments: list[str] | None = None) -> tuple[Path, dict[str, list[str]]]:
    course = course_dir.make_copy(where)
    students = {}
    for assignment in assignments or notebooks.assignments(course):
        build.build(course, assignment, duedate=demo.DUE)
        students[assignment] = demo.write_submissions(course, assignment, demo.demo_class(assignment, course))
    return course, students


def environment() -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], PYTHONPATH=str(ROOT),
                JAX_PLATFORMS="cpu")


def baseline(course: Path, assignments) -> float:
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--force",
                        f"--Execute.timeout={CELL_TIMEOUT}"], cwd=course, env=environment(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def pipeline_cli(course: Path, assignments, jobs: int) -> float:
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade", assignment,
                        "--jobs", str(jobs), "--timeout", str(CELL_TIMEOUT), "--force"], cwd=ROOT,
                       env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def local_cluster(n: int):
    import dask
    from distributed import Client, LocalCluster
    with dask.config.set({"distributed.scheduler.allowed-failures": cluster.DEFAULT_TRIES - 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                             host="127.0.0.1", silence_logs=logging.CRITICAL)
    return local, Client(local)


def dask_overhead(course: Path, students: dict[str, list[str]], jobs: int, rounds: int) -> None:
    """The same class through the process pool and through Dask workers, round by round."""
    from autograder import sandbox
    limits = sandbox.Limits(cell_timeout=CELL_TIMEOUT)
    n = sum(len(s) for s in students.values())
    started = time.perf_counter()
    local, client = local_cluster(jobs)
    print(f"\nDask overhead: a LocalCluster of {jobs} worker processes started in "
          f"{time.perf_counter() - started:.1f} s (not counted below: a cluster is already running)")
    quiet = open(os.devnull, "w")
    pool, dask_ = [], []
    try:
        for round_ in range(1, rounds + 1):
            start = time.perf_counter()
            for assignment, who in students.items():
                pipeline.grade(course, assignment, who, jobs=jobs, limits=limits, force=True, out=quiet)
            pool.append(time.perf_counter() - start)
            start = time.perf_counter()
            for assignment, who in students.items():
                pipeline.grade(course, assignment, who, limits=limits, force=True, out=quiet, cluster=client)
            dask_.append(time.perf_counter() - start)
            print(f"round {round_}: process pool ({jobs} jobs) {pool[-1]:6.1f} s   Dask ({jobs} workers) "
                  f"{dask_[-1]:6.1f} s   overhead {100 * (dask_[-1] / pool[-1] - 1):+5.1f} %")
    finally:
        client.close()
        local.close()
    p, d = statistics.median(pool), statistics.median(dask_)
    print(f"median: process pool {p / n:.2f} s/submission, Dask {d / n:.2f} s/submission, "
          f"overhead {100 * (d / p - 1):+.1f} % (target: at most +10 %)")


def simulated_task(bundle, submission, limits, sleep: float, template):
    """A worker's task with the sandboxed run replaced by a sleep; the result is a real one, renamed."""
    import copy
    import time as time_
    from dataclasses import asdict

    from autograder.status import SubmissionStatus
    if bundle.compute_digest() != bundle.digest:  # the worker's check, as in cluster.grade_task
        raise ValueError("the bundle does not match its digest")
    time_.sleep(sleep)
    scores = copy.deepcopy(template.scores)
    scores.student = submission.student
    state = SubmissionStatus(submission.student, submission.assignment, fingerprint=submission.fingerprint,
                             seconds=sleep)
    return cluster.Outcome(asdict(state), scores, dict(template.autograded), "simulated")


def scaling(course: Path, assignment: str, sizes: list[int], sleep: float, per_worker: int) -> None:
    """Throughput against the number of workers, with the sandbox time replaced by ``sleep`` seconds."""
    name = gradebook.course_id(course)
    with gradebook.open_gradebook(gradebook.url(course), name) as gb:
        scores = gradebook.read_submission(gb, assignment, "correct")
    folder = course / "autograded" / "correct" / assignment
    template = cluster.Outcome({}, scores, {str(p.relative_to(folder)): p.read_bytes()
                                            for p in folder.rglob("*") if p.is_file()})
    # Many students, each a copy of a real submission (the bytes travel as usual).
    most = max(sizes) * per_worker
    source = course / "submitted" / "correct" / assignment
    fake = [f"sim_{i:04d}" for i in range(most)]
    for student in fake:
        target = course / "submitted" / student / assignment
        if not target.exists():
            shutil.copytree(source, target)
    print(f"\nscaling, simulated: the sandboxed run replaced by a {sleep:g} s sleep; {per_worker} submissions per "
          f"worker; results written into {gradebook.redacted(gradebook.url(course))}; {os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'submissions':>11} {'seconds':>8} {'per second':>10} {'speed-up':>8} "
          f"{'of ideal':>8}")
    local, client = local_cluster(max(sizes))
    quiet = open(os.devnull, "w")
    first = None
    try:
        for n in sizes:
            # Exactly n workers: retire the others (they come back for a bigger n).
            local.scale(n)
            client.wait_for_workers(n, timeout=300)
            while len(client.scheduler_info()["workers"]) > n:
                time.sleep(0.2)
            time.sleep(3)  # the retired workers' processes exit, the new ones settle
            cluster.grade(course, assignment, fake[:n], cluster=client, out=quiet, task=simulated_task,
                          task_args=(0.2, template))
            who = fake[:n * per_worker]
            start = time.perf_counter()
            cluster.grade(course, assignment, who, cluster=client, out=quiet,
                          task=simulated_task, task_args=(sleep, template))
            seconds = time.perf_counter() - start
            rate = len(who) / seconds
            first = first or rate
            print(f"{n:>7} {len(who):>11} {seconds:>8.1f} {rate:>10.2f} {rate / first:>7.1f}x "
                  f"{rate * sleep / n:>7.0%}")
    finally:
        client.close()
        local.close()
    print(f"(speed-up: against 1 worker; of ideal: against {1 / sleep:.2f} submissions per second per worker, "
          "each run's fixed start -- the bundle, the plugin, the gradebook -- included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", nargs="*", help="default: all of them")
    parser.add_argument("--scaling", default="1,2,4,8,16", help="worker counts of the simulated scaling")
    parser.add_argument("--sleep", type=float, default=2.0, help="the simulated sandbox time, seconds")
    parser.add_argument("--per-worker", type=int, default=8, help="simulated submissions per worker")
    parser.add_argument("--skip", nargs="*", default=[], choices=["nbgrader", "dask", "scaling"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course, students = prepare(Path(tmp) / "course", args.assignments)
        n = sum(len(s) for s in students.values())
        print(f"demo class: {n} submissions over {len(students)} assignment(s); cell limit {CELL_TIMEOUT} s; "
              f"{os.cpu_count()} CPUs")
        if "nbgrader" not in args.skip:
            base, ours = [], []
            for round_ in range(1, args.rounds + 1):
                base.append(baseline(course, students))
                ours.append(pipeline_cli(course, students, args.jobs))
                print(f"round {round_}: nbgrader serial {base[-1]:6.1f} s   pipeline ({args.jobs} jobs, sandboxed) "
                      f"{ours[-1]:6.1f} s   ratio {base[-1] / ours[-1]:.2f}")
            b, o = statistics.median(base), statistics.median(ours)
            print(f"\nmedian: nbgrader {b / n:.2f} s/submission, pipeline {o / n:.2f} s/submission, "
                  f"throughput ratio {b / o:.2f}x")
            projected = 300 * 5 * o / n
            print(f"projected for 300 students x 5 assignments: {projected / 3600:.1f} h with the pipeline "
                  f"({300 * 5 * b / n / 3600:.1f} h with serial nbgrader)")
        if "dask" not in args.skip:
            dask_overhead(course, students, args.jobs, args.rounds)
        if "scaling" not in args.skip:
            first = next(iter(students))
            if not (course / "autograded" / "correct" / first).exists():
                pipeline.grade(course, first, ["correct"], jobs=1, force=True, out=open(os.devnull, "w"))
            scaling(course, first, [int(x) for x in args.scaling.split(",")], args.sleep, args.per_worker)


if __name__ == "__main__":
    main()
