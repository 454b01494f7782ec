"""Import student submissions into nbgrader's layout.

    collect(course, "01_finite_differences", Path("downloads.zip"))

puts each student's notebook at

    <course>/submitted/<student>/<assignment>/<notebook>.ipynb
    <course>/submitted/<student>/<assignment>/timestamp.txt   (when the submission time is known)

where ``<notebook>.ipynb`` is the name nbgrader expects (the single notebook
of ``release/<assignment>/``), whatever the file was called in the download.
``timestamp.txt`` holds the submission time in UTC
(``2026-11-20 14:03:00.000000 UTC``); nbgrader compares it with the due date
for late penalties.

The input (``source``) is a folder or a ``.zip`` file. Every file in it is
matched, by its path relative to the folder or zip root (``/``-separated),
against a list of named regular expressions, first match wins. A pattern must
have a ``student_id`` group; it may have a ``timestamp`` group (the submission
time written in the file name), a ``sequence`` group (a number that grows with
each upload: breaks ties between files with the same time) and an
``assignment`` group (a folder that must be the assignment's name). The
defaults, in order (``DEFAULT_PATTERNS``):

``moodle``
    ``Jane Doe_1234567_assignsubmission_file_finite_differences.ipynb`` and,
    from "download submissions in folders",
    ``Jane Doe_1234567_assignsubmission_file_/finite_differences.ipynb``.
    The student id is Moodle's participant number (``1234567``).
``canvas``
    ``doejane_12345_6789012_finite_differences.ipynb``,
    ``doejane_LATE_12345_6789012_finite_differences-1.ipynb``. The student id
    is the Canvas user id (``12345``, unique, unlike the name ``doejane``);
    the second number, the id of the uploaded file, is the ``sequence``.
``blackboard``
    ``Finite differences_jdoe12_attempt_2026-11-20-14-03-00_finite_differences.ipynb``
    (nbgrader's own example): the student id is the part before ``_attempt_``
    and the submission time is in the name.
``folder``
    a folder per student: ``<student>/<anything>.ipynb`` or
    ``<student>/<assignment>/<anything>.ipynb`` (the middle folder must be
    the assignment's name).
``generic``
    a flat file at the top level, ``<student_id>_<anything>.ipynb`` or
    ``<student_id>-<anything>.ipynb`` (the id is everything before the first
    ``_`` or ``-``).

Pass ``patterns=[(name, regexp), ...]`` to use others (each is matched with
``re.fullmatch``, so the whole path must match).

Rules (nothing is guessed; every input file ends up in the report):

* a file that matches no pattern, whose student id is empty or has characters
  other than ASCII letters, digits, ``_``, ``-`` and ``.`` (or starts with a
  ``.``), that is not a ``.ipynb``, that is bigger than ``max_bytes``, or whose
  archive path is unsafe (absolute, ``..``) is listed in ``unattributed`` with
  the reason, and nothing is written for it;
* zip members are read with ``zipfile`` and written only to
  ``submitted/<valid student id>/<assignment>/<notebook>``: a member's own
  path is never used to write anything. Directories, ``__MACOSX/``,
  ``.DS_Store``, ``Thumbs.db``, ``._*`` and ``.ipynb_checkpoints/`` are
  ignored silently; symbolic links in a folder are not followed (reported);
* files are copied as bytes: a malformed notebook is imported (grading
  reports it);
* the submission time is the ``timestamp`` group when a pattern has one (and
  it parses), else the zip member's time (its UTC "extended timestamp" field
  when present, else its DOS ``date_time``) or the file's mtime. Times without
  a time zone (names, DOS ``date_time``) are read in ``timezone`` (UTC by
  default);
* if a student has several notebooks in the input, the newest is kept (by
  time, then ``sequence``, then name), the student is listed in
  ``replaced`` and the others in ``skipped``;
* a submission already in ``submitted/`` is left alone when it is identical
  (same bytes, same time: re-running collect is idempotent) or newer than the
  one in the input (the input file is then listed in ``skipped``); otherwise
  it is overwritten and the student is listed in ``replaced``.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("moodle", r"(?:.*/)?[^/]*?_(?P<student_id>\d+)_assignsubmission_file_(?:/.+|[^/]+)"),
    ("canvas", r"(?:.*/)?[^/]+?_(?:LATE_)?(?P<student_id>\d+)_(?P<sequence>\d+)_[^/]+"),
    ("blackboard", r"(?:.*/)?[^/]*_(?P<student_id>[^/_]+)_attempt_"
                   r"(?P<timestamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_[^/]*)?"),
    ("folder", r"(?P<student_id>[^/]+)/(?:(?P<assignment>[^/]+)/)?[^/]+"),
    ("generic", r"(?P<student_id>[^/_-]+)[_-][^/]+"),
)

from autograder.settings import MAX_UPLOAD_BYTES as MAX_BYTES
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # what nbgrader writes and reads back

_VALID_ID = re.compile(r"[A-Za-z0-9_.-]+")
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_JUNK_DIRS = {"__MACOSX", ".ipynb_checkpoints"}
_NAME_TIME_FORMATS = ("%Y-%m-%d-%H-%M-%S", "%Y%m%d%H%M%S", "%Y%m%d-%H%M%S", "%Y-%m-%d_%H-%M-%S")


@dataclass
class CollectReport:
    imported: dict[str, list[str]] = field(default_factory=dict)
    """student -> files in the submission (paths relative to ``submitted/``)."""
    unattributed: list[tuple[str, str]] = field(default_factory=list)
    """(file in the input, reason): files that could not be attributed to a student."""
    replaced: list[str] = field(default_factory=list)
    """Students whose earlier submission was replaced by a newer one."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file in the input, reason): attributed, but a newer submission of the same student won."""
    sources: dict[str, str] = field(default_factory=dict)
    """student -> the input file their submission came from (to check the attribution)."""

    def summary(self) -> str:
        n = len(self.imported)
        lines = [f"{n} submission{'s' if n != 1 else ''} imported"]
        for student in sorted(self.imported):
            lines.append(f"  {student:<24} <- {_show(self.sources.get(student, '?'))}")
        if self.replaced:
            lines.append(f"replaced by a newer submission: {', '.join(sorted(self.replaced))}")
        if self.skipped:
            lines.append(f"{len(self.skipped)} older file{'s' if len(self.skipped) != 1 else ''} skipped:")
            lines += [f"  {_show(name)}: {reason}" for name, reason in self.skipped]
        if self.unattributed:
            k = len(self.unattributed)
            lines.append(f"{k} file{'s' if k != 1 else ''} not imported (could not attribute):")
            lines += [f"  {_show(name)}: {reason}" for name, reason in self.unattributed]
        return "\n".join(lines)


