"""Integrity checks of a student's notebook: flag code that reaches for what an exercise forbids.

The hidden tests judge *values*.  A value can be right for the wrong reason: a
forward difference that calls ``jax.grad``, a check silenced by replacing
``np.testing.assert_allclose``, answers read from a file, a module written to
disk and imported.  This package reads a submission and lists such code, each
finding with plain words for an instructor.  It never decides a grade: a
finding means "a human should look", and the pipeline withholds automatic
credit from the exercises a finding concerns (:func:`flags_by_exercise`).

Why static (``ast``) and never executed: the checker runs in the trusted
grading process, so it must not run the code it distrusts.  The price is that
it sees only what is written.  Hence three principles:

* **Deny by default.**  A solution needs a short list of modules (NumPy's
  numerical API, ``math``, ``cmath``, ``functools``, ``itertools``, the course's
  public helpers, JAX where allowed).  Whatever a name reaches outside that
  list -- through an attribute of an allowed module (``np.lib``,
  ``course.plots.plt``), a private attribute (``jax._src``, ``exit._ip``),
  IPython's shell object (``get_ipython()``, ``In``, ``_ih``) -- is reported,
  and so is a module handed around as a value, where no name follows it.
  ``eval``, computed ``getattr``, ``globals()`` and friends are flagged in
  themselves: they are the doors through which unseen code comes in.
* **IPython's syntax, read by IPython.**  ``!cmd``, ``%magic`` and ``%%cell``
  are turned into Python by IPython's own transformer, then reported.
* **Linear and bounded.**  The checker runs with the class queued behind it, on
  input written by the people it checks.  Its work is counted -- characters
  tokenized, AST nodes, name-resolution steps -- and bounded; a cell beyond the
  bounds is reported "too large or complex to check automatically", never
  waited for.  Counted, not timed: a grade must not depend on machine load.

The modules, one job each:

* :mod:`~autograder.integrity.rules` -- the tables: what is allowed, what is forbidden, and why;
* :mod:`~autograder.integrity.cells` -- which cells are the student's, and their roles;
* :mod:`~autograder.integrity.syntax` -- a cell as Python, the way IPython would run it;
* :mod:`~autograder.integrity.names` -- what each name may refer to, across scopes and cells;
* :mod:`~autograder.integrity.checks` -- the rules applied, one function per family;
* :mod:`~autograder.integrity.policy` -- which exercises a finding takes credit from;
* :mod:`~autograder.integrity.budget` -- the bounds, and the counter of work.

What it cannot see: what is done *with objects the grader passes in* through
their public attributes (``f.calls -= 1`` on the counted function), and
anything inside the modules it allows.  Those are for the hidden tests (which
count calls, and judge outside the student's process) and the sandbox.
"""

from autograder.integrity.budget import Work
from autograder.integrity.checks import Report, analyse, check_notebook
from autograder.integrity.policy import flags_by_exercise, solution_to_tests
from autograder.integrity.rules import Finding

__all__ = ["Finding", "Report", "Work", "analyse", "check_notebook", "flags_by_exercise", "solution_to_tests"]
