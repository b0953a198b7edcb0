"""`flask --app server train-head`: a new model version from the current one
and the labelled learning samples (scripts/modelbuild/retrain.py does the
fitting, with the functions the shipped head was fitted with), refused when
it is worse than the current one; published (signed) when asked and accepted."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
from flask import current_app

from .settings import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "datasets" / "waste-images"


def _retrain_module():
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise click.ClickException("train-head needs the onnx package to read and write the model's head: "
                                   "pip install -r requirements-dev.txt (or requirements-build.txt)") from None
    from modelbuild import retrain
    return retrain


def current_model() -> Path:
    """The model the devices are offered (the registry's), else the committed default."""
    from .artifacts import ARTIFACT
    from .artifacts.commands import registry
    reg = registry()
    target = reg.target("model")
    if target is not None:
        return reg.folder("model", target["version"]) / ARTIFACT
    from edge.model import DEFAULT_MODEL
    return DEFAULT_MODEL


def labelled_samples(store, model_name: str, dims: int):
    """The labelled samples judged by a version of the same model (the same backbone), as retrain.Samples;
    and how many were left out (another model, another size)."""
    retrain = _retrain_module()
    rows = store.training_samples()
    keep = [r for r in rows if r["model"].split("@")[0] == model_name and r["dims"] == dims]
    if not keep:
        return retrain.Samples.empty(dims), len(rows)
    x = np.stack([np.frombuffer(r["embedding"], "<f4") for r in keep]).astype(np.float32)
    return retrain.Samples(x, [r["label"] for r in keep], [r["event_id"] for r in keep]), len(rows) - len(keep)


@click.command("train-head")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the current model (default: the one the devices are offered, else models/)")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help=f"folder of shared photos with manifest.csv (default {DEFAULT_DATA})")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path("/tmp/emb"),
              show_default=True, help="embedding cache (scripts/modelbuild/embed.py)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="the new model file "
              "(default instance/retrained/<name>-<time>.onnx)")
@click.option("--views", type=int, default=3, show_default=True, help="degraded views of each shared photo")
@click.option("--holdout", type=float, default=0.3, show_default=True,
              help="share of the labelled samples held out to check the new head on")
@click.option("--tolerance", type=float, default=0.005, show_default=True,
              help="how much worse than the current head the new one may be on either check")
@click.option("--steps", type=int, default=300, show_default=True, help="Adam steps of each head fit")
@click.option("--publish", "key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="sign with this private key and publish the new version when it is accepted")
@click.option("--notes", default="", help="notes of the published version")
def train_head(model, data, cache, out, views, holdout, tolerance, steps, key, notes):
    """Build a new model version: the backbone unchanged, the head and its
    open-set statistics refitted on the shared training photos' embeddings
    plus the labelled learning samples, temperature and rejection threshold
    refitted. Refused (exit 1, nothing written) when it is worse than the
    current model on the shared validation photos or on the held-out labelled
    samples; both sets of figures are printed. Computing the shared photos'
    embeddings is heavy the first time (cached in --cache).

    Example: flock /tmp/heavy.lock flask --app server train-head --publish keys/private.pem
    """
    import datetime as dt

    from edge.model import WasteClassifier

    from . import store as store_pkg
    retrain = _retrain_module()
    model = model or current_model()
    data = list(data) or [DEFAULT_DATA]
    for d in data:
        if not (d / "manifest.csv").is_file():
            raise click.ClickException(f"no shared photos at {d} (a folder with manifest.csv): give --data")
    src = WasteClassifier(model, threads=1, warmup=False)
    dims = int(src.session.get_outputs()[1].shape[-1]) if isinstance(
        src.session.get_outputs()[1].shape[-1], int) else 1280
    s = store_pkg.connect(current_app.config["SETTINGS"].database)
    try:
        samples, left_out = labelled_samples(s, src.metadata.get("name", model.stem), dims)
    finally:
        s.close()
    click.echo(f"current model {src.version} ({model}); {len(samples.ids)} labelled samples"
               + (f" ({left_out} of other models left out)" if left_out else ""))
    if out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        out = PROJECT_ROOT / "instance" / "retrained" / f"{src.metadata.get('name', 'model')}-{stamp}.onnx"
    try:
        result = retrain.retrain(model, data, samples, out, cache=cache, n_views=views, holdout=holdout,
                                 tolerance=tolerance, steps=steps, log=click.echo, progress=False)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    retrain.print_figures(result, click.echo)
    if not result.accepted:
        for reason in result.reasons:
            click.echo(f"refused: {reason}")
        raise click.ClickException("the new head is not published, and no file was written")
    new = WasteClassifier(result.out, threads=1, warmup=False)
    click.echo(f"wrote {result.out} ({new.version}, {result.out.stat().st_size} bytes)")
    if key is not None:
        from .artifacts.commands import _publish
        _publish("model", result.out, key, notes or f"train-head: {result.counts['samples_training']} labelled "
                 f"samples on {src.version}")
