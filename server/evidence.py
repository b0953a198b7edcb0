"""Checking an evidence image before anything decodes it (docs/design.md,
"Wire contract": one small JPEG per wrong disposal).

A JPEG's header states its size, and a decoder allocates for that size before
it reads a pixel: a few hundred bytes can claim 65500 x 65500. So the marker
structure is walked first, without decoding: the frame's size must be within
the contract's limits and the file must end at its end-of-image marker. Only
then does Pillow decode it, to refuse a damaged or truncated scan."""
from __future__ import annotations

import io
import warnings

from PIL import Image

from contract.limits import MAX_EVIDENCE_PIXELS, MAX_EVIDENCE_SIDE

# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC)
# share the range but are not frames.
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM have no length


class EvidenceRefused(Exception):
    """The body is not an evidence image the server keeps; the message says why."""


def _scan_end(data: bytes, pos: int) -> int:
    """The offset of the marker that ends the entropy-coded data from `pos`."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise EvidenceRefused("the JPEG is truncated: it has no end-of-image marker")
        following = data[pos + 1]
        # 00 is a stuffed FF byte, D0-D7 restart markers, FF fill: all inside the scan.
        if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
            pos += 1
            continue
        return pos


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the frame header, after walking every marker to
    the end of the image. Raises EvidenceRefused for anything but one whole
    JPEG with nothing after it."""
    if data[:2] != b"\xff\xd8":
        raise EvidenceRefused("the body is not a JPEG (no start-of-image marker)")
    pos, size = 2, None
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise EvidenceRefused(f"the JPEG is damaged or truncated at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            if pos + 2 != len(data):
                raise EvidenceRefused(f"{len(data) - pos - 2} bytes follow the end of the JPEG")
            if size is None:
                raise EvidenceRefused("the JPEG has no frame header")
            return size
        if marker in _STANDALONE or marker == _SOI:
            raise EvidenceRefused(f"unexpected JPEG marker FF{marker:02X} at byte {pos}")
        if pos + 4 > len(data):
            raise EvidenceRefused("the JPEG is truncated inside a header")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise EvidenceRefused("the JPEG is truncated inside a header")
        if marker in _FRAMES:
            if length < 8:
                raise EvidenceRefused("the JPEG's frame header is too short")
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            size = (width, height)
            _check_size(width, height)
        pos = _scan_end(data, end) if marker == _SOS else end


def _check_size(width: int, height: int) -> None:
    if width == 0 or height == 0:
        raise EvidenceRefused("the JPEG's frame header has no width or height")
    if max(width, height) > MAX_EVIDENCE_SIDE or width * height > MAX_EVIDENCE_PIXELS:
        raise EvidenceRefused(
            f"the image is {width}x{height}; evidence is at most {MAX_EVIDENCE_SIDE} px on its "
            f"longer side and {MAX_EVIDENCE_PIXELS} pixels")


def check_evidence(data: bytes) -> tuple[int, int]:
    """(width, height) of an acceptable evidence JPEG; raises EvidenceRefused."""
    size = jpeg_size(data)
    try:
        with warnings.catch_warnings():
            # Pillow warns before it errs on huge images: both mean "no".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
                if img.size != size:
                    raise EvidenceRefused("the JPEG's frame headers disagree about its size")
                img.load()  # decode fully: a damaged scan fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EvidenceRefused("the image is too large to decode") from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise EvidenceRefused(f"the JPEG does not decode: {exc}") from None
    return size
