"""Student content made inert before it reaches an instructor's browser.

Why this matters more than it seems: formgrader is served by the instructor's own Jupyter server, so a
script in a page it shows runs in that origin with the instructor's rights.  It can rewrite any grade
through formgrader's API, or start a kernel and run code as the instructor -- outside every sandbox.
The feedback pages are opened by instructors (and students) too.  A student controls the outputs of
every code cell (an object with ``_repr_html_``, ``_repr_markdown_`` or ``_repr_javascript_`` needs no
import), the markdown and raw cells they write, their attachments, and the notebook's metadata.

So nothing student-controlled may reach HTML as markup:

* outputs are kept by an **allowlist** of MIME types (:data:`ALLOWED_MIME`): plain text, and PNGs that
  really are PNGs.  A denylist always misses one (``text/markdown`` carries raw HTML);
* markdown and raw cells go through nh3 (Python bindings of ammonia, a maintained sanitizer) with a
  small tag allowlist and no attributes at all: nothing can carry an event handler, a URL or a style;
* markdown link destinations with a scheme other than http(s) and mailto are defused (``javascript:``).

The pipeline applies :func:`inert_notebook` to the notebook nbgrader is about to save, so formgrader
and the feedback both see inert content; feedback generation applies it again (nbgrader_config.py).
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import nbformat
import nh3

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A plot is tens of kilobytes; the sandbox keeps at most 200 kB of output per cell anyway.
from autograder.settings import MAX_PNG_BYTES
# A written answer is a few kilobytes.  Finding math and code in a longer text could take quadratic time (a
# hostile cell of unclosed "\(" would stall the grader): there, every "<" that starts markup is escaped.
MAX_MARKDOWN_CHARS = 20_000

# Formatting a written answer may use.  No attributes at all (so no links, images, styles or handlers:
# markdown's own [text](url) and ![alt](url) remain, defused below when their scheme is not safe).
TAGS = {"b", "i", "em", "strong", "u", "s", "del", "ins", "mark", "small", "sub", "sup", "br", "hr", "p",
        "div", "span", "code", "pre", "kbd", "samp", "var", "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "details", "summary"}
# Elements whose content is code or data, not prose: dropped with their content, not shown as text.
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "noscript", "template", "textarea", "title", "svg",
                        "math", "object", "xmp", "noembed", "noframes", "plaintext"}
SAFE_SCHEMES = {"http", "https", "mailto"}

# What starts markup in HTML's tokenizer: "<" then a letter (a tag), "/" (an end tag), "!" (a comment or
# declaration) or "?" (a bogus comment).  Text without one of these holds no HTML at all.
OPENER = re.compile(r"<[A-Za-z/!?]")
# Math, code and \< are shown verbatim by markdown, so nh3 must not see a "<b" in `$a<b$` as a tag.
# Found generously; what is found is still neutralized (see _neutralize), so a region a renderer reads
# differently (a code span inside an HTML block is raw HTML) cannot carry markup either.
PROTECTED = re.compile(
    r"(?P<fence>^[ ]{0,3}(?P<mark>`{3,}|~{3,}).*?(?:^[ ]{0,3}(?P=mark)[`~]*[ \t]*$|\Z))"  # unclosed: to the end
    r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|(?P<math>\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\\begin\{(?P<env>[A-Za-z*]+)\}.+?\\end\{(?P=env)\}"
    r"|\$[^$\n](?:[^$]|\n(?!\s*\n))*?\$)"
    r"|(?P<escaped>\\<[A-Za-z/!?])",  # markdown's \< is text, to nh3 it starts a tag
    re.DOTALL | re.MULTILINE)
SAFE_AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>]*)>")
PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")  # private-use characters: nh3 keeps them as text
# A link destination starts after "](" or a reference definition's "]:" (and any whitespace).
LINK_TARGET = re.compile(r"\][ \t]*[(:]\s*")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
ATTACHMENT = re.compile(r"<?attachment:([^\s)>\"']+)")  # nbconvert embeds it by this name


def clean_html(fragment: str) -> str:
    """An HTML fragment reduced to :data:`TAGS` without attributes; scripts, styles and frames dropped."""
    return nh3.clean(fragment, tags=TAGS, attributes={"*": set()}, clean_content_tags=DROPPED_WITH_CONTENT,
                     strip_comments=True, link_rel=None)


# -- outputs ---------------------------------------------------------------------------------------------

def _text(value) -> str | None:
    """nbformat's multiline string (a string or a list of strings) as one string; anything else: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None


