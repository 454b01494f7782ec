"""JupyterHub for the course: students and instructors log in as themselves (their Unix accounts, PAM),
each gets a JupyterLab of their own (a local process running as that user), and nbgrader's exchange
connects them: students fetch and submit in the Assignments panel, instructors release, collect, grade in
formgrader and release feedback.  It follows nbgrader's "one class, one grader" JupyterHub set-up.

    sudo COURSE_HUB_INSTRUCTORS=alice COURSE_HUB_STUDENTS=bob,carol \\
         .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Settings, from the environment (the defaults are for a machine that runs only this hub):

    COURSE_HUB_INSTRUCTORS   Unix user names of the instructors, comma-separated (group formgrade-<course>)
    COURSE_HUB_STUDENTS      Unix user names of the students (group nbgrader-<course>)
    COURSE_DIR               the course directory, owned by the instructor (default ~<first instructor>/autodiff)
    NBGRADER_EXCHANGE        nbgrader's exchange (default /srv/nbgrader/exchange; world-writable, like /tmp)
    NBGRADER_COURSE_ID       the course id (default autodiff)
    COURSE_HUB_IP, COURSE_HUB_PORT           where the hub listens (default 127.0.0.1:8000)
    COURSE_HUB_HUB_PORT, COURSE_HUB_API_PORT the hub's and the proxy's internal ports (default 8081, 8001)
    COURSE_HUB_STATE         the hub's own files: database, cookie secret (default /srv/jupyterhub)

Everyone's server runs the Python this hub runs (the course's virtual environment, with the `course`
package and nbgrader's extensions).  nbgrader's configuration is ``hub/jupyter/nbgrader_config.py``
(course id, exchange), put on each server's JUPYTER_CONFIG_PATH; students also get ``hub/jupyter-students/``,
which turns formgrader, "create assignment" and the course list off in their JupyterLab.  That is only
what they see: what they can read is decided by Unix permissions (the course directory and the homes
0700, the exchange's inbound unlistable, each submission readable by the instructor only).
"""

import os
import pwd
import shutil
import sys

c = get_config()  # noqa: F821 (provided by JupyterHub)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)


def _names(variable: str) -> list[str]:
    return [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]


# Every user's server runs this Python: they must be able to reach it.  A Python under a folder they cannot
# enter (pyenv in /root) is silently replaced, for them, by the system's libpython, another version.
_path = "/"
for _part in os.path.realpath(sys.base_prefix).split(os.sep)[1:]:
    _path = os.path.join(_path, _part)
    if not os.stat(_path).st_mode & 0o001:
        print(f"warning: {_path} cannot be entered by other users, so their servers cannot run "
              f"{sys.executable}'s Python ({sys.base_prefix}): install the course's environment where every "
              "user can read it", file=sys.stderr)
        break

COURSE_ID = os.environ.get("NBGRADER_COURSE_ID", "autodiff")
INSTRUCTORS = _names("COURSE_HUB_INSTRUCTORS")
STUDENTS = _names("COURSE_HUB_STUDENTS")
EXCHANGE = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
STATE = os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub")
COURSE_DIR = os.environ.get("COURSE_DIR") or (
    os.path.join(pwd.getpwnam(INSTRUCTORS[0]).pw_dir, COURSE_ID) if INSTRUCTORS else "")
INSTRUCTOR_GROUP = f"formgrade-{COURSE_ID}"  # the group names of nbgrader's JupyterHub documentation
STUDENT_GROUP = f"nbgrader-{COURSE_ID}"

# -- the hub and its proxy -------------------------------------------------------------------------------
c.JupyterHub.ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("COURSE_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("COURSE_HUB_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(os.environ.get('COURSE_HUB_API_PORT', '8001'))}"
os.makedirs(STATE, mode=0o700, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{os.path.join(STATE, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")
# configurable-http-proxy from npm: installed globally, or by `python3 dev.py` under .cache/npm/.
_proxy = shutil.which("configurable-http-proxy") or os.path.join(
    REPO, ".cache", "npm", "node_modules", ".bin", "configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [_proxy]

# -- who may log in: real Unix accounts, checked by PAM ----------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(INSTRUCTORS) | set(STUDENTS)
c.JupyterHub.load_groups = {INSTRUCTOR_GROUP: {"users": INSTRUCTORS}, STUDENT_GROUP: {"users": STUDENTS}}

# -- each user's JupyterLab: a local process as that user --------------------------------------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(BIN, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
# Nothing of the hub's own environment but these: PYTHONPATH, in particular, must not hand students the
# instructor's side of the repository (reference solutions, hidden tests).
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {
    "PATH": os.pathsep.join([BIN, "/usr/local/bin", "/usr/bin", "/bin"]),  # the course's Python first
    "NBGRADER_EXCHANGE": EXCHANGE,
    "NBGRADER_COURSE_ID": COURSE_ID,
    "JAX_PLATFORMS": "cpu",
}


def pre_spawn_hook(spawner):
    """Instructors get the course directory and formgrader; students the Assignments panel only."""
    groups = {group.name for group in spawner.user.groups}
    if INSTRUCTOR_GROUP in groups:
        spawner.environment = dict(spawner.environment, JUPYTER_CONFIG_PATH=os.path.join(HERE, "jupyter"),
                                   COURSE_DIR=COURSE_DIR)
    else:
        spawner.environment = dict(spawner.environment, JUPYTER_CONFIG_PATH=os.pathsep.join(
            [os.path.join(HERE, "jupyter-students"), os.path.join(HERE, "jupyter")]))


c.Spawner.pre_spawn_hook = pre_spawn_hook
