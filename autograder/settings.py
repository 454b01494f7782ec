"""Every limit and cap of the grader, in one place, each with why it is what it is.

Time limits are CPU seconds (a loaded machine changes no grade); sizes bound
what the trusted side ever holds of something the student produced.  The
static checker's work bounds are in :mod:`autograder.integrity.budget`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60            # CPU seconds per cell, and per exercise's hidden tests
    wall_timeout: float = 900           # wall seconds for the whole notebook (a backstop, never the rule)
    wall_factor: float = 6.0            # a cell's wall-clock backstop: this many times its CPU budget
    memory_bytes: int = 6 * 2**30       # the whole sandbox's memory (control group)
    address_space: int = 16 * 2**30     # per process (JAX reserves a lot of address space, touches little)
    processes: int = 128                # processes and threads of the whole sandbox
    file_bytes: int = 256 * 2**20       # largest file it may write
    home_bytes: int = 64 * 2**20        # the writable home folder (a tmpfs)
    tmp_bytes: int = 256 * 2**20        # the writable /tmp (a tmpfs)
    output_bytes: int = 200_000         # output kept per cell (about 100 screens of text)
    stderr_bytes: int = 64 * 2**10      # what the trusted side reads of the sandbox's stderr


# Files and messages from the student.
MAX_SUBMISSION_BYTES = 32 * 2**20   # a notebook larger than this is not read (the course's are < 1 MB)
MAX_UPLOAD_BYTES = 50 * 2**20       # one file in an LMS download
MAX_RECORD_BYTES = 20 * 2**20       # one observation or served call (05's largest case: about 2 MB)
MAX_ARRAY_ELEMENTS = 10**6          # one array in a record (05's vectors: 100,000)
MAX_MESSAGE_BYTES = 64 * 2**20      # one Jupyter message from the kernel; a bigger one cuts its channel
MAX_SERVED_CALLS = 20_000           # calls of served functions per case: far above any exercise's cost
MAX_PNG_BYTES = 2 * 2**20           # one image kept in feedback
