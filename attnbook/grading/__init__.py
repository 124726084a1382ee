"""Graded exercises on nbgrader: release the student notebooks, grade a class's submissions.

``python -m attnbook.grading release``   regenerates ``exercises/`` from ``solutions/``
                                          (``make exercises``);
``python -m attnbook.grading grade DIR --output OUT --timeout S --jobs N``
                                          grades a folder of submissions (``make grade``),
                                          each kernel in a bubblewrap sandbox.

See :mod:`attnbook.grading.release` and :mod:`attnbook.grading.grade` (accepted submission
layouts, the gradebook's columns and statuses); the sandbox is :mod:`attnbook.grading.sandbox`,
one submission's grading :mod:`attnbook.grading.worker`, tampering :mod:`attnbook.grading.tamper`,
the feedback page :mod:`attnbook.grading.feedback`. Importing this package does not import nbgrader.
"""
