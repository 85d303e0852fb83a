"""`balldet evaluate`: any model's predictions, as .txt files or COCO results JSON, scored on a dataset."""

from __future__ import annotations

import json
import shutil

import pytest

from balldet.datasets.catalog import LocalCatalog
from balldet.synth.inventory import synth_dataset_id
from balldet.datasets.yolo import image_size, read_labels

DATASET = synth_dataset_id("class:ball-markup:our-001", "1.0.0")


@pytest.fixture
def scored(workspace, tiny_catalog):
    shutil.rmtree(workspace.catalog)
    shutil.copytree(tiny_catalog, workspace.catalog)
    return workspace, LocalCatalog(workspace.catalog).get(DATASET)


def perfect_txt_predictions(ref, folder, *, drop_first: bool = False):
    """The ground truth itself, with a confidence: every ball found (the first one missed if asked)."""
    folder.mkdir()
    dropped = False
    for image in ref.image_files():
        rows = read_labels(ref.label_file(image))
        lines = []
        for cls, cx, cy, w, h in rows:
            if drop_first and not dropped:
                dropped = True
                continue
            lines.append(f"{int(cls)} {cx} {cy} {w} {h} 0.9")
        (folder / f"{image.stem}.txt").write_text("\n".join(lines))
    return folder


def test_perfect_txt_predictions_score_one(scored, tmp_path):
    ws, ref = scored
    preds = perfect_txt_predictions(ref, tmp_path / "preds")
    out = tmp_path / "metrics.json"
    result = ws.cli("evaluate", "--dataset", DATASET, "--predictions", str(preds), "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["dataset"] == "class:ball-markup:our-001-ver:1.0.0"
    assert report["metrics"]["mAP@0.5"] == pytest.approx(1.0)
    assert report["metrics"]["R"] == pytest.approx(1.0)
    assert "mAP@0.5" in result.stdout
    # Undefined measures (no ground truth in that size range) read as n/a, not as the number -1.
    undefined = [name for name, value in report["metrics"].items() if value == -1.0]
    assert undefined, "the case has an undefined measure"
    assert "-1.0000" not in result.stdout
    for name in undefined:
        (line,) = [line for line in result.stdout.splitlines() if f" {name} " in line]
        assert "n/a" in line


def test_a_missed_ball_lowers_recall(scored, tmp_path):
    ws, ref = scored
    preds = perfect_txt_predictions(ref, tmp_path / "preds", drop_first=True)
    out = tmp_path / "metrics.json"
    assert ws.cli("evaluate", "--dataset", str(ref.path), "--predictions", str(preds), "--json", str(out)).returncode == 0
    balls = sum(len(read_labels(ref.label_file(i))) for i in ref.image_files())
    assert json.loads(out.read_text())["metrics"]["R"] == pytest.approx((balls - 1) / balls)


def test_coco_results_json_gives_the_same_numbers(scored, tmp_path):
    ws, ref = scored
    results = []
    for image in ref.image_files():
        width, height = image_size(image)
        for cls, cx, cy, w, h in read_labels(ref.label_file(image)):
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            results.append({"image_id": image.stem, "category_id": int(cls) + 1, "bbox": box, "score": 0.8})
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps(results))
    out = tmp_path / "metrics.json"
    result = ws.cli("evaluate", "--dataset", DATASET, "--predictions", str(coco), "--category-offset", "1",
                    "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["metrics"]["mAP@0.5"] == pytest.approx(1.0)


def test_malformed_prediction_line_is_named_with_exit_2(scored, tmp_path):
    ws, ref = scored
    preds = perfect_txt_predictions(ref, tmp_path / "preds")
    broken = preds / f"{ref.image_files()[0].stem}.txt"
    broken.write_text("0 0.5 0.5 0.1\n")
    result = ws.cli("evaluate", "--dataset", DATASET, "--predictions", str(preds))
    assert result.returncode == 2
    assert f"{broken.name}:1" in result.stderr and "class cx cy w h conf" in result.stderr


def test_unknown_image_ids_in_coco_results_are_an_error(scored, tmp_path):
    ws, _ = scored
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps([{"image_id": "nope", "category_id": 0, "bbox": [0, 0, 1, 1], "score": 1}]))
    result = ws.cli("evaluate", "--dataset", DATASET, "--predictions", str(coco))
    assert result.returncode == 2
    assert "match no image" in result.stderr


def test_missing_predictions_and_unknown_dataset_exit_2(scored, tmp_path):
    ws, _ = scored
    assert ws.cli("evaluate", "--dataset", DATASET, "--predictions", str(tmp_path / "none")).returncode == 2
    result = ws.cli("evaluate", "--dataset", str(tmp_path / "nowhere"), "--predictions", str(tmp_path))
    assert result.returncode == 2
    assert "neither a dataset id nor a folder" in result.stderr
