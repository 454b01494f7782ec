"""Hostile content never runs in the instructor's browser: formgrader and the feedback, for real.

A course in a temporary folder gets one hostile submission: a written answer with ``<script>``,
``<img onerror>``, ``<details ontoggle>`` and a ``javascript:`` link, and a code cell whose object
renders as HTML, markdown, JavaScript, SVG and a "PNG" that is HTML -- no import needed.  Every payload,
if it runs, sets ``window.__pwned``, changes ``document.title`` and calls ``alert``.  It is graded through
the sandboxed pipeline, nbgrader generates the feedback, and a real Jupyter server with nbgrader's
formgrader serves the course on 127.0.0.1 (a free port, token auth).  Debian's Chromium, driven by
Playwright (``executable_path``, no browser download), opens formgrader's view of the submission and the
feedback page: no dialog, ``window.__pwned`` undefined, the title unchanged.  A second copy of the
submission has its autograded notebook put back to the raw hostile content before feedback is made (a
notebook the pipeline did not clean): its feedback must be inert too.  And as a control, the same raw
notebook exported by plain nbconvert does run the payloads in the same browser, so the checks can fail.
Screenshots go to ``artifacts/screenshots/`` (``BROWSER_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import build, course_dir, demo, grading, notebooks, pipeline, sandbox
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "artifacts" / "screenshots"))
TOKEN = "formgrader-browser-test"
A = "01_finite_differences"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

try:
    import playwright.sync_api  # noqa: F401
    PLAYWRIGHT = True
except ImportError:
    PLAYWRIGHT = False

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("sandbox"),  # it grades in the sandbox: one sandboxed class at a time
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not PLAYWRIGHT, reason="playwright is not installed (the test extra)"),
    pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                       reason="sandboxed grading needs bubblewrap and root (see README)"),
]


def pwn(label: str) -> str:
    """JavaScript that leaves every trace this test looks for."""
    return f"window.__pwned = '{label}'; document.title = 'pwned'; alert('pwned by {label}')"


WRITTEN = (f"My answer is central differences. <script>{pwn('markdown-script')}</script> "
           f"<img src=x onerror=\"{pwn('markdown-img')}\"> "
           f"<details open ontoggle=\"{pwn('markdown-details')}\"><summary>more</summary>x</details> "
           f"[click me](javascript:{pwn('markdown-link').replace(' ', '')})")
HOSTILE_CODE = f'''
class Hostile:
    """Every rich representation a notebook front end renders, each one a script. No import needed."""
    def __repr__(self):
        return "Hostile()"
    def _repr_html_(self):
        return """<script>{pwn('html-script')}</script><img src=x onerror="{pwn('html-img')}">"""
    def _repr_markdown_(self):
        return """<script>{pwn('markdown-output')}</script><img src=x onerror="{pwn('markdown-output-img')}">"""
    def _repr_javascript_(self):
        return "{pwn('javascript')}"
    def _repr_svg_(self):
        return """<svg xmlns="http://www.w3.org/2000/svg" onload="{pwn('svg')}">
                  <script>{pwn('svg-script')}</script></svg>"""
    def _repr_png_(self):
        return b"""<html><script>{pwn('png')}</script></html>"""

Hostile()
'''


def _raw_outputs() -> list:
    """What the hostile cell displays when nothing cleans it (as a kernel would send it)."""
    data = {"text/plain": "Hostile()",
            "text/html": f"<script>{pwn('html-script')}</script><img src=x onerror=\"{pwn('html-img')}\">",
            "text/markdown": f"<script>{pwn('markdown-output')}</script>"
                             f"<img src=x onerror=\"{pwn('markdown-output-img')}\">",
            "application/javascript": pwn("javascript"),
            "image/svg+xml": f"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"{pwn('svg')}\"></svg>",
            "image/png": base64.b64encode(f"<html><script>{pwn('png')}</script></html>".encode()).decode()}
    return [nbformat.v4.new_output("execute_result", data=data, execution_count=1)]


def _hostile_submission(course: Path):
    release = notebooks.notebook_path(A, "release", course)
    (written,) = notebooks.written_answers(A, course)
    nb = notebooks.fill(release, {**demo.correct_answers(A, course), written: WRITTEN})
    nb.cells.insert(3, nbformat.v4.new_code_cell(HOSTILE_CODE))
    return nb


def _unclean(path: Path) -> None:
    """Put the raw hostile content back into an autograded notebook, as if nothing had cleaned it."""
    nb = nbformat.read(path, as_version=4)
    (written,) = notebooks.written_answers(A, ROOT)
    for cell in nb.cells:
        if notebooks.grade_id(cell) == written:
            cell.source = WRITTEN
        if cell.cell_type == "code" and "class Hostile" in cell.source:
            cell.outputs = _raw_outputs()
    nbformat.write(nb, path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course, graded through the pipeline, with feedback for "hostile" and "uncleaned"."""
    course = course_dir.make_copy(tmp_path_factory.mktemp("formgrader") / "course")
    build.build(course, A)
    demo.write_submissions(course, A, {"hostile": _hostile_submission(course),
                                       "uncleaned": _hostile_submission(course)})
    statuses = pipeline.grade(course, A, ["hostile", "uncleaned"], jobs=1,
                              limits=sandbox.Limits(cell_timeout=30, wall_timeout=300))
    autograded = {s: course / "autograded" / s / A / notebooks.notebook_path(A, "release", course).name
                  for s in statuses}
    assert all(path.exists() for path in autograded.values()), statuses
    _unclean(autograded["uncleaned"])
    grading.generate_feedback(course, A)
    feedback = {s: next((course / "feedback" / s / A).glob("*.html")) for s in statuses}
    return {"course": course, "autograded": autograded, "feedback": feedback}


