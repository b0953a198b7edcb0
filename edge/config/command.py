"""`python -m edge check-config FILE`: validate a station config without running."""
from __future__ import annotations

import sys

from .loading import ConfigError, load_config
from .schema import describe


def add_arguments(parser) -> None:
    parser.add_argument("file", nargs="?", help="station config (TOML)")
    parser.add_argument("--describe", action="store_true", help="list every key with its bounds")


def main(args) -> int:
    if args.describe:
        print(describe())
        return 0
    if not args.file:
        print("check-config: a FILE is required", file=sys.stderr)
        return 2
    try:
        config = load_config(args.file, token_required=False)
    except ConfigError as e:
        for line in e.lines():
            print(line, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"{args.file}: warning: {warning} (`run` refuses this)", file=sys.stderr)
    openings = sum(1 for b in config.bins if b.opening)
    condition = (f"; condition: {openings} bin openings, {len(config.ground)} ground zones, judged every "
                 f"{config.condition.interval:g} s, reported after {config.condition.hold:g} s"
                 if openings or config.ground else "")
    print(f"{args.file}: ok: station {config.station.id}, {len(config.bins)} bins, "
          f"source {config.camera.source}{condition}")
    return 0
