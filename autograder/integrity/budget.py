"""The checker's bounds: how much work one notebook may cost, counted in steps, never in seconds.

The checker runs in the grading worker, with the rest of the class queued
behind it, on input written by the people it checks.  So it must finish, and
finish in time linear in the size of the notebook, whatever the notebook is.
Each stage counts its work and stops at a fixed bound: a cell that would cost
more is reported ("too large or complex to check automatically", for a human)
instead of being waited for.

The bounds are counts (characters, AST nodes, resolution steps), not seconds:
a grade must not depend on how busy the machine was when it was computed.
They sit far above what an answer needs -- the largest cell of the course has
about 700 AST nodes and 14 levels of nesting -- and far below what would make
anyone wait.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CELL_CHARACTERS = 200_000
"""A cell's source, in characters; a longer cell is reported without being read."""

MAX_TOKENIZED = 400_000
"""Characters IPython's transformer may tokenize for one cell.  It re-reads the whole cell once per piece of
IPython syntax (``!cmd``, ``%magic``), so a long cell full of them would cost quadratic time."""

MAX_NOTEBOOK_TOKENIZED = 1_000_000
"""The same for the whole notebook (the course's notebooks need at most about 24,000)."""

MAX_CELL_NODES = 10_000
"""AST nodes in one cell (the course's largest has about 700)."""

MAX_DEPTH = 100
"""Levels of nesting of the AST (the course's deepest cell has 14; Python itself allows 100 blocks)."""

MAX_NOTEBOOK_NODES = 50_000
"""AST nodes in the whole notebook (the course's have at most about 4,800); the cells after the bound are
reported."""

MAX_CELLS = 1_000
"""Code cells read (the course's notebooks have at most 27); the cells after the bound are reported."""

MAX_REPORTED = 5
"""Findings reported per solution cell (or for the added cells together) and rule; the rest are counted in one
more finding.  A human needs examples, not a hundred thousand lines, and which exercises lose their automatic
points depends only on the cells and rules found, which stay."""

MAX_STEPS = 1_000_000
"""Steps of name resolution for the whole notebook (one step: one value carried along one binding, or one
node of an expression summarized); the course's notebooks take at most about 4,000."""

MAX_VALUES = 8
"""Distinct modules or module attributes one name may hold before the checker stops following it."""

MAX_PATH_DEPTH = 12
"""Dots in a dotted path that a name is followed through (``jax.numpy.linalg.norm`` has three)."""

MAX_MAGIC_NESTING = 3
"""Magics whose argument is Python (``%time``) nested in one another."""


class TooComplex(Exception):
    """A bound was reached: the work in progress is abandoned and reported (``str(error)`` says which)."""


@dataclass
class Work:
    """What checking one notebook cost.  Counted, so the same notebook always costs the same."""

    characters: int = 0  # tokenized by IPython's transformer, summed over its passes
    nodes: int = 0  # AST nodes visited
    steps: int = 0  # name-resolution steps

    def tokenize(self, cell_so_far: int, characters: int) -> int:
        """Count one pass of the transformer over ``characters``; ``cell_so_far``: this cell's count until now."""
        if cell_so_far + characters > MAX_TOKENIZED:
            raise TooComplex(f"IPython's transformer would read more than {MAX_TOKENIZED:,} characters")
        if self.characters + characters > MAX_NOTEBOOK_TOKENIZED:
            raise TooComplex(f"the notebook has reached its bound of {MAX_NOTEBOOK_TOKENIZED:,} characters "
                             f"read by IPython's transformer")
        self.characters += characters
        return cell_so_far + characters

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise TooComplex(f"following its names takes more than {MAX_STEPS:,} steps")
