"""The instructor's side of the course: reference solutions, hidden tests and the grading pipeline.

Not part of the installed ``course`` package: students never get it.
"""
