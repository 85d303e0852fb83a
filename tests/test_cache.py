"""balldet.cache: one key recipe, one layout, unusable entries are misses, no cache_dir no cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from balldet.cache import KEY_LENGTH, KEY_VERSION, Shelf, make_key


class Point(BaseModel):
    x: int
    y: int


def test_the_key_recipe() -> None:
    parts = [{"b": 1, "a": [1, 2]}, Path("/data/x"), "text"]
    canonical = json.dumps([KEY_VERSION, {"a": [1, 2], "b": 1}, "/data/x", "text"], separators=(",", ":"))
    assert make_key(*parts) == hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]
    assert make_key({"a": 1, "b": 2}) == make_key({"b": 2, "a": 1})  # canonical: key order does not matter
    assert make_key(1, 2) != make_key(2, 1) and make_key([1]) != make_key(1)
    assert make_key(1, prefix="ds") == f"ds-{make_key(1)}"
    with pytest.raises(ValueError):
        make_key(1, prefix="../elsewhere")


def test_where_entries_live(tmp_path: Path) -> None:
    shelf = Shelf.of(tmp_path, "kind")
    assert shelf.path("k", ".json") == tmp_path / "kind" / "k.json"
    assert shelf.entry_folder("k") == tmp_path / "kind" / "k"
    assert shelf.path("k", name="out.json") == tmp_path / "kind" / "k" / "out.json"
    shelf.save_json("k", {"a": 1})
    shelf.save_bytes("k", b"\x00raw", ".bin")
    shelf.save_model("k", Point(x=1, y=2), Point, name="p.json")
    assert shelf.load_json("k") == {"a": 1}
    assert shelf.load_bytes("k", ".bin") == b"\x00raw"
    assert shelf.load_model("k", Point, name="p.json") == (True, Point(x=1, y=2))
    assert sorted(p.name for p in (tmp_path / "kind").iterdir()) == ["k", "k.bin", "k.json"]  # no temporary left


@pytest.mark.parametrize("content", [None, b"", b'{"a": ', b"\x00\xff garbage", b'[1, 2]', b"null"],
                         ids=["missing", "empty", "cut-short", "garbage", "wrong-shape", "null"])
def test_an_unusable_entry_is_a_miss(tmp_path: Path, content: bytes | None) -> None:
    shelf = Shelf.of(tmp_path, "kind")
    for path in (shelf.path("k", ".json"), shelf.path("k", name="p.json")):
        if content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    assert shelf.load_json("k", read=lambda data: data["a"]) is None
    assert shelf.load_model("k", Point, name="p.json") == (False, None)


def test_a_stored_none_is_found(tmp_path: Path) -> None:
    shelf = Shelf.of(tmp_path, "stage_cache")
    shelf.save_model("k", None, Point | None, name="05_convert_data.json")
    assert shelf.load_model("k", Point | None, name="05_convert_data.json") == (True, None)


def test_without_a_cache_dir_nothing_is_remembered(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shelf = Shelf.of(None, "kind")
    assert not shelf.enabled and shelf.path("k") is None and shelf.entry_folder("k") is None
    shelf.save_json("k", {"a": 1})
    shelf.save_bytes("k", b"x")
    shelf.save_model("k", Point(x=1, y=2), Point)
    assert shelf.load_json("k") is None and shelf.load_bytes("k") is None
    assert shelf.load_model("k", Point) == (False, None)
    assert list(tmp_path.iterdir()) == []


def test_a_new_state_replaces_the_old_ones(tmp_path: Path) -> None:
    shelf = Shelf.of(tmp_path, "fingerprints")
    old, new, other = make_key(1, prefix="ds-place"), make_key(2, prefix="ds-place"), make_key(1, prefix="ds")
    longer = make_key(1, prefix="ds-place-x")  # another thing whose prefix starts alike
    for key in (old, new, other, longer):
        shelf.save_json(key, {})
    shelf.save_bytes(old, b"", ".thumbs.npz")
    shelf.save_bytes(new, b"", ".thumbs.npz")
    shelf.keep_only(new)
    assert sorted(p.name for p in shelf.folder.iterdir()) == sorted(
        [f"{new}.json", f"{new}.thumbs.npz", f"{other}.json", f"{longer}.json"])
