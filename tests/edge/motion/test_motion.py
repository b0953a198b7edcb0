"""Motion gating per drop zone, robust to global light changes."""
import numpy as np

from edge.motion import MotionGate

W, H = 640, 360
ZONES = [[(0, 100), (300, 100), (300, 300), (0, 300)], [(340, 100), (640, 100), (640, 300), (340, 300)]]


def scene(seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 110, np.uint8)
    img += rng.integers(0, 20, (H, W, 1), dtype=np.uint8)
    return img


def test_item_in_one_zone_moves_only_that_zone():
    gate = MotionGate((W, H), ZONES, width=320)
    base = scene()
    assert all(m.fraction == 0 for m in gate.process(base))
    assert not any(m.active(0.01, 100) for m in gate.process(base))
    frame = base.copy()
    frame[150:230, 400:480] = (30, 30, 220)
    left, right = gate.process(frame)
    assert right.active(0.01, 100) and not left.active(0.01, 100)
    x, y, w, h = right.bbox
    assert abs(x - 400) <= 6 and abs(y - 150) <= 6 and abs(w - 80) <= 10 and abs(h - 80) <= 10
    assert 0.7 * 80 * 80 <= right.area <= 1.3 * 80 * 80


def test_light_change_is_not_motion():
    gate = MotionGate((W, H), ZONES, width=320)
    base = scene()
    gate.process(base)
    for gain in (1.2, 1.25, 0.8, 0.75):
        brighter = np.clip(base.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        assert not any(m.active(0.01, 100) for m in gate.process(brighter)), gain


def test_item_that_stays_is_absorbed_in_the_end():
    gate = MotionGate((W, H), ZONES, width=320, background_alpha=0.2)
    base = scene()
    gate.process(base)
    frame = base.copy()
    frame[150:230, 50:130] = (20, 40, 20)
    actives = [gate.process(frame)[0].active(0.01, 100) for _ in range(300)]
    assert actives[0] and not actives[-1]


def test_wrong_frame_size_is_refused():
    gate = MotionGate((W, H), ZONES)
    try:
        gate.process(np.zeros((H // 2, W // 2, 3), np.uint8))
    except ValueError as e:
        assert "zones are for" in str(e)
    else:
        raise AssertionError("a frame of another size must be refused")


def test_an_arm_reaching_in_from_above_is_cut_from_the_crop():
    gate = MotionGate((W, H), ZONES, width=320)
    base = scene()
    gate.process(base)
    frame = base.copy()
    frame[200:280, 400:480] = (30, 30, 220)   # the item, inside the right zone (y 100..300)
    frame[0:205, 430:450] = (120, 150, 200)   # an arm from the top edge down to it
    _, right = gate.process(frame)
    x, y, w, h = right.bbox
    assert 75 <= y <= 85, "the crop starts a tenth of the zone's height above it, not at the top edge"
    assert abs(x - 400) <= 6 and abs(y + h - 280) <= 6
    assert right.area <= 1.2 * (80 * 80 + 20 * 105), "only the change inside the zone counts"
    assert right.reaching
    frame[0:205, 430:450] = base[0:205, 430:450]  # let go: the item alone
    assert not gate.process(frame)[1].reaching
