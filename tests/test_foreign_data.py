"""Numbers you can trust on any data a user brings: balldet's evaluator on foreign datasets (built
in tests/foreign_data.py, never by balldet's synthetic generator) against pycocotools, and the
three ways such data used to be scored wrongly: EXIF-rotated frames, several classes in a plain
folder, predictions that match no image."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image, ImageOps

from balldet.boxes import Detections
from balldet.datasets.folders import labels_folder_for, open_dataset, open_datasets, read_data_yaml
from balldet.datasets.yolo import image_size, read_labels
from balldet.errors import DatasetError
from balldet.evaluation.coco import SUMMARY_KEYS
from balldet.evaluation.predictions import load_predictions, load_truth, save_predictions
from foreign_data import (
    BALL,
    PLAYER,
    Box,
    FrameSpec,
    build_corpus,
    dataset_json,
    label_text,
    make_predictions,
    unnamed_two_classes,
    write_frames,
)

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("foreign"))


# --------------------------------------------------------------------------- the reference


def displayed_size(path: Path) -> tuple[int, int]:
    """The frame's size as displayed, by decoding it with PIL's exif_transpose (not balldet's header read)."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).size


def pycocotools_stats(images_folder: Path, labels_folder: Path, predictions: Path, num_classes: int) -> list[float]:
    """pycocotools' 12 stats, built here from the files. Images in file-name order (the order balldet
    feeds them; it decides how score ties across images fall), annotation ids from 1, every image
    listed (ball-free ones too), an empty result set built by hand (loadRes cannot take one)."""
    files = sorted(p for p in images_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images, annotations, results = [], [], []
    for image_id, path in enumerate(files, start=1):
        width, height = displayed_size(path)
        images.append({"id": image_id, "width": width, "height": height, "file_name": path.name})
        label = labels_folder / f"{path.stem}.txt"
        for line in label.read_text().splitlines() if label.is_file() else []:
            if not line.strip():
                continue
            cls, cx, cy, w, h = (float(v) for v in line.split())
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls),
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        predicted = predictions / f"{path.stem}.txt"
        for line in predicted.read_text().splitlines() if predicted.is_file() else []:
            if not line.strip():
                continue
            cls, cx, cy, w, h, score = (float(v) for v in line.split())
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            results.append({"image_id": image_id, "category_id": int(cls), "bbox": box, "score": score})
    categories = [{"id": c, "name": str(c)} for c in range(num_classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": categories}
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:
            dt = COCO()
            dt.dataset = {"images": list(images), "annotations": [], "categories": categories}
            dt.createIndex()
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(v) for v in evaluation.stats]


def evaluate_json(workspace, dataset: str, predictions: Path, *extra: str) -> dict:
    out = predictions.parent / f"{predictions.name}-metrics.json"
    result = workspace.cli("evaluate", "--dataset", dataset, "--predictions", str(predictions), "--json", str(out),
                           *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- the corpus itself


def test_the_corpus_holds_what_it_promises(corpus):
    """Each oddity is really in the files, and each frame decodes upright to the size its labels use."""
    frames = [(d, f) for d in corpus.values() for f in d.frames]
    names = [f.name for _, f in frames]
    assert any(n.endswith(".JPG") for n in names) and any(n.endswith(".PNG") for n in names)
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".jpg") for n in names)
    assert {3, 6, 8} <= {f.orientation for _, f in frames}
    assert any(f.gray for _, f in frames) and any(f.crlf for _, f in frames)
    assert any(not f.boxes for _, f in frames)
    assert {b.cls for _, f in frames for b in f.boxes} == {BALL, PLAYER}
    for dataset, frame in frames:
        path = dataset.images / frame.name
        with Image.open(path) as image:
            stored = image.size
            assert image.getexif().get(0x0112) == frame.orientation
            assert image.mode == ("L" if frame.gray else "RGB")
        turned = frame.orientation in (6, 8)
        assert stored == (frame.size[::-1] if turned else frame.size)
        # OpenCV, as both trainers read frames, shows the drawn picture upright: balls where the labels say.
        pixels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        assert pixels.shape[1::-1] == frame.size
        for box in frame.boxes:
            if box.cls == BALL:
                assert pixels[int(box.cy * frame.size[1]), int(box.cx * frame.size[0])].min() > 180
        raw = (dataset.labels / f"{frame.stem}.txt").read_bytes()
        assert (b"  \r\n" in raw) == (frame.crlf and bool(frame.boxes))
    data_yaml = yaml.safe_load((corpus["two_classes_dict"].root / "data.yaml").read_text())
    assert data_yaml["names"] == {0: "ball", 1: "player"}
    assert yaml.safe_load((corpus["phone_frames"].root / "data.yaml").read_text())["names"] == ["ball"]


# --------------------------------------------------------------------------- against pycocotools


@pytest.mark.parametrize("name", ["phone_frames", "two_classes_dict", "ultralytics_layout"])
@pytest.mark.parametrize("seed", [11, 12])
def test_evaluate_equals_pycocotools(corpus, workspace, tmp_path, name, seed):
    dataset = corpus[name]
    predictions = make_predictions(dataset, tmp_path / "predictions", seed=seed, skip=1 + seed % 2)
    report = evaluate_json(workspace, dataset.argument, predictions)
    reference = pycocotools_stats(dataset.images, dataset.labels, predictions, len(dataset.names))
    ours = [report["coco"][key] for key in SUMMARY_KEYS]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    assert 0.05 < reference[0] < 0.95 and 0 < reference[1] < 1  # not a trivial score
    metrics = report["metrics"]
    assert [metrics["mAP@0.5:0.95"], metrics["mAP@0.5"], metrics["mAP@0.75"], metrics["AR@100"]] == [
        pytest.approx(reference[i], abs=1e-12) for i in (0, 1, 2, 8)
    ]
    assert report["classes"] == dataset.names
    assert report["images"] == len(dataset.frames)


def test_a_coco_results_json_of_the_same_predictions_scores_the_same(corpus, workspace, tmp_path):
    dataset = corpus["two_classes_dict"]
    predictions = make_predictions(dataset, tmp_path / "predictions", seed=3)
    results = []
    for frame in dataset.frames:
        width, height = displayed_size(dataset.images / frame.name)
        for row in read_labels_6(predictions / f"{frame.stem}.txt"):
            cls, cx, cy, w, h, score = row
            results.append({"image_id": frame.stem, "category_id": int(cls) + 1, "score": score,
                            "bbox": [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]})
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps(results))
    from_json = evaluate_json(workspace, dataset.argument, coco, "--category-offset", "1")
    reference = pycocotools_stats(dataset.images, dataset.labels, predictions, 2)
    np.testing.assert_allclose([from_json["coco"][k] for k in SUMMARY_KEYS], reference, rtol=0, atol=1e-9)


