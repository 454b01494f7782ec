"""TEMPORARY stand-in (replaced by the limits branch): cgroup v1 limits for one sandbox."""
from __future__ import annotations
import os, signal, threading, time
from pathlib import Path
ROOT = Path("/sys/fs/cgroup")

class SandboxCgroup:
    def __init__(self, name, *, memory_bytes, processes, cpu_weight=None):
        self.dirs = {}
        for ctrl, files in (("memory", {"memory.limit_in_bytes": memory_bytes}), ("pids", {"pids.max": processes}),
                            ("cpu", {"cpu.shares": 1024}), ("cpuacct", {})):
            d = ROOT / ctrl / "autodiff-course" / name
            try:
                d.mkdir(parents=True, exist_ok=True)
                for f, v in files.items():
                    (d / f).write_text(str(v))
                self.dirs[ctrl] = d
            except OSError:
                pass
    def command_prefix(self):
        files = " ".join(str(d / "cgroup.procs") for d in self.dirs.values())
        return ["/bin/sh", "-c", f'for f in {files}; do echo $$ > "$f" || exit 97; done; exec "$@"', "sh"]
    def preexec_fn(self):
        dirs = list(self.dirs.values())
        def attach():
            for d in dirs:
                (d / "cgroup.procs").write_text(str(os.getpid()))
        return attach
    def cpu_seconds(self):
        d = self.dirs.get("cpuacct")
        return int((d / "cpuacct.usage").read_text()) / 1e9 if d else None
    def oom_killed(self):
        d = self.dirs.get("memory")
        return bool(d) and "oom_kill 1" in (d / "memory.oom_control").read_text()
    def pids(self):
        d = self.dirs.get("pids")
        return [int(p) for p in (d / "cgroup.procs").read_text().split()] if d else []
    def kill_all(self):
        for _ in range(50):
            pids = self.pids()
            if not pids: return
            for p in pids:
                try: os.kill(p, signal.SIGKILL)
                except ProcessLookupError: pass
            time.sleep(0.02)
    def close(self):
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(50):
                try: d.rmdir(); break
                except OSError: time.sleep(0.02)

class CappedReader(threading.Thread):
    def __init__(self, stream, limit):
        super().__init__(daemon=True); self.stream, self.limit, self.data, self.truncated = stream, limit, bytearray(), False
    def run(self):
        while True:
            chunk = self.stream.read(65536) if hasattr(self.stream, "read") else b""
            if not chunk: break
            room = self.limit - len(self.data)
            if room > 0: self.data += chunk[:room]
            if len(chunk) > room: self.truncated = True
    def result(self): return bytes(self.data), self.truncated

class CpuBudget:
    def __init__(self, cgroup, cpu_seconds, wall_backstop):
        self.cgroup, self.cpu, self.wall = cgroup, cpu_seconds, wall_backstop
    def start(self):
        self.t0 = time.monotonic(); self.c0 = self._cpu()
    def _cpu(self):
        c = self.cgroup.cpu_seconds() if self.cgroup else None
        return time.monotonic() if c is None else c
    def used(self): return self._cpu() - self.c0
    def exhausted(self):
        if self.used() > self.cpu: return "cpu"
        if time.monotonic() - self.t0 > self.wall: return "wall"
        return None
