"""Benchmark: balldet's work on recordings (video files), each part against what it competes with.

Parts (``--part``, ``all`` runs each in turn):

* ``track``: ``balldet track`` on a folder of ``--track-frames`` prediction files (100 000 by
  default) with ``--candidates`` candidates each (5): a ball in straight runs with turns, missed in
  one frame of ten, a static spot scoring above it in every frame and random clutter. Timed as a
  whole command against a process that only lists and reads the same files (the floor any reader
  pays), alternating as below; the goal is ``--min-fps`` (20 000 frames/s) and a track within 2 px
  of the ball in at least 95% of the frames.

* ``predict``: ``balldet predict --source <video>`` against ultralytics' own ``yolo predict`` on the
  same video, with the same weights, image size, score threshold and device, both timed as whole
  commands (a fresh process each: start-up, model loading, decoding, prediction, writing the
  per-frame files). The runs alternate (A B, then B A, ...) after one warm-up of each, and the
  ratio balldet / ultralytics is taken per pair and reported as the median, as the machines these
  run on are shared and noisy. The outputs are compared too: balldet's ``<recording>_<frame:06d>.txt``
  against ultralytics' save_txt files of the same video (named ``<stem>_<k>.txt``, k counted from 1:
  frame k - 1): with the same batch size (``--batch`` = ``--yolo-batch``) they must be equal up to
  the last written digit (``tests/test_predict_video.py`` asserts it too, one frame a forward pass);
  at other batch sizes the arithmetic differs (on a GPU: other kernels, TF32), so the share of boxes
  that match within 1e-4, 1e-3 and 1e-2 is reported instead.

A part is a function ``(args, work folder) -> dict`` in ``PARTS``, with its options added by its own
``add_<part>_options``; the video and the weights it measures on are made by :func:`make_video` and
:func:`make_weights` (shared by the parts).

The video: synthetic football-like frames (grass noise, a ball and a few players moving), written
with OpenCV's VideoWriter (mp4v), ``--size`` and ``--frames``. The weights: an untrained yolov8n
(no download) calibrated to give a few dozen boxes a frame at score 0.25, spread in size and score,
so that NMS and the files have work to do.

Run from the repository root: ``python bench/bench_track.py [--part predict] [--frames 250]
[--size 1920x1080] [--imgsz 640] [--repeat 5] [--device cpu] [--json out.json]``.
Exit status 1 (``FAIL:`` lines on stderr) when the median ratio exceeds ``--max-ratio``, a frame's
file is missing or misnamed, or (same batch sizes) the boxes differ; 2 on bad options; else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AGREE_ATOL = 2e-6  # one box's values as two writers round them (6 decimals, 6 significant digits)
# Other batch sizes do other arithmetic (on a GPU other kernels, TF32): boxes move a little, and
# a few cross the score or NMS thresholds. Reported as the share of balldet's boxes that have a
# counterpart within each of these.
LOOSE_ATOLS = (1e-4, 1e-3, 1e-2)


# --------------------------------------------------------------------------- shared: video and weights


def make_video(path: Path, *, frames: int, width: int, height: int, fps: float = 25.0, seed: int = 0) -> Path:
    """A recording as a camera exporter writes one (OpenCV VideoWriter, mp4v): grass noise panning,
    a white ball and some players moving. Its stem is its recording id."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    grass = np.clip(rng.normal(0, 14, (height, width + 64, 3)) + (45, 130, 60), 0, 255).astype(np.uint8)
    players = rng.uniform((0, 0.3), (1, 0.9), (8, 2)) * (width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {path}")
    scale = height / 1080
    for k in range(frames):
        frame = np.ascontiguousarray(grass[:, k % 64 : k % 64 + width])
        for j, (x, y) in enumerate(players):
            x = int(x + 40 * np.sin(k / 25 + j)) % width
            top = (x - int(12 * scale), int(y - 60 * scale))
            cv2.rectangle(frame, top, (x + int(12 * scale), int(y)), (30 + 20 * j, 30, 200), -1)
        ball = (int((0.1 + 0.8 * (k % 100) / 100) * width), int(height * (0.4 + 0.2 * np.sin(k / 10))))
        cv2.circle(frame, ball, max(2, int(6 * scale)), (240, 240, 240), -1)
        writer.write(frame)
    writer.release()
    return path


def make_weights(path: Path, calibration_frame, *, imgsz: int = 640, conf: float = 0.25, seed: int = 0,
                 boxes: int = 40) -> Path:
    """An untrained yolov8n saved as ultralytics saves a model: batch norm calibrated on one frame
    (else an untrained network's activations fade layer by layer), box distances favouring a few
    strides, and the class bias set so that about ``boxes`` boxes of that frame score ``conf`` or more
    at ``imgsz``: boxes spread in size and score, work for NMS and for the files."""
    import cv2
    import numpy as np
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO("yolov8n.yaml")
    network, head = model.model, model.model.model[-1]
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None
    height, width = calibration_frame.shape[:2]
    side = 640 / max(height, width)
    small = cv2.resize(calibration_frame, (int(width * side) // 32 * 32, int(height * side) // 32 * 32))
    batch = torch.from_numpy(np.ascontiguousarray(small[None, :, :, ::-1])).permute(0, 3, 1, 2).float() / 255
    network.train()
    with torch.no_grad():
        network(batch)
    network.eval()
    for branch in head.cv3:
        torch.nn.init.normal_(branch[-1].weight, std=0.01)
        torch.nn.init.constant_(branch[-1].bias, 0.0)
    for branch in head.cv2:
        torch.nn.init.normal_(branch[-1].weight, std=0.1)
        branch[-1].bias.data = (-0.5 * torch.arange(float(head.reg_max))).repeat(4)
    low, high = -30.0, 30.0  # the class bias, bisected: more boxes the higher it is
    for _ in range(14):
        bias = (low + high) / 2
        for branch in head.cv3:
            torch.nn.init.constant_(branch[-1].bias, bias)
        model.predictor = None  # a predictor works on its own copy of the network
        found = len(model.predict(calibration_frame, imgsz=imgsz, conf=conf, verbose=False)[0].boxes)
        low, high = (low, bias) if found > boxes else (bias, high)
    for branch in head.cv3:
        torch.nn.init.constant_(branch[-1].bias, low)
    model.save(path)
    return path


def first_frame(video: Path):
    import cv2

    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"cannot read {video}")
    return frame


def environment(work: Path) -> dict[str, str]:
    """One environment for every command measured: offline ultralytics with its settings in the work
    folder, balldet's folders there too; threads as the caller's environment says."""
    env = dict(os.environ)
    env.update(
        YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", YOLO_CONFIG_DIR=str(work / "ultralytics-config"),
        BALLDET_CACHE_DIR=str(work / "cache"), BALLDET_OUTPUT_DIR=str(work / "outputs"),
        BALLDET_CATALOG_DIR=str(work / "catalog"),
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH", "")]))
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return elapsed


def alternate(commands: dict[str, tuple[list[str], Path]], env: dict[str, str], repeat: int) -> dict[str, list[float]]:
    """Each command once untimed (imports into the page cache, ultralytics' settings file), then
    ``repeat`` rounds with the order flipped every round; the output folder emptied before each run."""
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat + 1):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            command, out = commands[name]
            shutil.rmtree(out, ignore_errors=True)
            elapsed = timed(command, env)
            if round_:
                times[name].append(elapsed)
            print(f"  {'warm-up' if not round_ else f'round {round_}'}: {name} {elapsed:.2f} s", flush=True)
    return times


# --------------------------------------------------------------------------- part: predict


def add_predict_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("predict")
    group.add_argument("--frames", type=int, default=250, help="frames in the generated video (default 250)")
    group.add_argument("--size", default="1920x1080", help="frame size WxH of the video (default 1920x1080)")
    group.add_argument("--imgsz", type=int, default=640, help="image size both predict at (default 640)")
    group.add_argument("--conf", type=float, default=0.25, help="score threshold of both (default 0.25, yolo's)")
    group.add_argument("--batch", type=int, default=16, help="balldet's --batch (default 16, its default)")
    group.add_argument("--yolo-batch", type=int, default=1, help="ultralytics' batch (default 1, yolo predict's)")
    group.add_argument("--device", default="cpu", help="cpu, 0, cuda:0 ... for both (default cpu)")
    group.add_argument("--weights", type=Path, default=None, help="a yolov8 .pt (default: made here, untrained)")
    group.add_argument("--max-ratio", type=float, default=1.1, help="fail above this median ratio (default 1.1)")


def bench_predict(args: argparse.Namespace, work: Path) -> dict:
    width, height = (int(v) for v in args.size.lower().split("x"))
    work.mkdir(parents=True, exist_ok=True)
    video = make_video(work / "20250301-league-home-vs-guest-01.mp4", frames=args.frames, width=width,
                       height=height)
    env = environment(work)
    os.environ.update({k: env[k] for k in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR")})
    weights = args.weights or make_weights(work / "yolov8n-calibrated.pt", first_frame(video), imgsz=args.imgsz,
                                           conf=args.conf)
    ours, theirs = work / "balldet", work / "ultralytics"
    commands = {
        "balldet": ([sys.executable, "-m", "balldet", "predict", "--weights", str(weights), "--source", str(video),
                     "--out", str(ours), "--imgsz", str(args.imgsz), "--conf", str(args.conf), "--batch",
                     str(args.batch), "--device", args.device], ours),
        # ultralytics' own command line (`yolo predict ...`) in this interpreter; save=False: the
        # labels only, as balldet writes them (the CLI otherwise also encodes an annotated video)
        "ultralytics": ([sys.executable, "-c", "from ultralytics.cfg import entrypoint; entrypoint()", "predict",
                         f"model={weights}", f"source={video}", "save_txt=True", "save_conf=True", "save=False",
                         f"imgsz={args.imgsz}", f"conf={args.conf}", f"batch={args.yolo_batch}",
                         f"device={args.device}", f"project={theirs}", "name=run", "exist_ok=True"], theirs),
    }
    print(f"predict: {video.name} ({width}x{height}, {args.frames} frames), imgsz {args.imgsz}, conf {args.conf}, "
          f"device {args.device}, balldet --batch {args.batch}, yolo batch={args.yolo_batch}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    times = alternate(commands, env, args.repeat)
    ratios = [a / b for a, b in zip(times["balldet"], times["ultralytics"])]
    agreement = compare_outputs(ours, theirs / "run" / "labels", video.stem, args.frames, args.conf)
    return {
        "video": {"frames": args.frames, "width": width, "height": height},
        "imgsz": args.imgsz, "conf": args.conf, "device": args.device, "batch": args.batch,
        "yolo_batch": args.yolo_batch, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "seconds": times, "ratios": ratios, "median_ratio": statistics.median(ratios),
        "frames_per_s": {name: args.frames / statistics.median(t) for name, t in times.items()},
        "agreement": agreement, "max_ratio": args.max_ratio,
        "strict": args.batch == args.yolo_batch,  # the same batches, the same arithmetic: equal files
    }


def compare_outputs(ours: Path, theirs: Path, recording: str, frames: int, conf: float) -> dict:
    """balldet's files against ultralytics' (its ``<stem>_<k>`` is frame k - 1; no file: no boxes).
    A box matches when the other side has one of its class within a tolerance in every value
    (normalised coordinates, score); a frame agrees when all its boxes match within AGREE_ATOL,
    boxes scoring within AGREE_ATOL of ``conf`` excepted (they may fall on either side)."""
    import numpy as np

    def rows(path: Path) -> np.ndarray:
        text = path.read_text().split() if path.is_file() else []
        return np.array(text, dtype=float).reshape(-1, 6)

    names = sorted(p.name for p in ours.glob("*.txt"))
    differing: list[int] = []
    boxes, matched, largest = [0, 0], {tol: 0 for tol in LOOSE_ATOLS}, 0.0
    for k in range(frames):
        a, b = rows(ours / f"{recording}_{k:06d}.txt"), rows(theirs / f"{recording}_{k + 1}.txt")
        boxes[0] += len(a)
        boxes[1] += len(b)
        agrees = True
        for one, other in ((a, b), (b, a)):
            for row in one:
                same_class = other[other[:, 0] == row[0]]
                gap = np.abs(same_class[:, 1:] - row[1:]).max(axis=1).min() if len(same_class) else np.inf
                if one is a:
                    for tol in LOOSE_ATOLS:
                        matched[tol] += bool(gap <= tol)
                if gap <= AGREE_ATOL:
                    largest = max(largest, float(gap))
                elif abs(row[5] - conf) > AGREE_ATOL:
                    agrees = False
        if not agrees:
            differing.append(k)
    return {"files": len(names), "names_ok": names == [f"{recording}_{k:06d}.txt" for k in range(frames)],
            "boxes_balldet": boxes[0], "boxes_ultralytics": boxes[1], "frames_differing": differing,
            "largest_difference": largest,
            "matched": {str(tol): matched[tol] / max(boxes[0], 1) for tol in LOOSE_ATOLS}}


def report_predict(result: dict) -> list[str]:
    seconds = result["seconds"]
    lines = [
        f"{'command':<12} {'median s':>9} {'best s':>8} {'frames/s':>9}",
        *(f"{name:<12} {statistics.median(t):9.2f} {min(t):8.2f} {result['frames_per_s'][name]:9.2f}"
          for name, t in seconds.items()),
        f"ratio balldet/ultralytics per round: {', '.join(f'{r:.3f}' for r in result['ratios'])}",
        f"median ratio: {result['median_ratio']:.3f} (goal <= {result['max_ratio']})",
    ]
    agreement = result["agreement"]
    matched = ", ".join(f"{share:.1%} within {tol}" for tol, share in agreement["matched"].items())
    lines += [
        f"outputs: {agreement['files']} files named <recording>_<frame:06d>.txt, frames 0-"
        f"{result['video']['frames'] - 1}: {'yes' if agreement['names_ok'] else 'NO'}; boxes balldet {agreement['boxes_balldet']}, ultralytics "
        f"{agreement['boxes_ultralytics']}",
        f"frames whose boxes differ beyond {AGREE_ATOL:g}: {len(agreement['frames_differing'])} of "
        f"{result['video']['frames']}" + ("" if result["strict"] else
                                          f" (batch {result['batch']} against {result['yolo_batch']}: other "
                                          f"arithmetic, not checked; balldet's boxes matched {matched})"),
    ]
    return lines


def predict_failures(result: dict) -> list[str]:
    failures = []
    if result["median_ratio"] > result["max_ratio"]:
        failures.append(f"balldet predict takes {result['median_ratio']:.3f}x ultralytics' time on the video "
                        f"(goal <= {result['max_ratio']})")
    agreement = result["agreement"]
    if not agreement["names_ok"]:
        failures.append("balldet's files are not one <recording>_<frame:06d>.txt per frame of the video")
    if result["strict"] and agreement["frames_differing"]:
        failures.append(f"balldet's and ultralytics' predictions differ on frames {agreement['frames_differing'][:10]}"
                        f" (of {len(agreement['frames_differing'])})")
    return failures


# --------------------------------------------------------------------------- part: track


def add_track_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("track")
    group.add_argument("--track-frames", type=int, default=100_000, help="frames of the predictions folder "
                       "(default 100000)")
    group.add_argument("--candidates", type=int, default=5, help="candidates a frame (default 5)")
    group.add_argument("--min-fps", type=float, default=20_000, help="fail below this many frames/s of balldet "
                       "track (default 20000)")


def write_track_predictions(folder: Path, frames: int, candidates: int, seed: int = 0) -> "tuple":
    """A recording's prediction files: a ball moving in straight runs with turns, missed in 10% of
    frames, a static spot scoring above it, and random clutter; the ball's truth beside them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width, height = 1920, 1080
    folder.mkdir(parents=True, exist_ok=True)
    turns = np.cumsum(rng.integers(30, 120, size=frames // 30 + 2))
    velocity = rng.uniform(-12, 12, size=(len(turns) + 1, 2))
    step = velocity[np.searchsorted(turns, np.arange(frames))]
    ball = np.empty((frames, 2))
    position = np.array([960.0, 540.0])
    for k in range(frames):
        position = position + step[k]
        for axis, limit in ((0, width), (1, height)):  # bounce off the frame's edges
            if not 0 < position[axis] < limit:
                step[k:, axis] *= -1
                position[axis] = min(max(position[axis], 1), limit - 1)
        ball[k] = position
    seen = rng.random(frames) >= 0.1
    clutter = rng.uniform(0, 1, size=(frames, max(candidates - 2, 0), 3))
    recording = "20250301-league-home-vs-guest-01"
    for k in range(frames):
        rows = [(1200 / width, 800 / height, 0.9)]  # the penalty spot
        if seen[k]:
            rows.append((ball[k, 0] / width, ball[k, 1] / height, 0.3 + 0.4 * rng.random()))
        rows += [(x, y, 0.02 + 0.3 * s) for x, y, s in clutter[k]]
        with open(folder / f"{recording}_{k:06d}.txt", "w") as handle:
            handle.write("".join(f"0 {x:.6f} {y:.6f} 0.005208 0.009259 {s:.5f}\n" for x, y, s in rows))
    return ball, (width, height)


def bench_track(args: argparse.Namespace, work: Path) -> dict:
    import numpy as np

    predictions = work / "predictions"
    shutil.rmtree(predictions, ignore_errors=True)
    print(f"track: writing {args.track_frames} prediction files, {args.candidates} candidates each ...", flush=True)
    ball, (width, height) = write_track_predictions(predictions, args.track_frames, args.candidates)
    env = environment(work)
    out = work / "track.csv"
    commands = {
        "balldet track": ([sys.executable, "-m", "balldet", "track", "--predictions", str(predictions), "--size",
                           f"{width}x{height}", "--out", str(out)], work / "unused-track"),
        # the floor: a process that only lists and reads every file (what any reader of the folder pays)
        "read the files": ([sys.executable, "-c", "import os, sys\nd = sys.argv[1]\nfor n in sorted(os.listdir(d)):"
                            "\n    open(os.path.join(d, n), 'rb').read()", str(predictions)], work / "unused-read"),
    }
    times = alternate(commands, env, args.repeat)
    rows = (out.read_text().splitlines()[1:])
    xy = np.array([[float(v) if v else np.nan for v in line.split(",")[2:4]] for line in rows])
    error = np.hypot(xy[:, 0] - ball[:, 0], xy[:, 1] - ball[:, 1])
    track_s = statistics.median(times["balldet track"])
    return {
        "frames": args.track_frames, "candidates": args.candidates, "seconds": times,
        "frames_per_s": args.track_frames / track_s,
        "ratio_to_reading": track_s / statistics.median(times["read the files"]),
        "within_2px": float(np.mean(error <= 2)), "min_fps": args.min_fps,
    }


def report_track(result: dict) -> list[str]:
    seconds = result["seconds"]
    return [
        f"{'command':<16} {'median s':>9} {'best s':>8} {'frames/s':>9}",
        *(f"{name:<16} {statistics.median(t):9.2f} {min(t):8.2f} {result['frames'] / statistics.median(t):9.0f}"
          for name, t in seconds.items()),
        f"balldet track: {result['frames_per_s']:,.0f} frames/s (goal >= {result['min_fps']:,.0f}); "
        f"{result['ratio_to_reading']:.2f}x the time of only reading the files",
        f"track within 2 px of the ball: {result['within_2px']:.1%} of frames (the ball is missed in 10%, a static "
        "spot scores above it in every frame)",
    ]


def track_failures(result: dict) -> list[str]:
    failures = []
    if result["frames_per_s"] < result["min_fps"]:
        failures.append(f"balldet track ran at {result['frames_per_s']:,.0f} frames/s (goal >= {result['min_fps']:,.0f})")
    if result["within_2px"] < 0.95:
        failures.append(f"the track is within 2 px of the ball in only {result['within_2px']:.1%} of frames")
    return failures


# --------------------------------------------------------------------------- the parts and main

# part name -> (options, run, report lines, failures)
PARTS = {
    "predict": (add_predict_options, bench_predict, report_predict, predict_failures),
    "track": (add_track_options, bench_track, report_track, track_failures),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all", help="which part to run (default all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per command (default 5)")
    parser.add_argument("--work", type=Path, default=None, help="where the video, weights and outputs go "
                        "(kept when given; default a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number")
    for add_options, *_ in PARTS.values():
        add_options(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parts = list(PARTS) if args.part == "all" else [args.part]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_track."))
    work.mkdir(parents=True, exist_ok=True)
    results, failures = {}, []
    try:
        for part in parts:
            _, run, report, failed = PARTS[part]
            results[part] = run(args, work / part)
            print("\n".join(report(results[part])))
            failures += failed(results[part])
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"parts": results, "failures": failures}, indent=2) + "\n")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
