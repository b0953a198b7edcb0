"""Look into a station's outbox, and requeue dead letters once their cause is fixed.

    python -m edge.outbox --config station.toml            # counts
    python -m edge.outbox --config station.toml --dead     # the dead letters and the server's reasons
    python -m edge.outbox --config station.toml --requeue  # send them again (e.g. after fixing the clock)

Household tokens are shown as hashes, never in clear. Stop the station (or
let it run: SQLite serialises the writers) before requeueing.
"""
import argparse
import json
import sys

from edge.config import ConfigError, load_config
from edge.outbox import Outbox
from edge.privacy.household import token_hash


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.outbox", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="station config (TOML)")
    p.add_argument("--dead", action="store_true", help="list the dead letters")
    p.add_argument("--requeue", action="store_true", help="move the dead letters back to the queue")
    args = p.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print("\n".join(e.lines()), file=sys.stderr)
        return 2
    box = Outbox(config.outbox.path, max_bytes=config.outbox.max_bytes)
    try:
        if args.dead:
            for d in box.dead_letters():
                event = dict(d["event"])
                if event.get("household"):
                    event["household"] = token_hash(event["household"])
                print(json.dumps({"event": event, "reason": d["reason"]}, ensure_ascii=False))
        if args.requeue:
            print(f"requeued {box.requeue_dead_letters()} events")
        print(json.dumps(box.counts()))
    finally:
        box.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
