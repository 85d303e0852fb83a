"""`balldet export`: a run's weights (or a .pt) to ONNX and TorchScript with the backend's own
exporter, each file checked against the weights on a few frames before it is kept."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from balldet.cli.app import app, err, load_cli_settings, out
from balldet.config import MAX_STRIDE
from balldet.errors import UsageError

DEFAULT_FORMAT = "onnx"
CHECK_FRAMES = 4  # frames of a --check folder the check runs on, spread over the folder


@app.command()
def export(
    weights: Annotated[str, typer.Option("--weights", help="A local run (its id or folder), or a .pt weights file.")],
    formats: Annotated[list[str] | None, typer.Option(
        "--format", help="onnx or torchscript: repeat the flag or give a comma list (default: onnx).")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Folder for the exported files (made when missing), or the file of a single format. "
        "Default: beside the weights.")] = None,
    imgsz: Annotated[int | None, typer.Option(
        "--imgsz", help="Side of the square input the exported model takes (default: the size the weights were "
        "trained at, else 640).")] = None,
    model_type: Annotated[str | None, typer.Option(
        "--model_type", help="The backend of a .pt file (told from the file when left out).")] = None,
    check: Annotated[Path | None, typer.Option(
        "--check", help=f"Frames to check the export on ({CHECK_FRAMES} of the folder's); default: frames drawn "
        "by balldet.")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Keep the export without checking it.")] = False,
) -> None:
    """Export trained weights to ONNX / TorchScript and check the export detects what the weights do."""
    from balldet.backends.export_check import drawn_frames, read_frame
    from balldet.stages.export import export_model

    settings = load_cli_settings()
    plan = _plan(weights, formats, out_path, imgsz, model_type, check, no_check, settings)
    frames = None
    if not no_check:
        frames = [(path.name, read_frame(path)) for path in plan.check_frames] if check else drawn_frames()
    where = f"{len(frames)} frames of {check}" if check else "frames drawn by balldet" if frames else "no check"
    err.print(f"exporting {plan.model_type} weights {plan.weights} to {', '.join(plan.targets)} ({where})",
              highlight=False, soft_wrap=True)
    outcomes = export_model(
        plan.weights, plan.model_type, plan.targets, imgsz=imgsz, frames=frames, cache_dir=settings.cache_dir,
        allow_downloads=settings.allow_downloads,
        progress=lambda line: err.print(f"  {line}", highlight=False, soft_wrap=True),
    )
    failed = []
    for outcome in outcomes:
        verdict = "not checked" if outcome.check is None else \
            f"check {'passed' if outcome.written else 'FAILED'}: {outcome.check.summary()}"
        if outcome.written:
            out.print(f"{outcome.fmt}: {outcome.target} (input 1x3x{outcome.imgsz}x{outcome.imgsz})\n  {verdict}",
                      highlight=False, soft_wrap=True)
        else:
            failed.append(outcome)
            err.print(f"{outcome.fmt}: {verdict}", highlight=False, soft_wrap=True)
    if failed:
        from balldet.backends.export_check import ExportCheckFailed

        lines = [f"{o.fmt} ({o.target}): {problem}" for o in failed for problem in o.check.problems()]
        raise ExportCheckFailed(
            f"{len(failed)} export(s) do not detect what the weights detect; nothing written for them:\n  "
            + "\n  ".join(lines),
            fix="check on other frames of yours (--check <folder>); --no-check keeps an export unchecked",
        )


@dataclass(frozen=True)
class _Plan:
    """What `balldet export` will do, every flag checked first."""

    weights: Path
    model_type: str
    targets: dict[str, Path]  # format -> file
    check_frames: list[Path]


def _plan(weights, formats, out_path, imgsz, model_type, check, no_check, settings) -> _Plan:
    """Every problem with the flags at once (exit 2), before any model or framework is loaded."""
    from balldet.backends.exporters import INSTALL_HINT, missing_packages
    from balldet.backends.registry import model_types

    wanted, problems = _formats(formats)
    if imgsz is not None and (imgsz < MAX_STRIDE or imgsz % MAX_STRIDE):
        problems.append(("--imgsz", f"{imgsz} is not a positive multiple of {MAX_STRIDE} (both exporters would "
                         f"round it); e.g. 640"))
    known = model_types()
    if model_type is not None and model_type not in known:
        problems.append(("--model_type", f"unknown model type {model_type!r}; known: {', '.join(known)}"))
        model_type = None
    weights_file, kind, name = _weights(weights, model_type, settings, problems)
    targets = _targets(wanted, out_path, weights_file, name, problems)
    check_frames: list[Path] = []
    if check is not None and no_check:
        problems.append(("--no-check", "--check and --no-check contradict each other; give one"))
    elif check is not None:
        check_frames = _check_frames(check, problems)
    missing = missing_packages(kind, wanted)
    if missing:
        problems.append(("--format", f"exporting {' and '.join(wanted)} needs {', '.join(missing)}, not installed "
                         f"here: {INSTALL_HINT}"))
    if not problems and (weights_file is None or kind is None):  # not reached: every such case named its problem
        problems.append(("--weights", f"the weights of {weights} and their backend cannot be told"))
    if problems:
        raise UsageError(problems)
    return _Plan(weights_file, kind, targets, check_frames)


def _formats(formats: list[str] | None) -> tuple[list[str], list[tuple[str, str]]]:
    """The formats asked for (repeated flags and comma lists, each once, in order), and the unknown."""
    from balldet.backends.exporters import EXPORT_FORMATS

    given = list(dict.fromkeys(name.strip().lower() for flag in formats or [DEFAULT_FORMAT]
                               for name in flag.split(",") if name.strip()))
    unknown = [name for name in given if name not in EXPORT_FORMATS]
    if unknown or not given:
        return [name for name in given if name in EXPORT_FORMATS], [(
            "--format", f"unknown format(s) {', '.join(map(repr, unknown)) or '(none given)'}; give "
            f"{' or '.join(EXPORT_FORMATS)} (repeat --format, or a comma list)")]
    return given, []


def _weights(weights: str, model_type: str | None, settings, problems: list) -> tuple[Path | None, str | None, str]:
    """The weights file, its backend and the name exports are given: a run's id, else the file's stem."""
    from balldet.backends.weights_file import backend_of_weights
    from balldet.cli.predict import _find_run

    if Path(weights).suffix == ".pt" or Path(weights).is_file():
        weights_file = Path(weights).expanduser()
        if not weights_file.is_file():
            problems.append(("--weights", f"no weights file {weights_file}"))
            return None, model_type, weights_file.stem
        try:
            return weights_file, model_type or backend_of_weights(weights_file), weights_file.stem
        except UsageError as exc:
            problems += exc.problems
            return weights_file, None, weights_file.stem
    try:
        run = _find_run(weights, settings)
    except UsageError as exc:
        problems += exc.problems
        return None, model_type, Path(weights).name
    if model_type and model_type != run.model_type:
        problems.append(("--model_type", f"the run trained {run.model_type}, not {model_type}; leave --model_type "
                         "out"))
    return run.weights, run.model_type, Path(weights).name  # a run's folder is named by its id


def _targets(wanted: list[str], out_path: Path | None, weights_file: Path | None, name: str,
             problems: list) -> dict[str, Path]:
    """Format -> the file it is written to: ``--out`` as a file, or ``<name><suffix>`` in ``--out`` or
    beside the weights (where both frameworks' own exporters write)."""
    from balldet.backends.exporters import EXPORT_FORMATS

    if out_path is not None and out_path.suffix in EXPORT_FORMATS.values():
        fmt = next(f for f, suffix in EXPORT_FORMATS.items() if suffix == out_path.suffix)
        if wanted != [fmt]:
            problems.append(("--out", f"{out_path} is the file of one {fmt} export, but the formats are "
                             f"{', '.join(wanted) or '(none)'}; give a folder, or --format {fmt}"))
        elif out_path.is_dir():
            problems.append(("--out", f"{out_path} is a folder; give a file name that is not taken by a folder"))
        targets = {fmt: out_path}
    else:
        if out_path is not None and out_path.exists() and not out_path.is_dir():
            problems.append(("--out", f"{out_path} is a file; give a folder (it is made when missing), or a file "
                             f"ending in {' or '.join(EXPORT_FORMATS.values())}"))
        folder = out_path if out_path is not None else weights_file.parent if weights_file else Path.cwd()
        targets = {fmt: folder / f"{name}{EXPORT_FORMATS[fmt]}" for fmt in wanted}
    for target in list(targets.values())[:1]:
        existing = next((p for p in (target.parent, *target.parent.parents) if p.exists()), None)
        if existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
            problems.append(("--out", f"{existing} cannot be written to; give --out <a folder of yours>"))
    return targets


def _check_frames(folder: Path, problems: list) -> list[Path]:
    """A few frames of ``folder`` spread over it, their headers read."""
    from balldet.datasets.yolo import image_size
    from balldet.stages.predict import frames_in

    if not folder.is_dir():
        problems.append(("--check", f"{folder} is not a folder of frames"))
        return []
    frames = frames_in(folder)
    if not frames:
        problems.append(("--check", f"no frames in {folder} (image files: .jpg, .png, ...)"))
        return []
    chosen = frames[:: max(1, len(frames) // CHECK_FRAMES)][:CHECK_FRAMES]
    unreadable = []
    for frame in chosen:
        try:
            image_size(frame)
        except Exception:  # noqa: BLE001  (any reason a header cannot be read is the same problem here)
            unreadable.append(frame.name)
    if unreadable:
        problems.append(("--check", f"{len(unreadable)} frame(s) of {folder} cannot be read "
                         f"({', '.join(unreadable[:3])}); give a folder of readable frames"))
    return chosen
