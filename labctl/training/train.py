"""The training modes: ideal, statistics-aware (with or without routing) and hardware-aware
(unaware needs no training).

All run the same minibatch loop (Adam, cosine learning-rate decay, latent weights clipped to
[-1, 1]); they differ only in the hardware the forward pass sees:
- ideal: none (every cell contributes exactly its weight);
- statistics-aware: `dies_per_step` virtual dies drawn afresh every step from the wafer's
  statistics, the minibatch split between them (each image sees one random die). Without
  routing (the paper's protocol) every virtual die is used with the fixed input-to-row mapping;
  with routing, each is routed as deployment would route it (per-die row repair);
- hardware-aware: the measured maps of the dies, one weight set per die, all dies trained at once
  on the same minibatches (weights stacked dies x inputs x neurons).

`ModelSelector` keeps the weights of the epoch that scored best on held-out data (the
validation split, never the test set).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from labctl.core.errors import ConfigError
from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork
from labctl.training.routing import RoutingPriority, route
from labctl.training.sampler import DieSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Epochs, optimiser and batching of every mode (epochs may be fractional)."""

    ideal_epochs: float = 20.0
    statistics_epochs: float = 10.0
    hardware_epochs: float = 1.0
    batch_size: int = 100
    learning_rate: float = 0.01
    #: statistics-aware and hardware-aware start from trained weights: a gentler rate.
    finetune_learning_rate: float = 0.003
    #: virtual dies per statistics-aware step (the minibatch is split between them).
    dies_per_step: int = 4
    #: hardware-aware deployment: True = each die keeps the per-die row routing of the
    #: statistics-aware-routed weights it starts from; False = the paper's fixed mapping
    #: (logical input i on physical row i), starting from the statistics-aware weights.
    #: The two statistics-aware modes do not read it: `statistics-aware` never routes,
    #: `statistics-aware-routed` always does.
    routing: bool = True
    #: statistics-aware (paper protocol) only, chosen on the validation split (docs/training.md,
    #: "Paper protocol"): its fine-tuning rate (fine-tuning is noise-dominated at higher rates)
    #: and whether each layer's weight polarity is chosen on validation virtual dies first.
    paper_learning_rate: float = 0.0003
    paper_polarity: bool = True
    #: ... and the robustness margin: training draws virtual dies with every defect rate times
    #: this (model selection and evaluation use the measured rates).
    paper_defect_rate_scale: float = 1.5
    #: use only the first n training images (None = all 60 000).
    train_subset: int | None = None
    seed: int = 0
    #: torch threads for evaluation (few, long matrix products) ...
    threads: int = 2
    #: ... and for training steps, whose many short operations a second thread speeds up
    #: little on an idle machine and slows down many times on a busy one (each operation waits
    #: for the slower thread).
    step_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("ideal_epochs", "statistics_epochs", "hardware_epochs"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.threads < 1 or self.step_threads < 1:
            raise ConfigError("threads and step_threads must be >= 1")
        if not self.paper_learning_rate > 0:
            raise ConfigError(f"paper_learning_rate must be > 0, got {self.paper_learning_rate}")
        if not self.paper_defect_rate_scale > 0:
            raise ConfigError(
                f"paper_defect_rate_scale must be > 0, got {self.paper_defect_rate_scale}"
            )
        if self.batch_size < 1 or self.dies_per_step < 1:
            raise ConfigError("batch_size and dies_per_step must be >= 1")
        if self.batch_size % self.dies_per_step:
            raise ConfigError(
                f"batch_size {self.batch_size} must be a multiple of dies_per_step "
                f"{self.dies_per_step} (the minibatch is split between the virtual dies)"
            )
        if self.train_subset is not None and self.train_subset < self.batch_size:
            raise ConfigError(f"train_subset must be >= batch_size, got {self.train_subset}")

    @classmethod
    def quick(cls, seed: int = 0) -> TrainConfig:
        """A smoke-test preset: all modes in about a minute on two cores."""
        return cls(
            ideal_epochs=2.0,
            statistics_epochs=1.0,
            hardware_epochs=0.5,
            train_subset=20_000,
            seed=seed,
        )

    def with_epochs(self, mode: str, epochs: float) -> TrainConfig:
        """This config with the epochs of `mode` replaced."""
        if mode == "ideal":
            return replace(self, ideal_epochs=float(epochs))
        if mode == "statistics-aware":
            return replace(self, statistics_epochs=float(epochs))
        if mode == "hardware-aware":
            return replace(self, hardware_epochs=float(epochs))
        raise ConfigError(f"mode {mode!r} has no epochs to set")


#: Training images whose activity ranks the inputs for routing.
PRIORITY_SAMPLES = 5000

#: Called after every epoch with (epoch index, mean training loss of that epoch).
EpochCallback = Callable[[int, float], None]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with `n` torch threads, restoring the previous number after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _training_set(
    x: torch.Tensor, y: torch.Tensor, config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    if config.train_subset is not None:
        return x[: config.train_subset], y[: config.train_subset]
    return x, y


class ModelSelector:
    """Scores the network after every epoch (lower is better) and remembers the best weights.

    `score` must use held-out data only (the validation split): the chosen epoch is then an
    honest model selection, and the test set stays for the reported numbers.
    """

    def __init__(self, score: Callable[[BinaryNetwork], float]) -> None:
        self.score = score
        self.best_score = math.inf
        self.best_epoch = -1
        self.scores: list[float] = []
        self._best_state: dict[str, torch.Tensor] | None = None

    def observe(self, epoch: int, net: BinaryNetwork) -> None:
        net.eval()
        value = float(self.score(net))
        net.train()
        self.scores.append(value)
        if value < self.best_score:
            self.best_score, self.best_epoch = value, epoch
            self._best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def restore_best(self, net: BinaryNetwork) -> None:
        """Load the best epoch's weights into `net` (no-op before the first observation)."""
        if self._best_state is not None:
            net.load_state_dict(self._best_state)

    def summary(self) -> dict[str, Any]:
        """For metadata: the chosen epoch (0-based, -1 = the starting weights) and every
        score, the start's first."""
        return {
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "scores": [round(v, 6) for v in self.scores],
        }


def fit(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    seed: int,
    hardware: Callable[[], Sequence[TileResponse]] | None = None,
    split_between_dies: int = 0,
    on_epoch: EpochCallback | None = None,
    selector: ModelSelector | None = None,
) -> BinaryNetwork:
    """Train `net` in place for `epochs` passes over (x, y) and return it.

    hardware: called once per step for the tile responses the forward pass uses (None = ideal).
    split_between_dies: if > 0, the minibatch is split into that many equal parts, part i
    evaluated on die i of the responses; otherwise every die sees the whole minibatch and each
    model of `net` (1 or one per die) is trained on its own die.
    selector: scores the starting weights (epoch -1) and every epoch; the net returned holds
    the best of them, so training never returns weights that validate worse than its start.
    """
    generator = torch.Generator().manual_seed(seed)
    n_samples = x.shape[0]
    steps_per_epoch = max(n_samples // batch_size, 1)
    total_steps = max(math.ceil(epochs * steps_per_epoch), 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, total_steps)
    if selector is not None:
        selector.observe(-1, net)
    net.train()
    step, epoch = 0, 0
    while step < total_steps:
        order = torch.randperm(n_samples, generator=generator)
        losses = []
        for first in range(0, steps_per_epoch * batch_size, batch_size):
            if step >= total_steps:
                break
            idx = order[first : first + batch_size]
            inputs, labels = x[idx], y[idx]
            if split_between_dies:
                inputs = inputs.view(split_between_dies, -1, inputs.shape[-1])
            responses = None if hardware is None else hardware()
            logits = net(inputs, responses)
            targets = labels.view(-1 if split_between_dies else 1, logits.shape[1])
            targets = targets.expand(logits.shape[0], -1)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            # Each model's gradient should not shrink with the number of models.
            loss = loss * net.n_models
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            net.clip_latent_()
            losses.append(float(loss.detach()) / net.n_models)
            step += 1
        mean_loss = sum(losses) / max(len(losses), 1)
        log.info("epoch %d: loss %.4f (%d/%d steps)", epoch, mean_loss, step, total_steps)
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
        if selector is not None:
            selector.observe(epoch, net)
        epoch += 1
    if selector is not None:
        selector.restore_best(net)
    net.eval()
    return net


def train_ideal(
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    layer_sizes: Sequence[int],
    on_epoch: EpochCallback | None = None,
) -> BinaryNetwork:
    """The software baseline: binary network trained without any hardware."""
    net = BinaryNetwork(layer_sizes, generator=torch.Generator().manual_seed(config.seed))
    x, y = _training_set(x, y, config)
    with torch_threads(config.step_threads):
        return fit(
            net,
            x,
            y,
            epochs=config.ideal_epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
            on_epoch=on_epoch,
        )


def routing_priority(net: BinaryNetwork, x: torch.Tensor) -> RoutingPriority:
    """The routing priority of `net`'s inputs, from its activity on the first training images."""
    return RoutingPriority.of_network(net, x[:PRIORITY_SAMPLES])


def train_statistics_aware(
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    sampler: DieSampler,
    init: BinaryNetwork,
    on_epoch: EpochCallback | None = None,
    *,
    routing: bool = False,
    selector: ModelSelector | None = None,
    learning_rate: float | None = None,
) -> BinaryNetwork:
    """One weight set, fine-tuned from `init` on virtual dies drawn afresh every step.

    routing=False (the paper's protocol): every die with the fixed input-to-row mapping.
    routing=True: every drawn die is routed as deployment will route it, by the priority of the
    network being trained (recomputed after every epoch, as the neurons' activity changes).
    learning_rate: None = config.finetune_learning_rate.
    """
    net = copy.deepcopy(init)
    x, y = _training_set(x, y, config)
    n_dies = config.dies_per_step
    priority = [routing_priority(net, x) if routing else None]

    def hardware() -> list[TileResponse]:
        return route(priority[0], sampler.sample_responses(n_dies))

    def epoch_done(epoch: int, loss: float) -> None:
        if routing:
            priority[0] = routing_priority(net, x)
        if on_epoch is not None:
            on_epoch(epoch, loss)

    with torch_threads(config.step_threads):
        return fit(
            net,
            x,
            y,
            epochs=config.statistics_epochs,
            batch_size=config.batch_size,
            learning_rate=config.finetune_learning_rate if learning_rate is None else learning_rate,
            seed=config.seed + 1,
            hardware=hardware,
            split_between_dies=n_dies,
            on_epoch=epoch_done,
            selector=selector,
        )


def train_hardware_aware(
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    responses: Sequence[TileResponse],
    init: BinaryNetwork,
    on_epoch: EpochCallback | None = None,
) -> BinaryNetwork:
    """One weight set per die of `responses`, each fine-tuned from `init` on its own die."""
    n_dies = responses[0].n_dies
    net = init.replicate(n_dies) if init.n_models == 1 else copy.deepcopy(init)
    if net.n_models != n_dies:
        raise ConfigError(f"{net.n_models} weight sets for {n_dies} dies")
    x, y = _training_set(x, y, config)
    fixed = list(responses)
    with torch_threads(config.step_threads):
        return fit(
            net,
            x,
            y,
            epochs=config.hardware_epochs,
            batch_size=config.batch_size,
            learning_rate=config.finetune_learning_rate,
            seed=config.seed + 2,
            hardware=lambda: fixed,
            on_epoch=on_epoch,
        )
