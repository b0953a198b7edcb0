"""GET /api/v1/openapi.json: the contract, with the event schema inlined
from the one file that defines it."""
import json

from flask import Blueprint

from ..contract import load

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


def openapi_document() -> dict:
    doc = load("openapi.json")
    schemas = doc["components"]["schemas"]
    for name, filename in (("Event", "event.schema.json"), ("Heartbeat", "heartbeat.schema.json")):
        schema = load(filename)
        schema.pop("$schema", None)
        schema.pop("$id", None)
        # Local "#/$defs/..." references must point into the component now.
        text = json.dumps(schema).replace('"#/$defs/', f'"#/components/schemas/{name}/$defs/')
        schemas[name] = json.loads(text)
    return doc


@bp.get("/openapi.json")
def openapi():
    return openapi_document()
