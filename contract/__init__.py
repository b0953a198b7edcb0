"""What a station device and the server both speak (docs/design.md, "Wire
contract"): the JSON Schemas of an event and a heartbeat, the OpenAPI
document, the limits and vocabularies read from them (`contract.limits`), and
the rule sets (`contract.rules`).

The JSON files are the source of truth; Python code reads its constants from
them instead of writing them again. Pure Python: no Flask, no OpenCV."""
import json
from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent


def load(name: str) -> dict:
    """One of the contract's JSON documents, e.g. load("event.schema.json")."""
    return json.loads((CONTRACT_DIR / name).read_text(encoding="utf-8"))
