"""The sentence renderers, one module per thing they render.

Use them through :mod:`mlops_core.sentences`, the one entry point, which loads
them all (each registers its reason codes' sentences when imported).
"""
