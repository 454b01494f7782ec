"""The instructor's command line: build the student versions, grade, give feedback, export.

    python -m autograder build [ASSIGNMENT ...]     regenerate release/ from source/
    python -m autograder grade ASSIGNMENT           autograde submitted/<student>/ASSIGNMENT
    python -m autograder feedback ASSIGNMENT        HTML feedback in feedback/ (no hidden tests)
    python -m autograder export grades.csv          nbgrader's grade export
    python -m autograder demo                       all of the above on the bundled demo class
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder import course_dir, demo, grading, notebooks


def _students(course: Path, assignment: str) -> list[str]:
    root = course / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []


def cmd_build(args) -> int:
    for assignment in args.assignments or notebooks.assignments(args.course):
        grading.build(args.course, assignment)
        print(f"built release/{assignment}")
    return 0


def cmd_grade(args) -> int:
    students = args.student or _students(args.course, args.assignment)
    outcome = grading.autograde(args.course, args.assignment, students)
    failed = [s for s, r in outcome.items() if not r["success"]]
    print_summary(grading.results(args.course, args.assignment))
    for student in failed:
        print(f"could not grade {student}: see its log", file=sys.stderr)
    return 0


def cmd_feedback(args) -> int:
    grading.generate_feedback(args.course, args.assignment)
    print(f"feedback written to {args.course / 'feedback'}")
    return 0


def cmd_export(args) -> int:
    api = course_dir.api(args.course)
    from nbgrader.apps import NbGraderAPI  # noqa: F401  (the export plugin runs inside nbgrader)
    from nbgrader.plugins import CsvExportPlugin
    CsvExportPlugin(to=str(args.path)).export(api.gradebook)
    print(f"grades exported to {args.path}")
    return 0


def print_summary(results: dict) -> None:
    print(f"{'student':<28} {'score':>11}  failed exercises")
    for student, r in sorted(results.items()):
        lost = [gid for gid, c in r.cells.items() if c.score is not None and c.score < c.max_score]
        manual = [gid for gid, c in r.cells.items() if c.needs_manual_grade]
        note = ", ".join(lost) or "-"
        if manual:
            note += f"  (to grade by hand: {', '.join(manual)})"
        print(f"{student:<28} {r.score:>5.1f}/{r.max_score:<5.1f}  {note}")


def cmd_demo(args) -> int:
    start = time.perf_counter()
    course = course_dir.make_copy(args.output)
    print(f"demo class in {course}")
    for assignment in notebooks.assignments(course):
        grading.build(course, assignment)
        students = demo.write_submissions(course, assignment, demo.demo_submissions(assignment, course))
        print(f"{assignment}: grading {len(students)} submissions ...", flush=True)
        grading.autograde(course, assignment, students)
        grading.generate_feedback(course, assignment)
        print_summary(grading.results(course, assignment))
    export = course / "grades.csv"
    cmd_export(argparse.Namespace(course=course, path=export))
    print(f"\nfeedback: {course / 'feedback'}\nexport:   {export}\n"
          f"done in {time.perf_counter() - start:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=notebooks.ROOT, help="course directory (default: this repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="regenerate release/ from source/")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(run=cmd_build)
    p = sub.add_parser("grade", help="autograde the submissions of an assignment")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.set_defaults(run=cmd_grade)
    p = sub.add_parser("feedback", help="per-student HTML feedback")
    p.add_argument("assignment")
    p.set_defaults(run=cmd_feedback)
    p = sub.add_parser("export", help="export grades as CSV")
    p.add_argument("path", type=Path)
    p.set_defaults(run=cmd_export)
    p = sub.add_parser("demo", help="build everything and grade the bundled demo class")
    p.add_argument("--output", type=Path, default=notebooks.ROOT / "demo", help="where to put the demo class")
    p.set_defaults(run=cmd_demo)
    args = parser.parse_args(argv)
    args.course = args.course.resolve()
    return args.run(args)
