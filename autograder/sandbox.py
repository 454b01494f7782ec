"""Where a student's code runs: a bubblewrap sandbox, an unprivileged user, limits on the whole sandbox.

What the student's code can see and do:

* a file system with the system's programs read-only, Python and only the
  packages the assignment allows (:func:`allowed_packages`: where the
  assignment forbids automatic differentiation, JAX, autograd, torch and
  sympy are simply not there, however their import is spelled, and the
  course's JAX oracle is replaced by a module that refuses to load), the
  hidden-test probes read-only (reference solutions and the mistake
  catalogue masked), and two writable folders of bounded size: its home
  (the notebook only) and ``/tmp``;
* no network (an empty network namespace), its own PID namespace (nothing it
  starts outlives the run), its own IPC and host name;
* an unprivileged user id of its own (one per worker slot), and limits: the
  memory, process count and CPU share of the *sandbox as a whole* in a
  control group (:mod:`autograder.limits`), plus per-process rlimits (address
  space, file size, no core dumps) as a second line.

The kernel's Jupyter sockets are Unix sockets in a folder bound into the
sandbox at the same path; the trusted grader (:mod:`autograder.execution`)
connects to them from outside.  That is the only channel.

Requires ``bwrap`` (Debian package ``bubblewrap``), ``setpriv`` and ``prlimit``
(``util-linux``), and root to start it.  Without them grading refuses to run:
it never falls back to running student code unsandboxed.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

from autograder.notebooks import ROOT
from autograder.settings import Limits  # noqa: F401 (re-exported: sandbox.Limits)
from course import contract

HOME = "/home/student"
BASE_UID = 61000
UID_OFFSET_VARIABLE = "COURSE_SANDBOX_UID_OFFSET"


def uid_for(slot: int) -> int:
    """The user id of a worker slot's sandboxes.

    An offset (``COURSE_SANDBOX_UID_OFFSET``) keeps two graders on one machine apart -- the test suite's
    parallel workers -- since process limits and the check for leftover processes go by user id.
    """
    return BASE_UID + int(os.environ.get(UID_OFFSET_VARIABLE, "0")) + slot


class SandboxUnavailable(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------------------
# The file system: which Python packages the sandbox gets.

# The kernel and the notebooks' own imports; what they need comes along (their requirements' closure).
KERNEL_PACKAGES = ("ipykernel", "numpy", "matplotlib", "cloudpickle")
# Packages that differentiate for you: present only where the assignment allows them (they are also
# what an allowed package may *optionally* pull in, so the closure never brings them back).
AD_PACKAGES = ("jax", "jaxlib", "autograd", "torch", "sympy", "tensorflow", "numdifftools", "functorch")


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement names, or None if it applies only with an extra."""
    if "extra ==" in requirement or "extra==" in requirement:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        return None
    marker = requirement.split(";", 1)[1] if ";" in requirement else ""
    if marker:
        try:
            from packaging.markers import Marker
            if not Marker(marker).evaluate({"extra": ""}):
                return None
        except Exception:
            pass
    return match.group(1)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=None)
def allowed_packages(allow_ad: bool) -> frozenset[str]:
    """Top-level names in site-packages the sandbox gets: the closure of the kernel's requirements."""
    roots = list(KERNEL_PACKAGES) + (["jax", "jaxlib"] if allow_ad else [])
    banned = set() if allow_ad else {_canonical(n) for n in AD_PACKAGES}
    seen, todo = set(), [_canonical(r) for r in roots]
    entries: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in banned:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith(".pth"):
                entries.add(top.removesuffix(".py") + (".py" if top.endswith(".py") else ""))
        todo += [_canonical(n) for n in map(_requirement_name, dist.requires or ()) if n]
    # Plugins JAX discovers by name: only where JAX itself is allowed.
    if not allow_ad:
        entries = {e for e in entries if not e.split(".")[0].startswith(("jax", "jaxlib"))}
    return frozenset(entries)


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


ORACLE_STUB = ('raise ImportError("the course\'s JAX oracle is not available while this assignment is '
               'graded: it asks you to compute derivatives yourself")\n')


