"""The instructor's command line: from source notebooks to grades, feedback and a class report.

    python -m autograder build [ASSIGNMENT ...]       regenerate release/ from source/ (nbgrader)
    python -m autograder solutions [ASSIGNMENT ...]   solution keys in solution/, executed, no hidden tests
    python -m autograder release ASSIGNMENT           put release/ASSIGNMENT into nbgrader's exchange (a hub)
    python -m autograder collect ASSIGNMENT PATH      import submissions from a folder or an LMS zip
    python -m autograder collect ASSIGNMENT           ... or from nbgrader's exchange (nbgrader collect)
    python -m autograder grade ASSIGNMENT [--jobs N] [--timeout S] [--student ID ...] [--force]
                              [--cluster local:N|tcp://HOST:PORT] [--db URL]
                                                      autograde in parallel, sandboxed, resumable
    python -m autograder feedback ASSIGNMENT [--release]
                                                      per-student HTML feedback (no hidden tests); --release
                                                      returns it through the exchange
    python -m autograder export PATH.csv              grades, nbgrader's columns plus status
    python -m autograder report ASSIGNMENT            class report (HTML with plots)
    python -m autograder demo                         all of the above on the bundled demo class

Every command works on the course directory: this repository, or --course DIR; the common options
(--course, --db) go before or after the command's name.  The exchange is the one nbgrader's configuration
names (Exchange.root, as a hub sets it: hub/jupyterhub_config.py), or --exchange DIR.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder import course_dir, notebooks


def _students(course: Path, assignment: str) -> list[str]:
    root = course / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []


def cmd_build(args) -> int:
    from autograder import build
    from autograder import links
    for assignment in args.assignments or notebooks.assignments(args.course):
        build.build(args.course, assignment)
        print(f"built release/{assignment}")
    if (args.course / "README.md").exists() and links.README_START in (args.course / "README.md").read_text():
        if links.refresh_readme(args.course):
            print("updated the Colab links in README.md")
    return 0


def cmd_solutions(args) -> int:
    from autograder import grading
    for assignment in args.assignments or notebooks.assignments(args.course):
        path = grading.generate_solution(args.course, assignment)
        print(f"solution key: {path.relative_to(args.course)}")
    return 0


def _exchange_config(args):
    from autograder import exchange
    return exchange.load_config(args.course, exchange=args.exchange, db=args.db)


def cmd_release(args) -> int:
    from autograder import exchange
    try:
        outbound = exchange.release(args.course, args.assignment, _exchange_config(args))
    except exchange.ExchangeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"released {args.assignment} to {outbound}")
    return 0


def cmd_collect(args) -> int:
    if args.path is None:  # from nbgrader's exchange
        from autograder import exchange
        try:
            students = exchange.collect(args.course, args.assignment, _exchange_config(args))
        except exchange.ExchangeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{len(students)} submission{'s' if len(students) != 1 else ''} of {args.assignment} in "
              f"{args.course / 'submitted'}: {', '.join(students) or '-'}")
        return 0
    from autograder import collect
    report = collect.collect(args.course, args.assignment, args.path)
    print(report.summary())
    return 0


def cmd_grade(args) -> int:
    from autograder import gradebook, grading, pipeline, sandbox
    students = args.student or _students(args.course, args.assignment)
    if not students:
        print(f"no submissions in {args.course / 'submitted'}/*/{args.assignment}", file=sys.stderr)
        return 1
    limits = sandbox.Limits(cell_timeout=args.timeout, wall_timeout=args.wall)
    try:
        pipeline.grade(args.course, args.assignment, students, jobs=args.jobs, limits=limits, force=args.force,
                       cluster=args.cluster, db=args.db, tries=args.tries)
    except sandbox.SandboxUnavailable as exc:
        print(f"cannot grade: {exc}", file=sys.stderr)
        return 2
    except gradebook.GradebookError as exc:
        print(f"cannot grade: {exc}", file=sys.stderr)
        return 1
    from autograder import exchange
    exchange.hand_back(args.course)  # graded as root (sudo) in an instructor's course: theirs again
    print_summary(args.course, args.assignment, grading.results(args.course, args.assignment, db_url=args.db))
    return 0


def cmd_feedback(args) -> int:
    from autograder import grading
    grading.generate_feedback(args.course, args.assignment)
    print(f"feedback written to {args.course / 'feedback'}/<student>/{args.assignment}/")
    if args.release:
        from autograder import exchange
        try:
            students = exchange.release_feedback(args.course, args.assignment, _exchange_config(args))
        except exchange.ExchangeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"feedback released through the exchange to {len(students)} student"
              f"{'s' if len(students) != 1 else ''}: {', '.join(students) or '-'}")
    return 0


def cmd_export(args) -> int:
    from autograder import export
    rows = export.export(args.course, args.path)
    print(f"{rows} rows exported to {args.path}")
    return 0


def cmd_report(args) -> int:
    from autograder import report
    print(f"class report: {report.build(args.course, args.assignment)}")
    return 0


def print_summary(course: Path, assignment: str, results: dict) -> None:
    from autograder import status as status_mod
    statuses = status_mod.load_all(course, assignment)
    print(f"\n{assignment}")
    print(f"{'student':<26} {'score':>11}  {'status':<10} exercises lost / notes")
    for student, r in sorted(results.items()):
        state = statuses.get(student)
        lost = [gid for gid, c in r.cells.items() if c.score is not None and c.score < c.max_score
                and not c.needs_manual_grade]
        notes = ", ".join(lost) or "-"
        if state and state.reasons:
            notes += "  [" + "; ".join(state.reasons)[:90] + "]"
        if r.late:
            notes += "  (late)"
        print(f"{student:<26} {r.score:>5.1f}/{r.max_score:<5.1f}  {(state.status if state else '-'):<10} {notes}")


def cmd_demo(args) -> int:
    from autograder import build, demo, export, grading, pipeline, report, sandbox
    start = time.perf_counter()
    course = course_dir.make_copy(args.output)
    print(f"demo class in {course}")
    limits = sandbox.Limits(cell_timeout=args.timeout, wall_timeout=args.wall)
    reports = []
    for assignment in notebooks.assignments(course):
        build.build(course, assignment, duedate=demo.DUE)
        students = demo.write_submissions(course, assignment, demo.demo_class(assignment, course))
        print(f"{assignment}: grading {len(students)} submissions with {args.jobs} workers ...", flush=True)
        try:
            pipeline.grade(course, assignment, students, jobs=args.jobs, limits=limits, force=True)
        except sandbox.SandboxUnavailable as exc:
            print(f"cannot grade: {exc}", file=sys.stderr)
            return 2
        grading.generate_feedback(course, assignment)
        print_summary(course, assignment, grading.results(course, assignment))
        reports.append(report.build(course, assignment))
    rows = export.export(course, course / "grades.csv")
    print(f"\nfeedback: {course / 'feedback'}/<student>/<assignment>/*.html\n"
          f"export:   {course / 'grades.csv'} ({rows} rows)\n"
          f"report:   {', '.join(str(r) for r in reports)}\n"
          f"done in {time.perf_counter() - start:.0f} s")
    return 0


def _common_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """The options every command takes, before its name (``top``) or after it.

    After the name they default to SUPPRESS, so that a value given before the name is kept."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--course", type=Path, help="course directory (default: this repository)",
                        **({"default": notebooks.ROOT} if top else keep))
    parser.add_argument("--db", metavar="URL", help="the gradebook's SQLAlchemy URL (nbgrader's "
                        "CourseDirectory.db_url; default: the course's gradebook.db)",
                        **({"default": None} if top else keep))


