"""Seven-bit weights for an int8 model, so that it computes the same on every x86 CPU.

onnxruntime's int8 convolution on a CPU without VNNI (AVX2 only, e.g. the 2-core AMD EPYC build machines
of 2026-12) multiplies uint8 activations by int8 weights with `vpmaddubsw`, which adds two products into
a saturating int16: with weights up to 127 the sum can exceed 32767 and is clipped. A VNNI CPU
accumulates in int32 and does not clip. The same file therefore gives different figures on different
stations (measured on the validation split with waste-effl0-int8@871d0c72: clean category balanced
accuracy 0.964 where the build ran, 0.955 on an AVX2-only machine; degraded 0.901 and 0.879). Weights
with |w| <= 64 cannot overflow (2 x 255 x 64 < 32767), which is what onnxruntime's
`reduce_range=True` gives at quantisation time ([-64, 64]) (scripts/modelbuild/quantisation.py now uses it); this
stage does it to an already quantised file: every int8 weight of a QLinearConv is halved and rounded,
its per-channel scale doubled and its int32 bias (scaled by input scale x weight scale) halved.

    /work/venv-onnx/bin/python scripts/modelbuild/weights7.py SRC.onnx DST.onnx   # any venv with onnx

Then graft the head again on the new backbone (scripts/graft_head.py --model DST.onnx): its embeddings
moved by the rounding.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

LOW, HIGH = -64, 63


def seven_bit(src: Path, dst: Path) -> int:
    """Write `src` with 7-bit convolution weights to `dst`; the number of convolutions changed."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    init = {i.name: i for i in g.initializer}
    uses: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    changed = 0
    for n in g.node:
        if n.op_type != "QLinearConv":
            continue
        w_name, s_name = n.input[3], n.input[4]
        w = numpy_helper.to_array(init[w_name])
        if w.dtype != np.int8:
            continue
        if w.min() >= LOW and w.max() <= HIGH:
            continue  # already within seven bits
        names = [w_name, s_name] + ([n.input[8]] if len(n.input) > 8 and n.input[8] else [])
        if any(uses[x] != 1 for x in names):
            sys.exit(f"error: {n.name} shares a weight, scale or bias with another node; not changed")
        scale = numpy_helper.to_array(init[s_name])
        init[w_name].CopyFrom(numpy_helper.from_array(
            np.clip(np.round(w.astype(np.float32) / 2), LOW, HIGH).astype(np.int8), w_name))
        init[s_name].CopyFrom(numpy_helper.from_array((scale * 2).astype(scale.dtype), s_name))
        if len(names) == 3:
            bias = numpy_helper.to_array(init[names[2]])
            init[names[2]].CopyFrom(numpy_helper.from_array(
                np.round(bias.astype(np.float64) / 2).astype(np.int32), names[2]))
        changed += 1
    onnx.save(m, str(dst))
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    n = seven_bit(args.src, args.dst)
    print(f"{args.dst}: {n} convolutions with 7-bit weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
