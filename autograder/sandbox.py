"""Run a student's notebook in a sandbox: bubblewrap namespaces, an unprivileged user, resource limits.

What the student's code can see and do:

* a file system with the system's programs and Python read-only, the course
  package and the hidden-test probes read-only (the reference solutions and
  mistake catalogue masked), and one writable scratch folder holding only its
  own notebook -- no gradebook, no ``source/``, no other submission;
* no network (a new, empty network namespace), its own PID namespace (nothing
  it starts outlives the run), its own IPC and host name;
* an unprivileged user id of its own (one per worker slot, so one student's
  fork bomb cannot exhaust another's process quota), and limits on address
  space, CPU time, processes, file size, core dumps; a wall-clock limit for
  the whole run, and per-cell time and output limits inside.

Requires ``bwrap`` (Debian package ``bubblewrap``), ``setpriv`` and ``prlimit``
(``util-linux``), and root to start it.  Without them grading refuses to run:
it never falls back to running student code unsandboxed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.notebooks import ROOT

HOME = "/home/student"
BASE_UID = 61000
UID_OFFSET_VARIABLE = "COURSE_SANDBOX_UID_OFFSET"


def uid_for(slot: int) -> int:
    """The user id of a worker slot's sandboxes.

    An offset (``COURSE_SANDBOX_UID_OFFSET``) keeps two graders on one machine apart -- the test suite's
    parallel workers -- since process limits and the check for leftover processes go by user id.
    """
    return BASE_UID + int(os.environ.get(UID_OFFSET_VARIABLE, "0")) + slot

MAX_NOTEBOOK_BYTES = 64 * 2**20


class SandboxUnavailable(RuntimeError):
    pass


@dataclass
class Limits:
    cell_timeout: int = 60              # seconds per cell (an infinite loop is interrupted)
    wall_timeout: int = 600             # seconds for the whole notebook, start to finish
    memory_bytes: int = 8 * 2**30       # address space per process (JAX reserves a lot, touches little)
    cpu_seconds: int = 900              # CPU time per process
    processes: int = 256                # processes of the sandbox's user
    file_bytes: int = 256 * 2**20       # largest file it may write
    output_bytes: int = 200_000         # output kept per cell


@dataclass
class SandboxResult:
    notebook: nbformat.NotebookNode | None
    records: dict[str, str] = field(default_factory=dict)   # exercise -> raw JSON written by its probe
    status: str = "ok"                                       # "ok", "crashed" or "timed out"
    reason: str = ""
    seconds: float = 0.0


def missing_tools() -> list[str]:
    return [tool for tool in ("bwrap", "setpriv", "prlimit") if shutil.which(tool) is None]


def check_available() -> None:
    """Raise :class:`SandboxUnavailable` with what to do, unless sandboxed grading can run here."""
    missing = missing_tools()
    if missing:
        raise SandboxUnavailable(
            f"sandboxed grading needs {', '.join(missing)}: install them with "
            "`apt-get install bubblewrap util-linux` (grading never runs student code unsandboxed)")
    if os.geteuid() != 0:
        raise SandboxUnavailable("sandboxed grading must be started as root (it runs each submission "
                                 "as its own unprivileged user); run the grader with sudo")
    # A real start: Python, the course and the notebook runner must all be reachable inside.
    with tempfile.TemporaryDirectory() as scratch:
        probe = subprocess.run(_command(Path(scratch), 0, Limits(), [sys.executable, "-c",
                                                                     "import autograder.sandbox_runner, course"]),
                               capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxUnavailable(f"a sandbox could not run the grader's Python here: {probe.stderr.strip()[-300:]}")


def _read_only_paths() -> list[str]:
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc",
             sys.base_prefix, sys.prefix, str(ROOT / "course"), str(ROOT / "autograder")]
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


def _command(scratch: Path, slot: int, limits: Limits, argv: list[str], env: dict | None = None) -> list[str]:
    uid = str(uid_for(slot))
    cmd = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox",
           # Fresh /tmp and /run first: the course itself may live under /tmp, and its binds come after.
           "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
           "--perms", "0755", "--tmpfs", "/run"]
    paths = _read_only_paths()
    # Folders above the bound paths (/root, /work, ...) are made by bwrap; make them traversable.
    parents = sorted({str(parent) for path in paths for parent in Path(path).parents if str(parent) != "/"})
    for parent in parents:
        cmd += ["--perms", "0755", "--dir", parent]
    for path in paths:
        cmd += ["--ro-bind", path, path]
    # The hidden tests' probes are needed inside; the answers are not.
    for secret in ("autograder/reference", "autograder/mistakes"):
        cmd += ["--tmpfs", str(ROOT / secret)]
    cmd += ["--perms", "0755", "--dir", str(Path(HOME).parent), "--bind", str(scratch), HOME, "--chdir", HOME]
    environment = {"HOME": HOME, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                   "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg",
                   "MPLCONFIGDIR": "/tmp/matplotlib", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
                   "PYTHONDONTWRITEBYTECODE": "1", "NBGRADER_EXECUTION": "autograde", **(env or {})}
    for key, value in environment.items():
        cmd += ["--setenv", key, value]
    cmd += ["--", "prlimit", f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}",
            f"--nproc={limits.processes}", f"--fsize={limits.file_bytes}", "--core=0",
            "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--", *argv]
    return cmd


def run_notebook(nb: nbformat.NotebookNode, *, slot: int = 0, seed: int = 0, limits: Limits | None = None,
                 exercises: list[str] = ()) -> SandboxResult:
    """Execute ``nb`` in a fresh sandbox; return the executed notebook and the probes' records."""
    limits = limits or Limits()
    scratch = Path(tempfile.mkdtemp(prefix="submission-"))
    uid = uid_for(slot)
    start = time.perf_counter()
    try:
        nbformat.write(nb, scratch / "submission.ipynb")
        os.chown(scratch, uid, uid)
        os.chown(scratch / "submission.ipynb", uid, uid)
        argv = [sys.executable, "-m", "autograder.sandbox_runner", f"{HOME}/submission.ipynb",
                f"{HOME}/executed.ipynb", "--timeout", str(limits.cell_timeout),
                "--max-output", str(limits.output_bytes)]
        env = {"COURSE_RECORD_DIR": f"{HOME}/.records", "COURSE_GRADING_SEED": str(seed)}
        process = subprocess.Popen(_command(scratch, slot, limits, argv, env), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        status, reason = "ok", ""
        try:
            _, stderr = process.communicate(timeout=limits.wall_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            status, reason = "timed out", f"the notebook ran longer than {limits.wall_timeout} s and was stopped"
        else:
            if process.returncode != 0:
                status = "crashed"
                detail = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
                reason = (f"the grading kernel stopped abnormally (exit code {process.returncode})"
                          + (f": {detail[0][:200]}" if detail else ""))
        notebook = _read_notebook(scratch / "executed.ipynb")
        if notebook is not None and notebook.metadata.get("grading", {}).get("crashed"):
            status, reason = "crashed", str(notebook.metadata["grading"]["crashed"])[:300]
        if notebook is None and status == "ok":
            status, reason = "crashed", "the grading kernel produced no notebook"
        records = {}
        for exercise in exercises:
            path = scratch / ".records" / f"{exercise}.json"
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 20 * 2**20:
                records[exercise] = path.read_text(errors="replace")
        return SandboxResult(notebook, records, status, reason, time.perf_counter() - start)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_notebook(path: Path) -> nbformat.NotebookNode | None:
    """The executed notebook, if it is there, a regular file, not huge, and valid JSON."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        return nbformat.read(path, as_version=4)
    except Exception:
        return None