def read_labels_6(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()] \
        if path.is_file() else []


# --------------------------------------------------------------------------- bug 1: EXIF orientation


def test_frame_sizes_are_the_displayed_ones(corpus):
    for dataset in corpus.values():
        for frame in dataset.frames:
            assert image_size(dataset.images / frame.name) == frame.size, frame


def test_exif_rotated_boxes_land_where_the_ball_is(tmp_path, workspace):
    """A phone frame stored sideways (EXIF 6 and 8): the labels' own boxes as predictions score 1, and
    the predictions test_model writes for boxes found on the upright frame are the labels again."""
    frames = [
        FrameSpec("side_6.jpg", (120, 240), orientation=6, boxes=(Box(BALL, 0.2, 0.15, 0.1, 0.05),)),
        FrameSpec("side_8.jpg", (150, 260), orientation=8, boxes=(Box(BALL, 0.75, 0.8, 0.08, 0.046),)),
        FrameSpec("flip_3.jpg", (200, 120), orientation=3, boxes=(Box(BALL, 0.1, 0.3, 0.06, 0.1),)),
    ]
    root = tmp_path / "phone"
    write_frames(frames, root / "images", root / "labels", seed=7)
    ref = open_dataset(root)
    images, truth = load_truth(ref)
    assert [(t.width, t.height) for t in truth] == [f.size for f in sorted(frames, key=lambda f: f.name)]

    # Boxes as a model finds them on the upright frame (pixels), written as test_model writes them.
    detections = []
    for frame in truth:
        (cls, cx, cy, w, h), = frame.rows
        x1, y1 = (cx - w / 2) * frame.width, (cy - h / 2) * frame.height
        detections.append(Detections(np.array([[x1, y1, x1 + w * frame.width, y1 + h * frame.height]]),
                                     np.array([0.8]), np.array([int(cls)])))
    written = tmp_path / "written"
    save_predictions(written, images, truth, detections)
    for image, frame in zip(images, truth):
        rows = np.array(read_labels_6(written / f"{image.stem}.txt"))
        np.testing.assert_allclose(rows[:, :5], frame.rows, atol=2e-6)
    report = evaluate_json(workspace, str(root), written)
    assert report["metrics"]["mAP@0.5:0.95"] == pytest.approx(1.0)
    assert report["metrics"]["frame_width_px"] == 150 and report["metrics"]["frame_height_px"] == 240


