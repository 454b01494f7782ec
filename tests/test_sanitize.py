"""Student content is inert before an instructor's browser sees it: a catalogue of hostile content.

Each case says what must survive.  Markdown is checked twice: the text :func:`inert_markdown` returns,
and the HTML that nbconvert's own renderer (the one formgrader and the feedback use) makes of it, which
must hold no active part: no element outside the allowlist, no event handler, style or URL with an
unsafe scheme.  The browser itself is in test_formgrader_browser.py.
"""

from __future__ import annotations

import base64
import html
import re
import struct
import zlib
from html.parser import HTMLParser

import nbformat
import pytest
from hypothesis import given, settings, strategies as st
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

from autograder import course_dir, grading, notebooks, report, sanitize, status as status_mod
from autograder.sanitize import clean_html, inert_markdown, inert_notebook, inert_outputs
from conftest import ROOT

PAYLOAD = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 1\">"


def tiny_png() -> bytes:
    """A real 1 x 1 grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (sanitize.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


PNG = base64.b64encode(tiny_png()).decode()


def result(data: dict, **extra) -> dict:
    return nbformat.v4.new_output("execute_result", data=data, execution_count=3, **extra)


# -- what a browser would find active in rendered HTML ---------------------------------------------------

# What nbconvert's markdown renderer writes itself: links, images and task-list boxes.
RENDERED = sanitize.TAGS | {"a", "img", "input"}


class _Active(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag not in RENDERED:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "action"):
                self.found.append(f"{tag}[{name}]")
            if tag == "img" and name == "src" and value.startswith("data:image/png;base64,"):
                continue  # an attachment kept because it is a real PNG, embedded by nbconvert
            if name in ("href", "src") and value:
                scheme = re.match(r"([a-z][a-z0-9+.\-]*):", re.sub(r"[\x00-\x20]", "", value).lower())
                if scheme and scheme.group(1) not in sanitize.SAFE_SCHEMES:
                    self.found.append(f"{tag}[{name}={value[:40]}]")

    def handle_comment(self, data):
        self.found.append("<!-- -->")


def active(rendered: str) -> list[str]:
    parser = _Active()
    parser.feed(rendered)
    parser.close()
    return parser.found


def markdown2html(source: str, attachments=None) -> str:
    """What nbconvert's HTML export (formgrader, feedback) makes of a markdown cell."""
    return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments or {})).render(source)


def rendered(markdown: str) -> str:
    return markdown2html(inert_markdown(markdown))


def test_the_detector_sees_what_a_sanitizer_must_remove():
    # Without inert_markdown the renderer passes every one of these through: the checks below can fail.
    for raw in [PAYLOAD, "[x](javascript:alert(1))", "<iframe src=x></iframe>", "<p style='x'>a</p>",
                "<b onclick=alert(1)>b</b>", "<!-- c -->"]:
        assert active(markdown2html(raw)), raw


# -- outputs ---------------------------------------------------------------------------------------------

def test_repr_markdown_with_script_and_img_onerror_keeps_only_the_plain_text():
    (kept,) = inert_outputs([result({"text/plain": "<__main__.Hostile at 0x7f>", "text/markdown": PAYLOAD})])
    assert kept["data"] == {"text/plain": "<__main__.Hostile at 0x7f>"}
    assert kept["execution_count"] == 3


def test_only_plain_text_and_png_are_allowed():
    assert set(sanitize.ALLOWED_MIME) == {"text/plain", "image/png"}


@pytest.mark.parametrize("mime, payload", [
    ("text/html", PAYLOAD),
    ("text/markdown", PAYLOAD),
    ("application/javascript", "window.__pwned = 1; document.title = 'pwned'; alert(1)"),
    ("text/javascript", "alert(1)"),
    ("image/svg+xml", "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(1)</script></svg>"),
    ("text/latex", "\\href{javascript:alert(1)}{x}"),
    ("application/vnd.jupyter.widget-view+json", {"model_id": "x"}),
    ("image/jpeg", base64.b64encode(b"\xff\xd8\xff<script>").decode()),
])
def test_active_or_unknown_mime_types_are_dropped(mime, payload):
    kept = inert_outputs([result({mime: payload}), result({mime: payload, "text/plain": "Hostile()"})])
    assert [o["data"] for o in kept] == [{"text/plain": "Hostile()"}]  # the first had nothing left


