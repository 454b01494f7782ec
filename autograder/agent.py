"""Runs *inside* the student's kernel while a submission is graded: one hidden-test case at a time.

The trusted grader (:mod:`autograder.execution`) drives the sandboxed kernel.
For every case of an exercise it sends one cell of the form
``probe(assignment, exercise, payload, globals())``; ``payload`` is the case,
drawn outside from a seed the sandbox never sees, pickled there.  This module
unpickles it, runs the exercise's probe on the student's namespace, and sends
what it observed back over the kernel's *stdin channel* (Jupyter's
``input_request``), never through an output, a file or an environment
variable.

Functions the grader hands to student code (the counted ``f`` of a finite
difference, the ``hvp`` given to ``hessian_from_hvps``) arrive as
:class:`Proxy` objects: calling one asks the grader, over the same channel, to
evaluate the real function and count the call *there*.  The student's code
sees no attribute of the real function, and cannot change the count except by
calling more often.

Nothing here is trusted: the student's code runs in this process and may
replace any of it.  What it can forge is only what it could answer anyway --
its own return values -- because the grader decides everything else.
"""

from __future__ import annotations

import base64
import builtins
import json
import pickle

from autograder import records

CALL, RECORD = "course-call:", "course-record:"


class ServedCallFailed(RuntimeError):
    """The grader refused or failed to evaluate a call (wrong argument types, too many calls, ...)."""


class Proxy:
    """A function that lives in the grader: each call is evaluated (and counted) outside this process."""

    def __init__(self, name: str, label: str | None = None):
        self.name = name
        self.__name__ = label or name

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{self.__name__}() takes positional arguments only")
        reply = json.loads(builtins.input(CALL + json.dumps({"name": self.name, "args": records.dumps(list(args))})))
        if "error" in reply:
            raise ServedCallFailed(str(reply["error"]))
        (value,) = records.loads(reply["value"])
        return value

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"

    def __reduce__(self):
        return (Proxy, (self.name, self.__name__))


def probe(assignment: str, exercise: str, payload: str, namespace: dict) -> None:
    """Run one case's probe and send the observation to the grader."""
    from autograder.exercises import ASSIGNMENTS
    from autograder.exercises.base import observe

    case = pickle.loads(base64.b64decode(payload))
    observation = observe(ASSIGNMENTS[assignment][exercise], namespace, case)
    builtins.input(RECORD + records.dumps([observation]))
