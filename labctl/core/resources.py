"""The data files shipped with labctl: station files, MNIST with its checksums, simulator
parameter and study examples.

They are the package ``labctl_data`` (the repository's top-level data/ folder, mapped in
pyproject.toml) and are found through importlib.resources, so a wheel works from any directory
and an editable install reads data/ itself. Every runtime path to a shipped file comes from
:func:`data_file`; none is built from ``__file__``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from labctl.core.errors import ConfigError

#: The import name of the data package (pyproject.toml: [tool.setuptools.package-dir]).
DATA_PACKAGE = "labctl_data"


@lru_cache(maxsize=1)
def data_root() -> Path:
    """The folder holding the shipped data files.

    A source checkout used without installing (``PYTHONPATH=.``) has no ``labctl_data``
    package; its data/ folder is used then. An install whose files are not on the file system
    (a zip) is refused: the HDF5 and MNIST readers need real paths.
    """
    try:
        root = files(DATA_PACKAGE)
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2] / "data"
        if (checkout / "__init__.py").is_file():
            return checkout
        raise ConfigError(
            f"labctl's data files are missing (no package {DATA_PACKAGE}): reinstall labctl"
        ) from None
    if not isinstance(root, Path):
        raise ConfigError(f"labctl's data files are not on the file system ({root}): "
                          "install labctl unzipped (pip install)")
    return root


def data_file(relative: str) -> Path:
    """The shipped file or folder ``relative`` (``/``-separated, e.g. ``"stations/sim.toml"``).

    The path is returned even if nothing is there, so that the reader reports the missing file
    with its full name.
    """
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a data file name: {relative!r}")
    return data_root().joinpath(*parts)
