"""Optional parts of labctl and the pip extra that installs each.

The base install sweeps, inspects and reports without torch or Qt (pyproject.toml). A package
that needs an extra calls :func:`require_extra` before its first optional import, so a missing
extra is one line naming what to install (the CLI prints a LabctlError and exits 2) instead of
a ModuleNotFoundError traceback deep inside an import.
"""

from __future__ import annotations

import importlib.util

from labctl.core.errors import LabctlError

#: What each extra is for, as said in the message.
EXTRA_PURPOSE = {
    "train": "training, evaluation, programming and validation",
    "gui": "the GUI",
    "study": "design-space studies",
}


class MissingExtraError(LabctlError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it.

    Also an ImportError, so code that treats a missing optional module as absent keeps working.
    """


def missing_modules(*modules: str) -> list[str]:
    """Those of the top-level ``modules`` that cannot be imported here (nothing is imported)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require_extra(extra: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless every one of ``modules`` is installed."""
    missing = missing_modules(*modules)
    if missing:
        purpose = EXTRA_PURPOSE.get(extra, f"the {extra} extra")
        verb = "is" if len(missing) == 1 else "are"
        raise MissingExtraError(
            f"{', '.join(missing)} {verb} not installed (needed for {purpose}): "
            f"pip install 'labctl[{extra}]'"
        )
