"""The trusted side of a graded run: drive a sandboxed kernel cell by cell, and gather the evidence.

The student's notebook runs in a Jupyter kernel inside the sandbox
(:mod:`autograder.sandbox`); this module is its *client*, in the grader's own
process.  It sends each cell's code, reads the outputs (capped), charges each
cell in CPU seconds of the sandbox, and interrupts or kills what overruns.

At a graded test cell it does not run the cell's code.  Instead it runs the
exercise's hidden tests, one case per request: the case is drawn here, from a
seed the sandbox never sees; the kernel-side agent (:mod:`autograder.agent`)
calls the student's code on it and answers over the kernel's stdin channel;
functions handed to the student's code are served from here, and their calls
counted here.  What decides a grade therefore never passes through the
student's outputs, files or environment.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from autograder import agent, limits as limits_mod, records, sandbox
from autograder.exercises.base import Served, seed_for
from autograder.settings import MAX_MESSAGE_BYTES, MAX_SERVED_CALLS

TRUNCATED = "\n[... output truncated by the grader ...]\n"
OUTPUT_LOST = "\n[... output truncated by the grader: a message was larger than it accepts ...]\n"
GRACE_SECONDS = 10         # after an interrupt, how long a kernel may take to stop before it is killed
IDLE_SECONDS = 3           # after the reply, how long to wait for the kernel's last outputs

# Outcomes of one cell, decided here (never read from what the kernel printed).
OK, ERROR, CPU_LIMIT, WALL_LIMIT, DIED, NOT_RUN = "ok", "error", "cpu limit", "wall limit", "kernel died", "not run"


@dataclass
class CellRun:
    outputs: list = field(default_factory=list)
    execution_count: int | None = None
    outcome: str = NOT_RUN
    cpu_seconds: float = 0.0


class KernelGone(RuntimeError):
    """The kernel died, or had to be killed; nothing more can run in it."""


def _pickle_case(case: dict) -> str:
    """The case as the kernel will see it: values by copy, served functions replaced by proxies."""
    import cloudpickle

    class CasePickler(cloudpickle.CloudPickler):
        def reducer_override(self, obj):
            if isinstance(obj, Served):
                return agent.Proxy, (obj.name, obj.label)
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    CasePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(case)
    return base64.b64encode(buffer.getvalue()).decode()


class SandboxedKernel:
    """A Jupyter kernel inside a bubblewrap sandbox, connected to from this (trusted) process."""

    def __init__(self, *, slot: int, limits: sandbox.Limits, allow_ad: bool):
        self.slot, self.limits, self.allow_ad = slot, limits, allow_ad
        self.uid = sandbox.uid_for(slot)
        self.process: subprocess.Popen | None = None
        self.client = None
        self.cgroup = None
        self.stderr = None
        self.died = ""
        self.iopub_lost = False

    # -- start and stop --------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-"))
        os.chmod(self.root, 0o755)
        channel = self.root / "channel"
        channel.mkdir()
        os.chown(channel, self.uid, self.uid)
        os.chmod(channel, 0o700)
        info = {"transport": "ipc", "ip": str(channel / "kernel"), "shell_port": 1, "iopub_port": 2,
                "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": secrets.token_hex(32),
                "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
        connection = channel / "connection.json"
        connection.write_text(json.dumps(info))
        os.chown(connection, self.uid, self.uid)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection),
                "--HistoryManager.hist_file=:memory:", "--IPKernelApp.matplotlib=agg",
                # Output written to the file descriptors goes to the capped stderr pipe, not to messages.
                "--IPKernelApp.capture_fd_output=False"]
        cmd = sandbox.command(self.root, channel, self.slot, self.limits, argv, allow_ad=self.allow_ad)
        self.cgroup = limits_mod.SandboxCgroup(f"s{self.uid}-{secrets.token_hex(4)}",
                                               memory_bytes=self.limits.memory_bytes,
                                               processes=self.limits.processes)
        # Into the control group before bwrap starts (a shell prefix, not a preexec_fn: this process may
        # hold JAX's threads, and only exec-safe C code may run between fork and exec).
        self.process = subprocess.Popen(self.cgroup.command_prefix() + cmd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.stderr = limits_mod.CappedReader(self.process.stderr, self.limits.stderr_bytes)
        self.stderr.start()
        sockets = [channel / f"kernel-{port}" for port in range(1, 6)]
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in sockets):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise KernelGone(f"the grading kernel did not start: {self.stderr_tail()}")
            time.sleep(0.05)
        # From now on the student's user may not replace a socket by a link to anything else: the folder
        # becomes root's.  No student code has run yet (the kernel has received no request).
        os.chown(channel, 0, 0)
        os.chmod(channel, 0o755)
        for path in sockets:
            mode = os.lstat(path).st_mode
            if not stat.S_ISSOCK(mode):
                self.close()
                raise KernelGone("the kernel's channel is not what the grader created")
        self._connect(info)

    def _connect(self, info: dict) -> None:
        import zmq
        from jupyter_client import BlockingKernelClient

        context = zmq.Context()
        context.setsockopt(zmq.RECONNECT_IVL, -1)  # never reconnect to a path the sandbox could have changed
        # A bigger message is refused and its connection dropped (not reconnected): the trusted side never
        # holds more than this of one message.  Losing iopub loses outputs only; verdicts use stdin and shell.
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.context = context
        self.client = BlockingKernelClient(context=context)
        self.client.load_connection_info(info)
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=120)
        except RuntimeError as exc:
            self.close()
            raise KernelGone(f"the grading kernel did not answer: {exc}. {self.stderr_tail()}") from exc

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
            self.client = None
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.cgroup is not None:
            self.cgroup.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            self.stderr.join(timeout=5)
        if getattr(self, "context", None) is not None:
            self.context.destroy(linger=0)
            self.context = None
        if getattr(self, "root", None) is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def stderr_tail(self) -> str:
        try:
            data, _ = self.stderr.result()
        except Exception:  # not started, or still reading
            return ""
        lines = data.decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    # -- running code ----------------------------------------------------------------------------------

    def cpu_seconds(self) -> float:
        return self.cgroup.cpu_seconds()

    def run(self, code: str, *, cpu_budget: float, serve=None) -> CellRun:
        """Run one cell; ``serve(prompt) -> reply`` answers the kernel's stdin requests (hidden tests only)."""
        if self.client is None or self.died:
            raise KernelGone(self.died or "the kernel is not running")
        import zmq

        client = self.client
        msg_id = client.execute(code, store_history=serve is None, allow_stdin=serve is not None,
                                stop_on_error=False)
        run = CellRun(outcome=OK)
        size, truncated, idle, replied, replied_at = 0, False, False, False, 0.0
        budget = limits_mod.CpuBudget(self.cgroup, cpu_budget, cpu_budget * self.limits.wall_factor)
        budget.start()
        interrupted_at = None
        poller = zmq.Poller()
        for channel in (client.iopub_channel, client.shell_channel, client.stdin_channel):
            poller.register(channel.socket, zmq.POLLIN)
        while not (idle and replied):
            poller.poll(100)
            while client.stdin_channel.msg_ready():
                msg = client.stdin_channel.get_msg()
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "input_request":
                    client.input(serve(str(msg["content"].get("prompt", ""))) if serve else "")
            while client.iopub_channel.msg_ready():
                msg = client.iopub_channel.get_msg()
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content.get("execution_state") == "idle":
                    idle = True
                elif kind == "execute_input":
                    run.execution_count = content.get("execution_count")
                elif kind == "clear_output":
                    run.outputs.clear()
                elif kind in ("stream", "display_data", "execute_result", "error"):
                    size += len(json.dumps(content, default=str))
                    if size <= self.limits.output_bytes or kind == "error":
                        run.outputs.append(nbformat.v4.output_from_msg(msg))
                    elif not truncated:
                        truncated = True
                        run.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
            while client.shell_channel.msg_ready():
                msg = client.shell_channel.get_msg()
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
                    replied, replied_at = True, time.monotonic()
                    if msg["content"].get("status") == "error" and run.outcome == OK:
                        run.outcome = ERROR
                    if run.execution_count is None:
                        run.execution_count = msg["content"].get("execution_count")
            if idle and replied:
                break
            if replied and (self.iopub_lost or time.monotonic() - replied_at > IDLE_SECONDS):
                # The reply came but the outputs' channel went quiet: a message over the size limit cut it.
                self.iopub_lost = True
                run.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=OUTPUT_LOST))
                break
            if self.process.poll() is not None:
                self._died(f"the kernel died (exit code {self.process.returncode})")
                run.outcome = DIED
                break
            if interrupted_at is None:
                exhausted = budget.exhausted()
                if exhausted:
                    run.outcome = CPU_LIMIT if exhausted == "cpu" else WALL_LIMIT
                    interrupted_at = time.monotonic()
                    self._interrupt()
            elif time.monotonic() - interrupted_at > GRACE_SECONDS:
                # Interrupted and still running (it caught KeyboardInterrupt, or is stuck in C code).
                self._died("the kernel did not stop when interrupted and was stopped")
                break
        run.cpu_seconds = budget.used()
        return run

    def _interrupt(self) -> None:
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def _died(self, why: str) -> None:
        if self.cgroup is not None and self.cgroup.oom_killed():
            why = f"the sandbox ran out of memory ({self.limits.memory_bytes / 2**30:.0f} GiB) and was stopped"
        self.died = why
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.cgroup.kill_all()


