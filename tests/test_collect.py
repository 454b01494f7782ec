"""collect: student submissions from an LMS download (zip or folder) into submitted/<student>/<assignment>/."""

from __future__ import annotations

import os
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder.collect import CollectReport, collect

A = "01_finite_differences"
NB = "finite_differences.ipynb"


def notebook(text: str) -> bytes:
    return ('{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["%s"]}], '
            '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}' % text).encode()


@pytest.fixture
def course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    (course / "release" / A).mkdir(parents=True)
    (course / "release" / A / NB).write_bytes(notebook("release"))
    return course


def make_zip(path: Path, members: list[tuple[str, bytes, tuple]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, date_time in members:
            zf.writestr(zipfile.ZipInfo(name, date_time), data)
    return path


def submitted(course: Path, student: str, name: str = NB) -> Path:
    return course / "submitted" / student / A / name


def every_file(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


T1 = (2026, 11, 20, 14, 3, 0)
T2 = (2026, 11, 21, 9, 30, 0)
T3 = (2026, 11, 22, 23, 59, 58)


@pytest.fixture
def lms_zip(tmp_path: Path) -> Path:
    return make_zip(tmp_path / "download.zip", [
        ("Jane Doe_1234567_assignsubmission_file_finite_differences.ipynb", notebook("jane"), T1),
        ("José Müller_7654321_assignsubmission_file_/finite_differences (2).ipynb", notebook("jose"), T2),
        ("doejohn_12345_6789012_finite_differences.ipynb", notebook("john v1"), T1),
        ("doejohn_LATE_12345_6789020_finite_differences-1.ipynb", notebook("john v2"), T3),
        ("roefrank_LATE_23456_6789030_finite_differences.ipynb", b"{ this is not json", T3),
        ("o_brien_pat_34567_6789040_finite_differences.ipynb", notebook("pat"), T2),
        ("Assignment 1_jdoe12_attempt_2026-11-20-16-45-10_finite_differences.ipynb", notebook("jd"), T1),
        ("Assignment 1_jdoe12_attempt_2026-11-20-16-45-10.txt", b"receipt", T1),
        ("doejohn_12345_6789013_helpers.py", b"print(1)\n", T1),
        ("notes.ipynb", notebook("?"), T1),
        ("__MACOSX/._doejohn_12345_6789012_finite_differences.ipynb", b"\x00junk", T1),
        (".DS_Store", b"junk", T1),
    ])


def test_lms_zip(course, lms_zip):
    report = collect(course, A, lms_zip)
    assert isinstance(report, CollectReport)
    students = ("1234567", "7654321", "12345", "23456", "34567", "jdoe12")
    assert report.imported == {s: [f"{s}/{A}/{NB}"] for s in students}
    # Every notebook lands under the release notebook's name, whatever it was called in the download.
    assert submitted(course, "1234567").read_bytes() == notebook("jane")
    assert submitted(course, "7654321").read_bytes() == notebook("jose")  # Moodle's "in folders" layout
    assert submitted(course, "12345").read_bytes() == notebook("john v2")  # the LATE -1 resubmission is newer
    assert submitted(course, "23456").read_bytes() == b"{ this is not json"  # copied as is, never parsed
    assert report.replaced == ["12345"]
    assert [name for name, _ in report.skipped] == ["doejohn_12345_6789012_finite_differences.ipynb"]
    assert dict(report.unattributed) == {
        "Assignment 1_jdoe12_attempt_2026-11-20-16-45-10.txt": "not a notebook",
        "doejohn_12345_6789013_helpers.py": "not a notebook",
        "notes.ipynb": "file name matches no known pattern (no student id)",
    }
    assert not (course / "submitted" / "doejohn").exists() and not (course / "submitted" / "notes").exists()
    # Times: from the zip member, or from the name (Blackboard) when it has one.
    stamp = lambda s: submitted(course, s, "timestamp.txt").read_text()  # noqa: E731
    assert stamp("1234567") == "2026-11-20 14:03:00.000000 UTC"
    assert stamp("12345") == "2026-11-22 23:59:58.000000 UTC"
    assert stamp("jdoe12") == "2026-11-20 16:45:10.000000 UTC"
    summary = report.summary()
    assert "6 submissions imported" in summary and "notes.ipynb" in summary and "12345" in summary


def test_timestamp_is_what_nbgrader_reads(course, lms_zip):
    from nbgrader.utils import parse_utc
    collect(course, A, lms_zip)
    text = submitted(course, "12345", "timestamp.txt").read_text()
    assert parse_utc(text) == datetime(2026, 11, 22, 23, 59, 58)


def test_rerun_is_idempotent(course, lms_zip):
    first = collect(course, A, lms_zip)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (course / "submitted").rglob("*") if p.is_file()}
    second = collect(course, A, lms_zip)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (course / "submitted").rglob("*") if p.is_file()}
    assert second == first
    assert after == before  # nothing rewritten


def test_newer_download_replaces_older_one_but_not_the_reverse(course, tmp_path):
    old = make_zip(tmp_path / "old.zip", [("doejohn_12345_1_finite_differences.ipynb", notebook("old"), T1)])
    new = make_zip(tmp_path / "new.zip", [("doejohn_12345_2_finite_differences.ipynb", notebook("new"), T2)])
    assert collect(course, A, old).replaced == []
    report = collect(course, A, new)
    assert report.replaced == ["12345"] and submitted(course, "12345").read_bytes() == notebook("new")
    report = collect(course, A, old)  # an older download does not overwrite a newer submission
    assert report.imported == {} and [n for n, _ in report.skipped] == ["doejohn_12345_1_finite_differences.ipynb"]
    assert submitted(course, "12345").read_bytes() == notebook("new")
    assert submitted(course, "12345", "timestamp.txt").read_text() == "2026-11-21 09:30:00.000000 UTC"


def test_same_time_newest_by_sequence(course, tmp_path):
    zip_path = make_zip(tmp_path / "d.zip", [
        ("doejohn_12345_6789020_finite_differences-1.ipynb", notebook("second upload"), T1),
        ("doejohn_12345_6789012_finite_differences.ipynb", notebook("first upload"), T1),
    ])
    report = collect(course, A, zip_path)
    assert report.replaced == ["12345"]
    assert submitted(course, "12345").read_bytes() == notebook("second upload")


def test_folder_per_student(course, tmp_path):
    src = tmp_path / "in"
    for rel, data in {
        "alice/my work.ipynb": notebook("alice"),
        f"bob/{A}/{NB}": notebook("bob"),
        f"bob/{A}/.ipynb_checkpoints/finite_differences-checkpoint.ipynb": notebook("bob ckpt"),
        "carol/02_other/x.ipynb": notebook("carol"),
        "dave smith/x.ipynb": notebook("dave"),
        "erin/report.pdf": b"%PDF",
        "frank_finite_differences.ipynb": notebook("frank"),  # generic flat name, next to the folders
        "grace-fd.ipynb": notebook("grace"),
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    mtime = datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc).timestamp()
    os.utime(src / "alice" / "my work.ipynb", (mtime, mtime))

    report = collect(course, A, src)
    assert sorted(report.imported) == ["alice", "bob", "frank", "grace"]
    assert submitted(course, "alice").read_bytes() == notebook("alice")
    assert submitted(course, "bob").read_bytes() == notebook("bob")
    assert submitted(course, "frank").read_bytes() == notebook("frank")
    assert submitted(course, "alice", "timestamp.txt").read_text() == "2026-11-20 14:03:00.000000 UTC"
    reasons = dict(report.unattributed)
    assert set(reasons) == {"carol/02_other/x.ipynb", "dave smith/x.ipynb", "erin/report.pdf"}
    assert "02_other" in reasons["carol/02_other/x.ipynb"]
    assert "dave smith" in reasons["dave smith/x.ipynb"]
    assert reasons["erin/report.pdf"] == "not a notebook"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob", "frank", "grace"]


def test_zip_slip_and_absolute_paths_write_nothing_outside(course, tmp_path):
    zip_path = make_zip(tmp_path / "evil.zip", [
        ("../../evil.ipynb", notebook("evil"), T1),
        ("../../1234_evil.ipynb", notebook("evil"), T1),
        ("/tmp/abs_evil.ipynb", notebook("evil"), T1),
        ("C:/abs_evil.ipynb", notebook("evil"), T1),
        ("..\\..\\win_evil.ipynb", notebook("evil"), T1),
        ("../mallory/x.ipynb", notebook("evil"), T1),
        ("ok_finite_differences.ipynb", notebook("ok"), T1),
    ])
    outside_before = every_file(tmp_path)
    report = collect(course, A, zip_path)
    assert report.imported == {"ok": [f"ok/{A}/{NB}"]}
    assert len(report.unattributed) == 6
    assert all("unsafe path" in reason for _, reason in report.unattributed)
    new_files = set(every_file(tmp_path)) - set(outside_before)
    assert new_files == {f"course/submitted/ok/{A}/{NB}", f"course/submitted/ok/{A}/timestamp.txt"}
    assert not Path("/tmp/abs_evil.ipynb").exists() or Path("/tmp/abs_evil.ipynb").read_bytes() != notebook("evil")


def test_student_id_must_be_safe(course, tmp_path):
    # A custom pattern that would let '..' or odd characters through: collect still refuses them.
    zip_path = make_zip(tmp_path / "d.zip", [
        ("x_.._finite_differences.ipynb", notebook("a"), T1),
        ("x_a$b_finite_differences.ipynb", notebook("b"), T1),
        ("x__finite_differences.ipynb", notebook("c"), T1),
        ("x_good.id-1_finite_differences.ipynb", notebook("d"), T1),
    ])
    report = collect(course, A, zip_path, patterns=[("custom", r"x_(?P<student_id>[^_]*)_.*")])
    assert sorted(report.imported) == ["good.id-1"]
    reasons = dict(report.unattributed)
    assert "'..'" in reasons["x_.._finite_differences.ipynb"]
    assert "'a$b'" in reasons["x_a$b_finite_differences.ipynb"]
    assert "empty student id" in reasons["x__finite_differences.ipynb"]
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["good.id-1"]


def test_custom_pattern_with_timestamp_and_time_zone(course, tmp_path):
    zip_path = make_zip(tmp_path / "d.zip", [("s42@2026-11-20T15:03:00.ipynb", notebook("s42"), T3)])
    report = collect(course, A, zip_path, timezone="Europe/Paris",
                     patterns=[("at", r"(?P<student_id>\w+)@(?P<timestamp>[^/]+)\.ipynb")])
    assert sorted(report.imported) == ["s42"]
    assert submitted(course, "s42", "timestamp.txt").read_text() == "2026-11-20 14:03:00.000000 UTC"


def test_zip_extended_timestamp_is_utc(course, tmp_path):
    utc = int(datetime(2026, 11, 20, 14, 3, 2, tzinfo=timezone.utc).timestamp())
    info = zipfile.ZipInfo("s1_fd.ipynb", (2026, 11, 20, 15, 3, 2))  # DOS time in some local zone
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, utc)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        zf.writestr(info, notebook("s1"))
    collect(course, A, tmp_path / "d.zip")
    assert submitted(course, "s1", "timestamp.txt").read_text() == "2026-11-20 14:03:02.000000 UTC"


