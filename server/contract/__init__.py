"""The server's side of the wire contract: the documents themselves live in
the shared top-level package `contract` (docs/design.md, "Wire contract");
`validate` compiles the event schema into the ingest validator."""
from contract import CONTRACT_DIR, load  # noqa: F401 (re-exported)
