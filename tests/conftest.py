"""Suite-wide options: ``--station FILE`` runs the tests marked ``bench`` against a real station.

Without ``--station`` every ``bench`` test is skipped, so ``pytest`` and ``make test`` never need
hardware; ``pytest -m bench --station FILE`` runs only them, against the instruments the station
file names (docs/howto.md, "Run the acceptance tests on a real bench").
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--station",
        action="store",
        default=None,
        metavar="FILE",
        help="station file of a real bench: run the tests marked 'bench' against its instruments",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--station") is not None:
        return
    skip = pytest.mark.skip(reason="needs a real station: pytest -m bench --station FILE")
    for item in items:
        if "bench" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_station_file(pytestconfig: pytest.Config) -> Path:
    """The ``--station`` file (bench tests only; they are skipped without one)."""
    path = pytestconfig.getoption("--station")
    if path is None:
        pytest.skip("needs a real station: pytest -m bench --station FILE")
    return Path(path)