def test_plain_text_that_is_fine_survives_unchanged():
    text = "x < 1 and <b>not a tag</b>, just text\n"
    stream = nbformat.v4.new_output("stream", name="stdout", text=text)
    out = inert_outputs([stream, result({"text/plain": text})])
    assert out == [stream, result({"text/plain": text})]


def test_a_fake_png_is_dropped_and_a_real_one_kept():
    html_as_png = base64.b64encode(b"<html><script>alert(1)</script></html>").decode()
    signature_then_junk = "iVBORw0KGgo" + "@@@not base64@@@"
    too_big = base64.b64encode(sanitize.PNG_SIGNATURE + b"\0" * (sanitize.MAX_PNG_BYTES + 1)).decode()
    kept = inert_outputs([{"output_type": "display_data", "metadata": {}, "data": {"image/png": bad}}
                          for bad in (html_as_png, signature_then_junk, too_big, 42)])
    assert kept == []
    wrapped = "\n".join(PNG[i:i + 20] for i in range(0, len(PNG), 20))  # base64 as nbformat may wrap it
    (png,) = inert_outputs([nbformat.v4.new_output("display_data", data={"image/png": wrapped})])
    assert png["data"] == {"image/png": PNG}


def test_metadata_keeps_only_numeric_image_sizes():
    # nbconvert writes width and height unquoted into the <img> tag, and img src from "filenames".
    hostile = {"image/png": {"width": "1 onerror=alert(1)", "height": 40}, "filenames": {"image/png": "javascript:x"},
               "text/html": {"isolated": True}, "needs_background": "<script>"}
    (out,) = inert_outputs([nbformat.v4.new_output("display_data", data={"image/png": PNG}, metadata=hostile)])
    assert out["metadata"] == {"image/png": {"height": 40}}


def test_update_display_data_transient_and_unknown_output_types_are_dropped():
    update = {"output_type": "update_display_data", "data": {"text/plain": "rewrites an earlier output"},
              "metadata": {}, "transient": {"display_id": "d1"}}
    shown = {"output_type": "display_data", "data": {"text/plain": "shown"}, "metadata": {},
             "transient": {"display_id": "d1"}}
    unknown = {"output_type": "html", "data": {"text/plain": "x"}}
    out = inert_outputs([update, shown, unknown, "not even a dict"])
    assert out == [nbformat.v4.new_output("display_data", data={"text/plain": "shown"})]
    assert "transient" not in out[0]


def test_streams_and_errors_stay_plain_text():
    outputs = [{"output_type": "stream", "name": "stdout", "text": ["two ", "lines\n"], "extra": "<script>"},
               {"output_type": "stream", "name": "<script>", "text": "not a stream name"},
               {"output_type": "error", "ename": "ValueError", "evalue": "<b>bad</b>",
                "traceback": ["\x1b[31mValueError\x1b[0m: <b>bad</b>", 7]}]
    assert inert_outputs(outputs) == [
        nbformat.v4.new_output("stream", name="stdout", text="two lines\n"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="<b>bad</b>",
                               traceback=["\x1b[31mValueError\x1b[0m: <b>bad</b>"])]


def test_the_judge_keeps_only_the_allowlist_and_still_drops_stderr():
    from autograder import judge
    outputs = [nbformat.v4.new_output("stream", name="stderr", text="a warning"),
               nbformat.v4.new_output("stream", name="stdout", text="printed"),
               result({"text/plain": "Hostile()", "text/markdown": PAYLOAD, "text/x-weird": "<script>"})]
    assert judge.clean_outputs(outputs) == [outputs[1], result({"text/plain": "Hostile()"})]


