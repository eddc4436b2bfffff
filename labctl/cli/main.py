"""Entry point of the `labctl` console script.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a handler ``(args) -> int``; only the module of the command being run is imported
(:mod:`labctl.cli.parser`), and handlers import their heavy dependencies themselves, so
``labctl --help`` stays fast. Shared options are checked once (:mod:`labctl.cli.options`)
before the handler runs. Anything the user can fix (a usage error, a :class:`LabctlError`) is
printed as one line and the exit status is 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

from labctl.cli.parser import UsageError, build_parser
from labctl.core.errors import LabctlError


def _error(message: str) -> int:
    print(f"labctl: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _error(str(exc))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from labctl.cli.options import check_shared
    from labctl.services.console import logging_to_console

    try:
        with logging_to_console(getattr(args, "verbose", False), getattr(args, "log_file", None)):
            check_shared(args)
            return int(args.func(args))
    except LabctlError as exc:
        return _error(str(exc) or type(exc).__name__)
    except BrokenPipeError:  # `labctl inspect ... | head`: the reader has all it wants
        # No second error while Python flushes stdout at exit (a stdout without a file
        # descriptor, as in tests, needs nothing).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the log file, or an output the checks could not foresee
        return _error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
