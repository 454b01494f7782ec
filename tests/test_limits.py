"""The per-sandbox limits of autograder/limits.py, against the real cgroups of this machine.

The tests that need a writable cgroup hierarchy (root, not a container) skip cleanly without one.  The
only fake is a temporary directory laid out like a cgroup v2 hierarchy, for the v2 code path where the
machine has v1.  Every group is made under a parent of this test run's own and removed afterwards.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from autograder.limits import CappedReader, CpuBudget, SandboxCgroup, read_capped

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
TEST_PARENT = f"autodiff-course-test-{os.getpid()}"


def _usable() -> str | None:
    """Why the real-cgroup tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    probe = SandboxCgroup(f"probe-{uuid.uuid4().hex[:8]}", memory_bytes=64 * MiB, processes=16, parent=TEST_PARENT)
    try:
        return None if all(probe.enforced().values()) else probe.describe()
    finally:
        _close_with_parents(probe)


def _close_with_parents(group: SandboxCgroup) -> None:
    parents = {directory.parent for directory in group.directories}
    group.close()                                     # raises if a directory stays
    for parent in parents:
        try:
            parent.rmdir()
        except OSError:
            pass  # still holds another test's group: the last one out removes it


_REASON = _usable()
real = pytest.mark.skipif(_REASON is not None, reason=f"no writable cgroup hierarchy: {_REASON}")


@pytest.fixture
def make_group():
    made = []

    def make(**limits) -> SandboxCgroup:
        limits = {"memory_bytes": 256 * MiB, "processes": 64, **limits}
        group = SandboxCgroup(f"test-{uuid.uuid4().hex[:8]}", parent=TEST_PARENT, **limits)
        made.append(group)
        return group

    yield make
    for group in made:
        _close_with_parents(group)


def python(code: str, group: SandboxCgroup, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], preexec_fn=group.preexec, **popen)


# -- cgroup v1, the real thing ---------------------------------------------------------------------------

@real
def test_a_child_allocating_four_times_the_memory_limit_is_killed(make_group):
    group = make_group(memory_bytes=64 * MiB)
    assert group.enforced()["memory"] and not group.oom_killed()
    child = python("x = b'1' * (256 << 20)", group)       # touched, not just reserved
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert group.oom_killed()
    assert group.memory_peak() <= 64 * MiB


@real
def test_a_fork_loop_is_capped_by_the_process_limit(make_group):
    group = make_group(processes=16)
    child = python("""
        import os, time
        made = failed = 0
        for _ in range(64):                     # bounded, and each child sleeps a bounded time
            try:
                pid = os.fork()
            except BlockingIOError:
                failed += 1
                continue
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            made += 1
        print(made, failed, flush=True)
        time.sleep(60)
        """, group, stdout=subprocess.PIPE, text=True)
    made, failed = map(int, child.stdout.readline().split())
    assert made <= 15 and failed >= 64 - 15
    assert 1 < len(group.pids()) <= 16
    assert group.kill_all()
    assert group.pids() == []
    assert child.wait(timeout=10) == -signal.SIGKILL
    child.stdout.close()


@real
def test_cpu_seconds_count_a_busy_loop_and_not_a_sleep(make_group):
    busy, sleepy = make_group(), make_group()
    python("import time\nwhile time.process_time() < 1: pass", busy).wait(timeout=30)
    python("import time; time.sleep(1)", sleepy).wait(timeout=30)
    assert 0.5 <= busy.cpu_seconds() <= 1.5
    assert sleepy.cpu_seconds() < 0.2


@real
def test_equal_shares_are_fair_between_sandboxes_whatever_one_forks(make_group):
    cpu = min(os.sched_getaffinity(0))
    busy = """
        import os, time
        os.sched_setaffinity(0, {{{cpu}}})       # every process on one CPU: they must share it
        for _ in range({forks}):
            if os.fork() == 0:
                break                            # a child: stop forking, be busy
        end = time.monotonic() + 4
        while time.monotonic() < end:
            pass
        """
    alone, forker = make_group(), make_group()
    assert alone.enforced()["cpu"] and forker.enforced()["cpu"]
    python(busy.format(cpu=cpu, forks=0), alone)
    python(busy.format(cpu=cpu, forks=4), forker)
    time.sleep(0.5)
    assert len(forker.pids()) == 5
    before = alone.cpu_seconds(), forker.cpu_seconds()
    time.sleep(2)
    got_alone, got_forker = alone.cpu_seconds() - before[0], forker.cpu_seconds() - before[1]
    assert got_alone + got_forker > 0.5               # they ran
    # Five processes against one would get 5:1 by process; by group it is 1:1.
    assert 0.5 < got_alone / got_forker < 2, (got_alone, got_forker)