# -- markdown --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hostile, words", [
    ("My answer. <script>window.__pwned = 1</script> More.", ["My answer.", "More."]),
    ("See <img src=x onerror=\"window.__pwned = 1\"> this", ["See", "this"]),
    ("<img/src=x/onerror=alert(1)>nothing else", ["nothing else"]),
    ("<iframe src=\"javascript:alert(1)\">fallback</iframe>after", ["after"]),
    ("<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>after", ["after"]),
    ("<style>body { display: none }</style>still shown", ["still shown"]),
    ("<p style=\"background:url(javascript:alert(1))\">styled</p>", ["styled"]),
    ("<b onclick=\"alert(1)\" onmouseover=alert(1)>bold</b>", ["<b>bold</b>"]),
    ("<details open ontoggle=\"alert(1)\"><summary>s</summary>body</details>", ["<details>", "body"]),
    ("<svg><script>alert(1)</script></svg><math><mi>x</mi></math>text", ["text"]),
    ("<a href=\"javascript:alert(1)\">click</a>", ["click"]),
    ("<form action=\"javascript:alert(1)\"><button>go</button></form>", ["go"]),
    ("<div>\n`<img src=x onerror=alert(1)>`\n</div>", []),   # a "code span" that is raw HTML in a block
    ("<div>\n$<img src=x onerror=alert(1)>$\n</div>", []),   # the same with "math"
    ("<div>\n\\<img src=x onerror=alert(1)>\n</div>", []),   # and with markdown's escaped "<"
    ("<textarea><img src=x onerror=alert(1)></textarea>", []),
    ("<!-- <img src=x onerror=alert(1)> -->visible", ["visible"]),
    ("<https://example.org> and <javascript:alert(1)>", ["https://example.org"]),
])
def test_raw_html_in_markdown_is_made_harmless(hostile, words):
    clean = inert_markdown(hostile)
    page = markdown2html(clean)
    assert active(page) == [], (clean, page)
    assert "__pwned" not in page  # scripts and handlers go with their code, not left as text
    for word in words:
        assert word in clean


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x]( <javascript:alert(1)>)",
    "[x](<\tjavascript:alert(1)>)",
    "[x](javascript\\:alert(1))",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![i](javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![i](attachment:evil.svg)",
])
def test_javascript_links_in_markdown_are_defused(link):
    clean = inert_markdown(link)
    page = markdown2html(clean)
    assert active(page) == [], (clean, page)
    # Defused in the text itself, whatever renderer reads it: each destination now starts with "#" (or
    # is gone with the tag it was written as).
    for target in sanitize.LINK_TARGET.finditer(clean):
        assert clean[target.end():target.end() + 1] in ("#", ")", ""), clean


def test_safe_links_survive():
    text = "[a](https://jax.readthedocs.io) [b](#section) [c](other.ipynb) [m](mailto:me@uni.edu)"
    assert inert_markdown(text) == text


@pytest.mark.parametrize("text", [
    "The forward difference costs $(d+1)T$; the central one $2dT$, since $f(w \\pm \\epsilon e_i)$...",
    "$$\\begin{aligned} f'(x) &\\approx \\frac{f(x+h) - f(x)}{h} \\\\ &= f'(x) + O(h) \\end{aligned}$$",
    "If $h < 10^{-8}$ then round-off wins: $\\epsilon_{mach} / h > h$.",
    "> a quote\n\n* a list with `code < 3` and **bold** & _italic_\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "```python\nif a < b and c > d:\n    print(a <= b)\n```",
    "1 < 2, AT&T, x -> y, &alpha; \\< 3",
])
def test_math_and_plain_markdown_are_unchanged(text):
    assert inert_markdown(text) == text


def test_math_and_code_that_could_start_a_tag_change_only_invisibly():
    # Anything that could start a tag, wherever it is, sends the whole cell through nh3: a region a
    # renderer reads differently from us (a code span inside an HTML block is raw HTML) must be harmless.
    text = "Note: $a<b$ and `List<int>`, $$x<y$$, \\<not a tag\\>\n```\nprint('<b>')\n```"
    clean = inert_markdown(text)
    assert clean == ("Note: $a< b$ and `List<\u200bint>`, $$x< y$$, \\<\u200bnot a tag\\>\n"
                     "```\nprint('<\u200bb>')\n```")
    # (a space in math, which TeX ignores, and a zero-width space elsewhere)


