"""`balldet evaluate`: score any model's predictions with balldet's evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import app, load_cli_settings, out, reports_errors


@app.command()
@reports_errors
def evaluate(
    dataset: Annotated[str, typer.Option("--dataset", help="A catalog dataset id, or a YOLO dataset folder.")],
    predictions: Annotated[
        Path, typer.Option("--predictions", help="Folder of <image>.txt (class cx cy w h conf), or COCO results .json.")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every metric to this JSON file.")] = None,
    category_offset: Annotated[
        int, typer.Option("--category-offset", help="COCO results: category_id minus this is the class index.")
    ] = 0,
) -> None:
    """Score any model's predictions on a dataset with balldet's evaluator."""
    from balldet.evaluation.frames import score_frames
    from balldet.evaluation.predictions import load_truth, read_predictions
    from balldet.files import write_json_atomic

    ref = _dataset_ref(dataset)
    images, truth = load_truth(ref)
    detections = read_predictions(predictions, images, truth, category_offset=category_offset)
    metrics = score_frames(truth, detections, num_classes=len(ref.names))
    table = Table(title=f"{ref.label}: {len(images)} images, predictions {predictions}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)
    if json_out is not None:
        write_json_atomic(json_out, {"dataset": ref.label, "dataset_id": ref.id, "images": len(images),
                                     "predictions": str(predictions), "metrics": metrics})
        out.print(f"metrics written to {json_out}")


def _dataset_ref(dataset: str) -> Any:
    """A catalog id (resolved like the pipeline does), or a folder with images/ and labels/."""
    from balldet.data.dataset import DATASET_ID_PATTERN, DatasetRef
    from balldet.errors import DatasetError

    path = Path(dataset)
    if DATASET_ID_PATTERN.match(dataset) and not path.is_dir():
        from balldet.data.catalog import LocalCatalog
        from balldet.data.resolver import DatasetResolver

        settings = load_cli_settings()
        if not settings.clearml_offline:
            from balldet.tracking.session import configure_clearml

            configure_clearml(settings)
        resolver = DatasetResolver(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)
        return resolver.resolve(dataset)
    if not (path / "images").is_dir():
        raise DatasetError(
            f"{dataset} is neither a dataset id nor a folder with images/",
            fix="give a 32-hex dataset id (see `balldet datasets list`) or a YOLO dataset folder",
        )
    meta = path / "dataset.json"
    if meta.is_file():
        return DatasetRef.model_validate({**json.loads(meta.read_text()), "path": path.resolve()})
    count = sum(1 for _ in (path / "images").iterdir())
    return DatasetRef(id="0" * 32, name=path.resolve().name, version="local", names=["ball"],
                      number_samples=count, path=path.resolve())
