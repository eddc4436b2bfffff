"""Training modes on a small learnable problem and small synthetic dies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_helpers import synthetic_die

from labctl.core.errors import ConfigError
from labctl.training.crossbar import die_responses
from labctl.training.evaluate import die_errors
from labctl.training.sampler import DieSampler
from labctl.training.statistics import wafer_statistics
from labctl.training.train import (
    ModelSelector,
    TrainConfig,
    train_hardware_aware,
    train_ideal,
    train_statistics_aware,
)

SIZES = (16, 12, 4)
SHAPES = ((16, 12), (12, 4))


def toy_data(n: int = 800) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c lights up most pixels of block c (4 pixels), plus a little noise elsewhere."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = (rng.random((n, 16)) < 0.1).astype(np.float32)
    for c in range(4):
        block = x[y == c, 4 * c : 4 * c + 4]
        x[y == c, 4 * c : 4 * c + 4] = np.maximum(block, rng.random(block.shape) < 0.8)
    return torch.from_numpy(x), torch.from_numpy(y)


CONFIG = TrainConfig(
    ideal_epochs=8,
    statistics_epochs=2,
    hardware_epochs=2,
    batch_size=40,
    dies_per_step=4,
    threads=1,
)


def test_ideal_training_learns_the_toy_problem() -> None:
    x, y = toy_data()
    losses: list[float] = []
    net = train_ideal(x, y, CONFIG, SIZES, on_epoch=lambda _, loss: losses.append(loss))
    assert len(losses) == 8 and losses[-1] < losses[0]
    errors, _ = die_errors(net, x, y, None)
    assert errors[0] < 0.15
    assert all(float(p.detach().abs().max()) <= 1.0 for p in net.latent)  # latent weights clipped


def test_statistics_aware_returns_one_weight_set_trained_on_virtual_dies() -> None:
    x, y = toy_data()
    dies = [
        synthetic_die(f"die_0{i + 2}_00", i, SHAPES, (0.03, 0.02, 0.02, 0.02)) for i in range(3)
    ]
    init = train_ideal(x, y, CONFIG, SIZES)
    sampler = DieSampler(wafer_statistics(dies), seed=0)
    net = train_statistics_aware(x, y, CONFIG, sampler, init)
    assert net.n_models == 1
    assert not torch.equal(net.latent[0], init.latent[0])  # trained a copy...
    assert torch.equal(init.latent[0], train_ideal(x, y, CONFIG, SIZES).latent[0])  # ...not init


def test_model_selection_keeps_the_best_scored_epoch() -> None:
    x, y = toy_data()
    init = train_ideal(x, y, CONFIG, SIZES)
    # A score that prefers the second epoch over the start and the others: its weights return.
    snapshots: list[torch.Tensor] = []

    def score(net: object) -> float:
        snapshots.append(init_latent(net))
        return [2.5, 3.0, 1.0, 2.0][len(snapshots) - 1]

    def init_latent(net: object) -> torch.Tensor:
        return net.latent[0].detach().clone()  # type: ignore[attr-defined]

    selector = ModelSelector(score)
    config = TrainConfig(**{**CONFIG.__dict__, "statistics_epochs": 3})
    dies = [synthetic_die("die_02_00", 0, SHAPES, (0.03, 0.02, 0.02, 0.02))]
    sampler = DieSampler(wafer_statistics(dies), seed=0)
    net = train_statistics_aware(x, y, config, sampler, init, selector=selector)
    assert selector.best_epoch == 1 and selector.summary()["scores"] == [2.5, 3.0, 1.0, 2.0]
    assert torch.equal(snapshots[0], init.latent[0])  # the start is scored first
    assert torch.equal(net.latent[0], snapshots[2])
    assert not torch.equal(snapshots[2], snapshots[3])


def test_hardware_aware_trains_one_weight_set_per_die() -> None:
    x, y = toy_data()
    dies = [synthetic_die(f"die_0{i + 2}_00", i, SHAPES, (0.1, 0.02, 0.02, 0.02)) for i in range(3)]
    responses = die_responses(dies)
    init = train_ideal(x, y, CONFIG, SIZES)
    before, _ = die_errors(init, x, y, responses)
    net = train_hardware_aware(x, y, CONFIG, responses, init)
    assert net.n_models == 3
    assert not torch.equal(net.latent[0][0], net.latent[0][1])
    after, _ = die_errors(net, x, y, responses)
    assert after.mean() <= before.mean()
    with pytest.raises(ConfigError):
        train_hardware_aware(x, y, CONFIG, [r.select([0, 1]) for r in responses], net)


def test_config_validation_and_presets() -> None:
    with pytest.raises(ConfigError, match="multiple"):
        TrainConfig(batch_size=10, dies_per_step=4)
    with pytest.raises(ConfigError):
        TrainConfig(ideal_epochs=0)
    quick = TrainConfig.quick(seed=3)
    assert quick.seed == 3 and quick.train_subset is not None
    assert quick.with_epochs("hardware-aware", 0.25).hardware_epochs == 0.25
    with pytest.raises(ConfigError):
        quick.with_epochs("unaware", 1)