@dataclass
class _Candidate:
    name: str              # as shown in the report
    student: str
    when: datetime | None  # UTC, naive
    sequence: int
    read: Callable[[], bytes]

    def key(self):
        return (self.when or datetime.min, self.sequence, self.name)


def collect(course: Path, assignment: str, source: Path, *, notebook_name: str | None = None,
            patterns: Sequence[tuple[str, str]] | None = None, timezone: str = "UTC",
            max_bytes: int = MAX_BYTES) -> CollectReport:
    """Import the submissions in ``source`` (a folder or a .zip) for ``assignment``; see the module doc."""
    course, source = Path(course), Path(source)
    if not _VALID_ID.fullmatch(assignment) or assignment.startswith("."):
        raise ValueError(f"not an assignment name: {assignment!r}")
    notebook_name = notebook_name or _release_notebook(course, assignment)
    if "/" in notebook_name or "\\" in notebook_name or notebook_name.startswith(".") \
            or not notebook_name.endswith(".ipynb"):
        raise ValueError(f"not a notebook file name: {notebook_name!r}")
    compiled = _compile(DEFAULT_PATTERNS if patterns is None else patterns)
    tz = ZoneInfo(timezone)

    report = CollectReport()
    candidates: dict[str, list[_Candidate]] = {}
    if source.is_dir():
        entries = _folder_entries(source)
    elif source.is_file() and zipfile.is_zipfile(source):
        entries = _ZipEntries(source, tz)
    else:
        raise ValueError(f"{source} is neither a folder nor a zip file")

    with closing(entries):
        for entry in entries:
            name, parts, size, when, read, problem = entry
            if parts is not None and _is_junk(parts):
                continue
            reason = problem or _attribute(parts, size, compiled, assignment, max_bytes)
            if isinstance(reason, str):
                report.unattributed.append((name, reason))
                continue
            student, match = reason
            name_time = _name_time(match, tz)
            sequence = match.groupdict().get("sequence") or ""
            sequence = int(sequence) if sequence.isdigit() else -1
            candidates.setdefault(student, []).append(
                _Candidate(name, student, name_time or when, sequence, read))

        for student in sorted(candidates):
            group = sorted(candidates[student], key=_Candidate.key, reverse=True)
            while group:
                newest, group = group[0], group[1:]
                data = _read(newest, max_bytes, report)
                if data is not None:
                    break
            else:
                continue  # nothing readable: all reported
            if group:
                report.replaced.append(student)
                report.skipped += [(c.name, f"{student} has a newer file: {newest.name}") for c in group]
            _install(course, assignment, notebook_name, newest, data, report)
    return report


