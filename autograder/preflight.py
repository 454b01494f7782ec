"""Look at a submission before grading it: can it be read, is it this assignment's notebook?

The student's files in ``submitted/`` are never changed.  What gets graded
is a *staged* copy (``staged/<student>/<assignment>/``): the same notebook
under the name nbgrader expects, upgraded to nbformat 4 if it is older, or
-- when it cannot be read at all -- the blank release notebook, so that the
student gets 0 with a reason instead of a crash or a missing row.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.settings import MAX_SUBMISSION_BYTES


@dataclass
class Preflight:
    ok: bool                                   # False: nothing gradable, the blank notebook is staged
    reasons: list[str] = field(default_factory=list)
    fingerprint: str = ""


def fingerprint(folder: Path) -> str:
    """sha256 over the names and bytes of the submitted files: a changed submission is regraded."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    raw = path.read_bytes()
    if not raw.strip():
        return None, f"{path.name} is empty"
    if len(raw) > MAX_SUBMISSION_BYTES:
        return None, f"{path.name} is larger than {MAX_SUBMISSION_BYTES // 2**20} MB"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{path.name} is not UTF-8 text (byte {exc.start}): is it a notebook?"
    try:
        nb = nbformat.reads(text, as_version=4)  # upgrades nbformat 3 notebooks
    except Exception as exc:
        return None, f"{path.name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:120]})"
    if not isinstance(nb.get("cells"), list):
        return None, f"{path.name} has no cells"
    return nb, ""


def stage(submitted: Path, staged: Path, expected_name: str, release_notebook: Path) -> Preflight:
    """Check ``submitted`` (a student's assignment folder) and write what will be graded to ``staged``."""
    result = Preflight(ok=True, fingerprint=fingerprint(submitted))
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    if (submitted / "timestamp.txt").is_file():
        shutil.copy2(submitted / "timestamp.txt", staged / "timestamp.txt")
    candidates = sorted(p for p in submitted.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    chosen = submitted / expected_name
    if not chosen.is_file():
        if len(candidates) == 1:
            chosen = candidates[0]
            result.reasons.append(f"wrong file name: graded {chosen.name} as {expected_name}")
        else:
            found = ", ".join(p.name for p in candidates) or "no notebook"
            result.reasons.append(f"no {expected_name} in the submission (found: {found})")
            result.ok = False
    nb = None
    if result.ok:
        nb, problem = _read(chosen)
        if nb is None:
            result.ok = False
            result.reasons.append(problem)
        else:
            original_version = _major_version(chosen)
            if original_version and original_version < 4:
                result.reasons.append(f"notebook format {original_version} upgraded to 4")
    release = nbformat.read(release_notebook, as_version=4)
    if nb is None:
        nb = release  # blank: every exercise scores 0
    else:
        added = only_release_grading(nb, release)
        if added:
            result.reasons.append(f"{added} cell(s) claimed nbgrader metadata the assignment does not have: "
                                  "treated as the student's own, ungraded cells")
    nbformat.write(nb, staged / expected_name)
    return result


def only_release_grading(nb, release) -> int:
    """Give every cell the nbgrader metadata the release notebook gave it, and the others none.

    nbgrader scores whatever cell carries grading metadata, so a cell the student added with
    ``"grade": true`` (or a second copy of a test cell) must not keep it: only the assignment's own
    cells are ever scored.  Returns how many cells lost metadata they had claimed.
    """
    release_meta = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader for c in release.cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    seen, stripped = set(), 0
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid in release_meta and gid not in seen:
            seen.add(gid)
            cell.metadata["nbgrader"] = nbformat.from_dict(dict(release_meta[gid]))
        else:
            del cell.metadata["nbgrader"]
            stripped += 1
    return stripped


def _major_version(path: Path) -> int | None:
    import json
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("nbformat"))
    except Exception:
        return None
