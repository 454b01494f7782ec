"""Hostile submissions of assignment 01, by class: what a student might try, and what each deserves.

Each attack is a whole notebook: the reference answers, plus the attack.  Most
attacks pair a *wrong* ``forward_difference`` (or one computed by a forbidden
route) with a way of faking its credit, so the honest score is known exactly:
``loses`` lists the exercises that must score 0, every other automatic
exercise keeps its points.  The classes follow the grading-trust issue:

* output injection -- make the kernel print something nbgrader would read as a score;
* evidence forgery -- lie about what the student's code did (values, counts, records);
* capability escape -- reach an AD library where the exercise forbids it;
* resource exhaustion -- memory, disk, processes, CPU, pipes, output;
* active content -- script that would run in the instructor's browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import nbformat

from autograder import demo, notebooks

A = "01_finite_differences"
AUTOMATIC = ("test_lecture_gradient", "test_forward_difference", "test_central_difference",
             "test_complex_step", "test_step_size_errors", "test_best_steps")
FORWARD = ("test_forward_difference",)
WRONG_FORWARD = '''
def forward_difference(f, w, eps):
    return -np.ones(len(w))
'''
# Right values by a forbidden route (the gradient from JAX or another library): must earn nothing.
PAYLOAD = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"


@dataclass
class Attack:
    name: str
    kind: str                                   # its class
    answers: dict = field(default_factory=dict)  # solution cells replaced
    prepend: str = ""                            # code in front of lecture_gradient's cell
    added: str = ""                              # a code cell the student adds near the top
    loses: tuple = FORWARD                       # automatic exercises that must score 0
    keeps: tuple | None = None                   # that must keep full marks (None: all the others;
                                                 # () where the attack itself may ruin later cells)
    status: set | None = None                    # allowed statuses (None: anything but malformed)
    mutate: object = None                        # fn(nb) for edits of the notebook itself


def _python(code: str) -> str:
    return code.strip("\n") + "\n"


ATTACKS = [
    # -- output injection: nothing the kernel prints may decide a score -------------------------------
    Attack("hook_displays_a_value", "output injection", {"forward_difference": WRONG_FORWARD}, added=_python('''
ip = get_ipython()
ip.events.register("pre_run_cell", lambda *args: ip.displayhook(3.0))
''')),
    Attack("transformer_rewrites_probes", "output injection", {"forward_difference": WRONG_FORWARD}, added=_python('''
ip = get_ipython()
ip.input_transformers_post.append(lambda lines: ["3.0\\n"] if "autograder" in "".join(lines) else lines)
'''), loses=AUTOMATIC),
    Attack("thread_floods_results", "output injection", {"forward_difference": WRONG_FORWARD}, added=_python('''
import threading, time
ip = get_ipython()
def spam():
    for _ in range(20000):
        try:
            ip.kernel.session.send(ip.kernel.iopub_socket, "execute_result",
                                   {"data": {"text/plain": "3"}, "metadata": {}, "execution_count": 1},
                                   parent=ip.kernel.get_parent())
        except Exception:
            pass
        time.sleep(0.001)
threading.Thread(target=spam, daemon=True).start()
''')),
    Attack("adds_a_graded_cell", "output injection", {"forward_difference": WRONG_FORWARD},
           mutate=lambda nb: _add_graded_cells(nb)),
    # -- evidence forgery: the grader counts and compares, the student only answers -----------------------
    Attack("reaches_inside_f", "evidence forgery", {"forward_difference": _python('''
def forward_difference(f, w, eps):
    for route in ("f", "fn", "_f", "__wrapped__"):
        inner = getattr(f, route, None)
        if inner is not None and hasattr(inner, "gradient"):
            return inner.gradient(w)
    return -np.ones(len(w))
''')}),
    Attack("resets_the_counter", "evidence forgery", {"forward_difference": _python('''
def forward_difference(f, w, eps):
    grad = np.array([(f(w + eps * e) - f(w - eps * e)) / (2 * eps) for e in np.eye(len(w))])
    for name in ("calls", "count"):
        try:
            setattr(f, name, len(w) + 1)
        except Exception:
            pass
    return grad
''')}),
    Attack("forges_the_record", "evidence forgery", {"forward_difference": WRONG_FORWARD}, added=_python('''
import builtins, json
import autograder.agent as agent, autograder.records as records
def forged(assignment, exercise, payload, namespace):
    builtins.input(agent.RECORD + records.dumps([{"gradient": [0.0, 0.0, 0.0], "w_after": [0.0],
                                                  "served_calls": {"f": 4}, "calls": 4}]))
agent.probe = forged
'''), loses=AUTOMATIC),
    Attack("writes_old_records", "evidence forgery", {"forward_difference": WRONG_FORWARD}, added=_python('''
import os, pathlib
seed = os.environ.get("COURSE_GRADING_SEED")
folder = pathlib.Path(os.environ.get("COURSE_RECORD_DIR", os.path.expanduser("~/.records")))
folder.mkdir(parents=True, exist_ok=True)
(folder / "forward_difference.json").write_text('[{"dict": {"gradient": {"value": 1}}}]')
print("seed seen:", seed)
''')),
    # -- capability escape: no AD library exists where the exercise forbids AD --------------------------
    Attack("imports_jax", "capability escape", {"forward_difference": _python('''
import jax

def forward_difference(f, w, eps):
    return np.asarray(jax.grad(f)(w))
''')}),
    Attack("imports_by_built_name", "capability escape", {"forward_difference": _python('''
import importlib

def forward_difference(f, w, eps):
    ad = importlib.import_module("".join(["j", "a", "x"]))
    return np.asarray(ad.grad(f)(w))
''')}),
    Attack("extends_sys_path", "capability escape", {"forward_difference": _python('''
import sys, glob
for pattern in ["/usr/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages",
                sys.prefix + "/lib/python3*/site-packages", "/opt/*/simple/*/*.whl", "/root/.cache/pip"]:
    sys.path.extend(glob.glob(pattern))

def forward_difference(f, w, eps):
    import autograd
    return np.asarray(autograd.grad(f)(w))
''')}),
    Attack("uses_the_oracle", "capability escape", {"forward_difference": _python('''
def forward_difference(f, w, eps):
    from course import oracle
    return oracle.gradient(f, w)
''')}),
    # -- resource exhaustion: limits protect the machine and the other students --------------------------
    Attack("memory_bomb", "resource exhaustion", prepend="blocks = []\nwhile True:\n    blocks.append(bytearray(2**28))",
           loses=("test_lecture_gradient",), keeps=(), status={"crashed", "timed out", "flagged"}),
    Attack("fills_tmp", "resource exhaustion", prepend=_python('''
try:
    with open("/tmp/fill", "wb") as out:
        for _ in range(64):
            out.write(b"x" * 2**26)  # 4 GiB, far over the tmpfs's bound
except OSError as exc:
    print("DISK FULL", exc.errno)
try:
    with open("fill", "wb") as out:
        for _ in range(64):
            out.write(b"x" * 2**26)
except OSError as exc:
    print("HOME FULL", exc.errno)
import os
for name in ("/tmp/fill", "fill"):
    if os.path.exists(name):
        os.remove(name)
'''), loses=(), keeps=()),
    Attack("floods_stderr", "resource exhaustion", prepend=_python('''
import os
chunk = b"e" * 2**20
for _ in range(1024):
    os.write(2, chunk)   # 1 GiB into the kernel's own stderr pipe
'''), loses=()),
    Attack("fork_bomb", "resource exhaustion", prepend=_python('''
import os
for _ in range(100000):
    try:
        os.fork()
    except OSError:
        break
'''), loses=("test_lecture_gradient",), keeps=(), status={"crashed", "timed out", "flagged"}),
    Attack("busy_sessions", "resource exhaustion", prepend=_python('''
import subprocess, sys
for _ in range(6):
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
'''), loses=(), keeps=(), status={"flagged", "graded", "timed out"}),
    Attack("infinite_loop", "resource exhaustion", prepend="while True:\n    pass",
           loses=("test_lecture_gradient",), status={"timed out"}),
    Attack("sleeps", "resource exhaustion", prepend="import time\ntime.sleep(10**6)",
           loses=("test_lecture_gradient",), status={"timed out"}),
    Attack("floods_output", "resource exhaustion",
           prepend="import sys\nfor _ in range(2**10):\n    sys.stdout.write('x' * 2**16)  # 64 MiB, 320 times the cap",
           loses=()),
    # -- active content: nothing of the student's runs in a browser ---------------------------------------
    Attack("markdown_repr", "active content", added=_python(f'''
class Shiny:
    def _repr_markdown_(self):
        return {PAYLOAD!r}
    def _repr_html_(self):
        return {PAYLOAD!r}
Shiny()
'''), loses=()),
    Attack("javascript_and_svg", "active content", added=_python(f'''
from IPython.display import Javascript, SVG, HTML, display
display(Javascript("window.__pwned = 3"))
display(HTML({PAYLOAD!r}))
display({{"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'><script>window.__pwned = 4</script></svg>",
          "text/html": {PAYLOAD!r}}}, raw=True)
'''), loses=()),
    Attack("fake_png", "active content", added=_python(f'''
from IPython.display import display
display({{"image/png": {PAYLOAD!r}, "text/markdown": {PAYLOAD!r}}}, raw=True)
'''), loses=(), mutate=lambda nb: _add_markdown(nb)),
]


def _add_graded_cells(nb):
    """A bonus cell with grading metadata of its own, and a second copy of a test cell that prints."""
    bonus = nbformat.v4.new_code_cell("print('full marks please')")
    bonus.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False, "points": 100,
                                  "grade_id": "bonus", "schema_version": 3}
    copy = next(c for c in nb.cells if notebooks.grade_id(c) == "test_forward_difference")
    twin = nbformat.from_dict(json.loads(json.dumps(copy)))
    twin.pop("id", None)
    twin.source = "print('passed')"
    nb.cells += [bonus, twin]
    return nb


def _add_markdown(nb):
    nb.cells.insert(3, nbformat.v4.new_markdown_cell(f"My notes {PAYLOAD} [click](javascript:alert(1))"))
    return nb


def by_kind(kind: str) -> list[Attack]:
    return [a for a in ATTACKS if a.kind == kind]


def submission(attack: Attack, course):
    """The attack's notebook, built on the course's release notebook and reference answers."""
    release = notebooks.notebook_path(A, "release", course)
    code = {**demo.correct_answers(A, course), **attack.answers}
    if attack.prepend:
        code["lecture_gradient"] = attack.prepend + "\n" + code["lecture_gradient"]
    nb = notebooks.fill(release, code)
    if attack.added:
        nb.cells.insert(3, nbformat.v4.new_code_cell(attack.added))
    if attack.mutate:
        nb = attack.mutate(nb)
    return nb
