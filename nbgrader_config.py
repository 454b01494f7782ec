"""nbgrader configuration: the repository root is the course directory."""

import os
import sys

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool
from nbgrader.preprocessors import (ClearHiddenTests, ClearMarkScheme, ClearOutput, Execute, GetGrades,
                                    IncludeHeaderFooter, LockCells)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "autodiff"


class InertFeedback(Preprocessor):
    """Feedback pages never run student content, even from a notebook the grading pipeline did not clean
    (graded by plain nbgrader, or edited since): outputs by an allowlist, markdown through nh3
    (autograder/sanitize.py says why).  nbgrader's feedback template renders markdown cells unsanitized."""

    enabled = Bool(True)  # nbconvert skips a preprocessor that is not enabled

    def preprocess(self, nb, resources):
        # Imported here, not above: formgrader's server loads this file too, and needs no autograder to.
        if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
            sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # the repository, when it is the course
        from autograder import sanitize
        return sanitize.inert_notebook(nb), resources


# Feedback must never show the hidden tests (by default nbgrader includes them, #917), nor run a student's
# script: InertFeedback cleans the notebook, and nbconvert sanitizes the HTML of outputs as well.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ClearMarkScheme, InertFeedback,
                                    CSSHTMLHeaderPreprocessor]
c.HTMLExporter.sanitize_html = True

# nbgrader scores a test cell 0 if it wrote *anything* to stderr.  A correct answer that triggers a
# NumPy/JAX warning must keep its points, so stderr output that is a warning is dropped before scoring.
# Both keys are needed: the pattern alone does nothing.
c.IgnorePattern.pattern = r"(?i)warning"
c.IgnorePattern.enabled = True

# A cell that runs longer than this is interrupted (an infinite loop costs 60 s, not forever).
c.Execute.timeout = 60
c.Execute.allow_errors = True

# Files copied along with the notebook when building the student version: none (data is generated).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Solution keys (`python -m autograder solutions`, i.e. nbgrader generate_solution) are meant to be
# published: the model answers with their outputs, but never the hidden tests (nbgrader keeps them).
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearHiddenTests, ClearMarkScheme,
                                    Execute]
