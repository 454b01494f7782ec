"""The course package: checks against JAX, problems to differentiate, plots.

Students install this package; it holds no reference solutions and no
hidden tests (those live in ``autograder/``, which is not installed).
"""

from course.notebook import autograding, is_grading, lazy_import, setup

__all__ = ["setup", "is_grading", "autograding", "lazy_import"]
__version__ = "0.1.0"
