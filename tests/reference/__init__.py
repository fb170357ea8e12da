"""Independent reference implementations used as ground truth by the tests.

Nothing in here imports :mod:`mmaction_tdsclip`: the point of a reference is
to be written separately from the code it checks.
"""
