"""Manifests, signatures and keys (contract/artifacts.py), on real files and real Ed25519 keys."""
import stat

import pytest

from contract.artifacts import (
    ArtifactError,
    canonical,
    check_file,
    check_manifest,
    file_digest,
    load_private_key,
    new_key_pair,
    parse_manifest,
    public_key_from_text,
    public_key_text,
    sign,
    verify_signature,
    write_key_pair,
)


def manifest_of(path, kind="rules", version="beijing@2020.1"):
    digest, size = file_digest(path)
    return {"kind": kind, "name": version.split("@")[0], "version": version, "sha256": digest,
            "size": size, "notes": "说明", "created": "2026-12-03T00:00:00+00:00"}


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "rules.json"
    path.write_bytes(b'{"name": "beijing"}' * 100)
    return path


def test_canonical_bytes_are_sorted_compact_utf8():
    assert canonical({"b": 1, "a": "电池"}) == '{"a":"电池","b":1}'.encode()


def test_a_signed_manifest_verifies_and_any_change_does_not(artifact):
    private, public = new_key_pair()
    m = manifest_of(artifact)
    signature = sign(m, private)
    verify_signature(m, signature, public)
    for key, value in (("sha256", "0" * 64), ("size", m["size"] + 1), ("notes", "other"),
                       ("version", "beijing@2020.2")):
        with pytest.raises(ArtifactError, match="does not verify"):
            verify_signature({**m, key: value}, signature, public)
    with pytest.raises(ArtifactError, match="does not verify"):
        verify_signature(m, signature, new_key_pair()[1])        # another operator's key
    with pytest.raises(ArtifactError, match="not base64"):
        verify_signature(m, "not a signature!", public)
    with pytest.raises(ArtifactError, match="does not verify"):
        verify_signature(m, "", public)                           # unsigned


def test_file_checks_size_then_hash(artifact):
    m = manifest_of(artifact)
    check_file(artifact, m)
    data = artifact.read_bytes()
    artifact.write_bytes(data[:-1])
    with pytest.raises(ArtifactError, match="bytes, the manifest says"):
        check_file(artifact, m)
    artifact.write_bytes(data[:-1] + b"X")
    with pytest.raises(ArtifactError, match="sha256"):
        check_file(artifact, m)


def test_manifests_are_checked_strictly(artifact):
    m = manifest_of(artifact)
    assert parse_manifest(canonical(m)) == m
    bad = [({**m, "extra": 1}, "keys"), ({**m, "kind": "firmware"}, "kind"),
           ({**m, "version": "../../etc@1"}, "NAME@VERSION"), ({**m, "version": "shanghai@1"}, "name"),
           ({**m, "size": 0}, "size"), ({**m, "size": True}, "size"), ({**m, "sha256": "AB" * 32}, "sha256"),
           ({**manifest_of(artifact, "model", "m@12345678")}, "first 8 hex")]
    for manifest, message in bad:
        with pytest.raises(ArtifactError, match=message):
            check_manifest(manifest)
    with pytest.raises(ArtifactError, match="JSON"):
        parse_manifest(b"\xff")


def test_key_pair_files(tmp_path):
    private_path, public_path = write_key_pair(tmp_path / "keys")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private = load_private_key(private_path)
    assert public_key_text(private.public_key()) == public_path.read_text().strip()
    public_key_from_text(public_path.read_text())
    with pytest.raises(ArtifactError, match="never overwritten"):
        write_key_pair(tmp_path / "keys")
    for text in ("", "abc", "QUJD"):
        with pytest.raises(ArtifactError):
            public_key_from_text(text)
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ArtifactError, match="PEM"):
        load_private_key(tmp_path / "junk.pem")
