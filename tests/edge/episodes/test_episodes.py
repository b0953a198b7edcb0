"""One item is one episode: start, update (best crop), end."""
import numpy as np

from edge.capture import Frame
from edge.episodes import ZoneTracker
from edge.motion import ZoneMotion

QUIET = ZoneMotion(0.0, None, 0.0)


def moving(area):
    side = int(area ** 0.5)
    return ZoneMotion(0.2, (10, 10, side, side), float(area))


def feed(tracker, motions, fps=10):
    episodes = []
    for i, m in enumerate(motions):
        image = np.full((100, 100, 3), i % 256, np.uint8)
        ep = tracker.update(Frame(i, i / fps, 1000 + i / fps, image), m)
        if ep:
            episodes.append(ep)
    return episodes


def tracker(**kw):
    kw.setdefault("start_frames", 2)
    kw.setdefault("end_quiet", 0.3)
    kw.setdefault("min_area", 100)
    return ZoneTracker("other", "other", **kw)


def test_one_item_one_episode_with_best_crop():
    motions = [QUIET] * 3 + [moving(400), moving(900), moving(2500), moving(1600)] + [QUIET] * 5
    [ep] = feed(tracker(), motions)
    assert ep.start_index == 3 and ep.start_t == 0.3
    assert ep.best_area == 2500 and ep.best_t == 0.5
    assert ep.crop.shape[0] >= 50 and int(ep.crop[0, 0, 0]) == 5  # taken from frame 5
    assert ep.end_t == 0.6 and ep.bin == "other" and ep.frames == 4


def test_flicker_and_small_blobs_make_no_episode():
    motions = [moving(900), QUIET, QUIET, moving(900), QUIET, moving(50), moving(50), moving(50)] + [QUIET] * 5
    assert feed(tracker(), motions) == []


def test_short_gap_keeps_one_episode_and_long_gap_splits():
    same = [moving(900)] * 3 + [QUIET] * 2 + [moving(900)] * 3 + [QUIET] * 5
    assert len(feed(tracker(), same)) == 1
    two = [moving(900)] * 3 + [QUIET] * 4 + [moving(900)] * 3 + [QUIET] * 5
    assert len(feed(tracker(), two)) == 2


def test_endless_motion_is_one_episode_then_waits_for_stillness():
    motions = [moving(900)] * 100 + [QUIET] * 5 + [moving(900)] * 3 + [QUIET] * 5
    eps = feed(tracker(max_duration=2.0), motions)
    assert len(eps) == 2 and eps[0].truncated and not eps[1].truncated


def test_flush_ends_an_open_episode():
    t = tracker()
    assert feed(t, [moving(900)] * 4) == []
    ep = t.flush()
    assert ep is not None and ep.frames == 4
    assert t.flush() is None
