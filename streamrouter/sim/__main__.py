"""``python -m streamrouter.sim [--host H] [--port P] [--scenario FILE]``."""

from __future__ import annotations

import argparse
import sys

from streamrouter.errors import ConfigError
from streamrouter.sim.server import run_sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streamrouter.sim", description="Simulated Anthropic Messages API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenario", default=None, help="scenario file (YAML or JSON)")
    args = parser.parse_args(argv)
    try:
        run_sim(args.host, args.port, args.scenario)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
