"""The rules, applied: every finding in a submission, one function per family of rules.

Each family reads the cells (:mod:`cells`), their Python (:mod:`syntax`) and
what their names refer to (:mod:`names`), and writes findings whose message
names what, where and why (the why is the rule's entry in ``rules.WHY``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from autograder.integrity.budget import MAX_CELLS, MAX_NOTEBOOK_NODES, MAX_REPORTED, TooComplex, Work
from autograder.integrity.cells import Cell, answer_names, read_cells
from autograder.integrity.names import Names, Use, Value, dotted_name, dotted_text
from autograder.integrity.rules import (FILE_METHODS, GETATTR_FAMILY, HARMLESS_NAMES, INTERNALS, PROTECTED_ROOTS,
                                        WHY, Finding, classify, ipython_name, is_allowed_module, magic_rule,
                                        private)
from autograder.integrity.syntax import Code, parse_cell


@dataclass
class Report:
    """The findings, and what checking cost (a test asserts on the work, never on seconds)."""

    findings: list[Finding] = field(default_factory=list)
    work: Work = field(default_factory=Work)


def check_notebook(nb, *, forbid_ad: set[str], forbid_calls: dict[str, dict[str, str]] | None = None,
                   source_nb=None) -> list[Finding]:
    """Every finding in a submission, in notebook order.

    ``forbid_ad``: grade_ids of the solution cells where AD libraries are forbidden.  ``forbid_calls``:
    finer rules for exercises that use an AD library but must not use *some* of it, ``{grade_id: {dotted
    name: why}}`` (``{"newton_cg": {"jax.hessian": "Newton-CG must touch the Hessian only through HVPs"}}``);
    a name covers everything under it (``jax.numpy.linalg.inv``).  ``source_nb``: the instructor's
    notebook; with it, a cell's role comes from the source (a student cannot relabel an added cell as
    locked) and unchanged instructor cells are not checked.
    """
    return analyse(nb, forbid_ad=forbid_ad, forbid_calls=forbid_calls, source_nb=source_nb).findings


def analyse(nb, *, forbid_ad: set[str], forbid_calls: dict[str, dict[str, str]] | None = None,
            source_nb=None) -> Report:
    """:func:`check_notebook`, with the work it cost."""
    report = Report()
    cells = read_cells(nb, source_nb)
    nodes_left = MAX_NOTEBOOK_NODES
    for number, cell in enumerate(cells):
        if number >= MAX_CELLS:  # not even read
            cell.code = Code(too_complex=f"the notebook has more than {MAX_CELLS:,} code cells")
        elif nodes_left <= 0:
            cell.code = Code(too_complex="the notebook has reached its bound of AST nodes")
        else:
            cell.code = parse_cell(cell.source, report.work, nodes_left)
            nodes_left -= cell.code.nodes
    names = Names(cells, answer_names(cells, source_nb), report.work)
    incomplete = names.incomplete
    found: list[tuple[int, Finding]] = []
    for cell in cells:
        if not cell.checked:
            continue
        found += [(cell.index, f) for f in _cell_as_python(cell, names)]
        if cell.code.tree is None or incomplete:
            continue
        try:
            for family in (_reached, _dynamic_code, _introspection, _private, _escaping_modules, _file_methods,
                           _monkeypatching):
                found += [(cell.index, f) for f in family(cell, names)]
            if cell.grade_id in forbid_ad:
                found += [(cell.index, f) for f in _ad_library(cell, names)]
            if forbid_calls and cell.grade_id in forbid_calls:
                found += [(cell.index, f) for f in _forbidden_calls(cell, names, forbid_calls[cell.grade_id])]
        except TooComplex as error:  # the steps the checks themselves count (other cells' bindings of a name)
            incomplete = str(error)
    if incomplete:  # what was found so far stands; the rest is for a human
        what = f"This notebook is too large or complex to check automatically: {incomplete}"
        found.append((-1, Finding(None, 1, "too-complex", f"{what}: {WHY['too-complex']}")))
    else:
        found += _ad_redefinitions(cells, names, forbid_ad)
    unique = dict.fromkeys(sorted(found, key=lambda item: (item[0], item[1].line, item[1].rule, item[1].message)))
    report.findings = _examples([finding for _, finding in unique])
    return report


def _examples(findings: list[Finding]) -> list[Finding]:
    """At most MAX_REPORTED findings per solution cell (or for the added cells) and rule, then a count.

    Which exercises lose their automatic points depends only on the cells and rules found (see
    ``policy.flags_by_exercise``), and those all stay.
    """
    kept, more = [], {}
    for finding in findings:
        key = (finding.grade_id, finding.rule)
        count = more.setdefault(key, [0, finding])
        count[0] += 1
        if count[0] <= MAX_REPORTED:
            kept.append(finding)
    for (grade_id, rule), (count, first) in more.items():
        if count > MAX_REPORTED:
            where = f"in `{grade_id}`" if grade_id else "in the cells the student added or edited"
            kept.append(Finding(grade_id, first.line, rule, f"... and {count - MAX_REPORTED:,} more findings "
                                                            f"of this kind {where}: {WHY[rule]}"))
    return kept


# ---------------------------------------------------------------------------------------------------------
# Words.


def _where(cell: Cell) -> str:
    if cell.grade_id is not None:
        return f"in `{cell.grade_id}`"
    return f"in a cell the student added or edited (cell {cell.index + 1})"


def _finding(cell: Cell, node_or_line, rule: str, what: str) -> Finding:
    line = node_or_line if isinstance(node_or_line, int) else getattr(node_or_line, "lineno", 1)
    return Finding(cell.grade_id, line, rule, f"{what} {_where(cell)}: {WHY[rule]}")


def _shown(path: str) -> str:
    return path.removeprefix("builtins.")


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _source_of(node) -> str:
    """A node's code, shortened; dotted names are spelled from their parts (no recursion on long chains)."""
    if dotted_name(node) is not None:
        return dotted_text(node)
    try:
        return _short(ast.unparse(node))
    except RecursionError:
        return "(deeply nested code)"


