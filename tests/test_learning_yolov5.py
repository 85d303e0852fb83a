"""Does yolov5 learn? The same test as tests/test_learning.py's for ultralytics, in a file of its own so
the test workers train the two backends side by side."""

from __future__ import annotations

import pytest

from test_learning import learned_map50, learning_catalog  # noqa: F401  (the fixture)


@pytest.mark.slow(minutes=2.2)
def test_yolov5_learns_to_find_the_ball(learning_catalog, tmp_path):  # noqa: F811
    assert learned_map50("yolov5", learning_catalog, tmp_path) > 0.3
