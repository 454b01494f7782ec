"""Reference solutions, one module per assignment (mirrors of the source notebooks' solution cells)."""
