"""The class report: one self-contained HTML page an instructor can open or mail around.

Score histogram, pass rate per exercise, the most common diagnosed
mistakes, and the submissions that need a human (crashed, timed out,
flagged, malformed, answers still to grade by hand).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

from autograder import grading, notebooks, status as status_mod


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
    e = html.escape
    rows = "".join(f"<tr><td>{e(st)}</td><td>{e(status)}</td><td>{'<br>'.join(e(w) for w in why)}</td></tr>"
                   for st, status, why in humans)
    mistake_rows = "".join(f"<tr><td>{e(gid)}</td><td>{e(d)}</td><td>{n}</td></tr>"
                           for (gid, d), n in mistakes.most_common(15))
    rate_rows = "".join(f"<tr><td>{e(gid)}</td><td>{rate:.0f}%</td></tr>" for gid, rate in rates.items())
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(assignment)}: class report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}</style></head><body>
<h1>{e(assignment)}: class report</h1>
<p>{len(results)} submissions graded, mean score {mean:.1f} / {max_score:g};
{len(humans)} need a human for a problem; {len(by_hand)} have written answers to grade by hand.</p>
<h2>Scores</h2><img alt="score histogram" src="{histogram}">
<h2>Pass rate per exercise</h2><img alt="pass rates" src="{pass_rates}">
<table><tr><th>exercise</th><th>full marks</th></tr>{rate_rows}</table>
<h2>Most common diagnosed mistakes</h2>
<table><tr><th>exercise</th><th>likely mistake</th><th>students</th></tr>{mistake_rows or '<tr><td colspan=3>none</td></tr>'}</table>
<h2>Submissions that need a human</h2>
<table><tr><th>student</th><th>status</th><th>why</th></tr>{rows or '<tr><td colspan=3>none</td></tr>'}</table>
<h2>Written answers to grade by hand</h2>
<p>{e(", ".join(by_hand)) or "none"} (in nbgrader's formgrader).</p>
</body></html>"""
    path = course / "reports" / f"{assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
