"""The wheel holds every package and data file, declares torch and Qt only as extras, and works
from an unrelated folder without the source tree; shipped files resolve through
importlib.resources.

The full check of a fresh virtual environment installing the wheel from the package index takes
minutes and the network: tools/check_wheel.sh (figures in docs/howto.md, "Install").
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from labctl import __version__
from labctl.core.resources import data_file, data_root
from labctl.station.config import SIM_STATION_FILE
from labctl.training.mnist import DEFAULT_MNIST_DIR, read_checksums

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = ("labctl", "drivers", "procedures", "gui")
#: What the wheel is built from (anything else in the repository stays out of it).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", *PACKAGE_ROOTS, "data")
HEAVY = ("torch", "safetensors", "PyQt6", "pyqtgraph")


def shipped_data_files() -> list[str]:
    """Files under data/ a user needs at run time, relative to data/."""
    return sorted(
        p.relative_to(ROOT / "data").as_posix()
        for p in (ROOT / "data").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_every_package_of_the_source_tree_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for root in PACKAGE_ROOTS
        for p in (ROOT / root).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    missing = sorted(found - listed - {"labctl_data"})
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"]["labctl_data"] == "data"


def test_shipped_files_resolve_through_importlib_resources() -> None:
    assert (data_root() / "__init__.py").is_file()
    assert data_file("stations/sim.toml") == SIM_STATION_FILE and SIM_STATION_FILE.is_file()
    assert data_file("mnist") == DEFAULT_MNIST_DIR
    assert set(read_checksums(DEFAULT_MNIST_DIR)) >= {"train-images-idx3-ubyte.gz"}
    with pytest.raises(ValueError):
        data_file("../pyproject.toml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline (the project venv's setuptools) from a copy of the sources."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            (src / name).write_bytes(path.read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(work / "dist"), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (built,) = (work / "dist").glob("labctl-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_code_and_data_and_declares_heavy_deps_as_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    for relative in shipped_data_files():
        assert f"labctl_data/{relative}" in names, f"data/{relative} is not in the wheel"
    for root in PACKAGE_ROOTS:
        for module in (ROOT / root).rglob("*.py"):
            if "__pycache__" not in module.parts:
                assert module.relative_to(ROOT).as_posix() in names
    assert "labctl/py.typed" in names
    assert not any(n.startswith(("data/", "tests/", "benchmarks/")) for n in names)
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    requires = metadata.get_all("Requires-Dist")
    for heavy in HEAVY:
        entries = [r for r in requires if r.split(";")[0].strip().startswith(heavy)]
        assert entries and all("extra ==" in r for r in entries), (heavy, entries)
    assert {"train", "gui", "study", "all"} <= set(metadata.get_all("Provides-Extra"))


@pytest.mark.slow
def test_the_installed_wheel_sweeps_from_an_unrelated_folder_without_torch_or_qt(
    wheel: Path, tmp_path: Path
) -> None:
    """The wheel unpacked on its own (no source tree, no editable finder on the path: python
    -S), its dependencies from this environment: the sweep reads the station file from the
    installed package data and never imports the training or GUI stacks."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = f"""
import sys
from labctl.cli.main import main
status = main(["sweep", "--sim", "--seed", "1", "--dies", "die_03_00", "--out", "w.h5"])
import labctl, labctl.core.resources as r
assert labctl.__file__.startswith({str(target)!r}), labctl.__file__
assert str(r.data_root()).startswith({str(target)!r}), r.data_root()
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {set(HEAVY)!r})
print("status", status, "heavy", heavy)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), _site_packages()])}
    done = subprocess.run([sys.executable, "-S", "-c", script], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "status 0 heavy []" in done.stdout, done.stdout[-2000:]
    assert (elsewhere / "w.h5").is_file()


@pytest.mark.slow
def test_a_command_needing_a_missing_extra_names_it_in_one_line(tmp_path: Path) -> None:
    """torch hidden from the interpreter: `labctl train` says which extra to install, exit 2."""
    from labctl import api

    api.sweep(api.simulator(seed=1), tmp_path / "w.h5", dies=["die_03_00"])
    # None in sys.modules: the import system's own "not installed" (find_spec gives None too).
    script = (
        "import sys\n"
        "sys.modules.update(torch=None, safetensors=None)\n"
        "from labctl.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "train", "--mode", "ideal", "--wafer", "w.h5",
         "--out", "t"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'labctl[train]'" in lines[0], lines


def _site_packages() -> str:
    return sysconfig.get_path("purelib")
