"""How many wrong answers do the hidden tests catch?  Mutation testing of the reference solutions.

    python benchmarks/mutation.py --assignments 01_finite_differences --limit 40 --seeds 3 --jobs 2

Each solution cell of an assignment's source notebook is mutated, one small change at a time
(an operator or comparison swapped, a constant changed, a statement dropped, call arguments
swapped, an index shifted, a ``.T`` removed, an axis changed, a return value negated...).  For each
mutant, the reference notebook's code cells run in one namespace (as ``reference_seeds.reference_namespace``
does) with the mutated cell in place of the original, and every exercise's probe and judge run in this
process on ``--seeds`` seeds.  A mutant is

* killed:         its own exercise (the exercise of the mutated cell) fails on every seed;
* some seeds:     its own exercise fails on some seeds only (a lottery between students);
* survived:       nothing fails (unless it is listed as equivalent in ``equivalent_mutants.txt``);
* other exercise: an exercise other than its own fails too (one mistake charged twice),
                  reported beside the above;
* timeout:        it ran past ``--timeout`` seconds of wall time (counted as killed, listed).

``equivalent_mutants.txt`` holds the reviewed equivalent mutants, one a line:
``assignment | cell | mutation | reason``, the mutation exactly as this script prints it.
"""

from __future__ import annotations

import argparse
import ast
import copy
import multiprocessing
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

EQUIVALENT = ROOT / "benchmarks" / "equivalent_mutants.txt"

# ---------------------------------------------------------------------------
# Mutations: for each AST node, the variants it may be replaced with.

ARITHMETIC = {ast.Add: [ast.Sub, ast.Mult], ast.Sub: [ast.Add], ast.Mult: [ast.Div, ast.Add],
              ast.Div: [ast.Mult, ast.FloorDiv], ast.Pow: [ast.Mult], ast.MatMult: [ast.Mult],
              ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv]}
COMPARISON = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
              ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
              ast.Is: [ast.IsNot], ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In]}
AXES = [0, 1, -1, None]


def _number(value):
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if isinstance(value, (int, float)) and value < 0 \
        else ast.Constant(value)


def _constant_variants(value):
    if isinstance(value, bool):
        return [ast.Constant(not value)]
    if not isinstance(value, (int, float)) or isinstance(value, complex):
        return []
    out = []
    for new in (0, 1, 2, -value, value * 2):
        if new != value and all(ast.dump(_number(new)) != ast.dump(o) for o in out):
            out.append(_number(type(value)(new) if isinstance(value, float) else new))
    return out


def _is_docstring(node, parent):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


