"""The class report: one self-contained HTML page an instructor can open or mail around.

Score histogram, pass rate per exercise, the most common diagnosed
mistakes, and the submissions that need a human (crashed, timed out,
flagged, malformed, answers still to grade by hand).  Rendered from an
autoescaping template (templates/report.html.j2): student ids, reasons and
file names come from students, and are text by construction.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from pathlib import Path

from autograder import grading, notebooks, sanitize, status as status_mod

TEMPLATES = Path(__file__).parent / "templates"


def _template():
    """The page's template, autoescaped: student ids, reasons and file names are students' text.  A
    fragment that must stay HTML goes through the ``clean_html`` filter (nh3), never ``|safe``."""
    import jinja2
    import markupsafe
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["clean_html"] = lambda fragment: markupsafe.Markup(sanitize.clean_html(str(fragment)))
    return env.get_template("report.html.j2")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(results, max_score: float, exercises: list[str]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r.score for r in results.values()], bins=min(20, max(5, int(max_score) + 1)),
            range=(0, max_score), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    histogram = _png(fig)
    plt.close(fig)

    rates = [100 * sum(1 for r in results.values() if gid in r.cells and r.cells[gid].score == r.cells[gid].max_score)
             / max(1, len(results)) for gid in exercises]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(exercises) + 1))
    ax.barh(exercises, rates, color="#55a868")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of students with full marks")
    ax.set_title("Pass rate per exercise")
    ax.invert_yaxis()
    pass_rates = _png(fig)
    plt.close(fig)
    return histogram, pass_rates, dict(zip(exercises, rates))


def build(course: Path, assignment: str) -> Path:
    """Write ``reports/<assignment>.html`` in the course directory and return its path."""
    course = Path(course)
    results = grading.results(course, assignment)
    statuses = status_mod.load_all(course, assignment)
    max_score = max((r.max_score for r in results.values()), default=0.0)
    written = set(notebooks.written_answers(assignment, course))
    source = notebooks.notebook_path(assignment, "source", course)
    import nbformat
    exercises = [notebooks.grade_id(c) for c in nbformat.read(source, as_version=4).cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade") and notebooks.grade_id(c) not in written]
    histogram, pass_rates, rates = _plots(results, max_score, exercises) if results else ("", "", {})
    mistakes = Counter((gid, d) for s in statuses.values() for gid, d in s.diagnoses.items())
    humans, by_hand = [], []
    for student in sorted(set(results) | set(statuses)):
        s = statuses.get(student)
        r = results.get(student)
        if s and s.status in status_mod.NEEDS_HUMAN:
            humans.append((student, s.status, list(s.reasons)))
        if r and any(c.needs_manual_grade for c in r.cells.values()):
            by_hand.append(student)
    mean = sum(r.score for r in results.values()) / max(1, len(results))
    page = _template().render(assignment=assignment, graded=len(results), mean=mean, max_score=max_score,
                              histogram=histogram, pass_rates=pass_rates, rates=rates,
                              mistakes=mistakes.most_common(15), humans=humans, by_hand=by_hand)
    path = course / "reports" / f"{assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
