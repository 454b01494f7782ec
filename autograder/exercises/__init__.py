"""Hidden tests, one module per assignment; ``ASSIGNMENTS[assignment][exercise]`` is an :class:`Exercise`."""

from autograder.exercises import finite_differences

ASSIGNMENTS = {
    "01_finite_differences": {ex.name: ex for ex in finite_differences.EXERCISES},
}