def _describe(use: Use, path: str) -> str:
    """"uses jax.grad", "uses `g` (jax.grad)", "imports os", "imports jax at run time"."""
    if use.kind == "import":
        return f"imports {path}"
    if use.kind == "dynamic-import":
        return f"imports {path} at run time"
    return f"uses {use.text}" if use.text == _shown(path) else f"uses `{use.text}` ({_shown(path)})"


def _order(value: Value):
    return value.path or "", value.ad or ""


# ---------------------------------------------------------------------------------------------------------
# The rules, one function per family.


def _cell_as_python(cell: Cell, names: Names) -> list[Finding]:
    """What is not plain Python we can check: IPython's shell commands and magics, one-line automagic, a
    cell that does not parse, and a cell beyond the checker's bounds."""
    code, found = cell.code, []
    for escape in code.escapes:
        kind = "shell command" if escape.name == "!" else "magic"
        found.append(_finding(cell, escape.line, magic_rule(escape.name),
                              f"runs the IPython {kind} `{_short(escape.text)}`"))
    if code.automagic and not names.bound_in_notebook(code.automagic):  # a name of the notebook shadows it
        found.append(_finding(cell, 1, magic_rule(code.automagic),
                              f"runs the IPython magic `{_short(cell.source.strip())}` (automagic)"))
    elif code.too_complex:
        found.append(_finding(cell, 1, "too-complex", f"is too large or complex to check automatically "
                                                      f"({code.too_complex})"))
    elif code.tree is None:
        found.append(_finding(cell, code.error_line, "unparsable", f"does not parse as Python ({code.error})"))
    return found


def _reached(cell: Cell, names: Names) -> list[Finding]:
    """Every module, and every attribute of one, that the cell's names reach, judged by ``rules.classify``.

    This is where deny-by-default happens: ``os`` is "process", ``np.save`` "file-access", ``jax._src``
    "private-attribute", ``np.lib`` and ``course.checks.oracle`` "outside-allowlist".  A name followed
    through more bindings than the checker tracks is reported once.
    """
    found, overflowed = [], False
    for use in names.uses(cell):
        if use.overflow and not overflowed:
            overflowed = True
            found.append(_finding(cell, use.node, "too-complex",
                                  f"uses `{use.text}`, bound in more ways than the checker follows"))
        for value in use.values:
            rule = classify(value.path) if value.path else None
            if rule is not None:
                found.append(_finding(cell, use.node, rule, _describe(use, value.path)))
    return found


