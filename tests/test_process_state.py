"""A backend trains to the same weights whatever trained before it in the same process.

Both trainers change settings of the whole process (torch's thread count, deterministic switches,
environment variables; see balldet/backends/process_state.py). Left set, they changed the next
training: after an ultralytics training, yolov5 trained with ultralytics' thread count instead of
the process's own, and the learning test's yolov5 run ended at another mAP. Here two processes train
both backends, one in each order, from one seed on tiny data; each backend's weights must be the same
in both, and the process's settings must be back as they were after each training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id

TRAIN = synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
VAL = synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")
TINY_TRAIN = {
    "ultralytics": {
        "model": "yolov8n.yaml", "epochs": 1, "imgsz": 160, "batch": 4, "workers": 0, "val": False,
    },
    "yolov5": {
        "cfg": "yolov5n.yaml", "weights": "", "epochs": 1, "imgsz": 160, "batch_size": 4, "workers": 0,
        "hyp": {"mosaic": 0.0, "warmup_epochs": 1},
    },
}
ORDERS = (("yolov5", "ultralytics"), ("ultralytics", "yolov5"))
NETGUARD = Path(__file__).resolve().parent / "netguard"

# Trains the backends of argv[1] one after another in one process and prints, for each: a digest of
# the tensors in its weights file (the tensor records of torch's zip archive: no unpickling, and no
# dates), the thread count torch had while it trained, and the process's settings after it.
SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys, zipfile
    from pathlib import Path

    import torch

    order, catalog_dir, work, threads, configs, train_id, val_id = json.loads(sys.argv[1])
    # The process's own thread count, chosen by the test to differ from the one ultralytics picks.
    torch.set_num_threads(threads)

    from balldet.datasets.catalog import LocalCatalog
    from balldet.datasets.prepared import PreparedData
    from balldet.backends.registry import get_dataset_converter, get_model_wrapper

    def settings():
        return {
            "threads": torch.get_num_threads(),
            "deterministic": [torch.are_deterministic_algorithms_enabled(),
                              torch.is_deterministic_algorithms_warn_only_enabled(),
                              torch.backends.cudnn.deterministic,
                              torch.utils.deterministic.fill_uninitialized_memory],
            "env": {k: os.environ.get(k)
                    for k in ("OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")},
        }

    def tensors_digest(weights):
        digest = hashlib.sha256()
        with zipfile.ZipFile(weights) as archive:
            for name in sorted(n for n in archive.namelist() if "/data/" in n):
                digest.update(archive.read(name))
        return digest.hexdigest()

    catalog = LocalCatalog(Path(catalog_dir))
    train, val = catalog.get(train_id), catalog.get(val_id)
    data = PreparedData(train=[train], val=[val], test=[], class_names=train.names)
    before = settings()
    results = {"before": before}
    for name in order:
        root = Path(work) / name
        layout = get_dataset_converter(name)().convert(data, root / "layout")
        seen = set()
        trained = get_model_wrapper(name)(root / "cache").train(
            layout, configs[name], root / "train", device="cpu", seed=0,
            report=lambda *args: seen.add(torch.get_num_threads()),
        )
        results[name] = {
            "weights": tensors_digest(trained.weights), "threads": sorted(seen), "after": settings(),
        }
    print("RESULTS " + json.dumps(results))
    """
)


def threads_unlike_ultralytics() -> int:
    """A thread count ultralytics does not choose for itself (it takes min(8, CPUs - 1), at least 1)."""
    return 2 if (os.cpu_count() or 1) <= 2 else 1


@pytest.mark.slow
def test_each_backend_trains_the_same_whatever_trained_before_it(tiny_catalog, tmp_path):
    threads = threads_unlike_ultralytics()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")])}
    processes = []
    for order in ORDERS:
        work = tmp_path / "-".join(order)
        args = [list(order), str(tiny_catalog), str(work), threads, TINY_TRAIN, TRAIN, VAL]
        processes.append(subprocess.Popen(
            [sys.executable, "-c", SCRIPT, json.dumps(args)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    runs = {}
    for order, process in zip(ORDERS, processes):
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        (line,) = [line for line in stdout.splitlines() if line.startswith("RESULTS ")]
        runs[order] = json.loads(line.removeprefix("RESULTS "))

    first, then = runs[("yolov5", "ultralytics")], runs[("ultralytics", "yolov5")]
    # The check has teeth only where ultralytics trains with another thread count than the process's.
    assert then["ultralytics"]["threads"] != [threads], then["ultralytics"]
    # Each backend ends with the same weights whether or not the other trained before it ...
    threads_seen = {order: {name: run[name]["threads"] for name in order} for order, run in runs.items()}
    assert then["yolov5"]["weights"] == first["yolov5"]["weights"], threads_seen
    assert first["ultralytics"]["weights"] == then["ultralytics"]["weights"], threads_seen
    # ... yolov5 with the process's threads in both orders.
    assert first["yolov5"]["threads"] == then["yolov5"]["threads"] == [threads]
    # After each training the process's settings are as they were before the first.
    for run in runs.values():
        for name in ("yolov5", "ultralytics"):
            assert run[name]["after"] == run["before"], name
