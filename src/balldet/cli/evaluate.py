"""`balldet evaluate`: score any model's predictions with balldet's evaluator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import app, format_measure, load_cli_settings, out


@app.command()
def evaluate(
    dataset: Annotated[
        str,
        typer.Option("--dataset", help="A catalog dataset id, a YOLO dataset folder (images/, labels/), or an "
                     "ultralytics data.yaml (or a folder holding one)."),
    ],
    predictions: Annotated[
        Path, typer.Option("--predictions", help="Folder of <image>.txt (class cx cy w h conf), or COCO results .json.")
    ],
    split: Annotated[
        str | None,
        typer.Option("--split", help="The data.yaml split to score (train, val, test); default val, as `yolo val`."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every metric to this JSON file.")] = None,
    category_offset: Annotated[
        int, typer.Option("--category-offset", help="COCO results: category_id minus this is the class index.")
    ] = 0,
) -> None:
    """Score any model's predictions on a dataset with balldet's evaluator."""
    from balldet.evaluation.frames import evaluate_frames
    from balldet.evaluation.predictions import load_predictions, load_truth
    from balldet.files import write_json_atomic

    ref = dataset_ref(dataset, split=split)
    if not ref.labels_dir.is_dir():
        from balldet.errors import DatasetError

        raise DatasetError(
            f"{ref.label} has no labels to score against: no folder {ref.labels_dir} beside its images "
            f"{ref.images_dir}",
            fix="give a dataset with labels (YOLO .txt files; an empty file is a frame without objects)",
        )
    images, truth = load_truth(ref)
    detections, coverage = load_predictions(
        predictions, images, truth, category_offset=category_offset, images_folder=ref.images_dir
    )
    scores = evaluate_frames(truth, detections, num_classes=len(ref.names))
    out.print(f"{ref.label}: images {ref.images_dir}, labels {ref.labels_dir}, classes {', '.join(ref.names)}",
              highlight=False, markup=False)
    out.print(coverage.line(), highlight=False, markup=False)
    table = Table(title=f"{ref.label}: {len(images)} images, predictions {predictions}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in scores.metrics.items():
        table.add_row(name, format_measure(value))
    out.print(table)
    if json_out is not None:
        write_json_atomic(json_out, {
            "dataset": ref.label, "dataset_id": ref.id, "images_folder": str(ref.images_dir),
            "labels_folder": str(ref.labels_dir), "classes": list(ref.names), "images": len(images),
            "predictions": str(predictions), "images_with_predictions": coverage.covered,
            "metrics": scores.metrics, "coco": scores.coco,
        })
        out.print(f"metrics written to {json_out}")


def dataset_ref(dataset: str, *, split: str | None = None) -> Any:
    """A catalog id (resolved like the pipeline does), or a folder / data.yaml
    (:func:`balldet.datasets.folders.open_dataset`)."""
    from balldet.datasets.folders import open_dataset

    if is_catalog_id(dataset):
        if split is not None:
            from balldet.errors import DatasetError

            raise DatasetError(f"--split applies to an ultralytics data.yaml; {dataset} is a catalog dataset id",
                               fix="leave --split out")
        return _resolve_id(dataset)
    _must_exist(dataset)
    return open_dataset(dataset, split=split)


def dataset_refs(dataset: str) -> list[Any]:
    """Every dataset an argument stands for: a catalog id's, a folder's, each split of a data.yaml."""
    from balldet.datasets.folders import open_datasets

    if is_catalog_id(dataset):
        return [_resolve_id(dataset)]
    _must_exist(dataset)
    return open_datasets(dataset)


# The name `balldet datasets check` used before; kept for callers of it.
_dataset_ref = dataset_ref


def is_catalog_id(dataset: str) -> bool:
    from balldet.config import DATASET_ID_PATTERN

    return bool(DATASET_ID_PATTERN.match(dataset)) and not Path(dataset).exists()


def _must_exist(dataset: str) -> None:
    from balldet.errors import DatasetError

    if not Path(dataset).expanduser().exists():
        raise DatasetError(
            f"{dataset} is neither a dataset id nor a folder or data.yaml",
            fix="give a 32-hex dataset id (see `balldet datasets list`), a YOLO dataset folder with images/ and "
            "labels/, or an ultralytics data.yaml",
        )


def _resolve_id(dataset: str) -> Any:
    from balldet.tracking.clearml_datasets import dataset_resolver

    settings = load_cli_settings()
    if not settings.clearml_offline:
        from balldet.tracking.session import configure_clearml

        configure_clearml(settings)
    resolver = dataset_resolver(settings)
    return resolver.resolve(dataset)