def _png(value) -> str | None:
    """Base64 of a real PNG (the signature, within the size cap), newlines removed; anything else: None."""
    text = _text(value)
    if text is None or len(text) > 2 * MAX_PNG_BYTES:  # not even worth decoding
        return None
    text = "".join(text.split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return text if raw.startswith(PNG_SIGNATURE) and len(raw) <= MAX_PNG_BYTES else None


# The MIME types an output keeps, each with what makes its value acceptable (None: not acceptable).
ALLOWED_MIME = {"text/plain": _text, "image/png": _png}


def _size(value) -> int | None:
    # nbconvert writes width/height unquoted into the <img> tag: only a plain number may pass.
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10_000 else None


def _inert_output(output):
    kind = output.get("output_type")
    if kind == "stream":
        text = _text(output.get("text"))
        if output.get("name") in ("stdout", "stderr") and text is not None:
            return nbformat.v4.new_output("stream", name=output["name"], text=text)
        return None
    if kind == "error":
        traceback = output.get("traceback")
        lines = [line for line in traceback if isinstance(line, str)] if isinstance(traceback, list) else []
        return nbformat.v4.new_output("error", ename=str(output.get("ename", "")),
                                      evalue=str(output.get("evalue", "")), traceback=lines)
    if kind not in ("display_data", "execute_result"):
        return None  # update_display_data would rewrite an earlier output; unknown types are not ours
    source = output.get("data") if isinstance(output.get("data"), dict) else {}
    data = {mime: accept(source[mime]) for mime, accept in ALLOWED_MIME.items() if mime in source}
    data = {mime: value for mime, value in data.items() if value is not None}
    if not data:
        return None
    metadata = {}
    png_meta = (output.get("metadata") or {}).get("image/png") if "image/png" in data else None
    if isinstance(png_meta, dict):
        sizes = {k: _size(png_meta.get(k)) for k in ("width", "height")}
        if any(sizes.values()):
            metadata["image/png"] = {k: v for k, v in sizes.items() if v is not None}
    if kind == "display_data":
        return nbformat.v4.new_output("display_data", data=data, metadata=metadata)
    count = output.get("execution_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    return nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=count)


def inert_outputs(outputs: list) -> list:
    """Fresh outputs holding only what cannot run in a browser.

    display_data and execute_result keep the :data:`ALLOWED_MIME` entries (an output left with nothing is
    dropped) and, of their metadata, only a PNG's numeric width and height; streams and errors stay plain
    text; update_display_data and unknown output types are dropped.  Every output is rebuilt from the
    fields it needs, so ``transient`` and anything else a student added do not survive.
    """
    kept = []
    for output in outputs or []:
        if isinstance(output, dict):
            clean = _inert_output(output)
            if clean is not None:
                kept.append(clean)
    return kept


# -- markdown --------------------------------------------------------------------------------------------

def _neutralize(region: str, math: bool) -> str:
    """Math or code as shown, but with no "<" that starts markup: a space in math (TeX ignores it), a
    zero-width space in code (invisible)."""
    return OPENER.sub(lambda m: "<" + (" " if math else "\u200b") + m.group()[1:], region)


def _unescape_text(cleaned: str) -> str:
    """Undo nh3's escaping of text where it is harmless, so markdown stays markdown (``>`` quotes, ``&``).

    nh3 writes text with ``&lt; &gt; &amp; &nbsp;``.  ``&lt;`` stays escaped before a character that would
    start markup, and ``&amp;`` before one that would start a character reference; tags (which have no
    attributes here) are left as nh3 wrote them.
    """
    def one(match):
        entity, following = match.group(1), match.string[match.end():match.end() + 1]
        if entity == "lt":
            return match.group() if re.match(r"[A-Za-z/!?]", following) else "<"
        if entity == "amp":
            return match.group() if re.match(r"[A-Za-z0-9#]", following) else "&"
        return ">" if entity == "gt" else "\u00a0"
    return re.sub(r"&(lt|gt|amp|nbsp);", one, cleaned)


def _scheme(destination: str) -> str | None:
    """The scheme a browser would read at the start of a link destination (entities and escapes decoded,
    control characters and whitespace removed, as browsers do), lower case; None for a relative URL."""
    text = html.unescape(destination)
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).lstrip("<")
    text = re.sub(r"[\x00-\x20\x7f]", "", text)
    match = SCHEME.match(text)
    return match.group(1).lower() if match else None


def _defuse_links(text: str, attachments) -> str:
    """A ``#`` in front of every link destination whose scheme is not safe: ``#javascript:...`` is only a
    fragment.  ``attachment:NAME`` stays when the cell has that (inert, PNG) attachment."""
    def defuse(match):
        destination = text[match.end():match.end() + 200]  # a scheme is at the start
        scheme = _scheme(destination)
        if scheme is None or scheme in SAFE_SCHEMES:
            return match.group()
        attachment = ATTACHMENT.match(destination)
        if scheme == "attachment" and attachment and attachment.group(1) in attachments:
            return match.group()
        return match.group() + "#"
    return LINK_TARGET.sub(defuse, text)


def inert_markdown(source: str, attachments=()) -> str:
    """A markdown cell's text with its raw HTML made harmless, math and markdown left as they are.

    Text with nothing that starts markup is returned unchanged (only unsafe link schemes are defused).
    Otherwise math and code are set aside (with their "<" neutralized), the rest goes through nh3
    (:data:`TAGS`, no attributes), nh3's escaping of plain text is undone where harmless, and math and
    code are put back.  A text longer than :data:`MAX_MARKDOWN_CHARS` has every such "<" escaped instead.
    ``attachments``: the names of the cell's attachments that links may point to.
    """
    if not isinstance(source, str):
        source = _text(source) or ""
    if len(source) > MAX_MARKDOWN_CHARS:
        source = OPENER.sub(lambda m: "&lt;" + m.group()[1:], source)  # no markup left at all
    elif OPENER.search(source):
        regions: list[str] = []

        def set_aside(match):
            regions.append(_neutralize(match.group(), math=match.group("math") is not None))
            return f"\ue000{len(regions) - 1}\ue001"
        text = PROTECTED.sub(set_aside, source.replace("\ue000", "").replace("\ue001", ""))
        text = SAFE_AUTOLINK.sub(r"\1", text)  # <https://...> would read as a tag; bare, it is still a link
        text = _unescape_text(clean_html(text))
        source = PLACEHOLDER.sub(lambda m: regions[int(m.group(1))], text)
    return _defuse_links(source, set(attachments))


# -- notebooks -------------------------------------------------------------------------------------------

def inert_attachments(attachments) -> dict:
    """A cell's attachments reduced to real PNGs (a pasted image); anything else is dropped."""
    kept = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else []:
        png = _png(bundle.get("image/png")) if isinstance(bundle, dict) else None
        if isinstance(name, str) and png is not None:
            kept[name] = {"image/png": png}
    return kept


def student_cells(nb, instructor_nb) -> list:
    """The cells of ``nb`` whose text is not the instructor's: all but exact copies of the instructor's
    cells outside the solution cells (nbgrader restores those, and their text is trusted wherever it is)."""
    trusted = {cell.source for cell in instructor_nb.cells
               if not cell.get("metadata", {}).get("nbgrader", {}).get("solution")}
    return [cell for cell in nb.cells if cell.get("source") not in trusted]


def inert_notebook(nb, student=None):
    """Make ``nb`` safe to render, in place, and return it.

    Every code cell's outputs (all came from the student's kernel) go through :func:`inert_outputs`; the
    markdown and raw cells in ``student`` (default: every cell) through :func:`inert_markdown` and
    :func:`clean_html`, and their attachments through :func:`inert_attachments`.  Notebook-level widget
    state (which nbconvert would hand to the widgets' JavaScript) is dropped.
    """
    chosen = {id(cell) for cell in (nb.cells if student is None else student)}
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = inert_outputs(cell.get("outputs"))
        elif id(cell) in chosen and cell.get("cell_type") in ("markdown", "raw"):
            names = ()
            if "attachments" in cell:
                cell["attachments"] = inert_attachments(cell.get("attachments"))
                names = cell["attachments"].keys()
            if cell["cell_type"] == "markdown":
                cell["source"] = inert_markdown(cell.get("source", ""), names)
            else:
                cell["source"] = clean_html(_text(cell.get("source")) or "")
    nb.get("metadata", {}).pop("widgets", None)
    return nb
