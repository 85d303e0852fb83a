"""What a user asks for: which config, which backend, which ClearML project."""

from __future__ import annotations

from pydantic import BaseModel


class RunRequest(BaseModel):
    config_name: str
    model_type: str
    project: str
    # Local runs only: continue an interrupted run (its folder or id), redo everything, or redo
    # from a named stage on (earlier stages are reused when their inputs are unchanged).
    resume: str | None = None
    force: bool = False
    from_stage: str | None = None
