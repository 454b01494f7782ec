"""Grades as CSV: nbgrader's export columns, plus the pipeline's status and reasons.

The first eleven columns are exactly those of ``nbgrader export`` (so an LMS
import written for nbgrader keeps working); ``status`` says "graded",
"flagged", "timed out", "crashed", "malformed" or "missing", and
``reasons`` says why, in words.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder import gradebook, status as status_mod

NBGRADER_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                    "raw_score", "late_submission_penalty", "score", "max_score"]
COLUMNS = NBGRADER_COLUMNS + ["status", "reasons"]


def export(course: Path, path: Path) -> int:
    """Write one row per student and assignment; return the number of rows."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    rows = []
    with Gradebook(gradebook.url(course)) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            statuses = status_mod.load_all(course, assignment.name)
            for student in sorted(gb.students, key=lambda s: s.id):
                row = {"assignment": assignment.name, "duedate": assignment.duedate or "",
                       "student_id": student.id, "last_name": student.last_name or "",
                       "first_name": student.first_name or "", "email": student.email or "",
                       "max_score": assignment.max_score}
                try:
                    submission = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                               status="missing", reasons="no submission")
                else:
                    state = statuses.get(student.id)
                    penalty = submission.late_submission_penalty or 0.0
                    row.update(timestamp=submission.timestamp or "", raw_score=submission.score,
                               late_submission_penalty=penalty, score=max(0.0, submission.score - penalty),
                               status=state.status if state else "graded",
                               reasons="; ".join(state.reasons) if state else "")
                    if submission.total_seconds_late > 0:
                        row["reasons"] = "; ".join(filter(None, [row["reasons"],
                                                                 f"late by {submission.total_seconds_late / 3600:.1f} h"]))
                rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
