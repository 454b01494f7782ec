"""Per-sandbox resource limits that protect the grading machine as a whole.

The RLIMITs a sandbox already gets (``prlimit`` in :mod:`autograder.sandbox`) count per process: a
submission that forks gets a fresh CPU-time and address-space allowance in every child, and one that
floods its output costs the grader whatever it buffers.  This module limits a sandbox as a whole:

* :class:`SandboxCgroup` puts every process of one sandbox into a cgroup of its own with a memory
  limit (swap included, so it cannot page its way past it), a process count and a CPU weight, and
  accounts the CPU time of all of them together;
* :func:`read_capped` / :class:`CappedReader` read a sandbox's pipes keeping a bounded amount;
* :class:`CpuBudget` charges a time limit in the group's CPU seconds, so that a grade does not depend
  on how loaded the machine was, with a wall-clock backstop for code that sleeps.

Where no cgroup hierarchy is writable (not root, a read-only ``/sys/fs/cgroup``, most containers) a
:class:`SandboxCgroup` enforces nothing, says so in :meth:`SandboxCgroup.describe`, and its methods
degrade, so callers can fall back to the RLIMIT-based limits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "autodiff-course"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
V2_CONTROLLERS = ("memory", "pids", "cpu")
DEFAULT_CPU_WEIGHT = 100        # cgroup v2's default weight; v1's cpu.shares default of 1024 is the same share
REMOVE_RETRY_SECONDS = 1.0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _write(path: Path | str, value: object) -> None:
    # Never O_CREAT: in a cgroup a missing interface file means the kernel lacks that feature.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _remove(group: Path) -> str | None:
    """``rmdir`` a group, retrying briefly (processes just killed take a moment to leave it); what failed."""
    deadline = time.monotonic() + REMOVE_RETRY_SECONDS
    while True:
        try:
            group.rmdir()
            return None
        except FileNotFoundError:
            return None
        except OSError as error:
            if time.monotonic() > deadline:
                return f"{group} ({error.strerror})"
            time.sleep(0.02)


def _fields(text: str | None) -> dict[str, int]:
    """``key value`` lines (``cpu.stat``, ``memory.events``, ``memory.oom_control``) as a dict."""
    pairs = (line.split() for line in (text or "").splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, from ``/proc/self/cgroup``."""
    paths = {}
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


