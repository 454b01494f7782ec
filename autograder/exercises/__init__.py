"""Hidden tests, one module per assignment; ``ASSIGNMENTS[assignment][exercise]`` is an :class:`Exercise`."""

from autograder.exercises import adjoints, finite_differences, forward_mode, hvp, reverse_mode

ASSIGNMENTS = {
    "01_finite_differences": {ex.name: ex for ex in finite_differences.EXERCISES},
    "02_forward_mode": {ex.name: ex for ex in forward_mode.EXERCISES},
    "03_reverse_mode": {ex.name: ex for ex in reverse_mode.EXERCISES},
    "04_adjoints": {ex.name: ex for ex in adjoints.EXERCISES},
    "05_hvp": {ex.name: ex for ex in hvp.EXERCISES},
}

# Solution cells (grade_ids) in which an AD library is forbidden: the integrity check flags its use.
AD_FORBIDDEN = {
    "01_finite_differences": finite_differences.AD_FORBIDDEN,
    "02_forward_mode": forward_mode.AD_FORBIDDEN,
    "03_reverse_mode": reverse_mode.AD_FORBIDDEN,
    "04_adjoints": adjoints.AD_FORBIDDEN,
    "05_hvp": hvp.AD_FORBIDDEN,
}

# Finer rules for assignments that use JAX but must not use *some* of it, per solution cell:
# {assignment: {grade_id: {dotted name: why}}}.  See ``autograder.integrity.check_notebook``.
FORBIDDEN_CALLS: dict[str, dict[str, dict[str, str]]] = {
    "04_adjoints": adjoints.FORBIDDEN_CALLS,
    "05_hvp": hvp.FORBIDDEN_CALLS,
}
