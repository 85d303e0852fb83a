"""Which synthetic datasets exist: their recordings, names, versions, kinds, tags and fixed ids.

The table alone, so that configs, tests and benchmarks can name a synthetic dataset (its id is
fixed by name and version) without the renderers; :mod:`balldet.synth.catalog` makes the frames.
The sets mirror the team's real ones (see that module's doc): plain ball and player sets, the wide
technical-camera sets and the fixed-camera clip sets, each on recordings of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SynthRecording:
    id: str
    style: str = "broadcast"  # "broadcast" (technical camera) or "public" (TV broadcast look)


@dataclass(frozen=True)
class SynthDataset:
    name: str
    version: str
    kind: str  # "ball" or "player"
    recordings: tuple[str, ...]
    tags: tuple[str, ...]
    # Frames are drawn round by round, a later round from what earlier ones left: a dataset added in
    # a new round leaves the frames (and so the content) of the existing ones as they were.
    draw_round: int = 0

    @property
    def names(self) -> list[str]:
        return [self.kind]

    @property
    def id(self) -> str:
        return synth_dataset_id(self.name, self.version)


def synth_dataset_id(name: str, version: str) -> str:
    """The fixed 32-hex id of a synthetic dataset, so example configs can refer to it."""
    return hashlib.md5(f"balldet-synth:{name}:{version}".encode()).hexdigest()


R_CSKA_BALTIKA = "20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01"
R_CSKA_SPARTAK = "20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01"
R_ZENIT_CSKA = "20240427-Premier_League-Zenit_Saint_Petersburg-vs-CSKA_Moscow-01"
R_LOKO_DYNAMO = "20240505-Premier_League-Lokomotiv_Moscow-vs-Dynamo_Moscow-01"
R_KRASNODAR_ROSTOV = "20240512-Russian_Cup-Krasnodar-vs-Rostov-02"
R_RUBIN_AKHMAT = "20240519-Premier_League-Rubin_Kazan-vs-Akhmat_Grozny-01"
R_PUBLIC_1 = "20161023-Premier_League-Chelsea-vs-Manchester_United-01"
R_PUBLIC_2 = "20170401-LaLiga-Barcelona-vs-Granada-01"

SYNTH_RECORDINGS: dict[str, SynthRecording] = {
    r.id: r
    for r in (
        SynthRecording(R_CSKA_BALTIKA), SynthRecording(R_CSKA_SPARTAK), SynthRecording(R_ZENIT_CSKA),
        SynthRecording(R_LOKO_DYNAMO), SynthRecording(R_KRASNODAR_ROSTOV), SynthRecording(R_RUBIN_AKHMAT),
        SynthRecording(R_PUBLIC_1, "public"), SynthRecording(R_PUBLIC_2, "public"),
    )
}

_BALL_RECORDING = ("class:ball", "source:recording")
_BALL_MARKUP = ("class:ball", "source:markup")
_PLAYER_MARKUP = ("class:player", "source:markup")
SYNTH_DATASETS: tuple[SynthDataset, ...] = (
    SynthDataset(f"{R_CSKA_BALTIKA}-001", "1.0.0", "ball", (R_CSKA_BALTIKA,), _BALL_RECORDING),
    SynthDataset(f"{R_CSKA_SPARTAK}-001", "1.0.0", "ball", (R_CSKA_SPARTAK,), _BALL_RECORDING),
    SynthDataset("class:ball-markup:our-001", "1.0.0", "ball", (R_ZENIT_CSKA, R_LOKO_DYNAMO), _BALL_MARKUP),
    SynthDataset("class:ball-markup:tagme-001-02", "1.0.2", "ball",
                 (R_LOKO_DYNAMO, R_KRASNODAR_ROSTOV, R_RUBIN_AKHMAT), _BALL_MARKUP),
    SynthDataset("soccernet_ball_001", "1.0.2", "ball", (R_PUBLIC_1, R_PUBLIC_2), ("class:ball", "source:public")),
    SynthDataset("class:player-markup:our-001", "1.0.0", "player", (R_ZENIT_CSKA, R_RUBIN_AKHMAT), _PLAYER_MARKUP),
    SynthDataset("class:player-markup:tagme-001-01", "1.0.0", "player", (R_LOKO_DYNAMO, R_KRASNODAR_ROSTOV),
                 _PLAYER_MARKUP, draw_round=1),
)
SYNTH_DATASET_IDS: dict[str, str] = {d.name: d.id for d in SYNTH_DATASETS}

# Technical-camera recordings of other matches: two to train on, one to validate on, two held out
# for the markup set that is tested on.
R_WIDE_CSKA_KRASNODAR = "20240526-Premier_League-CSKA_Moscow-vs-Krasnodar-01"
R_WIDE_SPARTAK_ZENIT = "20240602-Premier_League-Spartak_Moscow-vs-Zenit_Saint_Petersburg-01"
R_WIDE_ROSTOV_CSKA = "20240609-Russian_Cup-Rostov-vs-CSKA_Moscow-01"
R_WIDE_DYNAMO_LOKO = "20240616-Premier_League-Dynamo_Moscow-vs-Lokomotiv_Moscow-01"
R_WIDE_ZENIT_RUBIN = "20240623-Premier_League-Zenit_Saint_Petersburg-vs-Rubin_Kazan-01"
_WIDE_RECORDING = ("class:ball", "source:recording", "camera:wide")
WIDE_DATASETS: tuple[SynthDataset, ...] = (
    SynthDataset(f"{R_WIDE_CSKA_KRASNODAR}-001", "1.0.0", "ball", (R_WIDE_CSKA_KRASNODAR,), _WIDE_RECORDING),
    SynthDataset(f"{R_WIDE_SPARTAK_ZENIT}-001", "1.0.0", "ball", (R_WIDE_SPARTAK_ZENIT,), _WIDE_RECORDING),
    SynthDataset("class:ball-markup:wide-001", "1.0.0", "ball", (R_WIDE_ROSTOV_CSKA, R_WIDE_DYNAMO_LOKO),
                 ("class:ball", "source:markup", "camera:wide")),
    SynthDataset("class:ball-markup:wide-tagme-001", "1.0.0", "ball", (R_WIDE_ZENIT_RUBIN,),
                 ("class:ball", "source:markup", "camera:wide")),
)
WIDE_DATASET_IDS: dict[str, str] = {d.name: d.id for d in WIDE_DATASETS}
WIDE_TRAIN_IDS: tuple[str, ...] = tuple(d.id for d in WIDE_DATASETS[:2])  # one recording each
WIDE_TEST_IDS: tuple[str, ...] = (WIDE_DATASETS[2].id,)  # recordings no training set has
WIDE_VAL_IDS: tuple[str, ...] = (WIDE_DATASETS[3].id,)  # a recording of its own, for validation

# Fixed-camera clips of still other matches: three to train on, one to validate on, two to test on
# (one dataset). Each clip starts at a frame number of its own.
R_CLIP_CSKA_AKHMAT = "20240630-Premier_League-CSKA_Moscow-vs-Akhmat_Grozny-01"
R_CLIP_SPARTAK_ROSTOV = "20240707-Premier_League-Spartak_Moscow-vs-Rostov-01"
R_CLIP_KRASNODAR_DYNAMO = "20240714-Premier_League-Krasnodar-vs-Dynamo_Moscow-01"
R_CLIP_ZENIT_LOKO = "20240721-Russian_Cup-Zenit_Saint_Petersburg-vs-Lokomotiv_Moscow-01"
R_CLIP_RUBIN_CSKA = "20240728-Premier_League-Rubin_Kazan-vs-CSKA_Moscow-01"
R_CLIP_AKHMAT_SPARTAK = "20240804-Premier_League-Akhmat_Grozny-vs-Spartak_Moscow-02"
CLIP_FIRST_FRAMES: dict[str, int] = {
    R_CLIP_CSKA_AKHMAT: 1000, R_CLIP_SPARTAK_ROSTOV: 3250, R_CLIP_KRASNODAR_DYNAMO: 12000,
    R_CLIP_ZENIT_LOKO: 1000, R_CLIP_RUBIN_CSKA: 5500, R_CLIP_AKHMAT_SPARTAK: 20750,
}
CLIP_RECORDINGS: tuple[str, ...] = tuple(CLIP_FIRST_FRAMES)
_CLIP_RECORDING = ("class:ball", "source:recording", "camera:fixed")
CLIP_DATASETS: tuple[SynthDataset, ...] = (
    SynthDataset(f"{R_CLIP_CSKA_AKHMAT}-001", "1.0.0", "ball", (R_CLIP_CSKA_AKHMAT,), _CLIP_RECORDING),
    SynthDataset(f"{R_CLIP_SPARTAK_ROSTOV}-001", "1.0.0", "ball", (R_CLIP_SPARTAK_ROSTOV,), _CLIP_RECORDING),
    SynthDataset(f"{R_CLIP_KRASNODAR_DYNAMO}-001", "1.0.0", "ball", (R_CLIP_KRASNODAR_DYNAMO,), _CLIP_RECORDING),
    SynthDataset(f"{R_CLIP_ZENIT_LOKO}-001", "1.0.0", "ball", (R_CLIP_ZENIT_LOKO,), _CLIP_RECORDING),
    SynthDataset("class:ball-markup:clips-001", "1.0.0", "ball", (R_CLIP_RUBIN_CSKA, R_CLIP_AKHMAT_SPARTAK),
                 ("class:ball", "source:markup", "camera:fixed")),
)
CLIP_DATASET_IDS: dict[str, str] = {d.name: d.id for d in CLIP_DATASETS}
CLIP_TRAIN_IDS: tuple[str, ...] = tuple(d.id for d in CLIP_DATASETS[:3])  # one clip each
CLIP_VAL_IDS: tuple[str, ...] = (CLIP_DATASETS[3].id,)  # a clip of its own
CLIP_TEST_IDS: tuple[str, ...] = (CLIP_DATASETS[4].id,)  # two clips no other dataset has
