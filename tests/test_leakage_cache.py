"""Leakage check with remembered image fingerprints: same findings, reused while a dataset is unchanged,
recomputed when it changes; the vectorised near-duplicate search against all pairs."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import cv2
import numpy as np

from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.checks.fingerprints import fingerprints_key, image_fingerprints
from balldet.checks.images import dhash
from balldet.checks.thumbnails import Thumbnails
from balldet.checks.leakage import _close_pairs, _popcount_bytes, find_leakage
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import FrameIdentity
from balldet.datasets.resolver import DatasetResolver
from balldet.stages.prepare_data import prepare_data


def _pair(tiny_catalog: Path, tmp_path: Path) -> tuple[DatasetRef, DatasetRef]:
    refs = [ref for ref in LocalCatalog(tiny_catalog).list() if ref.names == ["ball"]][:2]
    copies = []
    for ref, name in zip(refs, ("a", "b")):
        shutil.copytree(ref.path, tmp_path / name)
        copies.append(ref.model_copy(update={"path": tmp_path / name}))
    return copies[0], copies[1]


def _reencode(path: Path, dest: Path) -> None:
    image = cv2.imread(str(path))
    height, width = image.shape[:2]
    image = cv2.resize(image, (round(width * 0.98), round(height * 0.98)), interpolation=cv2.INTER_AREA)
    dest.write_bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])[1].tobytes())


def _another_picture(dest: Path, seed: int = 0) -> None:
    """A picture like no other in the catalog (noise): "the same frame, another picture" without
    also planting a copy of a picture inside the dataset (that would be a duplicate)."""
    noise = np.random.default_rng(seed).integers(0, 256, (192, 320, 3), dtype=np.uint8)
    dest.write_bytes(cv2.imencode(".jpg", noise)[1].tobytes())


def _kinds(findings) -> list[tuple[str, str]]:
    return [(f.kind, f.file) for f in findings]


def cache_file(ref: DatasetRef, cache: Path) -> Path:
    return cache / "fingerprints" / f"{fingerprints_key(ref)}.json"


def _cache_files(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((cache / "fingerprints").glob("*.json"))}


def test_cached_findings_equal_fresh_ones_and_the_cache_is_their_only_source(tiny_catalog, tmp_path):
    a, b = _pair(tiny_catalog, tmp_path)
    a_images = a.image_files()
    shutil.copy(a_images[0], b.images_dir / "renamed_000001.jpg")
    _reencode(a_images[1], b.images_dir / "reencoded_000002.jpg")
    _another_picture(b.images_dir / a_images[3].name)
    groups = {"train": [a], "test": [b]}
    cache = tmp_path / "cache"

    fresh = find_leakage(groups)
    assert sorted(_kinds(fresh)) == [
        ("identical_image", "images/renamed_000001.jpg"),
        ("near_duplicate_image", "images/reencoded_000002.jpg"),
        ("same_frame", f"images/{a_images[3].name}"),
    ]
    assert find_leakage(groups, cache_dir=cache) == fresh
    written = _cache_files(cache)
    assert sorted(written) == sorted(cache_file(ref, cache).name for ref in (a, b))

    assert sorted(p.name for p in (cache / "fingerprints").glob("*.thumbs.npz")) == sorted(
        cache_file(ref, cache).with_suffix(".thumbs.npz").name for ref in (a, b))

    # Editing files in place leaves the folders as they were, so the remembered fingerprints and
    # thumbnails are used: garbling every image changes nothing, no image is read. Without the cache,
    # only the names still match.
    for path in [*a.image_files(), *b.image_files()]:
        with open(path, "r+b") as handle:
            handle.write(path.name.encode())
    assert find_leakage(groups, cache_dir=cache) == fresh
    assert _cache_files(cache) == written
    assert _kinds(find_leakage(groups)) == [("same_frame", f"images/{a_images[3].name}")]


def test_findings_are_remembered_for_the_same_datasets_in_the_same_groups(tiny_catalog, tmp_path, monkeypatch):
    import balldet.checks.leakage as leakage

    a, b = _pair(tiny_catalog, tmp_path)
    _another_picture(b.images_dir / a.image_files()[3].name)  # same frame
    groups = {"train": [a], "test": [b]}
    cache = tmp_path / "cache"
    first = find_leakage(groups, cache_dir=cache)
    assert _kinds(first) == [("same_frame", f"images/{a.image_files()[3].name}")]

    computed = []
    real = leakage._find_leakage
    monkeypatch.setattr(leakage, "_find_leakage", lambda *args: computed.append(args) or real(*args))
    assert find_leakage(groups, cache_dir=cache) == first and computed == []  # read back, nothing computed
    # anything the findings depend on makes them computed again: groups, patterns, thresholds, folders
    assert find_leakage({"train": [b], "test": [a]}, cache_dir=cache) != first
    assert find_leakage(groups, cache_dir=cache, frames=FrameIdentity([r"^.*/x(?P<frame>\d+)$"])) == []
    assert find_leakage(groups, cache_dir=cache, thumb_p99=10.0) == first
    assert len(computed) == 3
    (b.images_dir / a.image_files()[3].name).unlink()
    assert find_leakage(groups, cache_dir=cache) == [] and len(computed) == 4


def test_adding_or_removing_an_image_fingerprints_the_dataset_again(tiny_catalog, tmp_path):
    a, b = _pair(tiny_catalog, tmp_path)
    groups = {"train": [a], "test": [b]}
    cache = tmp_path / "cache"
    assert find_leakage(groups, cache_dir=cache) == []
    before = _cache_files(cache)

    planted = b.images_dir / "reencoded_000002.jpg"
    _reencode(a.image_files()[1], planted)
    findings = find_leakage(groups, cache_dir=cache)
    assert _kinds(findings) == [("near_duplicate_image", "images/reencoded_000002.jpg")]
    after = _cache_files(cache)
    a_file, b_file = cache_file(a, cache).name, cache_file(b, cache).name
    assert after[a_file] == before[a_file]  # a is unchanged: its fingerprints are reused as they were
    assert b_file not in before and set(after) == {a_file, b_file}  # the old state of b is gone
    remembered = image_fingerprints(b, cache)
    assert remembered.hashes[remembered.names.index(planted.name)] == dhash(planted.read_bytes())

    planted.unlink()
    assert find_leakage(groups, cache_dir=cache) == []
    assert cache_file(b, cache).name not in after
    assert image_fingerprints(b, cache) == image_fingerprints(b)


def test_an_unusable_cache_file_is_computed_again(tiny_catalog, tmp_path):
    a, _ = _pair(tiny_catalog, tmp_path)
    cache = tmp_path / "cache"
    fingerprints = image_fingerprints(a, cache)
    assert len(fingerprints) == len(a.image_files()) and None not in fingerprints.hashes
    cache_file(a, cache).write_text('{"version": 2, "names": ["x.jpg"], "sizes": []')
    assert image_fingerprints(a, cache) == fingerprints
    assert image_fingerprints(a, cache) == fingerprints  # and the repaired file is read back

    name = a.image_files()[0].name
    thumbs = Thumbnails(cache)
    made = thumbs.get(a, name)
    assert made is not None and made.shape == (32, 32)
    thumbs.save()
    remembered = cache_file(a, cache).with_suffix(".thumbs.npz")
    remembered.write_bytes(remembered.read_bytes()[:300])  # cut short
    assert np.array_equal(Thumbnails(cache).get(a, name), made)


def test_prepare_data_remembers_the_fingerprints(tiny_catalog, tmp_path):
    shutil.copytree(tiny_catalog, tmp_path / "catalog")
    catalog = LocalCatalog(tmp_path / "catalog")
    train, test = [ref for ref in catalog.list() if ref.names == ["ball"]][:2]
    config = PipelineConfig.model_validate({
        "tags": ["t"], "model_type": "ultralytics", "train_data": {"datasets": [train.id]}, "test_data": {"datasets": [test.id]},
    })
    cache = tmp_path / "cache"
    first = prepare_data(config, DatasetResolver(catalog), cache_dir=cache)
    written = _cache_files(cache)
    assert sorted(written) == sorted(cache_file(ref, cache).name for ref in (train, test))
    assert prepare_data(config, DatasetResolver(catalog), cache_dir=cache) == first
    assert _cache_files(cache) == written


def _brute_force(hashes: list[int | None], max_distance: int) -> list[tuple[int, int]]:
    return [(j, i) for i in range(len(hashes)) for j in range(i)
            if hashes[i] is not None and hashes[j] is not None
            and (hashes[i] ^ hashes[j]).bit_count() <= max_distance]


def test_near_duplicate_candidates_are_exactly_the_close_pairs():
    rng = random.Random(3)
    # Few distinct band values crowd the buckets; copies with 0 to 9 flipped bits sit around the
    # distance limit.
    pool = [[rng.getrandbits(16) for _ in range(6)] for _ in range(4)]
    hashes: list[int | None] = []
    for _ in range(150):
        value = sum(rng.choice(pool[b]) << (16 * b) for b in range(4))
        hashes.append(value)
        for _ in range(2):
            copy = value
            for bit in rng.sample(range(64), rng.randrange(10)):
                copy ^= 1 << bit
            hashes.append(copy)
    hashes += [None, rng.getrandbits(64), None]
    for max_distance in (0, 3, 7):
        expected = _brute_force(hashes, max_distance)
        assert expected, "the case has close pairs"
        assert _close_pairs(hashes, max_distance) == expected
    assert _close_pairs([], 7) == [] and _close_pairs([None], 7) == []


def test_popcount_without_numpy_2():
    values = np.array([0, 1, 2**64 - 1, 0x8000_0000_0000_0001, 12345678901234567], dtype=np.uint64)
    assert _popcount_bytes(values).tolist() == [int(v).bit_count() for v in values]
