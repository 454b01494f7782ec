"""Throughput of the grading pipeline against plain, serial `nbgrader autograde`, side by side.

    sudo python benchmarks/grading_throughput.py [--rounds 2] [--jobs 2] [--assignments 01_finite_differences ...]

Both grade the same demo class (every assignment, every student) in fresh
course copies with the same per-cell time limit; the rounds alternate
baseline and pipeline so that a slow spell of the machine hits both.  The
pipeline runs with its sandbox on.  Prints seconds per submission, the
ratio, and the projected time for 300 students x 5 assignments.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import build, course_dir, demo, notebooks  # noqa: E402

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


def pipeline(course: Path, assignments, jobs: int) -> float:
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade", assignment,
                        "--jobs", str(jobs), "--timeout", str(CELL_TIMEOUT), "--force"], cwd=ROOT,
                       env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", nargs="*", help="default: all of them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course, students = prepare(Path(tmp) / "course", args.assignments)
        n = sum(len(s) for s in students.values())
        print(f"demo class: {n} submissions over {len(students)} assignment(s); cell limit {CELL_TIMEOUT} s; "
              f"{os.cpu_count()} CPUs")
        base, ours = [], []
        for round_ in range(1, args.rounds + 1):
            base.append(baseline(course, students))
            ours.append(pipeline(course, students, args.jobs))
            print(f"round {round_}: nbgrader serial {base[-1]:6.1f} s   pipeline ({args.jobs} jobs, sandboxed) "
                  f"{ours[-1]:6.1f} s   ratio {base[-1] / ours[-1]:.2f}")
        b, o = statistics.median(base), statistics.median(ours)
        print(f"\nmedian: nbgrader {b / n:.2f} s/submission, pipeline {o / n:.2f} s/submission, "
              f"throughput ratio {b / o:.2f}x")
        projected = 300 * 5 * o / n
        print(f"projected for 300 students x 5 assignments: {projected / 3600:.1f} h with the pipeline "
              f"({300 * 5 * b / n / 3600:.1f} h with serial nbgrader)")


if __name__ == "__main__":
    main()
