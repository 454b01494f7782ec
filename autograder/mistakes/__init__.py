"""Wrong answers that students really write, one catalogue per assignment.

Each :class:`Mistake` replaces some solution cells of a correct submission
and states what grading must do with it: which test cells lose their points
and which words the feedback must contain.  The test suite grades every
mistake through nbgrader and asserts exactly that; the demo class is made of
them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    name: str
    answers: dict[str, str]          # grade_id of a solution cell -> the wrong code
    loses: tuple[str, ...]           # grade_ids of the test cells that must score 0
    message: str                     # words the feedback of the first lost cell must contain
    description: str = ""
    extra: dict = field(default_factory=dict)


def catalogue(assignment: str) -> list[Mistake]:
    from autograder.mistakes import adjoints, finite_differences, forward_mode, hvp, reverse_mode
    return {"01_finite_differences": finite_differences.MISTAKES,
            "02_forward_mode": forward_mode.MISTAKES,
            "03_reverse_mode": reverse_mode.MISTAKES,
            "04_adjoints": adjoints.MISTAKES,
            "05_hvp": hvp.MISTAKES}[assignment]
