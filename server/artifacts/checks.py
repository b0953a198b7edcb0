"""What publish tries before it signs a file: that it is the kind it claims to be.

- a model loads in onnxruntime (CPU), names its labels in its metadata (JSON),
  and classifies a generated image: one probability per label, finite,
  summing to one; its version is ``name@`` and the first 8 hex digits of its
  sha256, as the station names it;
- a rule set loads with the contract's loader; its version is its own
  ``name@version``.

The server image has no edge code, so the model is run here directly on a
generated input of the shape the session declares.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from contract.artifacts import ArtifactError, file_digest
from contract.rules import RuleSetError, load_rules


def check_model(path: Path) -> tuple[str, str]:
    """(name, version) of a model file that loads and classifies; ArtifactError otherwise."""
    import onnxruntime as ort
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ArtifactError(f"{path.name} does not load as an ONNX model: {str(e).splitlines()[0]}") from None
    props = session.get_modelmeta().custom_metadata_map
    try:
        meta = {k: json.loads(v) for k, v in props.items()}
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path.name}: a metadata value is not JSON ({e.msg})") from None
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(f"{path.name}: metadata 'labels' must be a list of strings")
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    if len(inputs) != 1 or "probs" not in outputs:
        raise ArtifactError(f"{path.name}: expected one input and an output 'probs', got {outputs}")
    shape = [d if isinstance(d, int) else 1 for d in inputs[0].shape]
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    try:
        probs = session.run(["probs"], {inputs[0].name: image})[0]
    except Exception as e:
        raise ArtifactError(f"{path.name} fails on a generated image: {str(e).splitlines()[0]}") from None
    if probs.shape[-1] != len(labels) or not np.all(np.isfinite(probs)) \
            or not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-3):
        raise ArtifactError(f"{path.name}: 'probs' on a generated image is not one probability per label")
    name = meta.get("name", path.stem)
    if not isinstance(name, str):
        raise ArtifactError(f"{path.name}: metadata 'name' must be a string")
    return name, f"{name}@{file_digest(path)[0][:8]}"


def check_rules(path: Path) -> tuple[str, str]:
    """(name, version tag) of a rule-set file the contract's loader accepts; ArtifactError otherwise."""
    try:
        rules = load_rules(path)
    except RuleSetError as e:
        raise ArtifactError(str(e)) from None
    return rules.name, rules.tag


CHECKS = {"model": check_model, "rules": check_rules}