def _ad_library(cell: Cell, names: Names) -> list[Finding]:
    """In a solution cell where AD is forbidden: any use of an AD library, however it was reached.

    Aliases count (``j.grad``, ``g`` bound to ``jax.grad`` in another cell, a helper whose body uses jax),
    and so do strings (``__import__("jax")``): the exercise is to compute the derivative oneself.  A value
    merely *computed* from AD inside this same cell (``v = jnp.log(x)``, then ``v``) is not flagged again
    where it is used: its source line already is.
    """
    found = []
    for use in names.uses(cell):
        reported = use.values if use.kind != "name" else (
            [v for v in use.values if v.path] + names.foreign(use.node))
        ad = next((v.ad for v in sorted(reported, key=_order) if v.ad), None)
        if ad:
            found.append(_finding(cell, use.node, "ad-library", _describe(use, ad)))
    return found


def _forbidden_calls(cell: Cell, names: Names, forbidden: dict[str, str]) -> list[Finding]:
    """In a solution cell with finer rules: any use of a forbidden name (or of something under it).

    Aliases count as for AD libraries (``from jax import hessian as H``, ``inv = jnp.linalg.inv`` in
    another cell), because the names are followed the same way.
    """
    found = []
    for use in names.uses(cell):
        reported = use.values if use.kind != "name" else (
            [v for v in use.values if v.path] + names.foreign(use.node))
        for value in sorted(reported, key=_order):
            rule = _forbidden_rule(value.path, forbidden)
            if rule is not None:
                what = f"{_describe(use, value.path)} {_where(cell)}: {forbidden[rule]}"
                found.append(Finding(cell.grade_id, getattr(use.node, "lineno", 1), "forbidden-call", what))
                break
    return found


def _forbidden_rule(path: str | None, forbidden: dict[str, str]) -> str | None:
    """The forbidden name that ``path`` is, or lies under (``jax.hessian`` for ``jax.hessian``)."""
    if not path:
        return None
    parts = path.split(".")
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in forbidden), None)


def _ad_redefinitions(cells: list[Cell], names: Names, forbid_ad: set[str]) -> list[tuple[int, Finding]]:
    """Another cell redefines an AD-forbidden exercise's function with an AD library.

    ``def forward_difference(f, w, eps): return jax.grad(f)(w)`` in an added cell below the solution cell
    replaces the student's answer before the test cell runs: the solution cell looks clean, the graded
    function is not.
    """
    module_sites = {cell.index: [s for s in names.sites.get(cell.index, []) if s.scope.kind == "module"]
                    for cell in cells}
    exercises = {site.name: cell.grade_id for cell in cells if cell.grade_id in forbid_ad
                 for site in module_sites[cell.index] if site.name in names.answers}
    found = []
    for cell in cells:
        if not cell.checked or cell.grade_id in forbid_ad:
            continue
        for site in module_sites[cell.index]:
            if site.name in exercises:
                ad = next((v.ad for v in sorted(site.value.values(), key=_order) if v.ad), None)
                if ad:
                    what = f"redefines `{site.name}` (exercise `{exercises[site.name]}`) with {ad}"
                    found.append((cell.index, _finding(cell, site.line, "ad-library", what)))
    return found


