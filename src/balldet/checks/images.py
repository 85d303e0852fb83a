"""One read of an image file gives everything the checks and the run record need of it.

:func:`read_image` reads the file's bytes once and takes from those bytes:

* the header check (``unreadable_image``, ``image_too_small``): PIL opens and verifies the header,
  the displayed size follows the EXIF rule of :func:`balldet.datasets.yolo.displayed_size`, and a
  JPEG must end with its end-of-image marker (a file cut short misses it). Pixel data is not decoded
  for this (see :mod:`balldet.checks.report`);
* the size in bytes and a blake2b digest, for byte-identical copies and the dataset content hash;
* the 64-bit dHash, for near duplicates: OpenCV decodes the same bytes, reduced.

Opening, digesting and decoding one buffer instead of the file three or four times is what makes the
first check of a dataset cost one read per image.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from balldet.checks.report import MIN_IMAGE_SIZE, Finding

# Formats the trainers read (ultralytics' IMG_FORMATS, as PIL names them).
READABLE_FORMATS = {"BMP", "DNG", "JPEG", "MPO", "PNG", "TIFF", "WEBP", "JPEG2000", "AVIF", "HEIF"}
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
# A JPEG cut short, read from a file, is decoded as far as it goes (libjpeg's file reader feeds
# end-of-image markers for ever once the file ends, a skipped segment included); OpenCV's reader of
# a buffer refuses it. Markers enough for the longest segment (64 KB) make both decode it alike.
CUT_JPEG_TAIL = JPEG_END * 32_800
DIGEST_BYTES = 16


@dataclass(frozen=True)
class ImageRead:
    """What one read of an image gives: its size in bytes and blake2b digest (hex) (None when the file
    cannot be read), its dHash (None when it cannot be decoded) and the header check's verdict,
    ``(kind, message)`` or None when the header is fine."""

    size: int | None
    digest: str | None
    dhash: int | None
    problem: tuple[str, str] | None


def read_image(path: Path) -> ImageRead:
    """Read the image at ``path`` once; see the module's docstring."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return ImageRead(None, None, None, ("unreadable_image", f"cannot read the image: {exc}"))
    digest = hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()
    return ImageRead(len(data), digest, dhash(data), header_problem(data, path))


def check_image(path: Path, file: str, dataset: str) -> Finding | None:
    """``unreadable_image`` or ``image_too_small`` for the image at ``path``, reported as ``file`` of
    ``dataset``; None when its header is fine. Reads the header and the last bytes only: for a check
    that needs nothing else of the image (no leakage check follows)."""
    try:
        with open(path, "rb") as handle:
            problem = header_problem(handle, path)
    except OSError as exc:
        problem = "unreadable_image", f"cannot read the image: {exc}"
    return None if problem is None else Finding(problem[0], dataset, file, None, problem[1])


def header_problem(source: bytes | BinaryIO, path: Path) -> tuple[str, str] | None:
    """The header check of an image, from its bytes or an open file (``path`` only names the file in
    messages). Pixel data is not decoded."""
    from PIL import Image, UnidentifiedImageError

    from balldet.datasets.yolo import displayed_size

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(stream) as image:
            width, height = displayed_size(image)  # as the trainers see the frame (EXIF orientation)
            fmt = image.format or "?"
            image.verify()
    except UnidentifiedImageError:
        # PIL names a file it opened itself; given bytes or a handle it would print an object
        return "unreadable_image", f"cannot read the image: cannot identify image file {os.fspath(path)!r}"
    except Exception as exc:  # noqa: BLE001  (whatever PIL or a plugin raises: the file is not readable)
        return "unreadable_image", f"cannot read the image: {exc}"
    if fmt not in READABLE_FORMATS:
        return "unreadable_image", f"format {fmt} is not one the trainers read"
    if fmt in ("JPEG", "MPO"):
        try:
            stream.seek(-2, os.SEEK_END)
            end = stream.read(2)
        except (OSError, ValueError) as exc:
            return "unreadable_image", f"cannot read the image: {exc}"
        if end != JPEG_END:
            return "unreadable_image", "truncated JPEG: no end-of-image marker (the file was cut short)"
    if width < MIN_IMAGE_SIZE or height < MIN_IMAGE_SIZE:
        return "image_too_small", f"{width}x{height} pixels, below {MIN_IMAGE_SIZE} in a dimension"
    return None


def dhash(data: bytes, size: int = 8) -> int | None:
    """64-bit difference hash (for ``size`` 8) of an image's bytes: grayscale, resized to (size+1) x
    size, each bit says whether a pixel is brighter than its right neighbour. Survives re-encoding
    and small resizes. None when the bytes cannot be decoded."""
    import cv2

    if not data:
        return None  # OpenCV refuses an empty buffer instead of failing to decode it
    if data[:2] == JPEG_START and data[-2:] != JPEG_END:
        data += CUT_JPEG_TAIL  # a rare copy: only JPEGs cut short (or with bytes after their end)
    buffer = np.frombuffer(data, dtype=np.uint8)
    # reduced decoding: JPEG is decoded at 1/4 scale straight from the DCT, much faster
    image = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if image is None or image.size == 0:
        image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
        if image is None or image.size == 0:
            return None
    small = cv2.resize(image, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")
