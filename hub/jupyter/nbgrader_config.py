"""nbgrader on the course's hub, for everyone: the course, its exchange, and (for instructors) the course directory.

The hub puts this folder on every single-user server's JUPYTER_CONFIG_PATH (see jupyterhub_config.py), as
nbgrader's JupyterHub set-ups put it in /etc/jupyter/: the students' Assignments panel and the instructor's
commands and formgrader then all read the same course id and exchange.

    NBGRADER_EXCHANGE   the exchange's root (default /srv/nbgrader/exchange)
    NBGRADER_COURSE_ID  the course id (default autodiff, the id in the course's own nbgrader_config.py)
    COURSE_DIR          set for instructors only: the course directory; its own nbgrader_config.py is
                        loaded (CourseDirectory.root, feedback without hidden tests, ...)
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = os.environ.get("NBGRADER_COURSE_ID", "autodiff")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# Submissions readable by the instructor only (nbgrader's own leaves them world-readable, hidden by an
# unguessable name alone): see hub_exchange.py.
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.append(_here)
c.ExchangeFactory.submit = "hub_exchange.PrivateSubmit"

_course = os.environ.get("COURSE_DIR")
if _course and os.path.isfile(os.path.join(_course, "nbgrader_config.py")):
    load_subconfig(os.path.join(_course, "nbgrader_config.py"))  # noqa: F821 (provided by traitlets)
