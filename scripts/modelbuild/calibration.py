"""Calibration stage of the model build: one temperature fitted on the validation logits (clean and
degraded together, minimum NLL) with the expected calibration error before and after, and the default
uncertainty threshold chosen on the degraded validation set."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from edge.model.metrics import trade_off
from edge.model.preprocess import expected_calibration_error, softmax


@dataclass(frozen=True)
class Calibration:
    temperature: float
    ece: dict  # ece_{clean,degraded}_{before,after}

    def metadata(self) -> dict:
        return {"temperature": round(self.temperature, 4), **self.ece}


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising validation NLL (1-D search, log-spaced then refined)."""
    def nll(t):
        p = softmax(logits, t)
        return -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 80))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.93, best * 1.07, 40)
    return float(min(fine, key=nll))


def calibrate(logit_clean: np.ndarray, logit_degraded: np.ndarray, y_val: np.ndarray, log=print) -> Calibration:
    """The temperature of the clean + degraded validation logits and the ECE of each set before and after."""
    temperature = fit_temperature(np.concatenate([logit_clean, logit_degraded]), np.concatenate([y_val, y_val]))
    ece = {}
    for name, lg in (("clean", logit_clean), ("degraded", logit_degraded)):
        for t_name, t in (("before", 1.0), ("after", temperature)):
            p = softmax(lg, t)
            ece[f"ece_{name}_{t_name}"] = round(expected_calibration_error(p.max(1), p.argmax(1) == y_val), 4)
    log(f"temperature {temperature:.3f}; ECE " + json.dumps(ece))
    return Calibration(temperature, ece)


def choose_threshold(conf: np.ndarray, cat_correct: np.ndarray, target: float = 0.96, max_uncertain: float = 0.25) -> float:
    """The lowest threshold whose category accuracy on confident verdicts reaches `target` (a margin over 0.95)."""
    for t in np.arange(0.30, 0.96, 0.01):
        r = trade_off(conf, cat_correct, cat_correct, t)
        if r["category_accuracy_on_rest"] is not None and r["category_accuracy_on_rest"] >= target:
            return round(float(t), 2)
    return 0.95
