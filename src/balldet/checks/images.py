"""Image checks from headers, and image fingerprints (byte hash, perceptual hash) for leakage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from balldet.checks.report import MIN_IMAGE_SIZE, Finding

# Formats the trainers read (ultralytics' IMG_FORMATS, as PIL names them).
READABLE_FORMATS = {"BMP", "DNG", "JPEG", "MPO", "PNG", "TIFF", "WEBP", "JPEG2000", "AVIF", "HEIF"}
JPEG_END = b"\xff\xd9"


def check_image(path: Path, file: str, dataset: str) -> Finding | None:
    """``unreadable_image`` or ``image_too_small`` for the image at ``path``, else None.

    Reads the header only (PIL ``open`` + ``verify``) and, for JPEG, the last two bytes: a file cut
    short misses its end-of-image marker. Pixel data is not decoded (see :mod:`balldet.checks.report`).
    """
    from PIL import Image

    from balldet.datasets.yolo import displayed_size

    try:
        with Image.open(path) as image:
            width, height = displayed_size(image)  # as the trainers see the frame (EXIF orientation)
            fmt = image.format or "?"
            image.verify()
    except Exception as exc:  # noqa: BLE001  (whatever PIL or a plugin raises: the file is not readable)
        return Finding("unreadable_image", dataset, file, None, f"cannot read the image: {exc}")
    if fmt not in READABLE_FORMATS:
        return Finding("unreadable_image", dataset, file, None, f"format {fmt} is not one the trainers read")
    if fmt in ("JPEG", "MPO"):
        try:
            with open(path, "rb") as handle:
                handle.seek(-2, 2)
                end = handle.read(2)
        except OSError as exc:
            return Finding("unreadable_image", dataset, file, None, f"cannot read the image: {exc}")
        if end != JPEG_END:
            return Finding("unreadable_image", dataset, file, None,
                           "truncated JPEG: no end-of-image marker (the file was cut short)")
    if width < MIN_IMAGE_SIZE or height < MIN_IMAGE_SIZE:
        return Finding("image_too_small", dataset, file, None,
                       f"{width}x{height} pixels, below {MIN_IMAGE_SIZE} in a dimension")
    return None


def file_digest(path: Path) -> bytes:
    """blake2b digest (16 bytes) of the file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).digest()


def dhash(path: Path, size: int = 8) -> int | None:
    """64-bit difference hash (for ``size`` 8): grayscale, resized to (size+1) x size, each bit says
    whether a pixel is brighter than its right neighbour. Survives re-encoding and small resizes.
    None when the image cannot be decoded."""
    import cv2

    # reduced decoding: JPEG is decoded at 1/4 scale straight from the DCT, much faster
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if image is None or image.size == 0:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None or image.size == 0:
            return None
    small = cv2.resize(image, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")
