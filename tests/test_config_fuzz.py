"""Property-based fuzzing of broken pipeline configs.

Whatever a config file holds (wrong types, unknown keys, malformed dataset ids, missing fields,
non-mapping documents, odd unicode, deep nesting, huge numbers, YAML syntax errors), validating it
raises :class:`ConfigError` and nothing else, every problem names a field, and `balldet configs
validate` exits with code 2 and no traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balldet.errors import BalldetError, ConfigError
from balldet.stages.get_config import LoadedConfig
from balldet.stages.process_config import process_config

ID = "0123456789abcdef0123456789abcdef"
ID2 = "fedcba9876543210fedcba9876543210"
VALID: dict[str, Any] = {
    "tags": ["ball"],
    "model_type": "yolov5",
    "train_data": {"datasets": [ID]},
    "val_data": {"datasets": [ID2]},
    "test_data": {"datasets": [ID2]},
    "train_config": {"epochs": 1},
    "test_batch_size": 4,
    "seed": 0,
    "data_checks": {"label_defects": "fail", "allow_leakage": False, "images": True},
}
REQUIRED = ["tags", "model_type", "train_data", "test_data"]
FIELDS = list(VALID)

text = st.text(max_size=40)  # any unicode, surrogates excluded by yaml.safe_dump's needs below
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(text, st.integers()), children, max_size=4)
    ),
    max_leaves=12,
)
# Dataset ids that are not 32 lower-case hex characters.
bad_ids = st.one_of(
    st.text(max_size=40).filter(lambda s: not (len(s) == 32 and all(c in "0123456789abcdef" for c in s))),
    st.just(ID.upper()),
    st.just(ID[:-1]),
    st.just(ID + "0"),
    st.integers(),
    st.none(),
    st.lists(st.just(ID), min_size=1, max_size=2),
)


def nested(depth: int) -> Any:
    value: Any = ID
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


# One change that surely breaks the config.
breakers = st.one_of(
    st.sampled_from(REQUIRED).map(lambda f: ("delete", f, None)),
    st.tuples(st.just("unknown"), text.filter(lambda k: k not in VALID), values),
    st.tuples(st.just("set"), st.sampled_from(["train_data", "test_data", "val_data"]), bad_ids.map(
        lambda i: {"datasets": [i]})),
    st.tuples(st.just("set"), st.sampled_from(["test_data", "train_data"]), st.just({"datasets": [ID, ID]})),
    st.tuples(st.just("set"), st.just("test_batch_size"), st.one_of(
        st.integers(max_value=0), st.integers(min_value=4097), st.integers(min_value=10**20), st.lists(scalars),
        st.just(1.5), st.just("many"))),
    st.tuples(st.just("set"), st.just("seed"), st.one_of(st.integers(max_value=-1), st.just("zero"), st.just([0]))),
    st.tuples(st.just("set"), st.just("model_type"), st.one_of(
        st.lists(scalars, max_size=2), st.dictionaries(text, scalars, max_size=2), st.just("no-such-backend"),
        st.integers())),
    st.tuples(st.just("set"), st.just("tags"), st.one_of(st.just([""]), st.just(["a,b"]), st.integers(),
                                                         st.dictionaries(text, scalars, min_size=1, max_size=2))),
    st.tuples(st.just("set"), st.just("data_checks"), st.one_of(
        st.just({"label_defects": "ignore"}), st.just({"images": "sometimes"}), st.just({"nope": 1}),
        st.integers(), st.just([1, 2]))),
    st.tuples(st.just("set"), st.sampled_from(["train_data", "test_data", "val_data"]), st.one_of(
        st.just({"datasets": []}), st.integers(), text, st.just({"datasets": ID}),
        st.just({"datasets": [ID2], "extra": 1}))),
    st.tuples(st.just("set"), st.sampled_from(FIELDS), st.integers(0, 60).map(nested)),
)
# Further changes that may or may not break it (wrong types for any field, random train_config).
noise = st.tuples(st.just("set"), st.sampled_from(FIELDS), values)


def apply(config: dict[str, Any], change: tuple[str, Any, Any]) -> None:
    kind, key, value = change
    if kind == "delete":
        config.pop(key, None)
    else:
        config[key] = value


@st.composite
def broken_mappings(draw) -> dict[str, Any]:
    config = dict(VALID)
    for change in draw(st.lists(noise, max_size=3)):
        apply(config, change)
    apply(config, draw(breakers))
    return config


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


non_mappings = st.one_of(
    scalars.filter(lambda v: v is not None).map(dump),
    st.lists(values, max_size=4).map(dump),
    st.just(""),
    st.just("---\n...\n"),
    st.just("# only a comment\n"),
    st.just("- model_type: yolov5\n"),
)
syntax_errors = st.tuples(
    st.sampled_from([
        "model_type: [yolov5\n",
        "test_data: {datasets: [\n",
        "model_type: yolov5\n  tags: - a\n",
        "\tmodel_type: yolov5\n",
        "model_type: 'yolov5\n",
        "key: value: other\n",
        "- a\nb: c\n",
        "&anchor\n*unknown\n",
        "model_type: !!python/object:os.system echo\n",
        "{{{{\n",
        "model_type: yolov5\nmodel_type: [\n",
        "@reserved\n",
        "%YAML 9.9\n---\na: 1\n",
    ]),
    st.text(max_size=20),
).map(lambda parts: dump(VALID) + parts[0] + parts[1])
deep_text = st.integers(10, 80).map(lambda n: "test_data: " + "[" * n + "]" * n + "\n")
huge_text = st.sampled_from([
    "test_batch_size: " + "9" * 4000 + "\n",
    "seed: 1e999999\n",
    "seed: -.inf\n",
    "test_batch_size: .nan\n",
])
random_text = st.text(max_size=200)

broken_texts = st.one_of(
    broken_mappings().map(dump),
    broken_mappings().map(dump),
    non_mappings,
    syntax_errors,
    deep_text,
    huge_text.map(lambda extra: dump(VALID) + extra),
    random_text,
)


def validate_text(content: str, model_type: str | None = None) -> None:
    loaded = LoadedConfig(
        config_name="fuzz.yaml", path=Path("fuzz.yaml"), content=content,
        sha256=hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest(),
    )
    process_config(loaded, model_type, allow_downloads=False)


def test_the_base_config_is_valid() -> None:
    validate_text(dump(VALID), "yolov5")


def _check(content: str, model_type: str | None) -> ConfigError:
    with pytest.raises(BalldetError) as info:
        validate_text(content, model_type)
    error = info.value
    assert isinstance(error, ConfigError), f"{type(error).__name__}: {error}"
    assert error.exit_code == 2
    assert error.fields, str(error)
    assert all(isinstance(f, str) and f.strip() for f in error.fields), error.problems
    return error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=broken_texts, model_type=st.sampled_from([None, "yolov5", "ultralytics"]))
def test_broken_configs_raise_config_error_naming_fields(content: str, model_type: str | None) -> None:
    try:
        _check(content, model_type)
    except AssertionError:
        raise
    except Exception as exc:  # anything but ConfigError is a bug: show the config that caused it
        raise AssertionError(f"{type(exc).__name__}: {exc}\n--- config ---\n{content[:2000]}") from exc


@pytest.fixture(scope="module")
def cli_workspace(tmp_path_factory):
    from conftest import make_workspace

    return make_workspace(tmp_path_factory.mktemp("fuzz-cli"))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(content=broken_texts)
def test_cli_validate_exits_2(cli_workspace, content: str) -> None:
    path = cli_workspace.configs / "fuzz.yaml"
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    result = cli_workspace.cli("configs", "validate", "fuzz.yaml", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "invalid pipeline config" in result.stderr


def test_very_deep_nesting_is_a_config_error() -> None:
    _check("test_data: " + "[" * 3000 + "]" * 3000 + "\n", None)


def test_integer_beyond_python_digit_limit_is_a_config_error() -> None:
    _check("test_batch_size: " + "9" * 5000 + "\n", None)
