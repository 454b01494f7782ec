"""The reference answers never lose a point, whatever the seed.

    sudo python benchmarks/reference_seeds.py --rounds 20              # through the sandbox, as graded
    python benchmarks/reference_seeds.py --in-process --seeds 1000      # probes and judges only, fast

The first mode grades the reference notebook of every assignment ``--rounds``
times, each with a fresh secret seed, exactly as the pipeline does (sandboxed
kernel, cases drawn in the trusted process, judged there).  The second draws
``--seeds`` seeds per assignment and runs each exercise's probe and judge on
the reference solution in this process (no kernel, no sandbox), to cover many
more seeds.  Both print, per assignment, how many runs lost any point, and
which exercise with which seed, so a failure reproduces.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

from autograder import demo, judge, notebooks  # noqa: E402


def sandboxed(assignments: list[str], rounds: int) -> int:
    from autograder import execution, pipeline, sandbox
    from autograder.exercises import AD_FORBIDDEN

    sandbox.check_available()
    failures = 0
    for assignment in assignments:
        source = nbformat.read(notebooks.notebook_path(assignment, "source"), as_version=4)
        exercises = {gid: ex for gid, (_, ex) in judge.exercises_of(source).items()}
        nb = notebooks.fill(notebooks.notebook_path(assignment, "release"), demo.correct_answers(assignment, ROOT))
        lost, start = [], time.perf_counter()
        for _ in range(rounds):
            seed = secrets.randbits(62)
            run = execution.run_notebook(nb, assignment=assignment, exercises=exercises, seed=seed, slot=7,
                                         limits=sandbox.Limits(),
                                         allow_ad=pipeline.allows_ad(assignment, source, AD_FORBIDDEN))
            for exercise in exercises.values():
                verdict = judge.judge_exercise(assignment, exercise, run.cases.get(exercise),
                                               run.observations.get(exercise))
                if not verdict.ok:
                    lost.append((exercise, seed, verdict.message.splitlines()[0][:160]))
        failures += len(lost)
        print(f"{assignment}: {rounds} graded runs, {len(lost)} exercise(s) lost "
              f"({time.perf_counter() - start:.0f} s)")
        for exercise, seed, why in lost:
            print(f"    {exercise} seed={seed}: {why}")
    return failures


def in_process(assignments: list[str], seeds: int, minutes: float | None = None) -> int:
    from autograder.exercises import ASSIGNMENTS
    from autograder.exercises.base import judge_all, observe, seed_for, served_calls

    failures = 0
    for assignment in assignments:
        namespace = reference_namespace(assignment)
        lost, start = [], time.perf_counter()
        done = 0
        for number in range(seeds):
            if minutes is not None and time.perf_counter() - start > 60 * minutes:
                break  # the time budget of this assignment is spent: report the seeds run so far
            seed = secrets.randbits(62)
            for name, spec in ASSIGNMENTS[assignment].items():
                cases = spec.cases(np.random.default_rng(seed_for(name, seed)))
                observations = []
                for case in cases:
                    observation = observe(spec, namespace, case)
                    observation["served_calls"] = served_calls(case)
                    observations.append(observation)
                verdict = judge_all(spec, cases, observations)
                if not verdict.ok:
                    lost.append((name, seed, verdict.message.splitlines()[0][:160]))
                    print(f"    lost: {name} seed={seed}: {lost[-1][2]}", flush=True)
            done = number + 1
            if done % 10 == 0:
                print(f"  {assignment}: {done} seeds, {len(lost)} lost ({time.perf_counter() - start:.0f} s)",
                      flush=True)
        failures += len(lost)
        print(f"{assignment}: {done} seeds x {len(ASSIGNMENTS[assignment])} exercises, {len(lost)} lost "
              f"({time.perf_counter() - start:.0f} s)")
        for name, seed, why in lost[:20]:
            print(f"    {name} seed={seed}: {why}")
    return failures


def reference_namespace(assignment: str) -> dict:
    """The reference notebook's code cells run in one namespace (setup, solutions, instructor cells)."""
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # plots and demos skip themselves, as when graded
    source = nbformat.read(notebooks.notebook_path(assignment, "source"), as_version=4)
    namespace: dict = {"__name__": "__main__"}
    for cell in source.cells:
        if cell.cell_type == "code" and not judge.is_test_cell(cell):
            exec(compile(notebooks.strip_markers(cell.source), f"<{assignment}>", "exec"), namespace)
    return namespace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--assignments", nargs="*")
    parser.add_argument("--minutes", type=float, help="in-process: stop each assignment after this many minutes")
    args = parser.parse_args()
    assignments = args.assignments or notebooks.assignments(ROOT)
    failures = (in_process(assignments, args.seeds, args.minutes) if args.in_process
                else sandboxed(assignments, args.rounds))
    print(f"\n{failures} exercise(s) lost in total")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
