"""`python -m edge COMMAND ...`: one entry point, one module per command.

Each command module exposes `add_arguments(parser)` and `main(args) -> int`
and imports what it needs at its top (for `run`, OpenCV and onnxruntime).
"""
import argparse
import importlib
import sys

COMMANDS = {
    "classify": ("edge.classify", "classify image files or folders with the default model"),
    "check-config": ("edge.config", "validate a station config file without running"),
    "run": ("edge.runtime", "run the station: camera, verdicts, durable upload"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    args = parser.parse_args(argv)
    return args._module.main(args)


if __name__ == "__main__":
    sys.exit(main())
