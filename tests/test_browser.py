"""The student's JupyterLab, driven in a real headless browser: what a student sees is what we test.

A real ``jupyter lab`` serves copies of the release notebooks on localhost (with nbgrader's JupyterLab
extension, as installed by the ``lab`` extra), and Playwright drives Debian's Chromium (the system
browser: ``executablePath``, no browser download).  For each assignment, with the reference answers
filled in: *Run All Cells*, then no cell may show an error, every plot must render as an image, and the
**Validate** button must report success.  With the blank release notebook: the checks must fail with
readable messages (no traceback from inside the ``course`` package) and Validate must report failures.
A screenshot of each notebook is saved to ``artifacts/screenshots/`` (``BROWSER_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks
from conftest import ROOT, error_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "artifacts" / "screenshots"))
RELEASES = sorted((ROOT / "release").glob("*/*.ipynb"))
TOKEN = "course-browser-test"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen (Lab may restore other tabs)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost over a copy of the course: filled and blank notebooks side by side."""
    course = tmp_path_factory.mktemp("student")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for release in RELEASES:
        assignment = release.parent.name
        folder = course / "release" / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebooks.fill(release, notebooks.solutions(assignment)), folder / f"filled_{release.name}")
        shutil.copy(release, folder / f"blank_{release.name}")
    settings = course / "lab-settings"
    _write_settings(settings)
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="module://matplotlib_inline.backend_inline")
    env.pop("NBGRADER_EXECUTION", None)
    log = open(course / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "release", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={TOKEN}", f"--LabApp.user_settings_dir={settings}",
         "--LabApp.news_url=", "--ServerApp.open_browser=False"] + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("jupyter lab did not start:\n" + (course / "lab.log").read_text()[-3000:])
    yield {"url": url, "course": course}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _write_settings(folder: Path) -> None:
    """Keep every cell in the page (no windowing) and no news pop-ups over the notebook."""
    (folder / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (folder / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (folder / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _open(browser, lab, relative: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{lab['url']}/lab/tree/{relative}?reset&token={TOKEN}")  # reset: no tabs restored
    page.wait_for_selector(f"{PANEL} .jp-Cell", state="attached")
    _wait_for_kernel_idle(page)
    return page


def _run_each_cell(browser, lab, relative: str):
    """Cell by cell with Shift+Enter, as a student works through a blank notebook (Run All would stop at
    the first failing check)."""
    page = _open(browser, lab, relative)
    page.locator(f"{PANEL} .jp-Cell").first.locator(".jp-Cell-inputWrapper").click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the active cell and moves on
    for _ in range(page.locator(f"{PANEL} .jp-Cell").count()):
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(
            """(panel) => ![...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]
                          .some(p => p.textContent.includes('*'))""", arg=PANEL, timeout=300_000)
    _wait_for_kernel_idle(page)
    _save(page)
    return page


def _open_and_run_all(browser, lab, relative: str):
    page = _open(browser, lab, relative)
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    # Done when something ran, nothing is queued or running ("[*]"), and the kernel is idle. (Run All
    # stops at a cell that raises: the cells after it keep an empty prompt.)
    page.wait_for_function(
        """(panel) => {
            const prompts = [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent);
            return prompts.some(t => /[0-9]/.test(t)) && !prompts.some(t => t.includes('*'));
        }""", arg=PANEL, timeout=300_000)
    _wait_for_kernel_idle(page)
    _save(page)
    return page


def _save(page) -> None:
    """Save with the notebook toolbar's button, then wait until its tab is no longer marked as changed."""
    page.click(f"{PANEL} .jp-NotebookPanel-toolbar [data-command='docmanager:save']")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')")


def _wait_for_kernel_idle(page) -> None:
    """The status bar reads "Python 3 (ipykernel) | Idle" once the kernel is started, connected and free."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-Widget, .jp-StatusBar-TextItem')]
                 .some(item => /\\|\\s*Idle/.test(item.textContent))""", timeout=180_000)


def _validate(page) -> str:
    page.click(f"{PANEL} .validate-button button, {PANEL} button:has-text('Validate')")
    dialog = page.wait_for_selector(".jp-Dialog:has-text('Validation Results')", timeout=300_000)
    return dialog.inner_text()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _saved(lab, relative: str):
    return nbformat.read(lab["course"] / "release" / relative, as_version=4)


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.parent.name)
def test_reference_answers_run_clean_plots_render_and_validate_succeeds(browser, lab, release):
    relative = f"{release.parent.name}/filled_{release.name}"
    page = _open_and_run_all(browser, lab, relative)
    try:
        saved = _saved(lab, relative)
        errors = [(i, o.ename, o.evalue[:200]) for i, o in error_outputs(saved)]
        assert not errors, errors
        assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] .ansi-red-fg, "
                            ".jp-OutputArea-output .jp-mod-error").count() == 0
        images = page.locator(".jp-OutputArea-output img")
        assert images.count() >= 1, "no plot rendered"
        assert page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                             ".every(img => img.complete && img.naturalWidth > 100)"), "a plot did not render"
        images.first.scroll_into_view_if_needed()
        _screenshot(page, f"{release.parent.name}-reference-answers")
        verdict = _validate(page)
        _screenshot(page, f"{release.parent.name}-reference-answers-validated")
        assert "Success! Your notebook passes all the tests." in verdict, verdict[:2000]
    finally:
        page.close()


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.parent.name)
def test_blank_notebook_checks_fail_with_readable_messages(browser, lab, release):
    relative = f"{release.parent.name}/blank_{release.name}"
    page = _run_each_cell(browser, lab, relative)
    try:
        saved = _saved(lab, relative)
        tests = [i for i, cell in enumerate(saved.cells)
                 if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade")]
        errors = dict(error_outputs(saved))
        assert set(tests) <= set(errors), "a check passed on a blank notebook"
        for i, output in errors.items():
            frames = "\n".join(output.get("traceback", []))
            assert "site-packages/course" not in frames and "/course/checks.py" not in frames, \
                f"cell {i} shows a traceback from inside the course package:\n{frames[-1500:]}"
        first_test = page.locator(".jp-CodeCell").nth(tests[0])
        first_test.scroll_into_view_if_needed()
        _screenshot(page, f"{release.parent.name}-blank")
        verdict = _validate(page)
        assert "Success!" not in verdict and ("failed" in verdict.lower() or "error" in verdict.lower()), verdict
    finally:
        page.close()
