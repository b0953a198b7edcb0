"""The stages of the waste-model build (docs/design.md, "Models"): data, views (embeddings of clean,
degraded and augmented crops), heads (item head and temperature), rejection (the open-set score and the
thresholds), graft (the heads written into the ONNX graph) and the card. Pure numpy beyond the
ONNX backbone, so scripts/eval_model.py refits the same heads for its leave-out protocols."""
