"""Signed models and rule sets for the devices: the file (with HTTP Range, so
an interrupted download resumes) and its manifest and signature. Only usable
versions (server/artifacts) are served; anything else is a 404."""
from __future__ import annotations

from flask import Blueprint, send_file

from contract.artifacts import ArtifactError

from .. import get_store
from ..artifacts import ARTIFACT, SIGNATURE
from ..artifacts import app_registry as registry
from ..auth import authenticate_device
from ..errors import ApiError

bp = Blueprint("artifacts", __name__, url_prefix="/api/v1/artifacts")


def _usable(kind: str, version: str) -> dict:
    authenticate_device(get_store())
    try:
        return registry().verified(kind, version)
    except ArtifactError as e:
        raise ApiError(404, "not_found", f"no usable {kind} {version}: {e}") from None


@bp.get("/<kind>/<version>")
def artifact(kind: str, version: str):
    manifest = _usable(kind, version)
    path = registry().folder(kind, version) / ARTIFACT
    response = send_file(path, mimetype="application/octet-stream", conditional=True, etag=manifest["sha256"],
                         max_age=0)
    response.headers["Accept-Ranges"] = "bytes"
    return response


@bp.get("/<kind>/<version>/manifest")
def manifest(kind: str, version: str):
    m = _usable(kind, version)
    signature = (registry().folder(kind, version) / SIGNATURE).read_text(encoding="ascii").strip()
    return {"manifest": m, "signature": signature}
