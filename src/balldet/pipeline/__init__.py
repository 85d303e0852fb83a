"""Wiring the stages into a pipeline: in this process (local) or as a ClearML PipelineController."""