def test_checks_and_plots_see_the_upright_frame(corpus, tmp_path):
    from balldet.checks.images import check_image
    from balldet.evaluation.plots import _read_frame

    dataset = corpus["phone_frames"]
    for frame in dataset.frames:
        path = dataset.images / frame.name
        assert check_image(path, frame.name, "phone") is None
        pixels, scale = _read_frame(path)
        assert (pixels.shape[1], pixels.shape[0]) == frame.size and scale == 1.0


# --------------------------------------------------------------------------- bug 2: classes of a folder


def test_a_two_class_folder_is_scored_per_class(corpus, workspace, tmp_path):
    """Every ball found, no player: mAP is the mean over both classes, 0.5 (one class would say 1.0)."""
    dataset = corpus["two_classes_dict"]
    predictions = tmp_path / "balls_only"
    predictions.mkdir()
    for frame in dataset.frames:
        balls = [b for b in frame.boxes if b.cls == BALL]
        (predictions / f"{frame.stem}.txt").write_text(label_text(balls, score=[0.9] * len(balls)))
    assert {b.cls for f in dataset.frames for b in f.boxes} == {BALL, PLAYER}
    report = evaluate_json(workspace, dataset.argument, predictions)
    assert report["classes"] == ["ball", "player"]
    assert report["metrics"]["mAP@0.5"] == pytest.approx(0.5)


def test_class_names_from_a_list_a_dict_nc_or_dataset_json(tmp_path):
    root = tmp_path / "d"
    write_frames([FrameSpec("a.jpg", (64, 48), boxes=(Box(1, 0.5, 0.5, 0.2, 0.2),))], root / "images",
                 root / "labels", seed=1)
    dataset_json(root, ["ball", "player"], name="from-json")
    ref = open_dataset(root)
    assert (ref.names, ref.name, ref.version) == (["ball", "player"], "from-json", "2.0.0")
    for text, names in [
        ("names: [ball, player, referee]\n", ["ball", "player", "referee"]),
        ("names:\n  1: player\n  0: ball\n", ["ball", "player"]),
        ("names: {'0': ball, '1': player}\n", ["ball", "player"]),
        ("nc: 2\n", ["class_0", "class_1"]),
    ]:
        (root / "data.yaml").write_text(text)
        # the data.yaml names the classes; dataset.json still gives name and version
        assert open_dataset(root).names == names, text
        assert open_dataset(root).name == "from-json"
    for text, message in [
        ("names:\n  0: ball\n  2: player\n", "not 0..1"),
        ("names: ball\n", "not a list of class names"),
        ("nc: 3\nnames: [a, b]\n", "nc is 3"),
        ("- a\n- b\n", "not a mapping"),
    ]:
        (root / "data.yaml").write_text(text)
        with pytest.raises(DatasetError, match=message):
            open_dataset(root)


def test_unknown_names_with_several_class_ids_are_refused(tmp_path, workspace):
    dataset = unnamed_two_classes(tmp_path / "unnamed")
    predictions = make_predictions(dataset, tmp_path / "predictions", seed=1)
    result = workspace.cli("evaluate", "--dataset", dataset.argument, "--predictions", str(predictions))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "several class ids" in result.stderr and str(dataset.labels) in result.stderr
    assert "fix:" in result.stderr and "names: [ball, player]" in result.stderr
    check = workspace.cli("datasets", "check", dataset.argument)
    assert check.returncode == 2 and "several class ids" in check.stderr


def test_unknown_names_with_one_class_id_are_that_class(tmp_path, workspace):
    root = tmp_path / "balls"
    frames = [FrameSpec(f"b{i}.png", (96, 64), boxes=(Box(BALL, 0.3 + 0.1 * i, 0.5, 0.1, 0.15),)) for i in range(3)]
    write_frames(frames, root / "images", root / "labels", seed=2)
    assert open_dataset(root).names == ["class_0"]
    predictions = tmp_path / "p"
    predictions.mkdir()
    for frame in frames:
        (predictions / f"{frame.stem}.txt").write_text(label_text(frame.boxes, score=[0.5]))
    assert evaluate_json(workspace, str(root), predictions)["metrics"]["mAP@0.5"] == pytest.approx(1.0)


def test_labels_with_a_class_the_names_do_not_have_are_an_error(corpus, tmp_path, workspace):
    root = tmp_path / "d"
    shutil.copytree(corpus["two_classes_dict"].root, root)
    (root / "data.yaml").write_text("names: [ball]\n")
    with pytest.raises(DatasetError, match="class 1 is not one of the dataset's 1 classes"):
        load_truth(open_dataset(root))
    result = workspace.cli("evaluate", "--dataset", str(root), "--predictions", str(root / "labels"))
    assert result.returncode == 2 and "fix:" in result.stderr


