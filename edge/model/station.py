"""The station-condition model: a bin opening's state (ok, full, overflow) and a ground zone's
(clean, litter), from one ONNX file with its labels, thresholds and preprocessing inside.

>>> model = load_station_model()                 # models/station-state-int8.onnx, one thread
>>> model.judge([crop_bgr], "bin")               # [Judgement(state='overflow', confidence=0.97)]
>>> model.judge_regions([opening, ground], ["bin", "ground"])   # one batch, one run
>>> model.version                                # 'station-state-int8@27d60c66'

The file has one output per head (metadata `heads`: {"bin": {"output": "bin_probs", "labels":
[...], "threshold": 0.6}, ...}); a judgement under its head's threshold is `sure=False`, which
the debouncer leaves out (edge/condition).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import MODELS_DIR, ModelError, open_session
from .preprocess import DEFAULT_PREPROCESSING, preprocess_batch

DEFAULT_STATION_MODEL = MODELS_DIR / "station-state-int8.onnx"
HEADS = ("bin", "ground")


@dataclass(frozen=True)
class Judgement:
    state: str
    confidence: float
    sure: bool = True   # confidence at or over the head's threshold


class StationModel:
    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        self.session, self.sha256, self.metadata = open_session(self.path, threads)
        heads = self.metadata.get("heads")
        outputs = {o.name: o for o in self.session.get_outputs()}
        if not isinstance(heads, dict) or set(heads) != set(HEADS):
            raise ModelError(f"metadata 'heads' must describe {', '.join(HEADS)}")
        self.heads: dict[str, dict] = {}
        for name, h in heads.items():
            labels = h.get("labels") if isinstance(h, dict) else None
            output = h.get("output") if isinstance(h, dict) else None
            if output not in outputs:
                raise ModelError(f"head {name!r}: the model has no output {output!r}")
            if (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)
                    or outputs[output].shape[-1] != len(labels)):
                raise ModelError(f"head {name!r}: labels do not cover the outputs of {output!r}")
            self.heads[name] = {"output": output, "labels": labels, "threshold": float(h.get("threshold", 0.5))}
        self.input_name = self.session.get_inputs()[0].name
        self.preprocessing = dict(DEFAULT_PREPROCESSING, **self.metadata.get("preprocessing", {}))
        self.version = f"{self.metadata.get('name', self.path.stem)}@{self.sha256[:8]}"
        self._outputs = [self.heads[h]["output"] for h in HEADS]
        self.judge([np.zeros((32, 32, 3), np.uint8)], "bin")  # warm up

    def labels(self, head: str) -> list[str]:
        return self.heads[head]["labels"]

    def judge_regions(self, images: list[np.ndarray], heads: list[str]) -> list[Judgement]:
        """Each image (a whole region's crop, BGR uint8) judged by its head, in one run."""
        if not images:
            return []
        unknown = set(heads) - set(self.heads)
        if unknown:
            raise ValueError(f"unknown head {sorted(unknown)[0]!r} (heads: {', '.join(self.heads)})")
        probs = dict(zip(HEADS, self.session.run(self._outputs, {self.input_name: preprocess_batch(
            images, self.preprocessing)}), strict=True))
        out = []
        for k, head in enumerate(heads):
            p = probs[head][k]
            i = int(np.argmax(p))
            h = self.heads[head]
            out.append(Judgement(h["labels"][i], float(p[i]), bool(p[i] >= h["threshold"])))
        return out

    def judge(self, images: list[np.ndarray], head: str) -> list[Judgement]:
        return self.judge_regions(images, [head] * len(images))

    def __repr__(self) -> str:
        heads = ", ".join(f"{k}: {'/'.join(v['labels'])}" for k, v in self.heads.items())
        return f"StationModel({self.version}, {heads})"


def load_station_model(path: str | Path | None = None, threads: int = 1) -> StationModel:
    """Load the station-condition model at `path` (default: the committed file in models/)."""
    return StationModel(path or DEFAULT_STATION_MODEL, threads=threads)
