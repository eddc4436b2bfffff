"""Options shared by labctl's commands, declared and checked in one place (docs/cli.md).

* ``--wafer FILE``: the wafer file a command reads (``inspect``, ``report`` and ``gui`` still
  take it as a positional argument too: a deprecated alias).
* ``--out DIR`` for commands that write several files, ``--out FILE`` for those that write one;
  checked writable before anything runs.
* ``--seed N``: an integer >= 0, refused with the same message everywhere.
* ``--die NAME``: a die of the wafer map, checked before anything is sent to the prober.
* With ``--sim`` and no ``--seed``, the simulated wafer is the one the wafer file measured
  (its wafer id ``sim-seed-N``).

The adders record what they added with ``set_defaults`` (attributes starting with ``_``);
:func:`check_shared` reads them once, after parsing and before the command's handler runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from labctl.core.errors import ConfigError
from labctl.core.wafer_map import ALL_DIE_NAMES, parse_die_name

# ---- value types (argparse ``type=``: one message each, wherever the option is) --------------

def seed(text: str) -> int:
    """A seed: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    """A number of things: an integer >= 0."""
    return seed(text)


def positive(text: str) -> int:
    """An integer >= 1."""
    value = seed(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def percent(text: str) -> float:
    """A percentage between 0 and 100 (``15`` or ``15%``)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a percentage, got {text!r}") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 100 %, got {text!r}")
    return value


def die(text: str) -> str:
    """A die name of the wafer map (``die_03_00``)."""
    try:
        parse_die_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if text not in ALL_DIE_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text} is not on the wafer map ({len(ALL_DIE_NAMES)} dies, {ALL_DIE_NAMES[0]} "
            f"... {ALL_DIE_NAMES[-1]})"
        )
    return text


def die_or_all(text: str) -> str:
    """A die name of the wafer map, or ``all``."""
    return text if text == "all" else die(text)


# ---- adders -----------------------------------------------------------------------------------

def add_seed_option(parser: argparse.ArgumentParser, help: str,
                    default: int | None = None) -> None:
    parser.add_argument("--seed", type=seed, default=default, metavar="N", help=help)


def add_wafer_option(parser: argparse.ArgumentParser, *, required: bool = True,
                     positional_alias: bool = False,
                     help: str = "wafer file to read") -> None:
    """``--wafer FILE`` (an existing wafer file); with ``positional_alias`` the older
    positional spelling is still accepted (deprecated, not shown in the help)."""
    parser.add_argument("--wafer", type=Path, default=None, metavar="FILE",
                        help=help + ("" if required else " (optional)"))
    if positional_alias:
        parser.add_argument("_wafer_positional", nargs="?", type=Path, default=None,
                            help=argparse.SUPPRESS)
    parser.set_defaults(_wafer_required=required)


def add_out_option(parser: argparse.ArgumentParser, kind: str, help: str,
                   required: bool = True) -> None:
    """``--out DIR`` (``kind="dir"``: the command writes several files) or ``--out FILE``
    (``kind="file"``: it writes one)."""
    if kind not in ("dir", "file"):
        raise ValueError(kind)
    parser.add_argument("--out", type=Path, required=required, default=None,
                        metavar="DIR" if kind == "dir" else "FILE", help=help)
    parser.set_defaults(_out_kind=kind)


def sim_seed_from(parser: argparse.ArgumentParser, attribute: str) -> None:
    """With ``--sim`` and no ``--seed``, take the seed from the wafer file in ``attribute``."""
    parser.set_defaults(_sim_seed_from=attribute)


# ---- the checks, once per run -----------------------------------------------------------------

def check_shared(args: argparse.Namespace) -> None:
    """Check (and complete) the shared options of a parsed command line; ConfigError naming
    the option otherwise. Nothing is created or opened for writing."""
    _merge_wafer_alias(args)
    wafer = getattr(args, "wafer", None)
    if wafer is not None and hasattr(args, "_wafer_required") and not Path(wafer).exists():
        raise ConfigError(f"wafer file {wafer}: no such file")
    kind = getattr(args, "_out_kind", None)
    out = getattr(args, "out", None)
    if kind is not None and out is not None:
        check_output(Path(out), kind)
    _seed_from_wafer(args)


def _merge_wafer_alias(args: argparse.Namespace) -> None:
    if not hasattr(args, "_wafer_required"):
        return
    positional = getattr(args, "_wafer_positional", None)
    if positional is not None:
        if args.wafer is not None and Path(args.wafer) != positional:
            raise ConfigError(f"two wafer files given: --wafer {args.wafer} and {positional}")
        args.wafer = positional
    if args.wafer is None and args._wafer_required:
        raise ConfigError("the wafer file is required: --wafer FILE")


def check_output(path: Path, kind: str) -> None:
    """``path`` can be written as an output folder (``kind="dir"``) or file (``"file"``):
    an existing one of the other kind, or a non-writable folder on the way, is refused."""
    if path.exists():
        if kind == "dir" and not path.is_dir():
            raise ConfigError(f"--out {path} exists and is not a directory")
        if kind == "file" and path.is_dir():
            raise ConfigError(f"--out {path} is a directory; give a file name inside it")
        folder = path if kind == "dir" else path.parent
    else:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ConfigError(f"cannot write --out {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write --out {path}: {folder} is not writable")


def _seed_from_wafer(args: argparse.Namespace) -> None:
    attribute = getattr(args, "_sim_seed_from", None)
    if attribute is None or not getattr(args, "sim", False) or args.seed is not None:
        return
    path = getattr(args, attribute, None)
    if path is None or not Path(path).is_file():
        return
    found = wafer_sim_seed(Path(path))
    if found is not None:
        args.seed = found


def wafer_sim_seed(path: Path) -> int | None:
    """The seed of the simulated wafer that ``path`` measured (wafer id ``sim-seed-N``), or
    None for a real wafer."""
    from labctl.store.reader import open_wafer  # h5py: only when a command needs it
    from labctl.store.truth import SIM_WAFER_PREFIX

    with open_wafer(path) as reader:
        wafer_id = str(reader.info.wafer_id)
    suffix = wafer_id.removeprefix(SIM_WAFER_PREFIX)
    return int(suffix) if suffix != wafer_id and suffix.isdigit() else None

