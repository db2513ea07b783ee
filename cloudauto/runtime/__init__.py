"""Code that runs inside a trial or an endpoint: locally, in a container, on a cloud node.

Nothing here is imported by the core at start-up; pandas and AutoGluon load inside the
functions that need them.
"""
