#!/usr/bin/env python3
"""Set up and run the course's two jobs, on a fresh machine with only Python 3.11.

    python3 dev.py demo    build the student versions and grade the bundled demo class
    python3 dev.py test    run the whole test suite
    python3 dev.py lab     open JupyterLab on the student versions (release/), as a student would

Each first makes (or refreshes) the virtual environment in .venv/ with the
package and its dependencies; later runs reuse it while pyproject.toml is
unchanged.  Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed-from"


def ensure_environment() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print(f"creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing the course and its dependencies (a few minutes the first time) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    # Students' lab, the instructor's grader, the tests and the browser tests; not the benchmarks' baselines
    # (`pip install -e .[bench]` adds those).
    subprocess.run(pip + ["-e", f"{ROOT}[lab,instructor,test,browser]"], check=True)
    STAMP.write_text(wanted)


def ensure_sandbox() -> None:
    """Grading runs student code only inside bubblewrap (Debian package `bubblewrap`); install it if we can."""
    if shutil.which("bwrap") and shutil.which("setpriv") and shutil.which("prlimit"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing bubblewrap (the grading sandbox) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap", "util-linux"], check=False,
                       stdout=subprocess.DEVNULL)
    if not shutil.which("bwrap"):
        print("warning: bubblewrap is missing, so nothing can be graded here (tests that grade are skipped). "
              "Install it with: sudo apt-get install bubblewrap", file=sys.stderr)


def ensure_browser() -> None:
    """The browser test drives Debian's Chromium (Playwright uses the system browser); install it if we can."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing chromium (for the browser test) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, stdout=subprocess.DEVNULL)
    if not shutil.which("chromium"):
        print("warning: chromium is missing, so the browser test is skipped. "
              "Install it with: sudo apt-get install chromium", file=sys.stderr)


PROXY = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"


def ensure_proxy() -> None:
    """The course's JupyterHub (hub/) and its test need configurable-http-proxy, from npm: installed under
    .cache/npm/ when it is not on PATH."""
    if shutil.which("configurable-http-proxy") or PROXY.exists():
        return
    if not shutil.which("npm") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing npm (for JupyterHub's proxy) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "npm"], check=False, stdout=subprocess.DEVNULL)
    if shutil.which("npm"):
        print("installing configurable-http-proxy (JupyterHub's proxy, from npm) ...", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(PROXY.parents[2]), "--no-audit", "--no-fund", "-s",
                        "configurable-http-proxy@5"], check=False, stdout=subprocess.DEVNULL)
    if not PROXY.exists():
        print("warning: configurable-http-proxy is missing, so the JupyterHub test is skipped. "
              "Install it with: npm install -g configurable-http-proxy", file=sys.stderr)


def ensure_postgres() -> None:
    """The cluster tests start a real PostgreSQL server (Debian package `postgresql`); install it if we can."""
    if list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing postgresql (for the cluster tests' gradebook) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False, stdout=subprocess.DEVNULL)
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        print("warning: postgresql is missing, so the cluster tests are skipped. "
              "Install it with: sudo apt-get install postgresql", file=sys.stderr)


def run(args: list[str]) -> int:
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "lab"}:
        print(__doc__)
        return 2
    ensure_environment()
    if argv[0] == "lab":
        return run(["-m", "jupyter", "lab", str(ROOT / "release"), *argv[1:]])
    ensure_sandbox()
    if argv[0] == "demo":
        return run(["-m", "autograder", "demo", *argv[1:]])
    ensure_browser()
    ensure_proxy()
    ensure_postgres()
    return run(["-m", "pytest", "-n", "2", "--dist", "loadgroup", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