# --------------------------------------------------------------------------- ultralytics data.yaml


def test_data_yaml_splits_as_ultralytics_reads_them(corpus, workspace, tmp_path):
    dataset = corpus["ultralytics_layout"]
    data_yaml = Path(dataset.argument)
    val = open_dataset(data_yaml)  # val by default, as `yolo val`
    assert (val.images_dir, val.labels_dir, val.names) == (dataset.images, dataset.labels, ["ball", "player"])
    train = open_dataset(data_yaml, split="train")
    assert train.labels_dir == dataset.root / "labels" / "train"
    assert train.id != val.id and train.path != val.path  # two datasets, as the checks must see them
    assert [r.images_dir for r in open_datasets(data_yaml)] == [train.images_dir, val.images_dir]
    with pytest.raises(DatasetError, match="no split 'test'"):
        open_dataset(data_yaml, split="test")

    # `--split train` scores the train split, against pycocotools again
    predictions = tmp_path / "train_predictions"
    predictions.mkdir()
    for image in train.image_files():
        rows = read_labels(train.label_file(image))
        text = "".join(f"{int(c)} {cx + 0.01:.6f} {cy:.6f} {w:.6f} {h * 1.1:.6f} 0.{i + 3}\n"
                       for i, (c, cx, cy, w, h) in enumerate(rows))
        (predictions / f"{image.stem}.txt").write_text(text)
    report = evaluate_json(workspace, str(data_yaml), predictions, "--split", "train")
    assert report["images_folder"] == str(train.images_dir)
    reference = pycocotools_stats(train.images_dir, train.labels_dir, predictions, 2)
    np.testing.assert_allclose([report["coco"][k] for k in SUMMARY_KEYS], reference, rtol=0, atol=1e-12)

    # the folder holding the data.yaml stands for it too
    assert open_dataset(data_yaml.parent).images_dir == dataset.images
    result = workspace.cli("evaluate", "--dataset", str(data_yaml), "--predictions", str(predictions),
                           "--split", "test")
    assert result.returncode == 2 and "no split 'test'" in result.stderr


def test_data_yaml_paths_resolve_like_ultralytics(tmp_path):
    assert labels_folder_for(Path("/d/images/val")) == Path("/d/labels/val")
    assert labels_folder_for(Path("/d/valid/images")) == Path("/d/valid/labels")
    assert labels_folder_for(Path("/images/x/images/val")) == Path("/images/x/labels/val")
    assert labels_folder_for(Path("/d/frames")) == Path("/d/frames")  # labels beside the images

    # A Roboflow export: data.yaml beside train/ and valid/, entries written as ../train/images.
    root = tmp_path / "roboflow"
    for split in ("train", "valid"):
        write_frames([FrameSpec("a.jpg", (64, 48), boxes=(Box(0, 0.5, 0.5, 0.2, 0.2),))],
                     root / split / "images", root / split / "labels", seed=3)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['ball']\n")
    ref = open_dataset(root / "data.yaml")
    assert (ref.images_dir, ref.labels_dir) == (root / "valid" / "images", root / "valid" / "labels")

    # Copied from another machine: `path` names a folder that is not here; the data.yaml's own folder is.
    (root / "data.yaml").write_text(
        "path: /nowhere/datasets/ball\ntrain: train/images\nval: valid/images\nnames: [ball]\n")
    assert open_dataset(root / "data.yaml").images_dir == root / "valid" / "images"
    (root / "data.yaml").write_text("path: /nowhere\nval: missing/images\nnames: [ball]\n")
    with pytest.raises(DatasetError, match="are not at /nowhere/missing/images nor"):
        open_dataset(root / "data.yaml")
    (root / "data.yaml").write_text("val: [train/images, valid/images]\nnames: [ball]\n")
    with pytest.raises(DatasetError, match="lists 2 folders"):
        open_dataset(root / "data.yaml")
    assert read_data_yaml(root / "data.yaml").root == root


def test_datasets_check_reads_a_data_yaml_and_its_splits(corpus, workspace):
    dataset = corpus["ultralytics_layout"]
    result = workspace.cli("datasets", "check", dataset.argument, "--json", "check.json")
    report = json.loads((workspace.root / "check.json").read_text())
    assert report["datasets"] == ["ultralytics_layout:train-ver:local", "ultralytics_layout:val-ver:local"]
    assert report["images"] == 2 * len(dataset.frames)
    kinds = {f["kind"] for f in report["findings"]}
    # The corpus is clean but for spellings (.JPG beside .jpg): no label, image or class problem.
    assert kinds <= {"extension_case"}, report["findings"]
    assert result.returncode in (0, 1), result.stderr
    plain = workspace.cli("datasets", "check", corpus["two_classes_dict"].argument, "--json", "plain.json")
    assert plain.returncode in (0, 1), plain.stderr
    assert json.loads((workspace.root / "plain.json").read_text())["datasets"] == ["two_classes_dict-ver:local"]