def test_every_instructor_markdown_cell_renders_the_same():
    for assignment in notebooks.assignments(ROOT):
        nb = nbformat.read(notebooks.notebook_path(assignment, "source", ROOT), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                assert markdown2html(inert_markdown(cell.source)) == markdown2html(cell.source), cell.source[:200]


def test_escaped_html_stays_text_and_shows_as_written():
    text = "&lt;script&gt;alert(1)&lt;/script&gt; and <b>bold</b>"
    page = rendered(text)
    assert active(page) == [] and "&lt;script&gt;" in page
    # "&amp;lt;" shows "&lt;": nh3's escaping is undone only where that cannot make a character reference.
    assert "&amp;lt;b&amp;gt;" in rendered("<b>Tip</b>: &amp;lt;b&amp;gt; is written like this")


def test_a_very_long_cell_keeps_no_markup_at_all():
    text = "word " * sanitize.MAX_MARKDOWN_CHARS + PAYLOAD + "\\(" * 100
    clean = inert_markdown(text)
    assert active(markdown2html(clean)) == [] and not sanitize.OPENER.search(clean)


FRAGMENTS = ["<script>", "</script>", "<img src=x onerror=alert(1)>", "$", "$$", "`", "```\n", "<div>\n", "\n\n",
             "\n", "[x](", "javascript:alert(1)", ")", "]: ", "&#106;", "&lt;", "<", ">", "a", " ", "\\",
             "<b onclick=alert(1)>", "<!--", "-->", "<style>", "<iframe srcdoc='<script>alert(1)</script>'>",
             "> ", "<details open ontoggle=alert(1)>", "<svg onload=alert(1)>", "<a href=javascript:alert(1)>",
             "*", "_", "\"", "'", "attachment:x", "![i](", "<", "\ue000", "\ue0010\ue001", "<https://x.org>",
             " onmouseover=alert(1)", "https://x.org/", "\\(", "\\)", "|", "- [ ] "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=25).map("".join))
def test_no_combination_of_hostile_fragments_renders_active(text):
    assert active(rendered(text)) == []


def test_clean_html_keeps_formatting_and_drops_everything_active():
    assert clean_html("<b title=x>ok</b><script>alert(1)</script><p onclick=1 style=x>p</p>") == "<b>ok</b><p>p</p>"
    assert clean_html("<a href='javascript:alert(1)'>t</a><img src=x onerror=alert(1)>") == "t"


# -- notebooks -------------------------------------------------------------------------------------------

def _hostile_notebook():
    instructor = nbformat.v4.new_markdown_cell("<details><summary><b>Hint</b></summary>\n\n$a<b$\n\n</details>")
    answer = nbformat.v4.new_markdown_cell("My answer " + PAYLOAD + " ![pasted](attachment:photo.png)"
                                           " ![svg](attachment:evil.svg)",
                                           attachments={"photo.png": {"image/png": PNG},
                                                        "evil.svg": {"image/svg+xml": "<svg onload=alert(1)>"}})
    raw = nbformat.v4.new_raw_cell(PAYLOAD + "<b>raw</b>")
    code = nbformat.v4.new_code_cell("Hostile()", outputs=[result({"text/plain": "Hostile()", "text/html": PAYLOAD})])
    nb = nbformat.v4.new_notebook(cells=[instructor, answer, raw, code])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"<script>": {}}}}
    return nb


def test_inert_notebook_cleans_the_students_cells_and_every_output():
    nb = _hostile_notebook()
    instructor, answer, raw, code = nb.cells
    hint = instructor.source
    inert_notebook(nb, [answer, raw])
    assert instructor.source == hint  # not the student's: left exactly as written
    assert active(markdown2html(answer.source, answer.attachments)) == [] and "My answer" in answer.source
    assert answer.attachments == {"photo.png": {"image/png": PNG}}
    assert "](attachment:photo.png)" in answer.source and "](#attachment:evil.svg)" in answer.source
    assert raw.source == "<b>raw</b>"
    assert code.outputs == [result({"text/plain": "Hostile()"})]
    assert "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_inert_notebook_without_a_list_cleans_every_cell():
    nb = _hostile_notebook()
    inert_notebook(nb)
    assert all(active(markdown2html(c.source, c.get("attachments"))) == []
               for c in nb.cells if c.cell_type == "markdown")


