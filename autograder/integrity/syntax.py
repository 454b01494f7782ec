"""From a notebook cell to Python's AST, the way the kernel would run it -- within fixed bounds.

A cell is not quite Python: before running it, IPython rewrites its own
syntax (``!cmd``, ``x = !cmd``, ``%magic``, ``%%cell_magic``, ``obj?``,
``/f x``, pasted prompts) into Python.  We let IPython do that rewriting
(``TransformerManager``, the very code the kernel uses) instead of imitating
it: whatever the kernel would accept, the checker parses the same way.

Each piece of IPython syntax becomes a call on the shell object
(``get_ipython().system('ls')``).  We remember where IPython wrote those calls
(:class:`Escape`), so that a check reports "runs the shell command `ls`" at the
line the student wrote, and does not report the shell object a second time
for a call the student never typed.  A magic whose argument is Python
(``%time``, ``%%timeit``) has that Python parsed too and checked with the
rest of the cell.

One thing IPython does at run time, not in the transformer: a one-line cell
that starts with a line magic's name (``cat /etc/passwd``) runs as that magic
unless the name is defined ("automagic").  :attr:`Code.automagic` names the
magic; whether a name of the notebook shadows it is for the checks to say.

Bounds (see :mod:`budget`): the characters the transformer tokenizes, the AST
nodes and the nesting depth.  A cell beyond them comes back with
``too_complex`` set, having cost at most the bound.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import (TokenTransformBase, TransformerManager, cell_magic,
                                            make_tokens_by_line)
from IPython.core.magics import ExecutionMagics
from IPython.core.splitinput import LineInfo

from autograder.integrity.budget import (MAX_CELL_CHARACTERS, MAX_CELL_NODES, MAX_DEPTH, MAX_MAGIC_NESTING,
                                         TooComplex, Work)
from autograder.integrity.rules import PYTHON_MAGICS, line_magics

SHELL_METHODS = frozenset({"system", "getoutput", "run_line_magic", "run_cell_magic", "show_usage"})
"""What IPython's rewriting calls on ``get_ipython()``."""


@dataclass
class Escape:
    """A piece of IPython syntax, as IPython rewrote it."""

    line: int  # 1-based, in the cell as written
    name: str  # "!" for a shell command, "?" for help, else the magic's name ("bash", "time", "pinfo")
    text: str  # the line as written


@dataclass
class Code:
    """A cell as Python, with what IPython's syntax in it turned into."""

    tree: ast.Module | None = None
    error: str | None = None  # why it does not parse, with the line
    error_line: int = 1
    too_complex: str | None = None  # the bound it exceeds; then tree is None
    escapes: list[Escape] = field(default_factory=list)
    generated: set[int] = field(default_factory=set)  # id() of the shell-object calls IPython wrote
    automagic: str | None = None  # a one-line cell IPython runs as this line magic, if the name is free
    nodes: int = 0


def parse_cell(source: str, work: Work, nodes_left: int, nesting: int = 0) -> Code:
    """The cell ``source`` as Python, or why not; costs at most the bounds of :mod:`budget`.

    ``nodes_left``: AST nodes the notebook may still spend.  ``nesting``: for the Python inside a magic.
    """
    code = Code()
    if len(source) > MAX_CELL_CHARACTERS:
        code.too_complex = f"it has more than {MAX_CELL_CHARACTERS:,} characters"
        return code
    transformer = _Transformer(work)
    try:
        python = transformer.transform_cell(source)
    except TooComplex as error:
        code.too_complex = str(error)
        return code
    except Exception as error:  # noqa: BLE001 -- whatever IPython raises, the kernel would not run it either
        # (IPython gives up after 500 rewrites, or trips over a malformed escape)
        code.error = f"IPython cannot read it ({type(error).__name__})"
        return code
    to_source = transformer.line_map(source)
    code.automagic = _automagic(python)
    try:
        tree = ast.parse(python)
    except SyntaxError as error:
        code.error_line = to_source(error.lineno or 1)
        code.error = f"{error.msg} at line {code.error_line}"
        return code
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting
        code.error = type(error).__name__
        return code
    lines = source.splitlines()
    try:
        try:
            nested = _walk(tree, code, transformer.rewritten_lines(), to_source, lines,
                           min(MAX_CELL_NODES, nodes_left))
        finally:
            work.nodes += code.nodes
        for line, arguments in nested:
            _add_python_of_magic(code, tree, line, arguments, work, nodes_left, nesting)
    except TooComplex as error:
        code.too_complex = str(error)
        return code
    code.tree = tree
    return code


