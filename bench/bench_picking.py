"""Benchmark: does ``balldet label pick`` beat chance? One run, picked and random side by side.

On the synthetic clips (``balldet datasets synth --clips``: 640x384 frames of a fixed camera, 25 fps):

* a small labelled start set: ``--start`` frames spread evenly over the first training clip
  (registered with ``balldet.registration.add_dataset``, as ``balldet datasets add`` does);
* a pool of unlabelled frames: every frame of the other two training clips, as folders of images
  without labels (the frames a team would have exported from new recordings);
* a yolov8n trained on the start set alone (seeded, from scratch, CPU, ``--start-epochs``, at
  ``--imgsz`` 480: at 320 the ball of these frames, 7-14 px, is often too small for the trainer's
  assigner to find an anchor inside it, and 40-100 frames then teach nothing);
* ``--count`` frames of the pool picked by ``balldet label pick`` with that model (the command
  itself, in a subprocess, every catalog dataset known), against as many drawn at random from the
  pool with the same seed;
* each set of frames, with its TRUE labels from the synthetic datasets, registered with the start
  set as one dataset; the start model trained on further on start + picked and on start + random,
  with the same seed and budget (``--epochs``; ``--from-scratch``: new models instead, trained as the
  start model was) -- the labels a labeller would return, added to what the model knew;
* all three tested on the clip test dataset (two clips no training set has; the validation clip
  gives the top-1 threshold): mAP@0.5, AP_dist@4px and the ball measures of balldet's evaluator, and
  the ball-track measures (``track/...``: within the ball's diameter, accuracy; ``track_top1/...``).

Over ``--seeds`` seeds (the seed of the training, of ``label pick``'s ties and of the random draw)
it prints every figure per seed, the means, and the ratio picked / random measured in the same run.
Nothing is asserted: the figures are the result, whichever way they come out.

Run: ``python bench/bench_picking.py [--seeds 3] [--start-epochs 60] [--epochs 20] [--start 40] [--count 40]
[--imgsz 480] [--from-scratch] [--json out.json]``; about 21 minutes a seed on two CPU cores.
``--quick`` is a smoke run (30-frame clips, 8 + 8 frames, one epoch, imgsz 320, one seed) that a test
runs. Exit status 0, 2 on
bad options.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
# At imgsz 320 (the clips example config's) the ball is 7-14 px: trained on 100 frames (40 epochs) the
# box loss fell to 0 by the third epoch and stayed there (no anchor assigned: nothing learned); at 480 it
# is 10-21 px and 40 frames reach mAP@0.5 ~0.8 in 60 epochs.
IMGSZ = 480
TRAIN = {"model": "yolov8n.yaml", "batch": 8, "nbs": 8, "optimizer": "AdamW", "lr0": 0.002,
         "warmup_epochs": 1, "mosaic": 0.0, "workers": 0, "val": False}
MEASURES = ("mAP@0.5", "AP_dist@4px", "top1@0.5/F1", "track/within_ball", "track/accuracy",
            "track_top1/accuracy")
ARMS = ("start", "random", "picked")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250, help="frames per clip (default 250: 10 s)")
    parser.add_argument("--start", type=int, default=40, help="labelled frames to start from (default 40)")
    parser.add_argument("--count", type=int, default=40, help="frames picked / drawn from the pool (default 40)")
    parser.add_argument("--start-epochs", type=int, default=60, help="epochs of the start model (default 60)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the start model's training on start + "
                        "picked and start + random (default 20)")
    parser.add_argument("--from-scratch", action="store_true", help="train new models on start + picked and start + "
                        "random, with --start-epochs, instead of training the start model on")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    parser.add_argument("--min-gap", type=int, default=None,
                        help="label pick's --min-gap (default: pool frames / (2 x count), at least 1)")
    parser.add_argument("--imgsz", type=int, default=IMGSZ, help=f"image size of training and prediction (default "
                        f"{IMGSZ})")
    parser.add_argument("--quick", action="store_true", help="smoke run: 30-frame clips, 8 + 8 frames, 1 epoch, "
                        "1 seed")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.start, args.count, args.start_epochs, args.epochs, args.seeds = 30, 8, 8, 1, 1, 1
        args.imgsz = 320
    if (args.frames < 25 or not 1 <= args.start <= args.frames or min(args.count, args.epochs, args.start_epochs,
                                                                         args.seeds) < 1):
        parser.error("--frames must be at least 25 (a track needs a second of frames), --start between 1 and "
                     "--frames, --count, --start-epochs, --epochs and --seeds at least 1")
    if args.count > 2 * args.frames:
        parser.error(f"--count {args.count} is more than the pool's {2 * args.frames} frames")

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-picking-"))
    started = time.perf_counter()
    bench = Bench(work, args)
    rows = [bench.seed_run(seed) for seed in range(args.seeds)]
    results = {"frames_per_clip": args.frames, "start": args.start, "count": args.count,
               "start_epochs": args.start_epochs, "epochs": args.epochs, "from_scratch": args.from_scratch,
               "seeds": args.seeds, "min_gap": bench.min_gap, "imgsz": args.imgsz, "runs": rows,
               "minutes": (time.perf_counter() - started) / 60}
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


class Bench:
    """The catalogs, the pool and the trainings of one run."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        from balldet.datasets.catalog import LocalCatalog
        from balldet.synth.catalog import synthesize_clips
        from balldet.synth.inventory import CLIP_TEST_IDS, CLIP_TRAIN_IDS, CLIP_VAL_IDS

        self.work, self.args = work, args
        self.env = {"BALLDET_SETTINGS_FILE": str(REPO / "settings.toml"), "BALLDET_CATALOG_DIR": str(work / "catalog"),
                    "BALLDET_CACHE_DIR": str(work / "cache"), "BALLDET_OUTPUT_DIR": str(work / "outputs"),
                    "BALLDET_DEVICE": "cpu", "ENV_FOR_DYNACONF": "local_debug"}
        os.environ.update(self.env)
        log(f"synthesising clips of {args.frames} frames ...")
        synth = LocalCatalog(work / "synth")
        synthesize_clips(synth, frames_per_clip=args.frames)
        self.known = LocalCatalog(work / "catalog")
        for dataset_id in (*CLIP_VAL_IDS, *CLIP_TEST_IDS):  # the datasets the team already has
            shutil.copytree(synth.folder(dataset_id), self.known.folder(dataset_id))
        self.val, self.test = self.known.get(CLIP_VAL_IDS[0]), self.known.get(CLIP_TEST_IDS[0])
        first = synth.get(CLIP_TRAIN_IDS[0])
        images = first.image_files()
        step = len(images) / args.start
        self.start_frames = [(image, first.label_file(image)) for image in
                             (images[int(k * step)] for k in range(args.start))]
        self.start = self.register(self.start_frames, "class:ball-markup:bench-start-001", self.known)
        # the pool: the other training clips' frames, images only, a folder per clip
        self.pool: list[Path] = []
        self.truth: dict[str, tuple[Path, Path]] = {}  # stem -> (image, its true label file)
        for dataset_id in CLIP_TRAIN_IDS[1:]:
            ref = synth.get(dataset_id)
            folder = work / "pool" / ref.name
            folder.mkdir(parents=True)
            for image in ref.image_files():
                shutil.copy(image, folder / image.name)
                self.truth[image.stem] = (image, ref.label_file(image))
            self.pool.append(folder)
        self.min_gap = args.min_gap if args.min_gap is not None else max(1, len(self.truth) // (2 * args.count))

    def register(self, frames: list[tuple[Path, Path]], name: str, catalog) -> object:
        """``(image, label file)`` pairs as one dataset of ``catalog`` (balldet's own registration: the
        checks, leakage against the catalog, a copy). One dataset, whatever the frames' origins: the
        trainer reads a layout's frames in path order, and the links' names come from dataset ids,
        which registration draws at random -- start + picked as two datasets trained in another order
        from one run to the next."""
        from balldet.registration import add_dataset
        from balldet.settings import load_settings

        source = Path(tempfile.mkdtemp(prefix="source-", dir=self.work))
        (source / "images").mkdir()
        (source / "labels").mkdir()
        for image, label in frames:
            shutil.copy(image, source / "images" / image.name)
            shutil.copy(label, source / "labels" / f"{image.stem}.txt")
        settings = load_settings().model_copy(update={"catalog_dir": catalog.root})
        added = add_dataset(source, name=name, version="1.0.0", settings=settings, names=["ball"])
        shutil.rmtree(source)
        return catalog.get(added.id)

    def seed_run(self, seed: int) -> dict:
        import numpy as np

        from balldet.datasets.catalog import LocalCatalog
        from balldet.labelling.batch import read_batch

        out = self.work / f"seed{seed}"
        log(f"seed {seed}: training on the start set ({self.args.start} frames) ...")
        start_model, scores = self.train_and_test([self.start], seed, out / "start", self.args.start_epochs)
        row = {"seed": seed, "start": scores}
        log(f"seed {seed}: label pick {self.args.count} of the pool's {len(self.truth)} frames ...")
        picked = self.pick(start_model, seed, out / "batch")
        stems = [f.stem for f in read_batch(out / "batch").frames]
        if stems != picked:
            raise RuntimeError("the batch does not hold what label pick reported")
        drawn = sorted(np.random.default_rng(seed).choice(sorted(self.truth), self.args.count, replace=False))
        row["overlap"] = len(set(stems) & set(drawn))
        for arm, chosen in (("random", drawn), ("picked", stems)):
            catalog = LocalCatalog(out / f"catalog-{arm}")  # apart from the known one: the next pick must not see it
            both = self.register(self.start_frames + [self.truth[stem] for stem in chosen],
                                 f"class:ball-markup:bench-{arm}-001", catalog)
            log(f"seed {seed}: training on start + {len(chosen)} {arm} frames ...")
            if self.args.from_scratch:
                _, row[arm] = self.train_and_test([both], seed, out / arm, self.args.start_epochs)
            else:
                _, row[arm] = self.train_and_test([both], seed, out / arm, self.args.epochs, start_model)
        row["picked_frames"] = stems
        return row

    def pick(self, weights: Path, seed: int, out: Path) -> list[str]:
        sources = [arg for folder in self.pool for arg in ("--source", str(folder))]
        command = [sys.executable, "-m", "balldet", "label", "pick", *sources, "--weights", str(weights), "--count",
                   str(self.args.count), "--out", str(out), "--seed", str(seed), "--min-gap", str(self.min_gap),
                   "--imgsz", str(self.args.imgsz), "--device", "cpu"]
        done = subprocess.run(command, cwd=REPO, env={**os.environ, **self.env}, capture_output=True, text=True)
        sys.stderr.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"label pick failed (exit {done.returncode})")
        with open(out / "report.csv") as handle:
            return [line.split(",")[1] for line in handle.read().splitlines()[1:]]

    def train_and_test(self, train: list, seed: int, out: Path, epochs: int, model: Path | None = None,
                       ) -> tuple[Path, dict]:
        """Train (from scratch, or on from ``model``'s weights) and test; (the weights, the figures)."""
        from balldet.config import PipelineConfig
        from balldet.datasets.prepared import PreparedData
        from balldet.stages.convert_data import convert_data
        from balldet.stages.test_model import test_model
        from balldet.stages.train_model import train_model
        from balldet.tracking.reporter import Reporter

        config = PipelineConfig(
            tags=["bench"], model_type="ultralytics", train_data={"datasets": [r.id for r in train]},
            val_data={"datasets": [self.val.id]}, test_data={"datasets": [self.test.id]},
            train_config={**TRAIN, "imgsz": self.args.imgsz, "epochs": epochs,
                          **({"model": str(model)} if model else {})}, seed=seed,
            tracking={"max_speed": 20},
        )
        data = PreparedData(train=train, val=[self.val], test=[self.test], class_names=["ball"])
        backend = dict(cache_dir=self.work / "cache", device="cpu", allow_downloads=False)
        converted = convert_data(config, data, out / "layouts")
        started = time.perf_counter()
        trained = train_model(config, converted, out / "train", report=Reporter(), **backend)
        train_s = time.perf_counter() - started
        report = test_model(config, data, trained, out / "predictions", report=Reporter(), **backend)
        (scores,) = [d for d in report.datasets if d.split == "test"]
        figures = {m: scores.metrics.get(m, float("nan")) for m in MEASURES}
        figures["train_s"] = train_s
        return Path(trained.weights), figures