def _dynamic_code(cell: Cell, names: Names) -> list[Finding]:
    """Code the checker cannot see: ``getattr`` with a computed name, on a module, or passed around.

    (``eval``, ``exec``, ``importlib``, ``globals()``... are paths with their own rule: see :func:`_reached`.)
    ``getattr(np, "gr" + "ad")`` hides what it reaches, and ``getattr(np, "save")`` reaches a module's
    attribute around the allowlist.
    """
    found = []
    for node in names.nodes(cell):
        chain = dotted_name(node)
        if chain is not None and isinstance(node.ctx, ast.Load):
            family = sorted(set(names.paths(node)) & GETATTR_FAMILY)
            parent = names.parent(node)
            if family and not (isinstance(parent, ast.Call) and parent.func is node):
                found.append(_finding(cell, node, "dynamic-code", f"passes {_shown(family[0])} around"))
        if not isinstance(node, ast.Call):
            continue
        family = sorted(set(names.paths(node.func)) & GETATTR_FAMILY)
        if not family:
            continue
        function = _shown(family[0])
        if len(node.args) < 2 or _literal(node.args[1]) is None:
            found.append(_finding(cell, node, "dynamic-code",
                                  f"calls {function} with an attribute name computed at run time"))
        elif function == "getattr" and names.paths(node.args[0]):
            module = names.paths(node.args[0])[0]
            found.append(_finding(cell, node, "dynamic-code", f"calls getattr on {_shown(module)}"))
    return found


def _introspection(cell: Cell, names: Names) -> list[Finding]:
    """Reaching into the interpreter: frames, globals of other functions, code objects, every class.

    ``().__class__.__base__.__subclasses__()`` and ``f.__globals__`` lead to any object in the process,
    the grader's included.  On a module's attributes (``np.save.__globals__``) the path says so already.
    """
    found = []
    for node in names.nodes(cell):
        attribute = None
        if isinstance(node, ast.Attribute) and node.attr in INTERNALS and not names.paths(node.value):
            parent = names.parent(node)
            constructs = node.attr == "__class__" and (isinstance(parent, ast.Call) and parent.func is node
                                                       or names.is_own(node.value))  # self.__class__.__name__
            inner = isinstance(parent, ast.Attribute) and parent.attr in INTERNALS  # report a chain once
            attribute = None if constructs or inner else node.attr
        elif (isinstance(node, ast.Call) and len(node.args) >= 2 and _literal(node.args[1]) in INTERNALS
              and set(names.paths(node.func)) & (GETATTR_FAMILY | {"builtins.hasattr"})):
            attribute = _literal(node.args[1])
        if attribute is not None:
            found.append(_finding(cell, node, "introspection", f"uses {_source_of(node)}"))
    return found


def _private(cell: Cell, names: Names) -> list[Finding]:
    """Private attributes of objects from outside the student's code, and private names nobody defined.

    ``f._calls`` on the function the grader passes in, ``exit._ip`` (IPython's shell), ``getattr(x,
    "_secret")``: a private attribute is the way around an object's public behaviour.  The student's own
    objects are theirs to use (``self._cache``, ``super().__init__``, ``Dual._zero``); a module's private
    attributes are paths (see :func:`_reached`).  A private *name* the notebook does not define
    (``__loader__``) comes from the interpreter or from IPython.
    """
    found = []
    for node in names.nodes(cell):
        if id(node) in cell.code.generated:
            continue
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr not in INTERNALS:
            changes = not isinstance(node.ctx, ast.Load)  # type(f).__call__ = ...: even a harmless dunder
            if (private(node.attr) or changes) and not names.paths(node.value) and not names.is_own(node.value):
                verb = "changes" if changes else "uses"
                found.append(_finding(cell, node, "private-attribute",
                                      f"{verb} `{_source_of(node)}`, a private attribute of an object from "
                                      f"outside the student's code"))
        if isinstance(node, ast.Attribute) and names.method_using_private_self(node):
            call = names.parent(node)
            if not (isinstance(call, ast.Call) and call.func is node and call.args and names.is_own(call.args[0])):
                found.append(_finding(cell, node, "private-attribute",
                                      f"takes the method `{_source_of(node)}`, which uses private attributes of "
                                      f"`self`, through its class: its `self` may be an object from outside"))
        elif (isinstance(node, ast.Call) and len(node.args) >= 2 and (name := _literal(node.args[1])) is not None
              and private(name) and name not in INTERNALS and set(names.paths(node.func)) & GETATTR_FAMILY):
            found.append(_finding(cell, node, "private-attribute",
                                  f"uses `{_source_of(node)}`, a private attribute by name"))
        elif (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id.startswith("_")
              and node.id not in HARMLESS_NAMES and not ipython_name(node.id) and names.unbound(node)
              and not names.resolve(node).paths):  # a default with a path (builtins.__import__): _reached
            found.append(_finding(cell, node, "private-attribute",
                                  f"uses `{node.id}`, a private name the notebook does not define"))
    return found


