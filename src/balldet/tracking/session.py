"""Setting ClearML up for this process, before anything imports it.

Offline, every task is written to ``<cache_dir>/clearml/offline/offline-<id>/``. In both modes the
dataset cache keeps ``clearml_cache_size`` entries (the team's guard against evicting datasets
while new ones are fetched) and tasks close without a reporting subprocess (7-12 s saved each).
"""

from __future__ import annotations

import os
import sys

from balldet.settings import Settings
from balldet.tracking import clearml_compat


def configure_clearml(settings: Settings) -> None:
    """Point ClearML at balldet's cache and mode; call before the first ``import clearml``."""
    if settings.clearml_offline:
        if "clearml" in sys.modules:
            from clearml import Task

            Task.set_offline(True)
        os.environ["CLEARML_OFFLINE_MODE"] = "1"
        # Offline sessions belong to this checkout's cache, not the user's home.
        os.environ["CLEARML_CACHE_DIR"] = str(settings.clearml_dir)
        settings.clearml_dir.mkdir(parents=True, exist_ok=True)
    from clearml.config import ConfigWrapper

    if settings.clearml_offline:
        clearml_compat.skip_update_check()  # asked on every Task.init, offline too

    overrides = {
        "sdk": {
            "development": {"report_use_subprocess": False},
            "storage": {"cache": {"default_cache_manager_size": settings.clearml_cache_size}},
        }
    }
    if not settings.clearml_offline:
        from balldet.tracking.server import api_overrides

        # clearml would retry an unreachable server for hours; a few quick retries are enough.
        overrides.update(api_overrides())
    ConfigWrapper.set_overrides(overrides)


def connect_online(settings: Settings) -> None:
    """ClearML online for the rest of this process, whatever the settings environment says (``balldet
    sync`` uploads offline records), with the quick retries of a server run. Offline tasks must be
    closed by then: ClearML cannot take an open task online."""
    os.environ.pop("CLEARML_OFFLINE_MODE", None)
    configure_clearml(settings.model_copy(update={"clearml_offline": False}))
    from clearml import Task

    Task.set_offline(False)