# --------------------------------------------------------------------------- bug 3: predictions that match nothing


def test_predictions_matching_no_image_are_an_error_naming_both_folders(corpus, workspace, tmp_path):
    dataset = corpus["phone_frames"]
    elsewhere = make_predictions(corpus["two_classes_dict"], tmp_path / "other_predictions", seed=2)
    result = workspace.cli("evaluate", "--dataset", dataset.argument, "--predictions", str(elsewhere))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert str(dataset.images) in message and str(elsewhere) in message
    assert "no image of the dataset has a prediction file" in message and "fix:" in message

    # ultralytics' predict folder given instead of its labels/ subfolder: the fix says so
    run = tmp_path / "runs" / "predict"
    shutil.copytree(make_predictions(dataset, tmp_path / "p", seed=1), run / "labels")
    result = workspace.cli("evaluate", "--dataset", dataset.argument, "--predictions", str(run))
    assert result.returncode == 2 and str(run / "labels") in " ".join(result.stderr.split())


def test_partial_predictions_say_how_many_images_have_a_file(corpus, workspace, tmp_path):
    dataset = corpus["phone_frames"]
    predictions = make_predictions(dataset, tmp_path / "predictions", seed=4, skip=3)
    (predictions / "not_in_the_dataset.txt").write_text("0 0.5 0.5 0.1 0.1 0.9\n")
    result = workspace.cli("evaluate", "--dataset", dataset.argument, "--predictions", str(predictions))
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert f"9 of {len(dataset.frames)} images have a prediction file" in out
    assert "1 .txt file(s) there match no image" in out


def test_coverage_is_counted_for_both_prediction_forms(corpus, tmp_path):
    ref = open_dataset(corpus["phone_frames"].argument)
    images, truth = load_truth(ref)
    _, coverage = load_predictions(make_predictions(corpus["phone_frames"], tmp_path / "p", seed=1, skip=2),
                                   images, truth)
    assert (coverage.images, coverage.covered, coverage.unmatched) == (12, 10, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="it holds no .txt file"):
        load_predictions(empty, images, truth)
    results = tmp_path / "r.json"
    results.write_text(json.dumps([{"image_id": images[0].stem, "category_id": 0, "bbox": [1, 1, 5, 5], "score": 0.3}]))
    assert load_predictions(results, images, truth)[1].covered == 1


# --------------------------------------------------------------------------- predicting in batches


def test_frames_are_batched_by_displayed_size_and_handed_back_in_order(corpus):
    """A trainer pads a batch to one shape: a frame's detections must not depend on its neighbours."""
    from balldet.backends.base_model import batches_of_one_size, in_input_order

    dataset = corpus["phone_frames"]
    images = [dataset.images / f.name for f in dataset.frames]
    batches = list(batches_of_one_size(images, 2))
    assert sorted(i for b in batches for i in b) == list(range(len(images)))
    for batch in batches:
        assert 1 <= len(batch) <= 2 and len({dataset.frames[i].size for i in batch}) == 1
        assert batch == sorted(batch)
    handed = in_input_order((b, [Detections(np.zeros((1, 4)), np.array([float(i)]), np.zeros(1, int)) for i in b])
                            for b in batches)
    assert [int(d.scores[0]) for d in handed] == list(range(len(images)))


def test_a_split_layout_without_its_data_yaml_and_a_split_without_labels_are_explained(corpus, tmp_path, workspace):
    root = tmp_path / "layout"
    shutil.copytree(corpus["ultralytics_layout"].root, root)
    shutil.rmtree(root / "yaml")
    with pytest.raises(DatasetError, match=r"holds folders \(train, val\), not images"):
        open_dataset(root)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\ntest: images/test\nnames: [ball, player]\n")
    (root / "images" / "test").mkdir()
    shutil.copy(next((root / "images" / "val").iterdir()), root / "images" / "test")
    assert open_dataset(root).images_dir == root / "images" / "val"  # the folder's data.yaml
    result = workspace.cli("evaluate", "--dataset", str(root), "--split", "test", "--predictions", str(tmp_path))
    assert result.returncode == 2 and "has no labels to score against" in result.stderr
