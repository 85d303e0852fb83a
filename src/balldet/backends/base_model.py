"""ModelWrapper: one interface over each training backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from balldet.backends.base_converter import ConvertedData
from balldet.boxes import Detections  # what predict() yields; backends import it from here
from balldet.errors import BackendError

if TYPE_CHECKING:
    import numpy as np

# (title, series, value, iteration): how a backend reports progress scalars while it trains.
ScalarCallback = Callable[[str, str, float, int], None]
# Predictions for mAP keep every candidate box: scores down to 0.001, up to 300 boxes per frame, as
# both frameworks' own validation keeps them.
PREDICT_CONF = 0.001
PREDICT_MAX_DET = 300
# Both frameworks write a training to <project>/<name>/: project is the train stage's folder, name this.
TRAINING_NAME = "train"


class TrainedModel(BaseModel):
    """What train_model hands to test_model."""

    model_type: str
    weights: Path
    backend_metrics: dict[str, float] = Field(default_factory=dict)
    epochs: int = 0
    image_size: int | None = None
    resumed_from_epoch: int | None = None


class ModelWrapper(ABC):
    """Train, load and predict with one backend. Framework imports happen inside the methods."""

    model_type: str = ""
    # The train_config option naming the weights a training starts from, what it starts from when
    # the option is left out, and the option of the image size it trains at.
    weights_option: str = ""
    default_weights: str = ""
    image_size_option: str = "imgsz"

    def __init__(self, cache_dir: Path, *, allow_downloads: bool = False) -> None:
        self.cache_dir = Path(cache_dir)
        self.allow_downloads = allow_downloads

    @classmethod
    @abstractmethod
    def check_train_config(
        cls, train_config: dict[str, Any], *, allow_downloads: bool = False
    ) -> list[tuple[str, str]]:
        """Problems with ``train_config`` as (field, message); cheap, no training framework import."""

    @classmethod
    def pretrained_weights(cls, train_config: dict[str, Any]) -> str:
        """The weights ``train_config`` starts from: a weights file, a name to download, a model yaml."""
        return str(train_config.get(cls.weights_option, cls.default_weights))

    @classmethod
    def pretrained_model(cls, train_config: dict[str, Any]) -> TrainedModel:
        """What test_model tests when the config says ``train_data: pretrained``: the weights
        ``train_config`` names, as they are, at the image size it names (else the backend's own)."""
        weights = cls.pretrained_weights(train_config)
        # Both frameworks keep trained weights in torch's .pt files; a model yaml is an untrained network.
        if not weights.endswith(".pt"):
            raise BackendError(
                f"nothing to test: the config says `train_data: pretrained` but {weights!r} is not a weights file",
                fix=f"name a trained .pt file in train_config.{cls.weights_option}, or list training datasets in "
                "train_data",
            )
        image_size = train_config.get(cls.image_size_option)
        return TrainedModel(
            model_type=cls.model_type, weights=Path(weights),
            image_size=image_size if isinstance(image_size, int) else None,
        )

    @abstractmethod
    def train(
        self,
        data: ConvertedData,
        train_config: dict[str, Any],
        out_dir: Path,
        *,
        device: str,
        seed: int,
        report: ScalarCallback | None = None,
        resume: bool = False,
    ) -> TrainedModel:
        """Train and return the best weights; ``resume`` continues from the last checkpoint in
        ``out_dir`` when one exists (an interrupted run), else trains from the start."""

    @abstractmethod
    def load(self, weights: Path, *, device: str) -> None:
        """Load weights for prediction."""

    def predict(
        self, images: Sequence[Path], *, batch_size: int, image_size: int | None = None, conf: float = PREDICT_CONF
    ) -> Iterator[Detections]:
        """Detections per image, in the order given, scoring at least ``conf`` (0.001: what mAP needs).

        Both trainers letterbox a batch to one shape, so frames are batched by displayed size
        (:func:`batches_of_one_size`): every frame gets the detections it gets alone."""
        if not self.loaded:
            raise BackendError("predict() before load()")

        def batches() -> Iterator[tuple[list[int], list[Detections]]]:
            for indices in batches_of_one_size(images, batch_size):
                yield indices, self.predict_batch([images[i] for i in indices], image_size=image_size, conf=conf)

        yield from in_input_order(batches())

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether weights were loaded."""

    @abstractmethod
    def predict_batch(
        self, images: Sequence[Path | np.ndarray], *, image_size: int | None, conf: float = PREDICT_CONF
    ) -> list[Detections]:
        """Detections of frames of one displayed size, predicted together: image files, or frames
        already read as BGR uint8 ``(H, W, 3)`` arrays (the tiles of sliced prediction, a video's
        frames), one kind per batch (:func:`batch_sources`). ``conf`` is the framework's own score
        threshold, applied before its NMS: a caller that keeps only confident boxes says so here,
        as NMS over every candidate down to 0.001 can cost more than the network (an untrained or
        unsure model: thousands a frame)."""

    def own_scores(
        self, dataset: Any, exclude: set[str], *, weights: Path, image_size: int | None, batch_size: int,
        device: str, work_dir: Path,
    ) -> dict[str, float] | None:
        """What the backend's own validation says of ``dataset`` (its images but ``exclude``), for
        the leaderboards that show it; None for a backend whose numbers no board reads."""
        return None


def checkpoint_to_resume(out_dir: Path, *, resume: bool) -> Path | None:
    """The last checkpoint of an interrupted training in ``out_dir``, checked whole, when ``resume``
    asks to continue one and there is one; None means training from the start. (Both frameworks
    save ``<project>/<name>/weights/last.pt`` after every epoch.)"""
    checkpoint = Path(out_dir).resolve() / TRAINING_NAME / "weights" / "last.pt"
    if not (resume and checkpoint.is_file()):
        return None
    check_checkpoint(checkpoint)
    return checkpoint


def check_checkpoint(path: Path) -> None:
    """A training checkpoint to resume from must be whole: torch saves a zip archive, so a file cut
    short (a kill while saving) fails its central directory or a member's CRC. Checked without
    unpickling anything."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (OSError, zipfile.BadZipFile) as exc:
        broken = str(exc)
    if broken:
        raise BackendError(
            f"the checkpoint {path} cannot be read ({broken}), so the training cannot continue from it",
            fix="delete it to train this run from its start with --resume, or start a new run without --resume",
        )


def batch_sources(images: Sequence[Path | np.ndarray]) -> list[str] | list[np.ndarray]:
    """What a backend hands its framework: file paths as strings, or the arrays as they are.

    One kind per batch: a framework reads a file path itself (ultralytics with OpenCV, yolov5 with
    PIL), and a path among arrays would be read another way (ultralytics opens it with PIL)."""
    import numpy as np

    is_array = [isinstance(image, np.ndarray) for image in images]
    if not any(is_array):
        return [str(image) for image in images]
    if not all(is_array):
        raise BackendError("a batch to predict mixes image files and image arrays",
                           fix="predict files and arrays in separate batches")
    for image in images:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or not all(image.shape):
            raise BackendError(
                f"an image array to predict must be BGR uint8 of shape (H, W, 3), not {image.dtype} {image.shape}",
                fix="read frames with cv2.imread(path, cv2.IMREAD_COLOR)",
            )
    return list(images)


def batches_of_one_size(images: Sequence[Path], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` frames of one displayed size (EXIF
    orientation applied, as the trainers read frames), sizes in the order they first appear.

    Both trainers letterbox a batch to one shape: a frame's detections would depend on the frames
    batched with it (a portrait phone frame among landscape ones pads them all). Batches of one size
    give every frame the detections it gets alone.
    """
    from balldet.datasets.yolo import image_size

    groups: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(images):
        try:
            size = image_size(Path(path))
        except Exception:  # noqa: BLE001  (an unreadable frame: the trainer reports it itself)
            size = (-1, -index)
        groups.setdefault(size, []).append(index)
    for indices in groups.values():
        for start in range(0, len(indices), max(1, batch_size)):
            yield indices[start : start + max(1, batch_size)]


def in_input_order(batches: Iterator[tuple[list[int], list[Detections]]]) -> Iterator[Detections]:
    """Detections of batches of indices (as :func:`batches_of_one_size` gives them) handed on in index order."""
    done: dict[int, Detections] = {}
    next_out = 0
    for indices, detections in batches:
        done.update(zip(indices, detections))
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1
