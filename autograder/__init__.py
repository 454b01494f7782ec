"""The instructor's side of the course: reference solutions, hidden tests and the grading pipeline.

Not part of the installed ``course`` package: students never get it.
"""

import sys

# nbformat validates notebooks with jsonschema, which on import builds parsers for the "iri" string
# format from rfc3987_syntax: 1.2 s per process on the reference machine (python-jsonschema#1428).
# No notebook schema uses that format, so the optional checker is skipped; jsonschema imports it
# under `suppress(ImportError)`.  This runs in the CLI, in every grading worker and in every sandbox.
sys.modules.setdefault("rfc3987_syntax", None)
