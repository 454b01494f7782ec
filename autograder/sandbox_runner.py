"""Runs *inside* the sandbox: execute one notebook in a real Jupyter kernel and save the result.

    python -m autograder.sandbox_runner IN.ipynb OUT.ipynb --timeout SECONDS --max-output BYTES

Nothing here is trusted by the grader: it only produces the executed
notebook (for feedback) while the hidden-test probes write their records.
It caps what each cell may print, so a gigabyte of output cannot exhaust the
sandbox's memory, and it saves the notebook as executed so far even when
the kernel dies, so earlier cells keep their outputs.
"""

from __future__ import annotations

import argparse
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError


TRUNCATED = "\n[... output truncated by the grader ...]\n"


class CappedClient(NotebookClient):
    """A NotebookClient that keeps at most ``max_output`` bytes of output per cell (errors always)."""

    max_output = 200_000

    def output(self, outs, msg, display_id, cell_index):
        sizes = self.__dict__.setdefault("_output_sizes", {})
        sizes[cell_index] = sizes.get(cell_index, 0) + len(str(msg.get("content", "")))
        if msg["msg_type"] != "error" and sizes[cell_index] > self.max_output:
            if not (outs and outs[-1].get("text") == TRUNCATED):
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
            return None
        return super().output(outs, msg, display_id, cell_index)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--max-output", type=int, default=200_000)
    args = parser.parse_args()
    nb = nbformat.read(args.source, as_version=4)
    client = CappedClient(nb, timeout=args.timeout, allow_errors=True, interrupt_on_timeout=True,
                          kernel_name="python3", record_timing=False, shutdown_kernel="immediate",
                          extra_arguments=["--HistoryManager.hist_file=:memory:"])
    client.max_output = args.max_output
    # An interrupted cell gets this error (not the kernel's KeyboardInterrupt), so the grader can tell.
    client.error_on_timeout = {"ename": "CellTimeoutError", "evalue": f"cell interrupted after {args.timeout} s",
                               "traceback": [f"CellTimeoutError: cell interrupted after {args.timeout} s"]}
    status = 0
    try:
        client.execute()
    except DeadKernelError as exc:
        nb.metadata["grading"] = {"crashed": f"the kernel died: {exc}"}
        status = 3
    except Exception as exc:  # anything else is reported, never hidden
        nb.metadata["grading"] = {"crashed": f"{type(exc).__name__}: {exc}"}
        status = 4
    nbformat.write(nb, args.target)
    return status


if __name__ == "__main__":
    sys.exit(main())