def test_too_big_member_is_reported(course, tmp_path):
    zip_path = make_zip(tmp_path / "d.zip", [("s1_fd.ipynb", b"x" * 2000, T1), ("s2_fd.ipynb", b"{}", T1)])
    report = collect(course, A, zip_path, max_bytes=1000)
    assert sorted(report.imported) == ["s2"]
    assert "too big" in dict(report.unattributed)["s1_fd.ipynb"]


def test_notebook_name(course, tmp_path):
    zip_path = make_zip(tmp_path / "d.zip", [("s1_fd.ipynb", b"{}", T1)])
    collect(course, A, zip_path, notebook_name="other.ipynb")
    assert submitted(course, "s1", "other.ipynb").read_bytes() == b"{}"
    (course / "release" / A / "second.ipynb").write_bytes(b"{}")
    with pytest.raises(ValueError, match="notebook_name"):
        collect(course, A, zip_path)  # two release notebooks: which one is meant is not guessed
    with pytest.raises(ValueError):
        collect(course, A, zip_path, notebook_name="../x.ipynb")
    with pytest.raises(ValueError):
        collect(course, "../x", zip_path, notebook_name="x.ipynb")


def test_source_must_be_folder_or_zip(course, tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError):
        collect(course, A, tmp_path / "x.txt")