@real
def test_close_kills_what_is_left_and_removes_the_group(make_group):
    group = make_group()
    child = python("import time; time.sleep(60)", group)
    time.sleep(0.2)
    assert group.pids() == [child.pid]
    directories = group.directories
    assert directories
    group.close()
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert not any(directory.exists() for directory in directories)
    assert group.pids() == [] and group.cpu_seconds() is None


# -- without a usable hierarchy -------------------------------------------------------------------------

PROBE = """
import json, sys
sys.path.insert(0, {root!r})
from autograder.limits import SandboxCgroup
group = SandboxCgroup({name!r}, memory_bytes=2**26, processes=16, parent={parent!r})
print(json.dumps({{"enforced": group.enforced(), "describe": group.describe(), "cpu": group.cpu_seconds()}}))
group.close()
"""


def _probe_output(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_missing_root_enforces_nothing_and_degrades(tmp_path):
    group = SandboxCgroup("nothing", memory_bytes=64 * MiB, processes=16, root=tmp_path / "missing")
    assert group.version is None and not any(group.enforced().values())
    assert "no cgroup limits" in group.describe() and str(tmp_path / "missing") in group.describe()
    subprocess.run(["true"], preexec_fn=group.preexec, check=True)     # starts, unlimited
    assert group.cpu_seconds() is None and group.memory_peak() is None and not group.oom_killed()
    assert group.pids() == [] and group.kill_all()
    group.close()


@real
def test_not_root_enforces_nothing_and_degrades():
    probe = PROBE.format(root=str(ROOT), name=f"nobody-{uuid.uuid4().hex[:8]}", parent=TEST_PARENT)
    report = _probe_output(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", probe])
    assert not any(report["enforced"].values()) and report["cpu"] is None
    assert "no cgroup limits" in report["describe"] and "Permission denied" in report["describe"]


@real
def test_a_read_only_hierarchy_enforces_nothing_and_degrades():
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
              if line.split()[2] in ("cgroup", "cgroup2")]
    ours = os.readlink("/proc/self/ns/mnt")
    # In a mount namespace of its own (never this one: it checks), every cgroup mount made read-only.
    remount = textwrap.dedent(f"""
        import os, subprocess, sys
        if os.readlink("/proc/self/ns/mnt") == {ours!r}:
            sys.exit("not in a mount namespace of its own")
        for mount in {mounts!r}:
            subprocess.run(["mount", "-o", "remount,bind,ro", mount], check=True)
        """)
    probe = PROBE.format(root=str(ROOT), name=f"ro-{uuid.uuid4().hex[:8]}", parent=TEST_PARENT)
    report = _probe_output(["unshare", "--mount", "--propagation", "private",
                            sys.executable, "-c", remount + probe])
    assert not any(report["enforced"].values()) and report["cpu"] is None
    assert "Read-only file system" in report["describe"]


# -- cgroup v2, against a directory laid out like one ------------------------------------------------

def _fake_v2(root: Path, controllers: str, files: dict[str, str]) -> Path:
    """What the kernel would show: the root's files, and the group's once the parent enables controllers."""
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    group = root / "autodiff-course" / "sandbox-1"
    group.mkdir(parents=True)
    (group.parent / "cgroup.subtree_control").write_text("")
    for name, text in {"cgroup.procs": "", **files}.items():
        (group / name).write_text(text)
    return group


def test_v2_writes_the_limits_and_reads_the_accounting(tmp_path):
    group_dir = _fake_v2(tmp_path, "cpuset cpu io memory hugetlb pids rdma misc", {
        "memory.max": "max\n", "memory.swap.max": "max\n", "pids.max": "max\n", "cpu.weight": "100\n",
        "cgroup.kill": "", "cgroup.freeze": "0\n", "memory.peak": "12345\n",
        "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
        "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"})
    group = SandboxCgroup("sandbox-1", memory_bytes=64 * MiB, processes=20, cpu_weight=200, root=tmp_path)
    assert group.version == 2 and group.enforced() == {"memory": True, "pids": True, "cpu": True}
    assert group.directories == [group_dir]
    for parent in (tmp_path, group_dir.parent):
        assert (parent / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    written = {name: (group_dir / name).read_text() for name in ("memory.max", "memory.swap.max", "pids.max",
                                                                   "cpu.weight")}
    assert written == {"memory.max": str(64 * MiB), "memory.swap.max": "0", "pids.max": "20", "cpu.weight": "200"}
    child = subprocess.Popen(["true"], preexec_fn=group.preexec)
    child.wait()
    assert (group_dir / "cgroup.procs").read_text() == str(child.pid)
    assert group.cpu_seconds() == 1.5 and group.memory_peak() == 12345 and group.oom_killed()
    assert group.pids() == [child.pid]
    assert not group.kill_all(timeout=0.1)            # a file does not empty itself...
    assert (group_dir / "cgroup.kill").read_text() == "1"    # ...but the kernel's kill was asked for
    for file in group_dir.iterdir():                  # what the kernel does once the group is empty
        file.unlink()
    group.close()
    assert not group_dir.exists() and group_dir.parent.exists()


def test_v2_reports_what_it_cannot_enforce(tmp_path):
    # No cpu controller, no swap accounting (memory.swap.max absent), no cgroup.kill (a kernel before 5.14).
    group_dir = _fake_v2(tmp_path, "memory pids", {"memory.max": "max\n", "pids.max": "max\n",
                                                   "cgroup.freeze": "0\n"})
    group = SandboxCgroup("sandbox-1", memory_bytes=64 * MiB, processes=20, root=tmp_path)
    assert group.enforced() == {"memory": True, "pids": True, "cpu": False}
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
    description = group.describe()
    assert "not enforced: CPU weight 100" in description and "cpu controller is not available" in description
    assert "swap is not limited" in description
    child = subprocess.Popen(["sleep", "60"])
    try:
        (group_dir / "cgroup.procs").write_text(str(child.pid))
        assert not group.kill_all(timeout=0.1)
        assert child.wait(timeout=10) == -signal.SIGKILL    # killed one by one, the freezer thawed after
        assert (group_dir / "cgroup.freeze").read_text() == "0"
    finally:
        child.kill()
        child.wait()


# -- output ---------------------------------------------------------------------------------------------

def _kib(field: str) -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def test_read_capped_keeps_the_cap_of_a_flood_and_little_memory():
    flood = "import sys\nfor _ in range(64): sys.stdout.buffer.write(b'x' * 2**20)"
    Path("/proc/self/clear_refs").write_text("5")     # restart the peak (VmHWM) from the current RSS
    before = _kib("VmRSS")
    child = subprocess.Popen([sys.executable, "-c", flood], stdout=subprocess.PIPE)
    reader = CappedReader(child.stdout, MiB).start()
    assert child.wait(timeout=60) == 0                # it was never blocked on a full pipe
    assert reader.join(timeout=10)
    kept, truncated = reader.result()
    child.stdout.close()
    assert kept == b"x" * MiB and truncated
    assert _kib("VmHWM") - before < 16 * 1024         # KiB: the grader held the cap, not the 64 MiB


def test_read_capped_keeps_all_of_what_fits():
    read, write = os.pipe()
    with os.fdopen(read, "rb") as stream:
        with os.fdopen(write, "wb") as sink:
            sink.write(b"0123456789")
        assert read_capped(stream, 10) == (b"0123456789", False)


def test_a_reader_refuses_a_result_before_it_is_done():
    read, write = os.pipe()
    with os.fdopen(read, "rb") as stream, os.fdopen(write, "wb") as sink:
        reader = CappedReader(stream, 10).start()
        assert not reader.join(timeout=0.1)
        with pytest.raises(RuntimeError):
            reader.result()
        sink.write(b"abcdefghijkl")
        sink.close()
        assert reader.join(timeout=10) and reader.result() == (b"abcdefghij", True)


# -- CPU budgets ----------------------------------------------------------------------------------------

def _poll(budget: CpuBudget, seconds: float) -> str | None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if state := budget.exhausted():
            return state
        time.sleep(0.05)
    return None


@real
def test_a_sleeping_process_does_not_spend_a_cpu_budget(make_group):
    group = make_group()
    budget = CpuBudget(group, cpu_seconds=1, wall_backstop=10).start()
    child = python("import time; time.sleep(3)", group)
    assert _poll(budget, 2) is None and budget.used() < 0.2
    child.kill()
    child.wait()


@real
def test_a_busy_process_spends_a_cpu_budget(make_group):
    group = make_group()
    budget = CpuBudget(group, cpu_seconds=1, wall_backstop=10).start()
    child = python("while True: pass", group)
    # 1 CPU second takes 1 s on an idle machine; a loaded one may give the child half a CPU.
    assert _poll(budget, 5) == "cpu" and budget.used() >= 1
    child.kill()
    child.wait()


@real
def test_the_wall_backstop_stops_what_sleeps(make_group):
    budget = CpuBudget(make_group(), cpu_seconds=5, wall_backstop=0.3).start()
    assert _poll(budget, 0.2) is None
    assert _poll(budget, 2) == "wall"


def test_without_accounting_a_budget_counts_wall_seconds(tmp_path):
    degraded = SandboxCgroup("nothing", memory_bytes=64 * MiB, processes=16, root=tmp_path / "missing")
    for group in (None, degraded):
        budget = CpuBudget(group, cpu_seconds=0.3, wall_backstop=10).start()
        assert _poll(budget, 0.2) is None
        assert _poll(budget, 2) == "cpu" and budget.used() >= 0.3
