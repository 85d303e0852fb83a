"""The pipeline stages, one module each: plain functions with typed inputs and outputs.

They know nothing of ClearML's pipeline API or of each other's order: ``balldet.pipeline.spec`` is
the one table of stages, and ``balldet.pipeline`` wires them together.
"""
