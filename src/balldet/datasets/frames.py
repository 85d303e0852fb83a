"""Frame identity: the recording a frame comes from and its frame number, read from the dataset's
name and the image file's stem.

The team samples frames so that a frame of a recording is in at most one dataset; the leakage check
holds datasets to that, and validation splits keep the frames of one recording together. Both need
to know which recording and frame an image is, and that lives in names:

* per-video datasets are named ``YYYYMMDD-<League>-<Home>-vs-<Guest>-<NN>-<NNN>`` (the recording,
  then a sequence number) and may name their files by frame number alone (``000123.jpg``,
  ``frame_000123.jpg``);
* every other dataset (labelling iterations, public sets) names its files
  ``<recording id>_<frame number>``, the recording id spelled as in the per-video names.

Patterns are regular expressions matched, in order, against ``<dataset name>/<file stem>``; the
first that matches gives the frame number (group ``frame``) and the recording (group
``recording``, or the dataset name when the pattern has none). A frame that no pattern matches has
no number: it is compared by bytes and pictures only, and split with the other unmatched frames of
its dataset. The patterns come from the ``frame_patterns`` setting, and a config can set its own
(``data_checks.frame_patterns``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from balldet.datasets.dataset import DatasetRef
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS, compile_frame_patterns

Identity = tuple[str, int | None]  # (recording, frame number or None)


class FrameIdentity:
    """Reads (recording, frame number) from a dataset's name and a file stem with ``patterns``."""

    def __init__(self, patterns: Sequence[str] = DEFAULT_FRAME_PATTERNS) -> None:
        self.patterns = tuple(patterns)
        self._compiled = compile_frame_patterns(self.patterns)

    def for_dataset(self, dataset: DatasetRef) -> Callable[[str], Identity]:
        """A function of a file stem, for many stems of one dataset."""
        prefix = f"{dataset.name}/"
        name = dataset.name
        fallback: Identity = (f"dataset:{dataset.id}", None)
        compiled = [(regex, "recording" in regex.groupindex) for regex in self._compiled]

        def identify(stem: str) -> Identity:
            text = prefix + stem
            for regex, has_recording in compiled:
                match = regex.match(text)
                if match is None:
                    continue
                number = match["frame"]
                if number is None or not number.isdecimal():
                    continue  # the group matched nothing, or no number
                return (match["recording"] or name) if has_recording else name, int(number)
            return fallback

        return identify

    def __call__(self, dataset: DatasetRef, stem: str) -> Identity:
        return self.for_dataset(dataset)(stem)


DEFAULT_FRAME_IDENTITY = FrameIdentity()
