"""Evidence: small JPEG, the item sharp, everything else (and skin) unrecognisable."""
import cv2
import numpy as np

from edge.privacy.evidence import MAX_BYTES, make_evidence


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def detail(img):
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_outside_the_item_is_pixelated_and_the_item_kept():
    context = textured(400, 600)
    item_box = (200, 100, 200, 200)
    data = make_evidence(context, item_box, max_px=600, quality=90)
    assert data[:2] == b"\xff\xd8" and len(data) <= MAX_BYTES
    img = decode(data)
    assert img.shape[:2] == (400, 600)
    inside = img[110:290, 210:390]
    outside = img[0:90, 0:190]
    assert detail(inside) > 20 * detail(outside)


def test_a_face_beside_the_item_is_unrecognisable():
    context = textured(300, 300, seed=1)
    face = np.array([[[120, 150, 200]]], np.uint8) + np.random.default_rng(2).integers(0, 60, (80, 80, 1),
                                                                                      dtype=np.uint8)
    context[10:90, 10:90] = face  # a textured, skin-coloured patch above and left of the item
    img = decode(make_evidence(context, (120, 150, 150, 140), max_px=300, quality=90))
    assert detail(img[15:85, 15:85]) < detail(context[15:85, 15:85]) / 20


def test_evidence_is_small():
    data = make_evidence(textured(720, 1280), (500, 300, 200, 200), max_px=320, quality=70)
    img = decode(data)
    assert max(img.shape[:2]) == 320 and len(data) < 64 * 1024