# ---------------------------------------------------------------------------------------------------------
# A whole notebook.

@dataclass
class Execution:
    """What a graded run produced: each code cell's run, and each exercise's observations."""

    cells: dict[int, CellRun] = field(default_factory=dict)
    observations: dict[str, list | None] = field(default_factory=dict)   # exercise -> one dict per case
    cases: dict[str, list] = field(default_factory=dict)                 # exercise -> the cases drawn here
    outcome: str = OK                                                    # the worst limit hit, if any
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    uid: int | None = None                                               # the sandbox's user


class _Server:
    """Answers one case's stdin requests: served calls (counted here) and the probe's record."""

    def __init__(self, case: dict):
        self.served = {value.name: value for value in case.values() if isinstance(value, Served)}
        self.record: str | None = None
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        if prompt.startswith(agent.RECORD) and self.record is None:
            self.record = prompt[len(agent.RECORD):]
            return ""
        if prompt.startswith(agent.CALL):
            self.calls += 1
            if self.calls > MAX_SERVED_CALLS:
                return json.dumps({"error": f"more than {MAX_SERVED_CALLS} calls: stopped"})
            try:
                request = json.loads(prompt[len(agent.CALL):])
                served = self.served[str(request["name"])]
                args = [self.served[a.name] if isinstance(a, records.ServedRef) and a.name in self.served else a
                        for a in records.loads(str(request["args"]))]
                if any(isinstance(a, (records.Unreadable, records.ServedRef)) for a in args):
                    raise TypeError(f"{served.label} takes numbers, arrays of numbers and the functions it was given")
                return json.dumps({"value": records.dumps([served(*args)])})
            except Exception as exc:
                return json.dumps({"error": f"{type(exc).__name__}: {exc}"[:300]})
        return ""


