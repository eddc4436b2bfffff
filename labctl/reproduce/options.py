"""What a reproduce run does: the full experiment, or the --quick smoke-test preset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labctl.core.errors import ConfigError
from labctl.training.train import TrainConfig

#: Modes programmed onto the dies (the paper's protocol first, our routed addition after it).
#: Every one is validated from its read-back map and in situ on every die.
DEPLOYED_MODES = ("unaware", "statistics-aware", "statistics-aware-routed", "hardware-aware")
#: The mode behind the first-wave keys `in_situ_agreement` and `in_situ` of results.json and the
#: held-out wafer: the paper's protocol, one weight set and nothing per die.
IN_SITU_MODE = "statistics-aware"
#: In-situ images per die and mode of the full experiment (a measurement, not a smoke test).
IN_SITU_IMAGES = 1000


@dataclass(frozen=True)
class ReproduceOptions:
    """Everything besides the station that determines a reproduce run."""

    out_dir: Path
    seed: int = 0
    #: existing wafer file to reuse (None: sweep a new one into out_dir).
    wafer: Path | None = None
    #: dies the sweep measures ("all" or a comma-separated list).
    sweep_dies: str = "all"
    #: complete dies programmed and validated (None: all).
    max_program_dies: int | None = None
    in_situ_images: int = IN_SITU_IMAGES
    train: TrainConfig = field(default_factory=TrainConfig)
    virtual_dies: int = 1000
    #: second simulated wafer for the statistics-aware weights (None: none, e.g. a station).
    holdout_seed: int | None = None
    holdout_sweep_dies: str = "all"
    holdout_max_program_dies: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        if self.in_situ_images < 0:
            raise ConfigError("--in-situ-images must be >= 0")
        if self.seed < 0 or (self.holdout_seed is not None and self.holdout_seed < 0):
            raise ConfigError("seeds must be >= 0")
        if self.holdout_seed is not None and self.holdout_seed == self.seed:
            raise ConfigError("--holdout-seed must differ from --seed (a wafer training never saw)")

    @classmethod
    def preset(
        cls, out_dir: Path, seed: int, quick: bool, wafer: Path | None, holdout_seed: int | None
    ) -> ReproduceOptions:
        """The full experiment, or --quick: few dies, few epochs, a subset of MNIST, short
        in-situ runs (a smoke test of every step in under 3 minutes on two cores)."""
        if not quick:
            return cls(out_dir=out_dir, seed=seed, wafer=wafer, holdout_seed=holdout_seed,
                       train=TrainConfig(seed=seed))
        return cls(
            out_dir=out_dir,
            seed=seed,
            wafer=wafer,
            sweep_dies="die_02_00,die_03_00,die_04_00,die_05_00,die_01_01,die_02_01",
            max_program_dies=2,
            in_situ_images=100,
            train=TrainConfig(
                ideal_epochs=1.0, statistics_epochs=0.5, hardware_epochs=0.5,
                train_subset=10_000, seed=seed,
            ),
            virtual_dies=0,
            holdout_seed=holdout_seed,
            holdout_sweep_dies="die_02_00,die_03_00,die_04_00",
            holdout_max_program_dies=2,
            quick=True,
        )
