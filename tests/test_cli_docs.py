"""Every command the README shows, run as written (in an isolated workspace), and --help everywhere."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text()
DEMO_CONFIG = "aicska/object_detection/ultralytics/ball/251125_1200_yolov8n_synth_demo.yaml"


def readme_commands() -> list[list[str]]:
    """`balldet ...` lines of the README's bash blocks (the `run` example is the e2e test's job)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].split(">")[0].strip()
            if line.startswith("balldet "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_readme_opens_with_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    lines = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert lines == ["./scripts/demo.sh", "./scripts/test.sh"]
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    assert DEMO_CONFIG in (REPO / "scripts" / "demo.sh").read_text()


@pytest.mark.parametrize("args", readme_commands(), ids=lambda a: " ".join(a))
def test_readme_command_runs(workspace, args):
    shutil.copytree(REPO / "configs", workspace.configs, dirs_exist_ok=True)
    if args[:2] == ["datasets", "synth"]:
        args = [*args, "--images", "2"]
    if args[0] == "evaluate" or args[:2] in (["datasets", "check"], ["configs", "validate"]):
        # what the README's earlier `balldet datasets synth` made (configs validate looks the ids up)
        assert workspace.cli("datasets", "synth", "--images", "2").returncode == 0
    if args[0] == "evaluate":
        # The example scores a run's saved predictions: a file per image, empty, stands for a run whose
        # model found nothing (an empty folder matches no image and is an error).
        folder = workspace.root / args[args.index("--predictions") + 1]
        folder.mkdir(parents=True, exist_ok=True)
        for image in (workspace.catalog / args[args.index("--dataset") + 1] / "images").iterdir():
            (folder / f"{image.stem}.txt").write_text("")
    if args[0] == "predict":
        # the example's weights (an untrained yolov8n, as ultralytics saves one) and its frames: a folder
        # copied from the synthetic datasets, or a video written with OpenCV
        make_ultralytics_weights(workspace.root / args[args.index("--weights") + 1], workspace.cache)
        source = workspace.root / args[args.index("--source") + 1]
        if source.suffix == ".mp4":
            write_video(source, 7)
            every = int(args[args.index("--every") + 1]) if "--every" in args else 1
            expected = {f"{source.stem}_{k:06d}" for k in range(0, 7, every)}
        else:
            assert workspace.cli("datasets", "synth", "--images", "2").returncode == 0
            shutil.copytree(next(workspace.catalog.glob("*/images")), source)
            expected = {p.stem for p in source.iterdir()}
    if args[0] == "track":
        # a recording's video and the per-frame predictions of it (a ball moving across)
        source = workspace.root / args[args.index("--source") + 1]
        write_video(source, 30)
        predictions = workspace.root / args[args.index("--predictions") + 1]
        predictions.mkdir(parents=True)
        for k in range(30):
            (predictions / f"{source.stem}_{k:06d}.txt").write_text(f"0 {0.1 + 0.02 * k:.4f} 0.5 0.03 0.05 0.6\n")
    result = workspace.cli(*args)
    assert result.returncode == 0, result.stderr
    if args[0] == "predict":
        out = workspace.root / args[args.index("--out") + 1]
        assert {p.stem for p in out.glob("*.txt")} == expected
    if args[0] == "track":
        lines = (workspace.root / args[args.index("--out") + 1]).read_text().splitlines()
        assert len(lines) == 31 and lines[5].endswith(",detected")


def write_video(path, frames: int, size=(320, 192)) -> None:
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), (40, 110 + 3 * k, 40), np.uint8))
    writer.release()


def make_ultralytics_weights(path, cache) -> None:
    from balldet.backends.ultralytics.env import configure_ultralytics

    configure_ultralytics(cache, allow_downloads=False)
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(path)


REPO_CONFIGS = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))


def test_repository_configs_follow_the_team_layout():
    assert DEMO_CONFIG in REPO_CONFIGS
    pattern = re.compile(r"^[^/]+/object_detection/[a-z0-9_]+/(ball|player)/\d{6}_\d{4}_[\w.-]+\.yaml$")
    for name in REPO_CONFIGS:
        assert pattern.match(name), name


@pytest.mark.parametrize("name", REPO_CONFIGS)
def test_repository_config_validates_and_uses_synthetic_datasets(workspace, name):
    from balldet.config import load_config_file
    from balldet.synth.inventory import CLIP_DATASET_IDS, SYNTH_DATASET_IDS, WIDE_DATASET_IDS

    backend = name.split("/")[2]
    shutil.copytree(REPO / "configs", workspace.configs, dirs_exist_ok=True)
    config = load_config_file(REPO / "configs" / name)
    used = [*config.test_data.datasets, *config.train_ids, *config.val_ids]
    # the sliced examples run on the wide frames, the tracking ones on the clips
    kind = "--wide" if config.slicing is not None else "--clips" if set(used) & set(CLIP_DATASET_IDS.values()) \
        else None
    synth = ["datasets", "synth", "--images", "2" if kind != "--clips" else "30", *([kind] if kind else [])]
    assert workspace.cli(*synth).returncode == 0  # its ids are looked up
    result = workspace.cli("configs", "validate", name, "--model-type", backend)
    assert result.returncode == 0, result.stderr
    known = {"--wide": WIDE_DATASET_IDS, "--clips": CLIP_DATASET_IDS, None: SYNTH_DATASET_IDS}[kind]
    assert set(used) <= set(known.values())


@pytest.mark.parametrize(
    "args",
    [[], ["run"], ["configs"], ["configs", "validate"], ["configs", "schema"], ["configs", "list"],
     ["datasets"], ["datasets", "synth"], ["datasets", "list"], ["datasets", "add"], ["predict"], ["track"],
     ["export"], ["label"]],
    ids=lambda a: " ".join(a) or "balldet",
)
def test_help_everywhere(workspace, args):
    result = workspace.cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_run_help_names_both_spellings(workspace):
    result = workspace.cli("run", "--help", COLUMNS="200")
    for option in ("--config_name", "--config-name", "--model_type", "--model-type", "--project"):
        assert option in result.stdout


def test_datasets_synth_then_list_shows_the_catalog(workspace):
    assert workspace.cli("datasets", "synth", "--images", "3").returncode == 0
    listed = workspace.cli("datasets", "list", COLUMNS="250")
    assert listed.returncode == 0
    for name in ("class:ball-markup:our-001", "soccernet_ball_001", "20240416-Russian_Cup-CSKA_Moscow"):
        assert name in listed.stdout


def test_errors_are_one_message_and_a_traceback_only_with_debug(workspace):
    plain = workspace.cli("configs", "validate", "missing.yaml")
    assert plain.returncode == 2 and "error:" in plain.stderr and "Traceback" not in plain.stderr
    debug = workspace.cli("--debug", "configs", "validate", "missing.yaml")
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "error:" in debug.stderr
    # a flag typer refuses is a usage error too, exit code 2
    bad = workspace.cli("leaderboard", "--split", "nope")
    assert bad.returncode == 2 and "--split" in bad.stderr