def test_the_students_cells_are_the_solution_cells_and_whatever_they_added():
    assignment = "01_finite_differences"
    source = nbformat.read(notebooks.notebook_path(assignment, "source", ROOT), as_version=4)
    submission = nbformat.read(notebooks.notebook_path(assignment, "release", ROOT), as_version=4)
    added = nbformat.v4.new_markdown_cell(PAYLOAD)
    submission.cells.insert(2, added)
    theirs = sanitize.student_cells(submission, source)
    markdown = [c for c in theirs if c.cell_type == "markdown"]
    written = set(notebooks.written_answers(assignment, ROOT))
    assert [notebooks.grade_id(c) for c in markdown if c is not added] == sorted(written)
    assert any(c is added for c in theirs)
    copied = nbformat.v4.new_markdown_cell(source.cells[0].source)  # the instructor's text, even re-added
    assert sanitize.student_cells(nbformat.v4.new_notebook(cells=[copied]), source) == []


# -- feedback configuration ------------------------------------------------------------------------------

def test_feedback_still_clears_the_hidden_tests_and_now_makes_the_notebook_inert():
    config = course_dir.load_config(ROOT)
    names = [p.__name__ for p in config.GenerateFeedback.preprocessors]
    assert names == ["GetGrades", "ClearHiddenTests", "ClearMarkScheme", "InertFeedback", "CSSHTMLHeaderPreprocessor"]
    assert config.HTMLExporter.sanitize_html is True
    inert = config.GenerateFeedback.preprocessors[3]()
    nb, _ = inert(_hostile_notebook(), {})  # as nbconvert calls it
    assert all(active(markdown2html(c.source, c.get("attachments"))) == []
               for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[3].outputs == [result({"text/plain": "Hostile()"})]


# -- the class report ------------------------------------------------------------------------------------

def test_the_class_report_escapes_student_ids_and_reasons(tmp_path, monkeypatch):
    assignment = "01_finite_differences"
    course = course_dir.make_copy(tmp_path / "course")
    source = nbformat.read(notebooks.notebook_path(assignment, "source", course), as_version=4)
    grade_ids = [notebooks.grade_id(c) for c in source.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    written = set(notebooks.written_answers(assignment, course))
    hostile_id = "<img src=x onerror=alert(1)>"
    reason = "wrong file name: graded <script>alert(1)</script>.ipynb as finite_differences.ipynb"
    cells = {g: grading.CellResult(g, None if g in written else 1.0, 1.0, g in written) for g in grade_ids}
    results = {s: grading.SubmissionResult(s, assignment, 5.0, 10.0, cells) for s in (hostile_id, "1001")}
    monkeypatch.setattr(grading, "results", lambda course, assignment: results)
    status_mod.SubmissionStatus(hostile_id, assignment, status=status_mod.MALFORMED, reasons=[reason, "second"],
                                diagnoses={grade_ids[1]: "<b onclick=alert(1)>sign</b>"}).save(course)
    page = report.build(course, assignment).read_text()
    assert "<script>" not in page and "<img src=x" not in page and "<b onclick" not in page
    assert html.escape(hostile_id) in page and html.escape(reason) + "<br>second" in page
    assert html.escape("<b onclick=alert(1)>sign</b>") in page
    assert "Submissions that need a human" in page and "data:image/png;base64," in page
    assert f"1001, {html.escape(hostile_id)} (in nbgrader's formgrader)" in page
    assert "2 submissions graded, mean score 5.0 / 10;" in page


def test_the_report_filter_for_html_fragments_is_nh3():
    template = report._template().environment.from_string("{{ fragment | clean_html }}|{{ fragment }}")
    assert template.render(fragment="<b onclick=x>b</b><script>1</script>") == \
        "<b>b</b>|&lt;b onclick=x&gt;b&lt;/b&gt;&lt;script&gt;1&lt;/script&gt;"
