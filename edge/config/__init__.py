"""Station config: one TOML file, validated once and strictly.

`python -m edge check-config FILE` validates a file without running.

Every field is declared in schema.py with a description and bounds; unknown
keys are rejected, and every error names its line and key path, e.g.

    station.toml:14: bins[1].zone: a polygon needs at least 3 points

The result is a frozen Config with one frozen dataclass per section
(`config.camera.reconnect_max`), generated from the same schema.

Relative paths (camera source, outbox, token file, model, household reader)
are relative to the directory of the config file.

    lines.py     key paths of a TOML text -> line numbers
    schema.py    the fields, their bounds and descriptions; --describe
    checking.py  values against the schema, problems with line and key
    loading.py   the file -> Config
    command.py   the check-config command
"""
from contract.limits import CATEGORIES

from .checking import ConfigError, parse_offset, read_token
from .command import add_arguments, main
from .lines import key_lines
from .loading import Bin, Config, Ground, load_config
from .schema import BIN_SCHEMA, GROUND_SCHEMA, SCHEMA, SECTION_TYPES, Field, describe

__all__ = ["BIN_SCHEMA", "CATEGORIES", "GROUND_SCHEMA", "SCHEMA", "SECTION_TYPES", "Bin", "Config", "ConfigError",
           "Field", "Ground",
           "add_arguments", "describe", "key_lines", "load_config", "main", "parse_offset", "read_token"]
