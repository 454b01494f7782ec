"""The contract between the student's package (``course``) and the instructor's grader (``autograder``).

Both sides read these names from here and nowhere else, so they cannot drift apart.
"""

# Set in the sandboxed kernel while the trusted grader judges the answers from outside: the notebook's
# own checks then step aside (they would cost a JAX start-up and decide nothing).
JUDGED_OUTSIDE = "COURSE_JUDGED_OUTSIDE"
# Set by nbgrader itself while it autogrades (``autograde``) or validates.
NBGRADER_EXECUTION = "NBGRADER_EXECUTION"
NBGRADER_VALIDATING = "NBGRADER_VALIDATING"
# A folder for JAX's compilation cache (tests and the trusted grader; never the student's sandbox).
JAX_CACHE = "COURSE_JAX_CACHE"
