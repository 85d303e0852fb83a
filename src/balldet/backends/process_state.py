"""Process-wide settings the trainers change for the whole process, captured before and put back
after every call into them, so that a training's result does not depend on what ran before it.

Both trainers set things that belong to the process, not to themselves, and leave them set. Some of
them change results:

- torch's intra-op thread count. The number of threads decides how convolutions and matrix products
  split their sums, so the same seeded training ends with other weights, and a training on the edge
  of learning can end far apart (measured on 2 cores: the learning test's yolov5 run, with its
  former settings, reached mAP@0.5 0.26 with 2 threads and 0.20 with 1). ultralytics sets the count
  for every CPU training and predictor (``select_device`` calls ``torch.set_num_threads(min(8,
  cpus - 1))``) and never sets it back: after an ultralytics training, a yolov5 training in the same
  process ran with 1 thread instead of 2.
- ``OMP_NUM_THREADS``: ultralytics sets it to 1 when it is unset, at its import. torch reads it once,
  when torch itself is imported, so an ultralytics imported before torch decided torch's thread
  count for the rest of the process; every child process started afterwards (pipeline steps, CLI
  subprocesses) got 1 thread too. balldet imports torch first (:meth:`ProcessState.capture` does)
  and puts the variable back.
- deterministic algorithms: each trainer switches them on for its training (ultralytics with
  ``warn_only`` and ``torch.utils.deterministic.fill_uninitialized_memory`` off, yolov5 strictly)
  and sets ``CUBLAS_WORKSPACE_CONFIG`` and ``PYTHONHASHSEED`` (which orders sets of strings in
  child processes).

Left as the trainers set them, on purpose: OpenCV's thread count (both set 0 at import, so it is the
same whichever came first, and both need it for forked data-loader workers), the log-level variables
ultralytics sets at import (they change no result, and keep torch's profiler quiet when ultralytics
counts FLOPs later), and the global random generators (both seed them at the start of every
training).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class ProcessState:
    """The process-wide settings named above, and the environment variables asked for."""

    threads: int
    numpy_print: dict[str, Any]
    torch_print: dict[str, Any]
    deterministic: tuple[bool, bool, bool, bool]
    fill_uninitialized_memory: bool | None
    env: dict[str, str | None]

    @classmethod
    def capture(cls, env_keys: Iterable[str] = ()) -> ProcessState:
        # Importing torch here, before either trainer is imported, also means that torch's thread
        # count comes from the user's environment, not from the OMP_NUM_THREADS ultralytics sets.
        import numpy
        import torch
        import torch._tensor_str as tensor_str  # torch has set_printoptions but no getter: its PRINT_OPTS

        return cls(
            threads=torch.get_num_threads(),
            numpy_print=numpy.get_printoptions(),
            torch_print=dict(vars(tensor_str.PRINT_OPTS)),
            deterministic=(
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark,
            ),
            fill_uninitialized_memory=_fill_uninitialized_memory(),
            env={key: os.environ.get(key) for key in env_keys},
        )

    def restore(self) -> None:
        import numpy
        import torch
        import torch._tensor_str as tensor_str

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        numpy.set_printoptions(**self.numpy_print)
        for key, value in self.torch_print.items():
            setattr(tensor_str.PRINT_OPTS, key, value)
        enabled, warn_only, cudnn_deterministic, cudnn_benchmark = self.deterministic
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_deterministic
        torch.backends.cudnn.benchmark = cudnn_benchmark
        if self.fill_uninitialized_memory is not None:
            torch.utils.deterministic.fill_uninitialized_memory = self.fill_uninitialized_memory
        restore_env(self.env)


def _fill_uninitialized_memory() -> bool | None:
    import torch

    deterministic = getattr(torch.utils, "deterministic", None)  # torch >= 2.2
    return getattr(deterministic, "fill_uninitialized_memory", None)


def restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def process_state_kept(env_keys: Iterable[str] = ()) -> Iterator[ProcessState]:
    """Everything :class:`ProcessState` holds is as it was when the block ends, however it ends."""
    state = ProcessState.capture(env_keys)
    try:
        yield state
    finally:
        state.restore()
