"""What a user asks for: which config, which backend, which ClearML project."""

from __future__ import annotations

from pydantic import BaseModel


class RunRequest(BaseModel):
    config_name: str
    model_type: str
    project: str