def variants(node, parent):
    """The mutants of one node: a list of replacement nodes."""
    out = []
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        out += [ast.BinOp(node.left, op(), node.right) for op in ARITHMETIC[type(node.op)]]
        out += [node.left, node.right] if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)) else []
    elif isinstance(node, ast.AugAssign) and type(node.op) in ARITHMETIC:
        out += [ast.AugAssign(node.target, op(), node.value) for op in ARITHMETIC[type(node.op)]]
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARISON:
        out += [ast.Compare(node.left, [op()], node.comparators) for op in COMPARISON[type(node.ops[0])]]
    elif isinstance(node, ast.BoolOp):
        out.append(ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values))
        out += list(node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(node.operand)
    elif isinstance(node, ast.Constant) and not isinstance(parent, ast.keyword):
        out += _constant_variants(node.value)
    elif isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
        out.append(node.value)
    elif isinstance(node, ast.keyword) and node.arg in ("axis", "keepdims"):
        if node.arg == "keepdims":
            out.append(ast.keyword("keepdims", ast.Constant(not getattr(node.value, "value", False))))
        else:
            current = ast.dump(node.value)
            out += [ast.keyword("axis", _number(a)) for a in AXES if ast.dump(_number(a)) != current]
    elif isinstance(node, ast.Call):
        args = node.args
        for i in range(len(args) - 1):
            if not any(isinstance(a, ast.Starred) for a in args[i:i + 2]):
                swapped = list(args)
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
                out.append(ast.Call(node.func, swapped, node.keywords))
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        index = node.slice
        if not isinstance(index, (ast.Constant, ast.Slice, ast.Tuple)):
            out.append(ast.Subscript(node.value, ast.BinOp(index, ast.Add(), ast.Constant(1)), node.ctx))
            out.append(ast.Subscript(node.value, ast.Constant(0), node.ctx))
    elif isinstance(node, ast.Return) and node.value is not None:
        value = node.value
        if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
            elts = list(value.elts)
            elts[0], elts[1] = elts[1], elts[0]
            out.append(ast.Return(ast.Tuple(elts, ast.Load())))
        else:
            out.append(ast.Return(ast.UnaryOp(ast.USub(), value)))
            out.append(ast.Return(ast.BinOp(ast.Constant(2), ast.Mult(), value)))
        out.append(ast.Return(ast.Constant(None)))
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and isinstance(parent, (ast.BinOp, ast.Call)) \
            and not (isinstance(parent, ast.Call) and (parent.func is node or _called(parent) == "len")):
        out += [ast.UnaryOp(ast.USub(), node), ast.BinOp(node, ast.Mult(), ast.Constant(2))]
    if isinstance(node, ast.stmt) and not isinstance(node, (ast.Import, ast.ImportFrom, ast.Return)) \
            and not _is_docstring(node, parent) and not isinstance(parent, ast.Module):
        out.append(ast.Pass())  # the statement dropped
    return out


def _called(call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


@dataclass
class Mutant:
    assignment: str
    cell: str
    number: int
    line: int
    column: int
    before: str
    after: str
    code: str

    @property
    def mutation(self) -> str:
        return f"line {self.line} col {self.column}: {self.before} -> {self.after}"


def _parents(tree):
    out = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            out[id(child)] = parent
    return out


def _replace(parent, old, new):
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise ValueError("node not found in its parent")


def _one_line(node) -> str:
    text = ast.unparse(node) if not isinstance(node, ast.keyword) else ast.unparse(ast.Call(ast.Name("f"), [], [node]))[2:-1]
    text = " ".join(text.split())
    return text if len(text) <= 90 else text[:87] + "..."


def mutants_of(assignment: str, cell: str, code: str) -> list[Mutant]:
    tree = ast.parse(code)
    sites = []
    parents = _parents(tree)
    for position, node in enumerate(ast.walk(tree)):
        for variant_number, _ in enumerate(variants(node, parents.get(id(node)))):
            sites.append((position, variant_number))
    out = []
    for number, (position, variant_number) in enumerate(sites):
        mutated = copy.deepcopy(tree)
        parents = _parents(mutated)
        node = list(ast.walk(mutated))[position]
        new = variants(node, parents.get(id(node)))[variant_number]
        before = _one_line(node)
        _replace(parents[id(node)], node, new)
        after = "(dropped)" if isinstance(new, ast.Pass) else _one_line(new)
        ast.fix_missing_locations(mutated)
        try:
            text = ast.unparse(mutated)
            compile(text, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        if ast.dump(ast.parse(text)) == ast.dump(tree):
            continue
        line, column = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        out.append(Mutant(assignment, cell, number, line, column, before, after, text))
    return out




def all_mutants(assignment: str) -> list[Mutant]:
    from autograder import notebooks
    out = []
    for cell, code in notebooks.solutions(assignment, ROOT).items():
        try:
            ast.parse(code)
        except SyntaxError:  # a markdown (written) answer
            continue
        out += mutants_of(assignment, cell, code)
    return out


# ---------------------------------------------------------------------------
# Running one mutant (in a worker process).

def mutated_namespace(assignment: str, replacements: dict[str, str]) -> tuple[dict, str]:
    """The reference notebook's code cells run in one namespace, as ``reference_seeds.reference_namespace``
    does, but with solution cells replaced (``grade_id -> code``): every cell after one runs on top of the
    mutant, as in a student's notebook (a cell that raises is reported, and the next cells still run, as
    under nbgrader).  Returns the namespace and the first error, if any."""
    import nbformat

    from autograder import judge, notebooks

    os.environ["NBGRADER_EXECUTION"] = "autograde"
    source = nbformat.read(notebooks.notebook_path(assignment, "source"), as_version=4)
    namespace: dict = {"__name__": "__main__"}
    error = ""
    for c in source.cells:
        if c.cell_type != "code" or judge.is_test_cell(c):
            continue
        text = replacements.get(notebooks.grade_id(c)) or notebooks.strip_markers(c.source)
        try:
            exec(compile(text, f"<{assignment} {notebooks.grade_id(c) or 'cell'}>", "exec"), namespace)
        except Exception as exc:  # a mutant may break its own cell (or a later one)
            error = error or f"{type(exc).__name__}: {exc}"[:200]
    return namespace, error


def verdicts(assignment: str, cell: str, code: str | None, seeds: list[int], original: str | None = None):
    """``{exercise: [(ok, message) per seed]}`` for the reference notebook with ``cell`` replaced by ``code``."""
    import numpy as np

    from autograder.exercises import ASSIGNMENTS
    from autograder.exercises.base import judge_all, observe, seed_for, served_calls

    namespace, _ = mutated_namespace(assignment, {cell: code} if code is not None else {})
    exercises = ASSIGNMENTS[assignment]
    order = [cell] + [name for name in exercises if name != cell] if cell in exercises else list(exercises)
    out = {}
    for name in order:
        spec = exercises[name]
        out[name] = []
        for seed in seeds:
            cases = spec.cases(np.random.default_rng(seed_for(name, seed)))
            observations = []
            for case in cases:
                observation = observe(spec, namespace, case)
                observation["served_calls"] = served_calls(case)
                observations.append(observation)
            verdict = judge_all(spec, cases, observations)
            out[name].append((verdict.ok, "" if verdict.ok else verdict.message.splitlines()[0][:200]))
    return out


def _worker(connection):
    import warnings
    warnings.simplefilter("ignore")
    while True:
        task = connection.recv()
        if task is None:
            return
        key, args = task
        try:
            result = verdicts(*args)
        except BaseException as exc:  # noqa: BLE001 - a mutant may raise anything, SystemExit included
            result = {"raised": f"{type(exc).__name__}: {exc}"[:200] + traceback.format_exc()[-300:]}
        connection.send((key, result))


class Pool:
    """Worker processes, each killed and replaced when a task runs past its time limit."""

    def __init__(self, jobs: int, timeout: float):
        self.context = multiprocessing.get_context("spawn")
        self.timeout = timeout
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child,), daemon=True)
        process.start()
        return {"process": process, "connection": parent, "task": None, "since": 0.0}

    def run(self, tasks):
        """Yield ``(key, result)`` for each ``(key, args)``; a task past the limit yields ``{"timeout": s}``."""
        pending = list(tasks)
        while pending or any(w["task"] for w in self.workers):
            for worker in self.workers:
                if worker["task"] is None and pending:
                    worker["task"], worker["since"] = pending.pop(0), time.monotonic()
                    worker["connection"].send(worker["task"])
            busy = [w for w in self.workers if w["task"]]
            now = time.monotonic()
            left = min(self.timeout - (now - w["since"]) for w in busy)
            ready = wait([w["connection"] for w in busy], timeout=max(left, 0.1))
            for worker in busy:
                if worker["connection"] in ready:
                    try:
                        key, result = worker["connection"].recv()
                    except EOFError:  # the worker died (a mutant that exhausted memory, say)
                        key, result = worker["task"][0], {"raised": "the worker process died"}
                        self._replace(worker)
                    worker["task"] = None
                    yield key, result
                elif time.monotonic() - worker["since"] > self.timeout:
                    key = worker["task"][0]
                    self._replace(worker)
                    yield key, {"timeout": self.timeout}

    def _replace(self, worker):
        worker["process"].kill()
        worker["process"].join()
        worker.update(self._start(), task=None)

    def close(self):
        for worker in self.workers:
            try:
                worker["connection"].send(None)
            except (BrokenPipeError, OSError):
                pass
            worker["process"].join(timeout=5)
            if worker["process"].is_alive():
                worker["process"].kill()


# ---------------------------------------------------------------------------
# Classifying and printing.


def equivalents() -> set[tuple[str, str, str]]:
    out = set()
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assignment, cell, mutation, _reason = (p.strip() for p in line.split(" | ", 3))
                out.add((assignment, cell, mutation))
    return out


def classify(mutant: Mutant, result: dict, equivalent: set) -> tuple[str, list[str]]:
    """(status, other exercises that failed)."""
    if "timeout" in result:
        return "timeout", []
    if "raised" in result:
        return "killed", []
    own = [ok for ok, _ in result.get(mutant.cell, [])]
    others = [name for name, runs in result.items() if name != mutant.cell and not all(ok for ok, _ in runs)]
    if own and not any(own):
        status = "killed"
    elif own and not all(own):
        status = "some seeds"
    elif (mutant.assignment, mutant.cell, mutant.mutation) in equivalent:
        status = "equivalent"
    elif others:
        status = "only another exercise"
    else:
        status = "survived"
    return status, others


def main() -> int:
    from autograder import notebooks

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignments", nargs="*")
    parser.add_argument("--cells", nargs="*", help="only these solution cells")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per mutant")
    parser.add_argument("--seed", type=int, default=20261201, help="draws the seeds and the --limit sample")
    parser.add_argument("--limit", type=int, help="a seeded sample of this many mutants per assignment")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240.0, help="wall seconds per mutant")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args()

    assignments = args.assignments or notebooks.assignments(ROOT)
    chooser = random.Random(args.seed)
    seeds = [chooser.getrandbits(62) for _ in range(args.seeds)]
    equivalent = equivalents()
    plan = {}
    for assignment in assignments:
        mutants = [m for m in all_mutants(assignment) if not args.cells or m.cell in args.cells]
        total = len(mutants)
        if args.limit and args.limit < total:
            mutants = sorted(random.Random(f"{args.seed}-{assignment}").sample(mutants, args.limit),
                             key=lambda m: m.number)
        plan[assignment] = total, mutants
        print(f"{assignment}: {total} mutants, running {len(mutants)}", flush=True)
        if args.list:
            for m in mutants:
                print(f"    {m.cell}: {m.mutation}")
    if args.list:
        return 0

    pool = Pool(args.jobs, args.timeout)
    failures = 0
    try:
        # the reference itself first: a mutation run means nothing if the reference fails
        originals = notebooks.solutions
        tasks = []
        for assignment, (_, mutants) in plan.items():
            tasks.append(((assignment, None), (assignment, "", None, seeds)))
            sources = originals(assignment, ROOT)
            tasks += [((assignment, i), (assignment, m.cell, m.code, seeds, sources[m.cell]))
                      for i, m in enumerate(mutants)]
        results: dict = {}
        start = time.monotonic()
        for done, (key, result) in enumerate(pool.run(tasks), start=1):
            results[key] = result
            assignment, i = key
            if i is not None:  # streamed, so that a run cut short still says what it found
                mutant = plan[assignment][1][i]
                status, others = classify(mutant, result, equivalent)
                extra = f"  [also {', '.join(others)}]" if others else ""
                print(f"  {done}/{len(tasks)} {time.monotonic() - start:.0f}s {status}: {mutant.cell} | "
                      f"{mutant.mutation}{extra}", flush=True)
    finally:
        pool.close()

    for assignment, (total, mutants) in plan.items():
        reference = results[(assignment, None)]
        lost = {n: runs for n, runs in reference.items() if not all(ok for ok, _ in runs)} \
            if "timeout" not in reference and "raised" not in reference else reference
        by_status: dict = {}
        twice = []
        for i, mutant in enumerate(mutants):
            status, others = classify(mutant, results[(assignment, i)], equivalent)
            by_status.setdefault(status, []).append((mutant, results[(assignment, i)]))
            if others and status != "only another exercise":
                twice.append((mutant, others))
        counts = {s: len(by_status.get(s, [])) for s in
                  ("killed", "timeout", "survived", "equivalent", "some seeds", "only another exercise")}
        print(f"\n{assignment}: {len(mutants)} of {total} mutants, {len(seeds)} seeds: "
              + ", ".join(f"{s} {n}" for s, n in counts.items()) + f", also another exercise {len(twice)}")
        if lost:
            print(f"  THE REFERENCE LOSES: {lost}")
            failures += 1
        for status in ("survived", "some seeds", "only another exercise", "timeout"):
            for mutant, result in by_status.get(status, []):
                extra = ""
                if status == "some seeds":
                    extra = f"  [{sum(not ok for ok, _ in result[mutant.cell])}/{len(seeds)} seeds]"
                if status == "only another exercise":
                    extra = "  [" + ", ".join(n for n, r in result.items() if not all(ok for ok, _ in r)) + "]"
                print(f"  {status}: {assignment} | {mutant.cell} | {mutant.mutation}{extra}")
        for mutant, others in twice:
            print(f"  also another exercise: {assignment} | {mutant.cell} | {mutant.mutation}  [{', '.join(others)}]")
        failures += sum(counts[s] for s in ("survived", "some seeds", "only another exercise")) + len(twice)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
