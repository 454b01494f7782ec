"""The course on a real JupyterHub, driven in a real browser: the exchange, formgrader and returned feedback.

The test makes three real Unix accounts (one instructor, two students; PAM passwords set with chpasswd;
removed afterwards, whatever happens), a course directory in the instructor's home, nbgrader's exchange in
a temporary folder, and starts PyPI's JupyterHub with ``hub/jupyterhub_config.py`` on 127.0.0.1 (a free
port): PAM authentication, configurable-http-proxy from npm, a local process per user.  Then, in Debian's
Chromium driven by Playwright (the system browser, no download):

1. the instructor releases assignment 01 into the exchange (``python -m autograder release``, as that user);
2. each student logs in on the hub's login page, fetches 01 in JupyterLab's Assignments panel, types in
   answers (one correct, one with a catalogued mistake), saves, validates and submits in the panel;
3. the boundaries: as each student's Unix user, the other's submission in the exchange, the course's
   ``source/`` and the gradebook cannot be read, nor the inbound folder listed, nor the other's home;
4. the instructor collects from the exchange (``collect``), root grades with the sandboxed pipeline
   (``grade``, as a hub's instructor would with sudo), the instructor logs in and gives the written answer
   of one student its points in formgrader, and releases the feedback (``feedback --release``);
5. each student fetches the feedback in the Assignments panel, opens it, and sees their own score and, for
   the one with the mistake, the mistake's message -- never the other's.

Screenshots of every step go to ``artifacts/screenshots/hub-*.png`` (``BROWSER_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder import course_dir, demo, notebooks, sandbox
from autograder.mistakes import catalogue
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "artifacts" / "screenshots"))
HUB_CONFIG = ROOT / "hub" / "jupyterhub_config.py"
PROXY = shutil.which("configurable-http-proxy") or str(ROOT / ".cache" / "npm" / "node_modules" / ".bin"
                                                        / "configurable-http-proxy")
JUPYTERHUB = Path(sys.executable).parent / "jupyterhub"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
A = "01_finite_differences"
MISTAKE = next(m for m in catalogue(A) if m.name == "forward_wrong_sign")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

try:
    import playwright.sync_api  # noqa: F401
    PLAYWRIGHT = True
except ImportError:
    PLAYWRIGHT = False


def _hidden_ancestor(path: Path) -> Path | None:
    """The first folder above ``path`` that other users cannot enter (pyenv's Python in /root, say)."""
    for folder in reversed(path.resolve().parents):
        if folder != Path("/") and not folder.stat().st_mode & 0o001:
            return folder
    return None


# What the users' servers run: this Python, its virtual environment and the repository (hub/, the course).
_HIDDEN = {path: _hidden_ancestor(path) for path in (Path(sys.base_prefix) / "lib", Path(sys.prefix), ROOT)}
HIDDEN = next((folder for folder in _HIDDEN.values() if folder is not None), None)
KEEP = sorted({next(p for p in [path.resolve(), *path.resolve().parents] if p.parent == folder).name
               for path, folder in _HIDDEN.items() if folder is not None})


pytestmark = [
    pytest.mark.slow,
    # It grades in the sandbox: with the other sandboxed classes, never beside them (test_attacks.py checks
    # that no process of any sandbox user is left, and would see this test's).
    pytest.mark.xdist_group("sandbox"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not PLAYWRIGHT, reason="playwright is not installed (the browser extra)"),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"),
                       reason="the hub test makes real Unix users: it needs root, useradd and runuser"),
    pytest.mark.skipif(not JUPYTERHUB.exists(), reason="jupyterhub is not installed (the instructor extra)"),
    pytest.mark.skipif(not os.access(PROXY, os.X_OK),
                       reason="configurable-http-proxy is missing (npm; python3 dev.py installs it)"),
    pytest.mark.skipif(bool(sandbox.missing_tools()), reason="sandboxed grading needs bubblewrap (see README)"),
    pytest.mark.skipif(len({f for f in _HIDDEN.values() if f is not None}) > 1,
                       reason=f"this Python, its environment and the repository are hidden from other users in "
                              f"more than one folder ({_HIDDEN}): the hub's users could not run them"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, what: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{what} did not start:\n" + log.read_text()[-4000:])


def _namespace_launcher(base: Path) -> list[str]:
    """A private mount namespace in which the hub's users can run this Python.

    When this Python lives in a folder others cannot enter (root's pyenv in /root/.pyenv: the venv's
    ``home``), an unprivileged user's ``python`` silently falls back to the system's libpython (Debian's
    3.11.2, older than what the venv's packages were resolved for: soupsieve 4 needs 3.11.5 and formgrader
    then fails on every page).  The hub, and everything run as the users, then runs in a mount namespace
    where that folder is a read-only tmpfs (0755) holding only what the users' servers need (the Python's
    folder, the repository's), bind-mounted back: nothing changes on the machine.  A hub set up as the
    README says (a Python every user can run) needs none.
    """
    if HIDDEN is None:
        return []
    script = ('set -e; real="$1"; hidden="$2"; shift 2; mkdir -p "$real"; mount --bind "$hidden" "$real"; '
              'mount -t tmpfs -o mode=0755,size=1m tmpfs "$hidden"; '
              'while [ "$1" != "--" ]; do mkdir "$hidden/$1"; mount --bind "$real/$1" "$hidden/$1"; shift; done; '
              'shift; mount -o remount,ro "$hidden"; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh",
            str(base / "hidden"), str(HIDDEN), *KEEP, "--"]


def _processes_of(uid: int) -> list[int]:
    out = subprocess.run(["ps", "-U", str(uid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


# -- the accounts, the course, the hub --------------------------------------------------------------------

@pytest.fixture(scope="module")
def accounts():
    """An instructor and two students, real Unix users with passwords and private homes; removed after."""
    tag = secrets.token_hex(2)
    names = {"instructor": f"instructor-{tag}", "student1": f"student1-{tag}", "student2": f"student2-{tag}"}
    users = {}
    try:
        for role, name in names.items():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name],
                           check=True, capture_output=True)
            password = secrets.token_urlsafe(12)
            subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
            entry = pwd.getpwnam(name)
            users[role] = {"name": name, "password": password, "uid": entry.pw_uid, "gid": entry.pw_gid,
                           "home": Path(entry.pw_dir)}
            _lab_settings(users[role])
        yield users
    finally:
        for user in users.values():  # what the hub started as them is ours: ended by process id, then the user
            for pid in _processes_of(user["uid"]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in names.values():
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        for name in names.values():
            subprocess.run(["groupdel", name], capture_output=True)  # if userdel left the group behind


def _lab_settings(user: dict) -> None:
    """Every cell kept in the page (no windowing), no news pop-up over the panel: the user's own settings."""
    settings = user["home"] / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    subprocess.run(["chown", "-R", f"{user['uid']}:{user['gid']}", str(user["home"] / ".jupyter")], check=True)


@pytest.fixture(scope="module")
def hub(accounts):
    """JupyterHub with hub/jupyterhub_config.py on a free port of 127.0.0.1, the exchange in a temporary folder."""
    base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
    base.chmod(0o755)  # the students must reach the exchange inside it
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # like /srv/nbgrader/exchange: anyone may create a course's folder, as with /tmp
    instructor = accounts["instructor"]
    course = course_dir.make_copy(instructor["home"] / "autodiff")
    subprocess.run(["chown", "-R", f"{instructor['uid']}:{instructor['gid']}", str(course)], check=True)
    course.chmod(0o700)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_CONFIG_PATH")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               COURSE_HUB_INSTRUCTORS=instructor["name"],
               COURSE_HUB_STUDENTS=f"{accounts['student1']['name']},{accounts['student2']['name']}",
               COURSE_DIR=str(course), NBGRADER_EXCHANGE=str(exchange), COURSE_HUB_STATE=str(base / "state"),
               COURSE_HUB_PORT=str(port), COURSE_HUB_HUB_PORT=str(_free_port()),
               COURSE_HUB_API_PORT=str(_free_port()))
    log_path = base / "hub.log"
    log = open(log_path, "w")
    server = subprocess.Popen([*_namespace_launcher(base), str(JUPYTERHUB), "-f", str(HUB_CONFIG)], cwd=base,
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, server, log_path, "jupyterhub")
        # Commands as a user run where the hub runs their servers (its mount namespace, if it has one).
        enter = ["nsenter", f"--target={server.pid}", "--mount", f"--wd={ROOT}", "--"] if HIDDEN is not None else []
        yield {"url": f"http://127.0.0.1:{port}", "exchange": exchange, "course": course, "log": log_path,
               "base": base, "enter": enter}
    finally:
        server.send_signal(signal.SIGTERM)  # the hub stops the users' servers and its proxy as it exits
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        if ARTIFACTS.is_dir():
            shutil.copy(log_path, ARTIFACTS / "hub.log")
        shutil.rmtree(base, ignore_errors=True)


def _as_user(user: dict, argv: list[str], hub: dict, check: bool = True, timeout: float = 300):
    """Run ``argv`` as ``user``, with the environment the hub gives that user's server (an instructor's)."""
    env = ["env", "-i", f"HOME={user['home']}", f"USER={user['name']}", f"PATH={Path(sys.executable).parent}:/usr/bin:/bin",
           f"JUPYTER_CONFIG_PATH={ROOT / 'hub' / 'jupyter'}", f"NBGRADER_EXCHANGE={hub['exchange']}",
           f"COURSE_DIR={hub['course']}", "JAX_PLATFORMS=cpu"]
    result = subprocess.run([*hub["enter"], "runuser", "-u", user["name"], "--", *env, *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"{argv} as {user['name']}:\n{result.stdout}\n{result.stderr}"
    return result


def _autograder(user: dict, hub: dict, *args: str):
    return _as_user(user, [sys.executable, "-m", "autograder", *args, "--course", str(hub["course"])], hub)


def _cannot_read(user: dict, path: Path) -> str:
    """As ``user``: ``cat`` (or ``ls`` for a folder) must fail with "Permission denied"."""
    tool = "ls" if path.is_dir() else "cat"
    result = subprocess.run(["runuser", "-u", user["name"], "--", tool, str(path)], capture_output=True, text=True)
    assert result.returncode != 0 and "Permission denied" in result.stderr, \
        f"{user['name']} could {tool} {path}: {result.stdout[:300]}"
    return result.stderr.strip()


# -- the browser -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hub-{name}.png"))


def _log_in(browser, hub: dict, user: dict, step: str):
    """A browser of the user's own: the hub's login page, username and password, then their JupyterLab."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Nothing leaves the machine.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else route.abort())
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{hub['url']}/hub/login")
    page.fill("#username_input", user["name"])
    page.fill("#password_input", user["password"])
    _screenshot(page, f"{step}-login-{user['role']}")
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{re.escape(user['name'])}/lab.*"), timeout=240_000)
    page.wait_for_selector("li.lm-MenuBar-item:has-text('Nbgrader')", timeout=240_000)
    return page


def _nbgrader_menu(page) -> str:
    """Open the Nbgrader menu; what it offers."""
    page.click("li.lm-MenuBar-item:has-text('Nbgrader')")
    return page.locator(".lm-Menu-content").inner_text()


def _assignments_panel(page):
    menu = _nbgrader_menu(page)
    assert "Formgrader" not in menu and "Assignment List" in menu, menu  # a student's JupyterLab
    page.click("li.lm-Menu-item:has-text('Assignment List')")
    page.wait_for_selector("#released_assignments_list")
    page.wait_for_selector("#released_assignments_list_loading", state="hidden")
    return page


def _wait_for_kernel_idle(page) -> None:
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-Widget, .jp-StatusBar-TextItem')]
                 .some(item => /\\|\\s*Idle/.test(item.textContent))""", timeout=240_000)


def _type_answers(page, release: Path, answers: dict[str, str]) -> None:
    """Into each answer cell: click in, select all, type the answer (text input, as a paste would do)."""
    nb = nbformat.read(release, as_version=4)
    cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
    assert cells.count() == len(nb.cells)
    for index, cell in enumerate(nb.cells):
        if notebooks.grade_id(cell) not in answers:
            continue
        target = cells.nth(index)
        target.scroll_into_view_if_needed()
        if cell.cell_type == "markdown":
            target.dblclick()  # a rendered markdown cell opens its editor on a double click
        target.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(answers[notebooks.grade_id(cell)])
        page.keyboard.press("Control+Enter" if cell.cell_type == "markdown" else "Escape")  # prose: rendered
    page.keyboard.press("Escape")


def _save(page) -> None:
    page.click(f"{PANEL} .jp-NotebookPanel-toolbar [data-command='docmanager:save']")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')")


def _validate(page) -> str:
    page.click(f"{PANEL} .validate-button button, {PANEL} button:has-text('Validate')")
    dialog = page.wait_for_selector(".jp-Dialog:has-text('Validation Results')", timeout=600_000)
    text = dialog.inner_text()
    return text


def _close_dialog(page) -> None:
    page.click(".jp-Dialog .jp-Dialog-button.jp-mod-accept, .jp-Dialog button:has-text('OK')")
    page.wait_for_selector(".jp-Dialog", state="detached")


def _the_tab(page, title: str) -> None:
    page.click(f".lm-DockPanel-tabBar .lm-TabBar-tab:has-text('{title}')")


# -- the test --------------------------------------------------------------------------------------------

def test_a_class_on_jupyterhub_from_release_to_returned_feedback(accounts, hub, browser):
    started = time.perf_counter()
    instructor, student1, student2 = accounts["instructor"], accounts["student1"], accounts["student2"]
    for role, user in accounts.items():
        user["role"] = role
    course, exchange = hub["course"], hub["exchange"]
    release = notebooks.notebook_path(A, "release", course)
    correct = demo.correct_answers(A, course)
    answers = {student1["name"]: correct, student2["name"]: {**correct, **MISTAKE.answers}}
    timings = {}

    # 1. The instructor releases the assignment into the exchange: nbgrader's release_assignment, as themself.
    _autograder(instructor, hub, "build", A)
    out = _autograder(instructor, hub, "release", A).stdout
    assert (exchange / "autodiff" / "outbound" / A / release.name).is_file(), out
    timings["release"] = time.perf_counter() - started

    # 2. Each student: log in, fetch in the Assignments panel, type the answers, save, validate, submit.
    pages = {}
    for user in (student1, student2):
        page = _log_in(browser, hub, user, "1")
        pages[user["name"]] = page
        _assignments_panel(page)
        released = page.locator(f"#released_assignments_list .list_item:has-text('{A}')")
        released.wait_for()
        _screenshot(page, f"2-released-{user['role']}")
        released.locator("button:has-text('Fetch')").click()
        fetched = page.locator(f"#fetched_assignments_list .list_item:has-text('{A}')").first
        fetched.wait_for()
        assert (user["home"] / A / release.name).is_file()
        fetched.locator("a.assignment-notebooks-link").click()
        page.locator(f"#fetched_assignments_list .nested_list_item a:has-text('{release.stem}')").click()
        page.wait_for_selector(f"{PANEL} .jp-Cell", state="attached")
        _wait_for_kernel_idle(page)
        _type_answers(page, release, answers[user["name"]])
        _save(page)
        saved = nbformat.read(user["home"] / A / release.name, as_version=4)
        typed = {notebooks.grade_id(c): c.source for c in saved.cells if notebooks.grade_id(c) in answers[user["name"]]}
        assert {k: v.strip() for k, v in typed.items()} == \
            {k: v.strip() for k, v in answers[user["name"]].items()}, "the typed answers are not what was saved"
        verdict = _validate(page)
        _screenshot(page, f"3-validated-{user['role']}")
        if user is student1:
            assert "Success! Your notebook passes all the tests." in verdict, verdict[:2000]
        else:
            assert "Success!" not in verdict and "failed" in verdict.lower(), verdict[:2000]
        _close_dialog(page)
        _the_tab(page, "Assignments")
        page.locator(f"#fetched_assignments_list .list_item:has-text('{A}') button:has-text('Submit')").first.click()
        page.locator(f"#submitted_assignments_list .list_item:has-text('{A}')").first.wait_for()
        _screenshot(page, f"4-submitted-{user['role']}")
    timings["students submitted"] = time.perf_counter() - started

    # 3. The boundaries, as each student's own Unix user.
    inbound = exchange / "autodiff" / "inbound"
    submissions = {user["name"]: next(inbound.glob(f"{user['name']}+{A}+*")) for user in (student1, student2)}
    for user, other in ((student1, student2), (student2, student1)):
        _cannot_read(user, inbound)  # the inbound folder cannot be listed ...
        _cannot_read(user, submissions[other["name"]] / release.name)  # ... nor the other's notebook read by name
        _cannot_read(user, submissions[other["name"]])
        _cannot_read(user, other["home"] / A / release.name)  # nor the other's working copy
        _cannot_read(user, course / "source" / A / notebooks.notebook_path(A, "source", course).name)
        _cannot_read(user, course / "gradebook.db")
    for user in (student1, student2):  # what hub/jupyter/hub_exchange.py does to nbgrader's world-readable default
        assert submissions[user["name"]].stat().st_gid == instructor["gid"]
        assert submissions[user["name"]].stat().st_mode & 0o007 == 0
        assert all(p.stat().st_mode & 0o007 == 0 for p in submissions[user["name"]].iterdir())
    own = subprocess.run(["runuser", "-u", student1["name"], "--", "cat",
                          str(submissions[student1["name"]] / release.name)], capture_output=True, text=True)
    assert own.returncode == 0 and "cells" in own.stdout  # the control: their own submission they can read

    # 4. The instructor collects; root grades (sudo, on a hub) with the sandboxed pipeline.
    out = _autograder(instructor, hub, "collect", A).stdout
    for user in (student1, student2):
        assert (course / "submitted" / user["name"] / A / release.name).is_file(), out
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(course), "--jobs", "2"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert (course / "gradebook.db").stat().st_uid == instructor["uid"]  # handed back to the course's owner
    timings["graded"] = time.perf_counter() - started
    from autograder import grading
    results = grading.results(course, A)
    assert results[student1["name"]].cells[MISTAKE.loses[0]].score == \
        results[student1["name"]].cells[MISTAKE.loses[0]].max_score
    assert results[student2["name"]].cells[MISTAKE.loses[0]].score == 0

    #    The instructor gives student 1's written answer its points, in formgrader, in the browser.
    (written,) = notebooks.written_answers(A, course)
    page = _log_in(browser, hub, instructor, "5")
    pages[instructor["name"]] = page
    assert "Formgrader" in _nbgrader_menu(page)  # the instructor's has formgrader
    page.keyboard.press("Escape")
    page.goto(f"{hub['url']}/user/{instructor['name']}/formgrader/gradebook/{A}/{release.stem}")
    page.locator(f"a.name-shown:has-text('{student1['name']}')").wait_for(state="attached")
    _screenshot(page, "5-formgrader-submissions")
    page.click("#toggle_names")  # formgrader hides the students' names until asked
    page.locator(f"a.name-shown:has-text('{student1['name']}')").click()
    score = page.locator(f"input.score#{written}")
    try:
        score.wait_for(state="attached")
    except Exception:
        (ARTIFACTS / "hub-6-formgrader-submission.html").write_text(page.content())  # formgrader's error page
        raise
    finally:
        _screenshot(page, "6-formgrader-submission")
    max_points = results[student1["name"]].cells[written].max_score
    score.scroll_into_view_if_needed()
    score.locator("xpath=ancestor::div[contains(@class, 'pull-right')][1]").locator("button.full-credit").click()
    deadline = time.time() + 30
    while time.time() < deadline and grading.results(course, A)[student1["name"]].cells[written].score != max_points:
        time.sleep(0.5)
    _screenshot(page, "6-formgrader-written-answer-graded")
    results = grading.results(course, A)
    assert results[student1["name"]].cells[written].score == max_points
    assert score.input_value() in (str(max_points), f"{max_points:g}")

    #    Feedback, released through the exchange.
    out = _autograder(instructor, hub, "feedback", A, "--release").stdout
    assert student1["name"] in out and student2["name"] in out, out
    timings["feedback released"] = time.perf_counter() - started

    for user, other in ((student1, student2), (student2, student1)):  # what grading and feedback wrote
        _cannot_read(user, course / "gradebook.db")
        _cannot_read(user, course / "autograded" / other["name"] / A / release.name)
        _cannot_read(user, next((course / "feedback" / other["name"] / A).glob("*.html")))
        _cannot_read(user, exchange / "autodiff" / "feedback")  # released feedback cannot be listed

    # 5. Each student fetches their feedback in the Assignments panel and opens it.
    seen = {}
    for user in (student1, student2):
        page = pages[user["name"]]
        _the_tab(page, "Assignments")
        page.click("#refresh_assignments_list")
        submitted = page.locator(f"#submitted_assignments_list .list_item:has-text('{A}')").first
        submitted.locator("button:has-text('Fetch Feedback')").click()
        link = page.locator("#submitted_assignments_list a:has-text('view feedback')").first
        link.wait_for()
        _screenshot(page, f"7-feedback-fetched-{user['role']}")
        link.click()  # the file browser opens the folder the feedback was fetched into
        html = page.locator(f".jp-DirListing-item:has-text('{release.stem}.html')")
        html.dblclick()  # JupyterLab's HTML viewer
        body = page.frame_locator(".jp-HTMLViewer iframe").locator("body")
        body.get_by_text(f"{release.stem} (Score:").first.wait_for()
        _screenshot(page, f"8-feedback-{user['role']}")
        seen[user["name"]] = body.inner_text()
        fetched = list((user["home"] / A / "feedback").glob(f"*/{release.stem}.html"))
        assert len(fetched) == 1, fetched  # fetched into the student's own folder, by nbgrader's fetch_feedback
    for user, other in ((student1, student2), (student2, student1)):
        mine, result = seen[user["name"]], results[user["name"]]
        assert f"{release.stem} (Score: {round(result.score, 2)} / {round(result.max_score, 2)})" in mine, mine[:1500]
        assert other["name"] not in mine
    assert results[student1["name"]].score != results[student2["name"]].score
    assert MISTAKE.message in seen[student2["name"]]
    assert MISTAKE.message not in seen[student1["name"]]
    for page in pages.values():
        page.context.close()
    print("hub test timings (s from the start):", {k: round(v) for k, v in timings.items()},
          "total", round(time.perf_counter() - started))