# -- the input ---------------------------------------------------------------------------------------

def _folder_entries(source: Path) -> Iterator[tuple]:
    """(name, parts, size, mtime, read, problem) for every file under ``source``."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(source).as_posix())
        for d in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                parts = (rel_dir / d).parts
                if not _is_junk(parts):
                    yield str(rel_dir / d), parts, 0, None, None, "symbolic link, not followed"
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for f in sorted(filenames):
            path = Path(dirpath) / f
            rel = rel_dir / f
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                yield str(rel), rel.parts, 0, None, None, "symbolic link, not followed"
            elif not stat.S_ISREG(st.st_mode):
                yield str(rel), rel.parts, 0, None, None, "not a regular file"
            else:
                when = datetime.fromtimestamp(st.st_mtime, dt_timezone.utc).replace(tzinfo=None)
                yield str(rel), rel.parts, st.st_size, when, (lambda p=path: p.read_bytes()), None


class _ZipEntries:
    """The members of a zip as (name, parts, size, time, read, problem); never extracts anything."""

    def __init__(self, source: Path, tz):
        self.zf = zipfile.ZipFile(source)
        self.tz = tz

    def close(self):
        self.zf.close()

    def __iter__(self):
        for info in self.zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            parts = _safe_parts(name)
            if parts is None:
                yield name, None, info.file_size, None, None, "unsafe path in the archive (absolute or '..')"
                continue
            if info.flag_bits & 0x1:
                yield name, parts, info.file_size, None, None, "encrypted member"
                continue
            yield name, parts, info.file_size, _zip_time(info, self.tz), self._reader(info), None

    def _reader(self, info):
        def read():
            with self.zf.open(info) as fh:
                return fh.read(info.file_size + 1)
        return read


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path components of an archive member, or None if it is absolute or goes up."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if not parts or ".." in parts or any("\x00" in p for p in parts):
        return None
    return parts


def _is_junk(parts: Sequence[str]) -> bool:
    return (any(p in _JUNK_DIRS for p in parts[:-1]) or parts[-1] in _JUNK_NAMES
            or parts[-1].startswith("._"))


def _zip_time(info: zipfile.ZipInfo, tz) -> datetime | None:
    """A member's modification time in UTC: the extended timestamp (0x5455) if any, else date_time."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            (mtime,) = struct.unpack_from("<i", body, 1)
            return datetime.fromtimestamp(mtime, dt_timezone.utc).replace(tzinfo=None)
        i += 4 + size
    try:
        return _to_utc(datetime(*info.date_time), tz)
    except ValueError:  # a zero or corrupt DOS date
        return None


# -- attribution -------------------------------------------------------------------------------------

def _compile(patterns) -> list[tuple[str, re.Pattern]]:
    compiled = []
    for label, regexp in patterns:
        pattern = re.compile(regexp)
        if "student_id" not in pattern.groupindex:
            raise ValueError(f"pattern {label!r} has no (?P<student_id>...) group")
        compiled.append((label, pattern))
    return compiled


