"""Graded exercises on nbgrader: release the student notebooks, grade a class's submissions.

``python -m attnbook.grading release``   regenerates ``exercises/`` from ``solutions/``
                                          (``make exercises``);
``python -m attnbook.grading grade DIR --output OUT --timeout S``
                                          grades a folder of submissions (``make grade``).

See :mod:`attnbook.grading.release` and :mod:`attnbook.grading.grade` (accepted submission
layouts, the gradebook's columns and statuses). Importing this package does not import nbgrader.
"""