def _file_methods(cell: Cell, names: Names) -> list[Finding]:
    """Methods that read or write files on any object: ``np.zeros(3).tofile(path)``, ``fig.savefig(path)``.

    An object made by an allowed module carries its own file writers; on a module's attributes
    (``np.ndarray.tofile``) the path says so already.
    """
    return [_finding(cell, node, "file-access", f"calls `.{node.attr}`, which reads or writes a file")
            for node in names.nodes(cell)
            if isinstance(node, ast.Attribute) and node.attr in FILE_METHODS and not names.paths(node.value)]


def _escaping_modules(cell: Cell, names: Names) -> list[Finding]:
    """A module used as a value: passed to a function, put in a container, returned, made a default.

    ``xp = np`` only gives numpy another name, which the checker follows; ``[np][0].save``,
    ``helper(np)`` or ``def f(m=np)`` hand the module to code that reaches into it where no name can be
    followed.  So a module may be named, and its attributes used, but not passed around.
    """
    found = []
    for use in names.uses(cell):
        if use.kind != "name":
            continue
        modules = [v.path for v in use.values if v.path and is_allowed_module(v.path)]
        if modules and not names.in_alias_position(use.node):
            found.append(_finding(cell, use.node, "outside-allowlist",
                                  f"passes the module `{use.text}` ({modules[0]}) around, where what it "
                                  f"reaches cannot be followed"))
    return found


def _monkeypatching(cell: Cell, names: Names) -> list[Finding]:
    """Changing what other code relies on: module attributes, course and library contents, imported names.

    Three forms: assigning or deleting an attribute of a module or of anything imported from one
    (``np.testing.assert_allclose = ...``, ``setattr(np, "allclose", ...)``); changing an entry of a
    protected package (``course.checks.TOLERANCES["x"] = ...``, ``sys.modules["numpy"] = ...``); and
    rebinding at top level a name an instructor cell imported (``check_calls = lambda *a: None``), which
    the test cells then call.  Attributes of the student's own objects (``self.x = ...``) are fine.
    """
    found = []
    for node in names.nodes(cell):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            verb = "deletes" if isinstance(node.ctx, ast.Del) else "replaces"
            for path in names.paths(node.value):
                found.append(_finding(cell, node, "monkeypatch", f"{verb} {_shown(path)}.{node.attr}"))
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            for path in names.paths(node.value):
                if path.split(".")[0] in PROTECTED_ROOTS:
                    found.append(_finding(cell, node, "monkeypatch", f"changes an entry of {_shown(path)}"))
        elif isinstance(node, ast.Call) and set(names.paths(node.func)) & {"builtins.setattr", "builtins.delattr"}:
            function = _shown(sorted(set(names.paths(node.func)) & {"builtins.setattr", "builtins.delattr"})[0])
            attribute = _literal(node.args[1]) if len(node.args) >= 2 else None
            for path in names.paths(node.args[0]) if node.args else []:
                target = f"{_shown(path)}.{attribute}" if attribute else f"an attribute of {_shown(path)}"
                found.append(_finding(cell, node, "monkeypatch", f"changes {target} through {function}"))
    for site in names.sites.get(cell.index, []):
        imported = names.instructor_imports.get(site.name)
        if site.scope.kind != "module" or not imported or site.kind == "mutate":
            continue
        if site.kind == "delete" or not imported & set(site.value.paths):
            verb = "deletes" if site.kind == "delete" else "rebinds"
            what = f"{verb} `{site.name}`, which an instructor cell imports ({' / '.join(sorted(imported))})"
            found.append(_finding(cell, site.line, "monkeypatch", what))
    return found


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
