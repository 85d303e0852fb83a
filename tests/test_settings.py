from __future__ import annotations


import pytest

from balldet.errors import SettingsError
from balldet.settings import ENVIRONMENTS, load_settings
from conftest import SETTINGS_FILE


@pytest.mark.parametrize(
    ("env", "execution", "mode", "offline"),
    [
        ("default", "local", "debug", True),
        ("local_debug", "local", "debug", True),
        ("local_main", "local", "main", False),
        ("remote_debug", "remote", "debug", False),
    ],
)
def test_each_environment_sets_both_axes(env, execution, mode, offline, monkeypatch):
    for var in ("BALLDET_CLEARML_OFFLINE", "BALLDET_MODE", "BALLDET_EXECUTION"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(env, settings_file=SETTINGS_FILE)
    assert (settings.execution, settings.mode, settings.clearml_offline) == (execution, mode, offline)
    assert settings.project_path("aicska") == f"aicska/{mode}/pipeline/object_detection"


def test_environments_listed_are_those_in_the_file():
    text = SETTINGS_FILE.read_text()
    for env in ENVIRONMENTS:
        assert f"[{env}]" in text


def test_env_switcher_variable_chooses_the_environment(monkeypatch):
    monkeypatch.setenv("ENV_FOR_DYNACONF", "remote_debug")
    assert load_settings(settings_file=SETTINGS_FILE).execution == "remote"


def test_relative_paths_resolve_against_the_settings_file(monkeypatch):
    for var in ("BALLDET_CONFIGS_ROOT", "BALLDET_CATALOG_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings("local_debug", settings_file=SETTINGS_FILE)
    assert settings.configs_root == SETTINGS_FILE.parent / "configs"
    assert settings.catalog_dir.is_absolute()


def test_balldet_variables_override_any_key(monkeypatch, tmp_path):
    monkeypatch.setenv("BALLDET_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("BALLDET_MODE", "main")
    monkeypatch.setenv("BALLDET_QUEUES__STEPS", "gpu_a100")
    monkeypatch.setenv("BALLDET_CLEARML_CACHE_SIZE", "123456")
    settings = load_settings("local_debug", settings_file=SETTINGS_FILE)
    assert settings.output_dir == tmp_path / "out"
    assert settings.mode == "main"
    assert settings.queues.steps == "gpu_a100"
    assert settings.queues.for_step("train_model") == "gpu"  # the per-step entry is kept
    assert settings.clearml_cache_size == 123456


def test_unknown_environment_is_a_clear_error():
    with pytest.raises(SettingsError) as info:
        load_settings("production", settings_file=SETTINGS_FILE)
    message = str(info.value)
    assert "production" in message and "local_debug" in message


def test_invalid_value_names_the_key(monkeypatch):
    monkeypatch.setenv("BALLDET_EXECUTION", "cloud")
    with pytest.raises(SettingsError, match="execution"):
        load_settings("local_debug", settings_file=SETTINGS_FILE)


def test_typo_in_settings_file_is_reported(tmp_path):
    broken = tmp_path / "settings.toml"
    broken.write_text(SETTINGS_FILE.read_text().replace('mode = "debug"', 'mdoe = "debug"', 1))
    with pytest.raises(SettingsError, match="mdoe"):
        load_settings("default", settings_file=broken)


def test_cli_reports_unknown_environment_with_exit_code_2(workspace):
    result = workspace.cli("configs", "list", env_name="nope")
    assert result.returncode == 2
    assert "unknown settings environment" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_list_given_by_a_variable_replaces_the_files_list(monkeypatch):
    # dynaconf's global merging would append it, so a pattern given this way would never be reached
    monkeypatch.setenv("BALLDET_FRAME_PATTERNS", "['^.*/f(?P<frame>\\d+)$']")
    monkeypatch.setenv("BALLDET_REMOTE__PACKAGES", "['torch==2.5.1']")
    settings = load_settings("remote_debug", settings_file=SETTINGS_FILE)
    assert settings.frame_patterns == ["^.*/f(?P<frame>\\d+)$"]
    assert settings.remote.packages == ["torch==2.5.1"]


def test_an_environment_table_replaces_the_default_one_unless_it_asks_to_merge(tmp_path):
    text = SETTINGS_FILE.read_text()
    replaced = tmp_path / "replaced.toml"
    replaced.write_text(text + '\n[remote_debug.queues]\nsteps = "gpu_small"\n')
    queues = load_settings("remote_debug", settings_file=replaced).queues
    assert (queues.steps, queues.per_step) == ("gpu_small", {})
    merged = tmp_path / "merged.toml"
    merged.write_text(text + '\n[remote_debug.queues]\ndynaconf_merge = true\nsteps = "gpu_small"\n')
    queues = load_settings("remote_debug", settings_file=merged).queues
    assert (queues.steps, queues.for_step("train_model")) == ("gpu_small", "gpu")


def test_default_frame_patterns_are_the_ones_in_the_settings_file(monkeypatch):
    from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS

    monkeypatch.delenv("BALLDET_FRAME_PATTERNS", raising=False)
    assert load_settings("default", settings_file=SETTINGS_FILE).frame_patterns == list(DEFAULT_FRAME_PATTERNS)


def test_a_frame_pattern_without_a_frame_group_is_a_settings_error(monkeypatch):
    monkeypatch.setenv("BALLDET_FRAME_PATTERNS", "['^(?P<recording>.+)$']")
    with pytest.raises(SettingsError, match=r"frame_patterns.*no \(\?P<frame>"):
        load_settings("local_debug", settings_file=SETTINGS_FILE)