class SandboxCgroup:
    """The cgroup of one sandbox: a memory limit, a process count, a CPU weight, CPU accounting.

    ``memory_bytes`` caps the memory of all the sandbox's processes together, swap included;
    ``processes`` caps how many it may have at once (threads count); ``cpu_weight`` (cgroup v2's scale,
    1-10000, default 100) is its share of contended CPUs against the other sandboxes, however many
    processes it forks.  Start a process in it with ``subprocess.Popen(..., preexec_fn=group.preexec)``.

    The hierarchy is read from what is mounted at ``root``: cgroup v2 when ``root/cgroup.controllers``
    exists, else v1 where ``root/<controller>/cgroup.procs`` exist.  The group is ``<parent>/<name>``:

    * v2: under the root itself, because of v2's rule that a group holding processes cannot pass
      controllers on to children -- the root is the one exception;
    * v1: in each of the memory, pids, cpu, cpuacct and freezer hierarchies, under the group the
      grader itself runs in, so that limits an administrator placed on the grader still cover its
      sandboxes.

    The parent group is left in place on :meth:`close`: it is empty between runs, and removing it would
    race with a sandbox being created next to it.  A leftover group of the same name (a grader that
    crashed) is taken over: whatever still runs in it is killed first.
    """

    def __init__(self, name: str, *, memory_bytes: int, processes: int, cpu_weight: int = DEFAULT_CPU_WEIGHT,
                 root: Path | str = CGROUP_ROOT, parent: str = PARENT):
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a cgroup name: {name!r}")
        self.name, self.memory_bytes, self.processes, self.cpu_weight = name, memory_bytes, processes, cpu_weight
        self.root = Path(root)
        self.version: int | None = None
        self._dirs: dict[str, Path] = {}           # controller -> this sandbox's group directory
        self._enforced = {"memory": False, "pids": False, "cpu": False}
        self._problems: list[str] = []
        if (self.root / "cgroup.controllers").is_file():
            self.version = 2
            self._set_up_v2(parent)
        elif any((self.root / controller / "cgroup.procs").is_file() for controller in V1_CONTROLLERS):
            self.version = 1
            self._set_up_v1(parent)
        else:
            self._problems.append(f"no cgroup hierarchy is mounted at {self.root}")
        self._adopt(self._dirs)
        self.kill_all()

    def _adopt(self, dirs: dict[str, Path]) -> None:
        self._dirs = dirs
        self.directories: list[Path] = list(dict.fromkeys(dirs.values()))   # one per hierarchy; v2: one
        # Computed here: preexec runs in the forked child, where the less Python does the better.
        self._procs_files = [str(group / "cgroup.procs") for group in self.directories]

    # -- set-up ---------------------------------------------------------------------------------

    def _set_up_v2(self, parent: str) -> None:
        available = (_read(self.root / "cgroup.controllers") or "").split()
        wanted = [c for c in V2_CONTROLLERS if c in available]
        self._problems += [f"the {c} controller is not available in {self.root}"
                           for c in V2_CONTROLLERS if c not in available]
        group = self.root / parent / self.name
        try:
            self._enable(self.root, wanted)
            group.parent.mkdir(exist_ok=True)
            self._enable(group.parent, wanted)
            group.mkdir(exist_ok=True)
        except OSError as error:
            self._problems.append(f"cannot create {group}: {error.strerror or error}")
            return
        self._dirs = {controller: group for controller in V2_CONTROLLERS}
        self._limit("memory", group / "memory.max", self.memory_bytes)
        if self._enforced["memory"]:
            self._optional(group / "memory.swap.max", 0)
        self._limit("pids", group / "pids.max", self.processes)
        self._limit("cpu", group / "cpu.weight", self.cpu_weight)

    def _enable(self, group: Path, controllers: list[str]) -> None:
        """Let ``group``'s children use ``controllers`` (cgroup v2's ``cgroup.subtree_control``)."""
        control = group / "cgroup.subtree_control"
        enabled = (_read(control) or "").split()
        missing = [c for c in controllers if c not in enabled]
        if not missing:
            return
        try:
            _write(control, " ".join(f"+{c}" for c in missing))
        except OSError:
            # One controller that cannot be enabled (cpu, with real-time threads about) fails the whole
            # write: enable the others one by one; the child's missing files then say which are absent.
            for controller in missing:
                try:
                    _write(control, f"+{controller}")
                except OSError:
                    pass

    def _set_up_v1(self, parent: str) -> None:
        own = _own_cgroups()
        by_mount: dict[Path, Path] = {}            # cpu and cpuacct are often one mount, linked twice
        for controller in V1_CONTROLLERS:
            mount = self.root / controller
            if not (mount / "cgroup.procs").is_file():
                self._problems.append(f"no {controller} hierarchy is mounted at {mount}")
                continue
            real = mount.resolve()
            if real not in by_mount:
                base = mount / own.get(controller, "/").lstrip("/")
                # The grader's own group is not under a mount of only part of the tree: use the mount's root.
                group = (base if base.is_dir() else mount) / parent / self.name
                try:
                    group.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    self._problems.append(f"cannot create {group}: {error.strerror or error}")
                    continue
                by_mount[real] = group
            self._dirs[controller] = by_mount[real]
        if "memory" in self._dirs:
            memory = self._dirs["memory"]
            self._limit("memory", memory / "memory.limit_in_bytes", self.memory_bytes)
            # Swap too: memsw is memory plus swap, and must be set after (it may not be below) the memory limit.
            if self._enforced["memory"]:
                self._optional(memory / "memory.memsw.limit_in_bytes", self.memory_bytes)
        if "pids" in self._dirs:
            self._limit("pids", self._dirs["pids"] / "pids.max", self.processes)
        if "cpu" in self._dirs:
            self._limit("cpu", self._dirs["cpu"] / "cpu.shares", max(2, round(self.cpu_weight * 1024 / 100)))

    def _limit(self, kind: str, path: Path, value: int) -> None:
        try:
            _write(path, value)
            self._enforced[kind] = True
        except OSError as error:
            self._problems.append(f"cannot set {path}: {error.strerror or error}")

    def _optional(self, path: Path, value: int) -> None:
        """A setting that tightens a limit already in force; without it the limit still holds, say so."""
        try:
            _write(path, value)
        except OSError as error:
            self._problems.append(f"swap is not limited ({path}: {error.strerror or error})")

    # -- what is in force -------------------------------------------------------------------------

    def enforced(self) -> dict[str, bool]:
        """Which of ``memory``, ``pids`` and ``cpu`` this group enforces."""
        return dict(self._enforced)

    def describe(self) -> str:
        """One sentence for people: what is enforced, where, and why anything is not."""
        settings = {"memory": f"memory {self.memory_bytes / 2**20:g} MiB", "pids": f"{self.processes} processes",
                    "cpu": f"CPU weight {self.cpu_weight}"}
        on = [settings[kind] for kind, done in self._enforced.items() if done]
        off = [settings[kind] for kind, done in self._enforced.items() if not done]
        text = (f"cgroup v{self.version} {self.name}: {', '.join(on)} enforced" if on
                else "no cgroup limits, only the per-process RLIMITs apply")
        if off:
            text += f"; not enforced: {', '.join(off)}"
        if self._problems:
            text += f" ({'; '.join(self._problems)})"
        return text

    # -- processes --------------------------------------------------------------------------------

    def add_process(self, pid: int) -> None:
        """Move ``pid`` into the group (every hierarchy of it); raises when that fails."""
        for path in self._procs_files:
            _write(path, pid)

    def preexec(self) -> None:
        """For ``Popen(preexec_fn=...)``: the child joins the group after fork, before it runs anything.

        If it cannot join, the child raises, and ``Popen`` fails rather than start it unlimited.  It only
        opens and writes files, which is safe in a child forked from a grader that runs threads.
        """
        self.add_process(os.getpid())

    def command_prefix(self) -> list[str]:
        """A prefix for a command line that makes it join the group before it runs anything.

        The alternative to :meth:`preexec` for a grader that has imported JAX: Python then runs the
        interpreter's at-fork hooks around a ``preexec_fn`` (and JAX warns of deadlocks), while a plain
        ``Popen`` forks and execs in C.  A shell writes its own pid into the group and then ``exec``s the
        command; if it cannot join, it exits with 97 and the command never runs.
        """
        files = " ".join(f"'{group / 'cgroup.procs'}'" for group in self.directories)
        if not files:
            return []
        return ["/bin/sh", "-c", f'for f in {files}; do echo $$ > "$f" || exit 97; done; exec "$@"', "sandbox"]

    def pids(self) -> list[int]:
        """The processes now in the group (their ids in the grader's PID namespace)."""
        found: set[int] = set()
        for group in self.directories:
            found.update(int(pid) for pid in (_read(group / "cgroup.procs") or "").split())
        return sorted(found)

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the group, including any it forks meanwhile; True once it is empty.

        v2's ``cgroup.kill`` does it in the kernel.  Otherwise the group is frozen first, so that between
        reading the list and killing it nothing can fork, nor exit and leave its id to an unrelated
        process; then thawed, so the kills take effect.  Repeated until the group is empty or ``timeout``
        seconds have passed.
        """
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            if time.monotonic() > deadline:
                return False
            if self.version == 2 and (self.directories[0] / "cgroup.kill").exists():
                _write(self.directories[0] / "cgroup.kill", 1)
            else:
                self._freeze(True)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self._freeze(False)
            time.sleep(0.01)
        return True

    def _freeze(self, frozen: bool) -> None:
        if self.version == 2:
            path, value = self.directories[0] / "cgroup.freeze", int(frozen)
        elif "freezer" in self._dirs:
            path, value = self._dirs["freezer"] / "freezer.state", "FROZEN" if frozen else "THAWED"
        else:
            return
        try:
            _write(path, value)
        except OSError:
            pass  # no freezer (an old v2 kernel): the kill loop still gets there, racing the forks

    def close(self) -> None:
        """Kill what is left and remove the group's directories; raise OSError if one stays."""
        self.kill_all()
        left = [problem for group in self.directories if (problem := _remove(group))]
        self._adopt({c: group for c, group in self._dirs.items() if group.exists()})
        if left:
            raise OSError(f"cgroup directories left behind: {', '.join(left)}")

    def __enter__(self) -> SandboxCgroup:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- accounting -------------------------------------------------------------------------------

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by all the group's processes, those gone included; None without accounting."""
        if self.version == 2 and "cpu" in self._dirs:
            usage = _fields(_read(self._dirs["cpu"] / "cpu.stat")).get("usage_usec")
            return None if usage is None else usage / 1e6
        if self.version == 1 and "cpuacct" in self._dirs:
            usage = (_read(self._dirs["cpuacct"] / "cpuacct.usage") or "").strip()
            return int(usage) / 1e9 if usage.isdigit() else None
        return None

    def memory_peak(self) -> int | None:
        """The most memory the group has used at once, in bytes; None where the kernel does not say."""
        if "memory" not in self._dirs:
            return None
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        peak = (_read(self._dirs["memory"] / name) or "").strip()
        return int(peak) if peak.isdigit() else None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit.

        On v1 kernels older than 4.13, which lack the ``oom_kill`` counter, this is whether the group
        ever reached its limit (``memory.failcnt``), which it may also have survived.
        """
        if "memory" not in self._dirs:
            return False
        memory = self._dirs["memory"]
        if self.version == 2:
            return _fields(_read(memory / "memory.events")).get("oom_kill", 0) > 0
        counters = _fields(_read(memory / "memory.oom_control"))
        if "oom_kill" in counters:
            return counters["oom_kill"] > 0
        failures = (_read(memory / "memory.failcnt") or "").strip()
        return failures.isdigit() and int(failures) > 0


CHUNK_BYTES = 64 * 1024


def read_capped(stream, limit: int) -> tuple[bytes, bool]:
    """Read ``stream`` (a binary file, such as a ``Popen`` pipe) to EOF, keeping at most ``limit`` bytes.

    The rest is read and thrown away, so that the writer never blocks on a full pipe (a sandbox stuck
    writing would look like one that hangs) while the grader holds at most ``limit`` bytes of it.
    Returns the bytes kept and whether any were thrown away.
    """
    kept = bytearray()
    truncated = False
    while chunk := stream.read(CHUNK_BYTES):
        room = limit - len(kept)
        if len(chunk) > room:
            truncated = True
        kept += chunk[:room]
    return bytes(kept), truncated


class CappedReader:
    """:func:`read_capped` in a background thread: one per pipe, so that neither of a process's stdout
    and stderr can fill up and block it while the grader waits on the other.

    A pipe reaches EOF only once every process holding it has exited: kill the sandbox's group before
    :meth:`join` on a sandbox that may have left processes behind.
    """

    def __init__(self, stream, limit: int):
        self._stream, self._limit = stream, limit
        self._result: tuple[bytes, bool] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._result = read_capped(self._stream, self._limit)
        except BaseException as error:  # handed to result(), in the thread that asked
            self._error = error

    def start(self) -> CappedReader:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for EOF; True when the reading is over."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> tuple[bytes, bool]:
        """The bytes kept and whether any were thrown away, once :meth:`join` returned True."""
        if self._thread.is_alive() or (self._result is None and self._error is None):
            raise RuntimeError("the reader has not finished: join() it first")
        if self._error is not None:
            raise self._error
        return self._result


class CpuBudget:
    """A time limit charged in CPU seconds of a sandbox's whole cgroup, with a wall-clock backstop.

    CPU seconds make a limit independent of load: on a busy machine a submission gets less of a CPU
    but is charged only what it got.  They also count every process it forks, and do not run while it
    sleeps or waits -- hence ``wall_backstop``, in wall seconds, which should be a generous multiple of
    ``cpu_seconds`` (a fair share on a loaded machine can be a fraction of a CPU).

    Without CPU accounting (``cgroup`` None, or one with no cpuacct) :meth:`used` counts wall seconds
    instead: the limit then depends on the load again, as a per-cell wall-clock timeout does.
    """

    def __init__(self, cgroup: SandboxCgroup | None, cpu_seconds: float, wall_backstop: float):
        self.cgroup, self.cpu_seconds, self.wall_backstop = cgroup, cpu_seconds, wall_backstop
        self._wall_start: float | None = None
        self._cpu_start: float | None = None

    def start(self) -> CpuBudget:
        self._wall_start = time.monotonic()
        self._cpu_start = self.cgroup.cpu_seconds() if self.cgroup else None
        return self

    def _wall(self) -> float:
        if self._wall_start is None:
            raise RuntimeError("start() the budget first")
        return time.monotonic() - self._wall_start

    def used(self) -> float:
        """CPU seconds the group has used since :meth:`start`; wall seconds without CPU accounting."""
        wall = self._wall()
        now = self.cgroup.cpu_seconds() if self.cgroup and self._cpu_start is not None else None
        return wall if now is None else now - self._cpu_start

    def exhausted(self) -> str | None:
        """``"cpu"`` once the CPU seconds are spent, ``"wall"`` once the backstop is reached, else None."""
        if self.used() >= self.cpu_seconds:
            return "cpu"
        if self._wall() >= self.wall_backstop:
            return "wall"
        return None