def _exchange_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exchange", type=Path, default=None,
                        help="nbgrader's exchange folder (default: Exchange.root of nbgrader's configuration)")


# The commands that use --db; the others read the course's gradebook.db and refuse it rather than ignore it.
USES_DB = {"release", "collect", "feedback", "grade"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str):
        p = sub.add_parser(name, help=help_text)
        _common_options(p)
        return p

    p = command("build", "regenerate release/ from source/")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(run=cmd_build)
    p = command("solutions", "executed solution keys in solution/ (nbgrader generate_solution)")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(run=cmd_solutions)
    p = command("release", "put release/ASSIGNMENT into nbgrader's exchange (nbgrader release_assignment)")
    p.add_argument("assignment")
    _exchange_option(p)
    p.set_defaults(run=cmd_release)
    p = command("collect", "import submissions from a folder or LMS zip, or (no PATH) from nbgrader's exchange")
    p.add_argument("assignment")
    p.add_argument("path", type=Path, nargs="?", default=None,
                   help="a folder or an LMS zip; without it, nbgrader collect from the exchange")
    _exchange_option(p)
    p.set_defaults(run=cmd_collect)
    for name, run, help_text in [("grade", cmd_grade, "autograde the submissions of an assignment"),
                                 ("demo", cmd_demo, "build everything and grade the bundled demo class")]:
        p = command(name, help_text)
        if name == "grade":
            p.add_argument("assignment")
            p.add_argument("--student", action="append", help="grade only this student (repeatable)")
            p.add_argument("--force", action="store_true", help="regrade submissions already graded")
            p.add_argument("--cluster", help="grade on Dask: local:N (N worker processes here) or a scheduler's "
                                             "address, tcp://HOST:8786 (default: --jobs processes here)")
            p.add_argument("--tries", type=int, default=None,
                           help="with --cluster local:N, give a submission up after this many tries that each "
                                "killed their worker (default 3)")
        else:
            p.add_argument("--output", type=Path, default=notebooks.ROOT / "demo",
                           help="where to put the demo class (default: demo/)")
        p.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
        p.add_argument("--timeout", type=int, default=60 if name == "grade" else 10,
                       help="CPU seconds per cell (and per exercise's hidden tests) before it is interrupted")
        p.add_argument("--wall", type=int, default=600, help="seconds per submission, all cells together")
        p.set_defaults(run=run)
    p = command("feedback", "per-student HTML feedback")
    p.add_argument("assignment")
    p.add_argument("--release", action="store_true",
                   help="and return it to the students through nbgrader's exchange (nbgrader release_feedback)")
    _exchange_option(p)
    p.set_defaults(run=cmd_feedback)
    p = command("export", "export grades as CSV")
    p.add_argument("path", type=Path)
    p.set_defaults(run=cmd_export)
    p = command("report", "class report as HTML")
    p.add_argument("assignment")
    p.set_defaults(run=cmd_report)
    args = parser.parse_args(argv)
    args.course = args.course.resolve()
    if args.db is not None and args.command not in USES_DB:
        parser.error(f"{args.command} reads the course's gradebook.db; --db is not supported for it yet")
    return args.run(args)
