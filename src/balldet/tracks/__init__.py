"""Ball tracks: per-frame detector candidates of a recording in, one ball position per frame out.

* :mod:`~balldet.tracks.candidates` reads a folder of per-frame prediction files into recordings;
* :mod:`~balldet.tracks.filter` chooses, frame by frame, the candidate that fits the ball's motion;
* :mod:`~balldet.tracks.measures` scores a track (and the raw top-1 detection) against the truth;
* :mod:`~balldet.tracks.output` writes ``track.csv``; :mod:`~balldet.tracks.drawing` draws a track on
  the recording.

(:mod:`balldet.tracking` is something else: the ClearML records of runs.)
"""
