"""A real server with a registry, a key pair and the device's side of an update."""
import json

import pytest

from contract.artifacts import file_digest, load_private_key, public_key_from_text, sign
from contract.rules import load_rules
from edge.model import load_classifier
from edge.updates import Slots, Updater
from edge.uploader import Client
from edge.verdict import Judge

CATEGORIES = ("kitchen", "recyclable", "hazardous", "other")


class Publisher:
    """The operator's side: a key pair and the registry commands of the real server."""

    def __init__(self, server, folder):
        self.server = server
        server._cli("keygen", "--out", str(folder))
        self.private_path = folder / "private.pem"
        self.private = load_private_key(self.private_path)
        self.public_text = (folder / "public.b64").read_text().strip()
        self.public = public_key_from_text(self.public_text)
        self.registry = server.app.config["SETTINGS"].registry_dir

    def publish(self, kind, path, notes=""):
        out = self.server._cli(f"publish-{kind}", str(path), "--key", str(self.private_path), "--notes", notes)
        return out.split()[2]  # "published model NAME@VERSION (...)"

    def heartbeat_answer(self, client):
        return client.heartbeat({"ts": "2026-12-03T08:00:00+08:00", "camera": "ok"})

    def sign_by_hand(self, kind, version, data: bytes, signature=None):
        """A version put into the registry without publish's checks (a broken file that is signed)."""
        folder = self.registry / kind / version
        folder.mkdir(parents=True)
        (folder / "artifact").write_bytes(data)
        digest, size = file_digest(folder / "artifact")
        manifest = {"kind": kind, "name": version.split("@")[0], "version": version, "sha256": digest,
                    "size": size, "notes": "", "created": "2099-01-01T00:00:00+00:00"}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "signature").write_text(signature if signature is not None else sign(manifest, self.private))
        return manifest


@pytest.fixture
def publisher(real_server, tmp_path):
    return Publisher(real_server, tmp_path / "keys")


@pytest.fixture
def client(real_server):
    return Client(real_server.url, real_server.device_id, real_server.token, timeout=10)


@pytest.fixture
def judge():
    return Judge(load_classifier(), load_rules("beijing"))


@pytest.fixture
def updater(tmp_path, publisher, client, judge):
    return Updater(Slots(tmp_path / "updates", publisher.public), client, judge, categories=CATEGORIES)
