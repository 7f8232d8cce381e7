"""Kernel variants and a harness: each variant is validated against kernels.reference, then timed.
Never imported by fastnn. Run a lab module with ``python -m kernels.lab.<name>``."""