def print_table(results: dict) -> None:
    import numpy as np

    runs = results["runs"]
    how = (f"new models, {results['start_epochs']} epochs" if results["from_scratch"] else
           f"the start model trained on for {results['epochs']} epochs")
    print(f"label pick against random: start {results['start']} frames (yolov8n from scratch, "
          f"{results['start_epochs']} epochs), + {results['count']} picked or random of "
          f"{2 * results['frames_per_clip']} pool frames ({how}); imgsz {results['imgsz']}, CPU, --min-gap "
          f"{results['min_gap']}, {results['seeds']} seed(s), {results['minutes']:.0f} min")
    print(f"{'measure':<22}" + "".join(f"{'seed ' + str(r['seed']):>26}" for r in runs) + f"{'mean':>26}"
          f"{'picked/random':>15}")
    print(f"{'':<22}" + f"{'start random picked':>26}" * (len(runs) + 1))
    for m in MEASURES:
        cells = "".join(f"{r['start'][m]:>8.3f}{r['random'][m]:>9.3f}{r['picked'][m]:>9.3f}" for r in runs)
        means = {arm: float(np.nanmean([r[arm][m] for r in runs])) for arm in ARMS}
        ratio = means["picked"] / means["random"] if means["random"] > 0 else float("nan")
        print(f"{m:<22}{cells}{means['start']:>8.3f}{means['random']:>9.3f}{means['picked']:>9.3f}{ratio:>15.3f}")
    print("picked frames also drawn at random: " + ", ".join(str(r["overlap"]) for r in runs))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