class _Transformer(TransformerManager):
    """IPython's transformer, counting what it tokenizes and remembering which lines it rewrote.

    ``do_one_token_transform`` is IPython's own, plus the two records: IPython re-tokenizes the whole
    cell for each rewrite, which is the cost to bound.
    """

    def __init__(self, work: Work):
        super().__init__()
        self.work, self.tokenized = work, 0
        self.rewrites: list[tuple[int, int]] = []  # (0-based line, lines merged into it), top to bottom
        self.cell_magic = False
        self.line_transforms = [self._cell_magic]

    def _cell_magic(self, lines):
        new_lines = cell_magic(lines)
        self.cell_magic = new_lines is not lines
        return new_lines

    def do_one_token_transform(self, lines):
        self.tokenized = self.work.tokenize(self.tokenized, sum(map(len, lines)))
        tokens_by_line = make_tokens_by_line(lines)
        candidates = [found for kind in self.token_transformers if (found := kind.find(tokens_by_line))]
        for transformer in sorted(candidates, key=TokenTransformBase.sortby):
            try:
                new_lines = transformer.transform(lines)
            except SyntaxError:
                continue
            self.rewrites.append((transformer.start_line, len(lines) - len(new_lines)))
            return True, new_lines
        return False, lines

    def rewritten_lines(self) -> set[int]:
        """1-based lines of the transformed cell that IPython wrote."""
        return {1} if self.cell_magic else {line + 1 for line, _ in self.rewrites}

    def line_map(self, source: str):
        """transformed line (1-based) -> the line of ``source`` it came from.

        IPython drops leading blank lines, turns a cell magic into one line, and joins an escape continued
        with backslashes into one line; each rewrite happens below the previous one.
        """
        lines = (source if source.endswith("\n") else source + "\n").splitlines(keepends=True)
        leading = next((i for i, line in enumerate(lines) if line and not line.isspace()), 0)
        if self.cell_magic:
            return lambda line: leading + 1
        rewrites = list(self.rewrites)

        def to_source(line: int) -> int:
            return line + leading + sum(merged for start, merged in rewrites if start + 1 < line)
        return to_source


def _walk(tree, code: Code, rewritten: set[int], to_source, lines: list[str], limit: int):
    """Count nodes and depth (bounded), move line numbers back to the source, find IPython's calls.

    Returns the Python inside magics as [(line, (magic, argument, body))] for the caller to add.
    """
    nested = []
    identity = to_source(1) == 1 and to_source(max(len(lines), 1)) == max(len(lines), 1)
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        code.nodes += 1
        if code.nodes > limit:
            raise TooComplex(f"it has more than {limit:,} AST nodes" if limit == MAX_CELL_NODES
                             else "the notebook has reached its bound of AST nodes")
        if depth > MAX_DEPTH:
            raise TooComplex(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Call) and node.lineno in rewritten and _is_shell_call(node):
            line = to_source(node.lineno)
            method, literals = node.func.attr, [_literal(a) for a in node.args]
            name = "!" if method in ("system", "getoutput") else "?" if method == "show_usage" else (
                literals[0] if literals else "")
            text = lines[line - 1].strip() if line <= len(lines) else ""
            code.escapes.append(Escape(line, name or "", text))
            code.generated.add(id(node))
            if method in ("run_line_magic", "run_cell_magic") and name in PYTHON_MAGICS:
                nested.append((line, (name, *literals[1:])))
        if not identity and hasattr(node, "lineno"):
            node.lineno = to_source(node.lineno)
            if getattr(node, "end_lineno", None) is not None:
                node.end_lineno = to_source(node.end_lineno)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return nested


def _is_shell_call(node: ast.Call) -> bool:
    """``get_ipython().<method>('literal', ...)``: the shape of every call IPython's rewriting writes."""
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in SHELL_METHODS and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
            and not func.value.args and all(_literal(a) is not None for a in node.args))


def _add_python_of_magic(code: Code, tree: ast.Module, line: int, arguments: tuple, work: Work, nodes_left: int,
                         nesting: int) -> None:
    """Check the Python a magic runs with the rest of the cell: ``%time f(x)``, ``%%timeit setup`` + body."""
    if nesting + 1 >= MAX_MAGIC_NESTING:
        raise TooComplex(f"it nests more than {MAX_MAGIC_NESTING} magics")
    name, argument, *body = arguments
    options = PYTHON_MAGICS[name]
    if options is not None:  # strip the magic's own options (-n 10 -r 3) the way IPython does
        argument = ExecutionMagics(None).parse_options(argument or "", options, posix=False, strict=False,
                                                       preserve_non_opts=True)[1]
    pieces = [(argument, line - 1)] if not body or name == "timeit" else []  # %%timeit's line: setup code
    pieces += [(body[0], line)] if body else []
    for text, offset in pieces:
        if not text or not text.strip():
            continue
        inner = parse_cell(text, work, nodes_left - code.nodes, nesting + 1)
        if inner.too_complex:
            raise TooComplex(inner.too_complex)
        if inner.tree is None:
            continue  # the magic itself is reported; what it would run does not parse
        ast.increment_lineno(inner.tree, offset)
        tree.body.extend(inner.tree.body)  # order does not matter to the checks: cells run in any order
        code.nodes += inner.nodes
        code.generated |= inner.generated
        code.escapes += [Escape(e.line + offset, e.name, e.text) for e in inner.escapes]
        if code.nodes > MAX_CELL_NODES:
            raise TooComplex(f"it has more than {MAX_CELL_NODES:,} AST nodes")


def _automagic(python: str) -> str | None:
    """The line magic a one-line cell runs as (IPython's prefilter: a magic's name, not an assignment)."""
    lines = python.splitlines()
    if len(lines) != 1:
        return None
    info = LineInfo(lines[0])
    if info.esc or info.ifun not in line_magics():
        return None
    if info.the_rest[:1] in ("=", ",") and not info.the_rest.startswith("=="):
        return None  # ls = 3: IPython's AssignmentChecker runs it as Python
    return info.ifun


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
