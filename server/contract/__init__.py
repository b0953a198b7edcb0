"""The wire contract between edge and server (DESIGN.md section 5): the JSON
Schema of an event and the OpenAPI document are the source of truth; the
fast validator below is tested to agree with the schema."""
import json
from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent


def load(name: str) -> dict:
    return json.loads((CONTRACT_DIR / name).read_text(encoding="utf-8"))