def run_notebook(nb, *, assignment: str, exercises: dict[str, str], seed: int, slot: int,
                 limits: sandbox.Limits, allow_ad: bool) -> Execution:
    """Run ``nb`` in a fresh sandboxed kernel; ``exercises`` maps a test cell's grade_id to its exercise."""
    from autograder.exercises import ASSIGNMENTS
    from autograder.notebooks import grade_id

    result = Execution()
    start = time.perf_counter()
    kernel = SandboxedKernel(slot=slot, limits=limits, allow_ad=allow_ad)
    result.uid = kernel.uid
    try:
        kernel.start()
    except KernelGone as exc:
        result.outcome = DIED
        result.reasons.append(str(exc))
        return result
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if kernel.died or time.perf_counter() - start > limits.wall_timeout:
                if not kernel.died:
                    kernel._died(f"the notebook ran longer than {limits.wall_timeout:g} s and was stopped")
                    result.outcome = WALL_LIMIT
                break
            exercise = exercises.get(grade_id(cell) or "")
            if exercise is None:
                result.cells[index] = run = kernel.run(cell.source, cpu_budget=limits.cell_timeout)
                _note(result, run, grade_id(cell) or f"cell {index + 1}", limits)
                continue
            spec = ASSIGNMENTS[assignment][exercise]
            cases = spec.cases(np.random.default_rng(seed_for(exercise, seed)))
            result.cases[exercise] = cases
            observations: list | None = []
            budget_left = limits.cell_timeout
            for case in cases:
                server = _Server(case)
                code = (f"__import__('autograder.agent').agent.probe({assignment!r}, {exercise!r}, "
                        f"{_pickle_case(case)!r}, globals())")
                run = kernel.run(code, cpu_budget=max(budget_left, 0.5), serve=server)
                budget_left -= run.cpu_seconds
                if run.outcome in (CPU_LIMIT, WALL_LIMIT, DIED):
                    _note(result, run, grade_id(cell), limits)
                    observations = None
                    break
                observation = _observation(server.record)
                observation["served_calls"] = {name: s.calls for name, s in server.served.items()}
                observations.append(observation)
            result.observations[exercise] = observations
            result.cells[index] = CellRun(outcome=OK if observations is not None else NOT_RUN)
    finally:
        result.cpu_seconds = kernel.cpu_seconds() or 0.0
        if kernel.died and kernel.died not in result.reasons:
            result.reasons.append(kernel.died)
        kernel.close()
    result.seconds = time.perf_counter() - start
    return result


def _observation(record: str | None) -> dict:
    if record is None:
        return {"error": "the hidden test's probe returned nothing (did your code replace the grader's tools?)"}
    try:
        (observation,) = records.loads(record)
    except Exception as exc:
        return {"error": f"the hidden test's record could not be read ({exc})"}
    return observation if isinstance(observation, dict) else {"error": "the hidden test's record was altered"}


_SEVERITY = {OK: 0, ERROR: 0, NOT_RUN: 0, CPU_LIMIT: 1, WALL_LIMIT: 2, DIED: 3}


def _note(result: Execution, run: CellRun, where: str, limits: sandbox.Limits) -> None:
    """Say, in the run's reasons, which limit a cell hit (the grader's own observation)."""
    text = {CPU_LIMIT: f"cell time limit ({limits.cell_timeout:g} CPU s) hit in: {where}",
            WALL_LIMIT: f"wall-clock backstop ({limits.cell_timeout * limits.wall_factor:g} s) hit in: {where}",
            DIED: f"the kernel died in: {where}"}.get(run.outcome)
    if text:
        result.reasons.append(text)
        if _SEVERITY[run.outcome] > _SEVERITY[result.outcome]:
            result.outcome = run.outcome
