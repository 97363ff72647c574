"""Layer 11, ``cli``: the command line ``energy-nb {predict,plan,calibrate,fit,flops,models,gpus,features,provenance,
import,laws,sweep,run,book,lab}`` (also ``python -m energy_nb``).

One module per command group: :mod:`.answers` (predict, plan, calibrate, fit), :mod:`.info` (flops, models, gpus,
features, provenance, import), :mod:`.laws` (laws build, check, show), :mod:`.sweep` (sweep run, status, merge) and
:mod:`.book` (run, book, lab); the
options they share are in :mod:`.options`. A :class:`~energy_nb.core.errors.UserError` is printed as one line
(``energy-nb CMD: error: ...``) with exit status 2; any other exception is a bug and keeps its traceback.

May import: every layer (it answers through :mod:`energy_nb.api` where the API has the answer).
"""
from __future__ import annotations

import argparse
import sys

from ..core.errors import UserError
from . import answers, book, info, laws, sweep


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a bad argument is one line (``energy-nb CMD: error: ...``, where to find the allowed
    values) and exit status 2, not the usage block first."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="energy-nb", description="Predict, plan and measure the GPU energy of "
                                "text-to-image diffusion inference. `energy-nb COMMAND --help` for each command.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    answers.add_parsers(sub)
    info.add_parsers(sub)
    laws.add_parsers(sub)
    sweep.add_parsers(sub)
    book.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sweep.normalise(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"energy-nb {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `energy-nb models | head -1`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
