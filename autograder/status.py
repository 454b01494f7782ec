"""What the pipeline knows about each graded submission, beyond nbgrader's gradebook.

One JSON file per submission, ``grading/<assignment>/<student>.json`` in the
course directory, written by the trusted grading process only.  nbgrader's
gradebook keeps the scores; this file keeps *why*: the outcome of the run,
the integrity flags, the diagnosis of each failed exercise, and the
fingerprint of the submission that was graded (so a resumed run can skip
what is already done).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# Outcomes, from best to worst.  Anything but "graded" needs a human.
GRADED = "graded"
FLAGGED = "flagged"          # integrity check: some exercises got no automatic credit
TIMED_OUT = "timed out"      # a cell hit the per-cell limit, or the whole run hit the wall limit
CRASHED = "crashed"          # the kernel died (os._exit, segfault, memory limit, ...)
MALFORMED = "malformed"      # the file could not be read as a notebook of this assignment
NEEDS_HUMAN = {FLAGGED, TIMED_OUT, CRASHED, MALFORMED}


@dataclass
class SubmissionStatus:
    student: str
    assignment: str
    status: str = GRADED
    reasons: list[str] = field(default_factory=list)          # for the instructor, plain words
    flags: dict[str, list[str]] = field(default_factory=dict)  # grade_id -> integrity findings
    messages: dict[str, str] = field(default_factory=dict)     # grade_id -> feedback of a lost exercise
    diagnoses: dict[str, str] = field(default_factory=dict)    # grade_id -> likely mistake, if named
    late: bool = False
    timestamp: str | None = None                               # submission time, ISO 8601, when known
    fingerprint: str = ""                                      # sha256 of the submitted files
    seed: int | None = None                                    # the hidden tests' seed for this run
    seconds: float = 0.0
    cpu_seconds: float = 0.0                                   # CPU time of the sandbox, all its processes
    wall_limited: bool = False                                 # a wall-clock backstop (not a CPU limit) hit
    regraded_alone: bool = False                               # graded again, alone, after a wall-clock hit
    sandbox_uid: int | None = None                             # the user its sandbox ran as

    def save(self, course: Path) -> Path:
        path = status_path(course, self.assignment, self.student)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        tmp.replace(path)  # atomic: an interrupted run never leaves half a file
        return path


def status_path(course: Path, assignment: str, student: str) -> Path:
    return Path(course) / "grading" / assignment / f"{student}.json"


def load(course: Path, assignment: str, student: str) -> SubmissionStatus | None:
    path = status_path(course, assignment, student)
    if not path.exists():
        return None
    return from_json(path.read_text())


def from_json(text: str) -> SubmissionStatus | None:
    """A saved status, tolerantly: fields added since are defaulted, fields since removed are ignored.

    An unreadable file is ``None`` (its submission is simply graded again).
    """
    try:
        data = json.loads(text)
        known = {f.name for f in fields(SubmissionStatus)}
        return SubmissionStatus(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError):
        return None


def load_all(course: Path, assignment: str) -> dict[str, SubmissionStatus]:
    folder = Path(course) / "grading" / assignment
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        state = from_json(path.read_text())
        if state is not None:
            out[path.stem] = state
    return out