@pytest.fixture(scope="module")
def formgrader(graded):
    """A Jupyter server with nbgrader's formgrader over the graded course, on localhost."""
    course = graded["course"]
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    log = open(course / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={course}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("jupyter server did not start:\n" + (course / "server.log").read_text()[-3000:])
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _visit(browser, url: str, name: str, ready: str) -> dict:
    """Open ``url``, wait until ``ready`` is shown and any handler had time to fire, then report every
    trace a script would have left, and save a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Nothing leaves the machine: a CDN's MathJax or require.js is refused at once instead of timing out.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "file://", "data:")) else route.abort())
    page = context.new_page()
    page.set_default_timeout(60_000)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(url, wait_until="load")
        page.get_by_text(ready).first.wait_for(state="attached")
        page.wait_for_timeout(1500)  # onerror and ontoggle fire after load
        if page.get_by_text("click me").count():
            page.get_by_text("click me").first.click()  # a javascript: link runs when clicked
            page.wait_for_timeout(500)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.get_by_text(ready).first.scroll_into_view_if_needed()  # the written answer, on screen
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        return {"dialogs": dialogs, "pwned": page.evaluate("() => window.__pwned"), "title": page.title(),
                "text": page.inner_text("body"), "page": page.content()}
    finally:
        context.close()


def _submission_id(course: Path, student: str) -> str:
    from nbgrader.api import Gradebook
    name = notebooks.notebook_path(A, "release", course).stem
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(name, A, student).id


def _assert_inert(seen: dict, title: str) -> None:
    assert seen["dialogs"] == [], seen["dialogs"]
    assert seen["pwned"] is None, f"a payload ran: {seen['pwned']}"
    assert seen["title"] == title


def test_the_hostile_cell_ran_and_left_only_plain_text(graded):
    nb = nbformat.read(graded["autograded"]["hostile"], as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "class Hostile" in c.source]
    assert [o.get("data") for o in cell.outputs] == [{"text/plain": "Hostile()"}]  # it ran; the rest is gone
    (written,) = [c for c in nb.cells if notebooks.grade_id(c) in notebooks.written_answers(A, ROOT)]
    assert written.source.startswith("My answer is central differences.") and "<script" not in written.source


def test_formgrader_shows_the_hostile_submission_without_running_it(graded, formgrader, browser):
    url = f"{formgrader}/formgrader/submissions/{_submission_id(graded['course'], 'hostile')}?token={TOKEN}"
    seen = _visit(browser, url, "formgrader-hostile-submission", ready="My answer is central differences.")
    _assert_inert(seen, title=notebooks.notebook_path(A, "release", graded["course"]).stem)  # formgrader's title
    assert "Hostile()" in seen["text"]
    assert 'class="score' in seen["page"]  # formgrader's own grading controls still render


@pytest.mark.parametrize("student", ["hostile", "uncleaned"])
def test_feedback_never_runs_student_scripts(graded, browser, student):
    path = graded["feedback"][student]
    seen = _visit(browser, path.as_uri(), f"feedback-{student}", ready="My answer is central differences.")
    _assert_inert(seen, title=notebooks.notebook_path(A, "release", graded["course"]).stem)  # the feedback's title
    assert "Hostile()" in seen["text"]
    assert "run_hidden_tests" not in path.read_text()  # the hidden tests are still removed


def test_the_same_payloads_run_when_nothing_stops_them(graded, browser, tmp_path):
    """The control: plain nbconvert, on the raw notebook, in the same browser -- the checks above can fail."""
    from nbconvert import HTMLExporter
    html, _ = HTMLExporter().from_filename(str(graded["autograded"]["uncleaned"]))
    page = tmp_path / "plain-nbconvert.html"
    page.write_text(html)
    seen = _visit(browser, page.as_uri(), "control-plain-nbconvert", ready="My answer is central differences.")
    assert seen["pwned"] is not None and seen["dialogs"] and seen["title"] == "pwned"