def _filesystem(scratch: Path, allow_ad: bool) -> list[str]:
    """bwrap arguments for the read-only system, the allowed packages and the masked secrets."""
    args: list[str] = []
    system = [p for p in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc") if os.path.exists(p)]
    for path in system:
        args += ["--ro-bind", path, path]
    # Python itself (the base installation, outside /usr here) and the grader's virtual environment.
    for path in dict.fromkeys([sys.base_prefix, sys.prefix]):
        if os.path.exists(path) and not any(path.startswith(p + "/") for p in system):
            args += _parents(path) + ["--ro-bind", path, path]
    # Other Python package folders are not the grader's: mask them all, then lay out the allowed
    # packages of this environment one by one over an empty site-packages.
    others = {sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"],
              *glob.glob("/usr/lib/python3*/*-packages"), *glob.glob("/usr/local/lib/python3*/*-packages")}
    for other in sorted(others):
        if os.path.isdir(other) and Path(other) != _site_packages():
            args += ["--tmpfs", other]
    site = _site_packages()
    args += ["--tmpfs", str(site)]
    for entry in sorted(allowed_packages(allow_ad)):
        if (site / entry).exists():
            args += ["--ro-bind", str(site / entry), str(site / entry)]
    # The course package and the hidden-test probes; the answers are not needed inside.
    for package in ("course", "autograder"):
        args += _parents(str(ROOT / package)) + ["--ro-bind", str(ROOT / package), str(ROOT / package)]
    for secret in ("autograder/reference", "autograder/mistakes"):
        args += ["--tmpfs", str(ROOT / secret)]
    if not allow_ad:
        stub = scratch / "oracle_stub.py"
        stub.write_text(ORACLE_STUB)
        args += ["--ro-bind", str(stub), str(ROOT / "course" / "oracle.py")]
    return args


def _parents(path: str) -> list[str]:
    """Folders above a bound path (/root, /work, ...) are made by bwrap; make them traversable."""
    out = []
    for parent in reversed(Path(path).parents):
        if str(parent) != "/":
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


def command(scratch: Path, channel: Path, slot: int, limits: Limits, argv: list[str], *,
            allow_ad: bool, env: dict | None = None) -> list[str]:
    """The bwrap command line that runs ``argv`` in a sandbox.

    ``scratch`` (outside) is the home folder's content source, ``channel`` the folder of the kernel's
    sockets, bound at the same path inside so the connection file means the same on both sides.
    """
    uid = str(uid_for(slot))
    cmd = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox",
           "--proc", "/proc", "--dev", "/dev",
           # Fresh, bounded /tmp and /run first: the course itself may live under /tmp, its binds come after.
           "--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
           "--size", str(2**20), "--perms", "0755", "--tmpfs", "/run"]
    cmd += _filesystem(scratch, allow_ad)
    # The home folder: a bounded tmpfs (the notebook is copied in by the kernel's launcher below).
    cmd += ["--perms", "0755", "--dir", str(Path(HOME).parent),
            "--size", str(limits.home_bytes), "--perms", "1777", "--tmpfs", HOME,  # the only user inside may write
            "--chdir", HOME]
    cmd += _parents(str(channel)) + ["--bind", str(channel), str(channel)]
    environment = {"HOME": HOME, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                   "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg",
                   "MPLCONFIGDIR": "/tmp/matplotlib", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
                   "IPYTHONDIR": "/tmp/ipython", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
                   contract.NBGRADER_EXECUTION: "autograde", contract.JUDGED_OUTSIDE: "1", **(env or {})}
    for key, value in environment.items():
        cmd += ["--setenv", key, value]
    cmd += ["--", "prlimit", f"--as={limits.address_space}", f"--nproc={limits.processes * 4}",
            f"--fsize={limits.file_bytes}", "--core=0",
            "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--", *argv]
    return cmd


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
    # A real start: Python, the kernel and the course must all be reachable inside.
    with tempfile.TemporaryDirectory() as scratch:
        channel = Path(scratch) / "channel"
        channel.mkdir()
        probe = subprocess.run(command(Path(scratch), channel, 0, Limits(),
                                       [sys.executable, "-c", "import ipykernel, course, autograder.agent"],
                                       allow_ad=False),
                               capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxUnavailable(f"a sandbox could not run the grader's Python here: {probe.stderr.strip()[-300:]}")
