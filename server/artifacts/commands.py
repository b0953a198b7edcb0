"""Operator commands of the registry: `flask --app server keygen | publish-model |
publish-rules | assign-model | assign-rules | list-artifacts`."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from contract.artifacts import ArtifactError, load_private_key, write_key_pair

from . import Registry
from .checks import CHECKS


def registry() -> Registry:
    return Registry(current_app.config["SETTINGS"].registry_dir)


@click.command("keygen")
@click.option("--out", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for private.pem (mode 0600) and public.b64")
def keygen(folder: Path):
    """Make an Ed25519 key pair for signing models and rule sets.

    Keep private.pem off the server; put the text of public.b64 into every
    station's file ([updates] public_key).

    Example: flask --app server keygen --out ~/sortwatch-keys
    """
    try:
        private, public = write_key_pair(folder)
    except ArtifactError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"private key: {private} (mode 0600)\npublic key:  {public}: {public.read_text().strip()}")


def _publish(kind: str, path: Path, key: Path, notes: str) -> None:
    try:
        name, version = CHECKS[kind](path)
        manifest = registry().publish(kind, path, name, version, load_private_key(key), notes)
    except ArtifactError as e:
        raise click.ClickException(f"{e}; nothing was published") from None
    click.echo(f"published {kind} {manifest['version']} ({manifest['size']} bytes, "
               f"sha256 {manifest['sha256']})")


_path = click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_key = click.option("--key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    help="private key file from keygen")
_notes = click.option("--notes", default="", help="what changed, for the operators")


@click.command("publish-model")
@_path
@_key
@_notes
def publish_model(path: Path, key: Path, notes: str):
    """Check, sign and publish an ONNX model file.

    The model must load and classify a generated image; its version is its
    metadata name and the first 8 hex digits of its sha256.

    Example: flask --app server publish-model new.onnx --key keys/private.pem --notes "retrained head"
    """
    _publish("model", path, key, notes)


@click.command("publish-rules")
@_path
@_key
@_notes
def publish_rules(path: Path, key: Path, notes: str):
    """Check, sign and publish a rule-set JSON file (its version is its own name@version).

    Example: flask --app server publish-rules beijing-2027.json --key keys/private.pem
    """
    _publish("rules", path, key, notes)


def _assign(kind: str, version: str | None) -> None:
    try:
        registry().assign(kind, version)
    except ArtifactError as e:
        raise click.ClickException(f"{e}; the assignment is unchanged") from None
    target = registry().target(kind)
    click.echo(f"devices now run {kind} {target['version'] if target else '(none published)'}")


_version = click.argument("version", required=False)
_latest = click.option("--latest", is_flag=True, help="forget the assignment: the newest version again")


@click.command("assign-model")
@_version
@_latest
def assign_model(version: str | None, latest: bool):
    """Name the model version every device should run (the newest published one by default).

    Example: flask --app server assign-model waste-effl0-int8@31c5a2db
    """
    if bool(version) == latest:
        raise click.UsageError("give a VERSION or --latest")
    _assign("model", version)


@click.command("assign-rules")
@_version
@_latest
def assign_rules(version: str | None, latest: bool):
    """Name the rule-set version every device should run (the newest published one by default).

    Example: flask --app server assign-rules beijing@2020.1
    """
    if bool(version) == latest:
        raise click.UsageError("give a VERSION or --latest")
    _assign("rules", version)


@click.command("list-artifacts")
def list_artifacts():
    """List the published versions, whether each checks out, and what devices should run.

    Example: flask --app server list-artifacts
    """
    reg = registry()
    for kind in ("model", "rules"):
        target = reg.target(kind)
        for version in reg.versions(kind):
            try:
                m = reg.verified(kind, version)
                state = f"{m['created']}  {m['size']} bytes  {m['notes']}"
            except ArtifactError as e:
                state = f"REFUSED: {e}"
            mark = "*" if target and target["version"] == version else " "
            click.echo(f"{mark} {kind:5} {version}  {state}")


COMMANDS = (keygen, publish_model, publish_rules, assign_model, assign_rules, list_artifacts)