def _attribute(parts, size, patterns, assignment, max_bytes):
    """(student, match), or the reason the file is not imported."""
    if not parts[-1].lower().endswith(".ipynb"):
        return "not a notebook"
    path = "/".join(parts)
    for label, pattern in patterns:
        match = pattern.fullmatch(path)
        if match:
            break
    else:
        return "file name matches no known pattern (no student id)"
    student = match.group("student_id") or ""
    if not student:
        return f"empty student id ({label} pattern)"
    if not _VALID_ID.fullmatch(student) or student.startswith("."):
        return (f"student id {student!r} ({label} pattern) may only have letters, digits, '_', '-', '.'"
                " and must not start with '.'")
    folder = match.groupdict().get("assignment")
    if folder is not None and folder != assignment:
        return f"in folder {folder!r} ({label} pattern), not {assignment!r}"
    if size > max_bytes:
        return f"too big: {size} bytes (the limit is {max_bytes})"
    return student, match


def _name_time(match: re.Match, tz) -> datetime | None:
    text = match.groupdict().get("timestamp")
    if not text:
        return None
    for fmt in _NAME_TIME_FORMATS:
        try:
            return _to_utc(datetime.strptime(text, fmt), tz)
        except ValueError:
            pass
    try:
        return _to_utc(datetime.fromisoformat(text), tz)
    except ValueError:
        return None  # unreadable: the archive/file time is used instead


def _to_utc(when: datetime, tz) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(dt_timezone.utc).replace(tzinfo=None)


# -- the output --------------------------------------------------------------------------------------

def _release_notebook(course: Path, assignment: str) -> str:
    folder = course / "release" / assignment
    found = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    if len(found) != 1:
        raise ValueError(f"expected one notebook in {folder}, found {len(found)}: pass notebook_name")
    return found[0]


def _read_timestamp(path: Path) -> datetime | None:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    for fmt in (TIMESTAMP_FORMAT, "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        return _to_utc(datetime.fromisoformat(text), dt_timezone.utc)
    except ValueError:
        return None


def _read(c: _Candidate, max_bytes: int, report: CollectReport) -> bytes | None:
    """The file's bytes, or None (reported) if it cannot be read or is bigger than announced."""
    try:
        data = c.read()
    except (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as e:
        report.unattributed.append((c.name, f"could not read: {e}"))
        return None
    if len(data) > max_bytes:
        report.unattributed.append((c.name, f"too big: more than {max_bytes} bytes"))
        return None
    return data


def _install(course: Path, assignment: str, notebook_name: str, c: _Candidate, data: bytes,
             report: CollectReport) -> None:
    folder = course / "submitted" / c.student / assignment
    target, stamp = folder / notebook_name, folder / "timestamp.txt"
    rel = f"{c.student}/{assignment}/{notebook_name}"
    stamp_text = c.when.strftime(TIMESTAMP_FORMAT) if c.when else None

    if target.is_file():
        old_when = _read_timestamp(stamp) if stamp.is_file() else None
        same_stamp = (stamp.read_text() if stamp.is_file() else None) == stamp_text
        if same_stamp and target.read_bytes() == data:
            report.imported[c.student] = [rel]        # already there: nothing to do
            report.sources[c.student] = c.name
            return
        if old_when and c.when and c.when < old_when:
            report.skipped.append((c.name, f"submitted/{rel} is newer ({old_when:%Y-%m-%d %H:%M:%S} UTC)"))
            return
        if c.student not in report.replaced:
            report.replaced.append(c.student)

    folder.mkdir(parents=True, exist_ok=True)
    _write(target, data)
    if stamp_text:
        _write(stamp, stamp_text.encode())
    elif stamp.exists():
        stamp.unlink()  # a stale time would be worse than none
    report.imported[c.student] = [rel]
    report.sources[c.student] = c.name


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.collect-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _show(name: str) -> str:
    return name if name.isprintable() else ascii(name)
