"""Updating the running model and rule set to what the heartbeat answer names.

    heartbeat answer ─▶ offer() ─▶ worker thread: manifest, download (resumed), size, sha256,
        signature, install, load beside the running one, warm-up image ─▶ ready
    processing thread, no episode open ─▶ swap_if_idle(): pointer (fsync, rename), then the judge

Anything that fails is refused: the station keeps the version it runs, and
`error` (the heartbeat's `update_error`) says why. A download that broke off
is not refused: it is resumed at the next offer. A refused version is not
tried again until the server offers another one.
"""
from __future__ import annotations

import logging
import threading

import numpy as np

from contract.artifacts import ArtifactError, check_manifest, verify_signature
from contract.rules import load_rules

from .download import DownloadError, fetch_file, fetch_manifest
from .slots import Slots

log = logging.getLogger(__name__)
KINDS = ("model", "rules")


def warm_up_image() -> np.ndarray:
    """A fixed, generated BGR image: a gradient with noise, the size of a typical crop."""
    rng = np.random.default_rng(17)
    ramp = np.linspace(0, 255, 160, dtype=np.float32)
    image = np.stack([np.add.outer(ramp[:120] * 0.5, ramp * 0.5)] * 3, axis=-1)
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)


def load_model(path, threads: int = 1):
    """Load a model beside the running one and classify the warm-up image; ValueError if it cannot."""
    from edge.model import load_classifier
    classifier = load_classifier(path, threads=threads)
    p = classifier.classify(warm_up_image())
    if p.item not in classifier.labels or not np.all(np.isfinite(p.probs)) or abs(float(p.probs.sum()) - 1) > 1e-3:
        raise ValueError(f"{classifier.version} gives no probability distribution on the warm-up image")
    return classifier


def check_pair(classifier, rules, categories) -> None:
    """ValueError unless the rule set judges every label of the model, in every bin of the station."""
    from edge.verdict import Judge
    Judge(classifier, rules)
    for category in categories:
        rules.accepts(rules.items[0], category)


class Updater:
    def __init__(self, slots: Slots, client, judge, *, categories=(), threads: int = 1):
        self.slots = slots
        self.client = client
        self.judge = judge
        self.categories = tuple(categories)
        self.threads = threads
        self.error: str | None = None
        self.refused: dict[tuple[str, str], str] = {}
        self.ready: dict[str, tuple[str, object]] = {}
        self.swaps: list[tuple[str, str, str]] = []   # (kind, from, to)
        self.lock = threading.Lock()
        self.worker: threading.Thread | None = None

    def running(self, kind: str) -> str:
        return self.judge.model if kind == "model" else self.judge.rules.tag

    # -- the heartbeat answer ---------------------------------------------------------------------

    def wanted(self, answer) -> list[tuple[str, dict]]:
        """The offers of a heartbeat answer that name a version other than the running one."""
        assigned = answer.get("assigned") if isinstance(answer, dict) else None
        if not isinstance(assigned, dict):
            return []  # a server without a registry
        out = []
        for kind in KINDS:
            offer = assigned.get(kind)
            if not isinstance(offer, dict) or not isinstance(offer.get("version"), str):
                continue
            version = offer["version"]
            with self.lock:
                pending = self.ready.get(kind, (None,))[0] == version
            if version == self.running(kind) or pending or (kind, version) in self.refused:
                continue
            out.append((kind, offer))
        return out

    def offer(self, answer) -> None:
        """Called with each heartbeat answer; starts one worker when there is something to do."""
        wanted = self.wanted(answer)
        if not wanted or (self.worker is not None and self.worker.is_alive()):
            return
        self.worker = threading.Thread(target=self.prepare_all, args=(wanted,), name="updater", daemon=True)
        self.worker.start()

    def prepare_all(self, wanted) -> None:
        for kind, offer in wanted:
            self.prepare(kind, offer)

    # -- preparing a candidate ----------------------------------------------------------------------

    def prepare(self, kind: str, offer: dict, limit: int | None = None) -> bool:
        """Fetch, check, install and load one offered version; True when it is ready to swap in."""
        version = offer["version"]
        try:
            path = self._installed_or_fetched(kind, offer, limit)
            candidate = self._load(kind, path)
        except DownloadError as e:
            self.error = f"{kind} {version}: {e}"
            log.warning("update not downloaded (will resume): %s", self.error)
            return False
        except (ArtifactError, ValueError, RuntimeError, OSError) as e:
            self.error = f"{kind} {version} refused: {e}"
            self.refused[(kind, version)] = self.error
            log.error("update refused; still running %s: %s", self.running(kind), self.error)
            return False
        with self.lock:
            self.ready[kind] = (version, candidate)
        log.info("%s %s verified and loaded; swapping it in between disposals", kind, version)
        return True

    def _installed_or_fetched(self, kind, offer, limit):
        version = offer["version"]
        try:
            return self.slots.installed(kind, version)   # a previous version kept for rollback
        except ArtifactError:
            pass
        manifest, signature = fetch_manifest(self.client, kind, version)
        if not isinstance(manifest, dict) or manifest.get("version") != version or \
                manifest.get("sha256") != offer.get("sha256") or manifest.get("size") != offer.get("size"):
            raise ArtifactError(f"the manifest served for {version} is not the one offered")
        # The signature is checked before a byte of the file is fetched.
        verify_signature(check_manifest(manifest), signature, self.slots.public_key)
        if manifest["kind"] != kind:
            raise ArtifactError(f"a {manifest['kind']} manifest where a {kind} was expected")
        part = fetch_file(self.client, kind, version, self.slots.part(kind, version), manifest["size"], limit)
        try:
            return self.slots.install(kind, part, manifest, signature)
        except ArtifactError:
            part.unlink(missing_ok=True)  # a complete file that does not check out is never resumed
            raise

    def _load(self, kind, path):
        if kind == "model":
            classifier = load_model(path, self.threads)
            check_pair(classifier, self.judge.rules, self.categories)
            return classifier
        rules = load_rules(path)
        check_pair(self.judge.classifier, rules, self.categories)
        return rules

    # -- swapping, in the processing thread ------------------------------------------------------------

    def swap_if_idle(self, idle: bool) -> list[str]:
        """Swap in what is ready, only when no disposal is open (`idle`). Returns the kinds swapped."""
        if not idle:
            return []
        with self.lock:
            ready, self.ready = self.ready, {}
        swapped = []
        for kind, (version, candidate) in ready.items():
            old = self.running(kind)
            self.slots.point(kind, version, previous=old)       # the commit point, durable
            if kind == "model":
                self.judge.replace(classifier=candidate)
            else:
                self.judge.replace(rules=candidate)
            self.slots.prune(kind)
            self.swaps.append((kind, old, version))
            self.error = None
            swapped.append(kind)
            log.info("now running %s %s (previous %s kept for rollback)", kind, version, old)
        return swapped


def start_versions(slots: Slots, threads: int = 1, categories=()):
    """(classifier or None, rules or None) of the pointers, each the current version if it checks
    out and loads, else the previous one; None: the config's own."""
    classifier = rules = None
    for kind in KINDS:
        p = slots.pointer(kind)
        for version in (p.get("version"), p.get("previous")):
            if not version:
                continue
            try:
                path = slots.installed(kind, version)
                loaded = load_model(path, threads) if kind == "model" else load_rules(path)
            except (ArtifactError, ValueError, RuntimeError, OSError) as e:
                log.error("%s %s cannot be used (%s); falling back", kind, version, e)
                continue
            if kind == "model":
                classifier = loaded
            else:
                rules = loaded
            break
    return classifier, rules
