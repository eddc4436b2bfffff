"""Batched evaluation equals the per-die loop; per-die error, spread, yield, sensitivity."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
import torch
from training_helpers import synthetic_die

from labctl.core.errors import ConfigError
from labctl.training import evaluate as evaluate_module
from labctl.training.crossbar import die_responses
from labctl.training.evaluate import (
    Evaluation,
    die_errors,
    die_errors_loop,
    evaluate_dies,
    evaluate_virtual_dies,
)
from labctl.training.network import BinaryNetwork
from labctl.training.sampler import DieSampler
from labctl.training.statistics import wafer_statistics

SHAPES = ((12, 8), (8, 4))


def toy_problem(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = torch.from_numpy((rng.random((n, 12)) > 0.6).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 4, n))
    return x, y


def toy_dies(n: int = 6) -> list:
    return [
        synthetic_die(
            f"die_0{2 + i}_00" if i < 4 else f"die_0{i - 3}_01",
            seed=i,
            shapes=SHAPES,
            rates=(0.03 * (i % 3), 0.02, 0.02, 0.02),
        )
        for i in range(n)
    ]


def test_batched_evaluation_equals_per_die_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = toy_problem()
    net = BinaryNetwork((12, 8, 4), generator=torch.Generator().manual_seed(0))
    responses = die_responses(toy_dies())
    # Force several chunks so that chunking is exercised too.
    monkeypatch.setattr(evaluate_module, "_DIES_PER_CHUNK", 4)
    monkeypatch.setattr(evaluate_module, "_MAX_PASS_ELEMENTS", 100)
    batched = die_errors(net, x, y, responses)
    looped = die_errors_loop(net, x, y, responses)
    np.testing.assert_array_equal(batched[0], looped[0])
    np.testing.assert_allclose(batched[1], looped[1], rtol=1e-5)
    assert len(set(batched[0].tolist())) > 1  # the dies really differ


def test_one_model_per_die_is_paired_with_its_die() -> None:
    x, y = toy_problem()
    responses = die_responses(toy_dies(3))
    nets = [BinaryNetwork((12, 8, 4), generator=torch.Generator().manual_seed(s)) for s in range(3)]
    stacked = BinaryNetwork.stack(nets)
    errors, _ = die_errors(stacked, x, y, responses)
    for d, net in enumerate(nets):
        alone, _ = die_errors(net, x, y, [r.select([d]) for r in responses])
        assert errors[d] == alone[0]
    with pytest.raises(ConfigError):
        die_errors(stacked, x, y, [r.select([0, 1]) for r in responses])


def test_errors_are_fractions_of_the_test_set() -> None:
    x, y = toy_problem(50)
    net = BinaryNetwork((12, 8, 4))
    with torch.no_grad():  # output 2 always wins
        net.bias[1].copy_(torch.tensor([[[0.0, 0.0, 1000.0, 0.0]]]))
    errors, losses = die_errors(net, x, y, None)
    assert errors[0] == pytest.approx(float((y != 2).float().mean()))
    assert losses[0] > 0


def test_evaluation_summary_yield_and_distribution() -> None:
    ev = Evaluation(("a", "b", "c", "d"), np.array([0.1, 0.2, 0.1, 0.5]), np.ones(4))
    assert ev.mean_error == pytest.approx(0.225)
    assert ev.yield_fraction(0.15) == 0.5
    d = ev.to_dict(0.25)
    assert d["per_die"]["d"] == 0.5 and d["yield"] == 0.75 and d["yield_threshold"] == 0.25
    dist = ev.distribution()
    assert dist["error_p50"] == pytest.approx(0.15) and dist["loss_std"] == 0.0


def test_named_and_virtual_dies() -> None:
    x, y = toy_problem()
    dies = toy_dies(4)
    net = BinaryNetwork((12, 8, 4), generator=torch.Generator().manual_seed(0))
    named = evaluate_dies(net, x, y, die_responses(dies), [d.name for d in dies])
    assert named.die_names[0] == dies[0].name and named.errors.shape == (4,)
    sampler = DieSampler(wafer_statistics(dies), seed=0)
    virtual = evaluate_virtual_dies(net, x, y, sampler, n_dies=23, chunk_dies=10)
    assert virtual.errors.shape == (23,) and np.all((virtual.errors >= 0) & (virtual.errors <= 1))
    assert virtual.std_error > 0  # defect draws differ


def random_binary_problem(
    n_images: int, n_inputs: int, n_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary inputs about as sparse as the MNIST pixels (13 % ones)."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy((rng.random((n_images, n_inputs)) < 0.13).astype(np.float32))
    return x, torch.from_numpy(rng.integers(0, n_classes, n_images))


def perturbed_network(sizes: tuple[int, ...], seed: int) -> BinaryNetwork:
    """A network with biases and some negative scales, so that every comparator case occurs."""
    g = torch.Generator().manual_seed(seed)
    net = BinaryNetwork(sizes, generator=g)
    with torch.no_grad():
        for scale, bias in zip(net.scale, net.bias, strict=True):
            scale.mul_(torch.where(torch.rand(scale.shape, generator=g) < 0.3, -1.0, 1.0))
            bias.copy_(torch.randn(bias.shape, generator=g) * 0.5)
    return net


@pytest.mark.parametrize("sizes", [(40, 16, 10), (40, 16, 12, 10), (40, 10)])
def test_sparse_path_gives_the_loops_predictions_on_defective_dies(
    monkeypatch: pytest.MonkeyPatch, sizes: tuple[int, ...]
) -> None:
    shapes = tuple((max(a, b), max(a, b)) for a, b in itertools.pairwise(sizes))
    # Shorts, opens and stuck cells at several rates: their cells contribute forced values.
    dies = [
        synthetic_die(f"die_{i:02d}_00", seed=10 + i, shapes=shapes, rates=(0.04, 0.03, 0.02, 0.02))
        for i in range(7)
    ]
    responses = die_responses(dies)
    x, y = random_binary_problem(240, sizes[0], sizes[-1], seed=1)
    net = perturbed_network(sizes, seed=2)
    monkeypatch.setattr(evaluate_module, "_DIES_PER_CHUNK", 3)
    monkeypatch.setattr(evaluate_module, "_MAX_PASS_ELEMENTS", 2000)
    batched = die_errors(net, x, y, responses)
    looped = die_errors_loop(net, x, y, responses)
    np.testing.assert_array_equal(batched[0], looped[0])
    np.testing.assert_allclose(batched[1], looped[1], rtol=1e-5)
    assert len(set(batched[0].tolist())) > 1  # the dies really differ
    # Image by image (each alone is right or wrong on each die): the same predictions.
    for i in range(0, 240, 6):
        alone = die_errors(net, x[i : i + 1], y[i : i + 1], responses)[0]
        np.testing.assert_array_equal(
            alone, die_errors_loop(net, x[i : i + 1], y[i : i + 1], responses)[0]
        )


def test_dense_path_for_inputs_that_are_not_binary() -> None:
    x, y = random_binary_problem(200, 12, 4, seed=3)
    x = x * 0.5 + 0.25 * torch.rand(x.shape, generator=torch.Generator().manual_seed(4))
    responses = die_responses(toy_dies(5))
    net = perturbed_network((12, 8, 4), seed=5)
    batched = die_errors(net, x, y, responses)
    np.testing.assert_array_equal(batched[0], die_errors_loop(net, x, y, responses)[0])


def test_folded_thresholds_fire_exactly_when_the_comparator_does() -> None:
    g = torch.Generator().manual_seed(6)
    scale = torch.randn(1, 1, 400, generator=g) * torch.logspace(-3, 3, 400).view(1, 1, -1)
    scale[..., :20] = 0.0  # constant outputs: fire when bias >= 0
    scale[..., 20:200] *= -1  # negative scales compare the negated sum
    bias = torch.randn(1, 1, 400, generator=g) * 3
    bias[..., 10:15] = 0.0
    sign, threshold = evaluate_module.firing_thresholds(scale, bias)
    finite = threshold.isfinite()
    t = torch.where(finite, threshold, 0.0)
    # Pre-activations at, just around and far from each switching point, with both signs.
    around = [
        t,
        t.nextafter(torch.full_like(t, math.inf)),
        t.nextafter(torch.full_like(t, -math.inf)),
    ]
    candidates = [sign * v for v in around] + [
        torch.randn(1, 1, 400, generator=g) * 10 ** float(e) for e in range(-4, 5)
    ]
    for pre in [*candidates, torch.zeros(1, 1, 400), -torch.zeros(1, 1, 400)]:
        fires = (pre * scale + bias) >= 0
        assert torch.equal((sign * pre) >= threshold, fires)
    assert bool(finite[..., 20:].all())  # a switching point for every neuron that has one


def test_ties_at_the_comparator_threshold_and_between_classes_as_in_the_forward_pass() -> None:
    # Ideal cells and zero biases: bit-line sums are small integers, often exactly 0, and
    # equal class scores are common (argmax answers the first).
    x, y = random_binary_problem(300, 30, 10, seed=7)
    nets = [
        BinaryNetwork((30, 12, 10), generator=torch.Generator().manual_seed(s)) for s in range(4)
    ]
    stacked = BinaryNetwork.stack(nets)
    errors, _ = die_errors(stacked, x, y, None)
    with torch.inference_mode():
        logits = [net(x)[0] for net in nets]
    expected = [int((scores.argmax(dim=-1) != y).sum()) / len(y) for scores in logits]
    np.testing.assert_array_equal(errors, np.asarray(expected))
    # The case that matters: the true class ties with an earlier one for the maximum.
    tied_right_after_wrong = sum(
        int(
            ((s == s.amax(dim=-1, keepdim=True)).sum(dim=-1) > 1)
            .logical_and(s.gather(-1, y[:, None])[:, 0] == s.amax(dim=-1))
            .logical_and(s.argmax(dim=-1) != y)
            .sum()
        )
        for s in logits
    )
    assert tied_right_after_wrong > 0


def test_chunks_shared_among_threads_give_the_same_numbers_and_keep_the_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = toy_problem()
    responses = die_responses(toy_dies())
    net = perturbed_network((12, 8, 4), seed=8)
    monkeypatch.setattr(evaluate_module, "_DIES_PER_CHUNK", 2)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = die_errors(net, x, y, responses)
        torch.set_num_threads(2)
        shared = die_errors(net, x, y, responses)
        assert torch.get_num_threads() == 2
        seen: list[int] = []  # a thread started afterwards gets the caller's default again
        later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        later.start()
        later.join()
        assert seen == [2]
    finally:
        torch.set_num_threads(saved)
    np.testing.assert_array_equal(alone[0], shared[0])
    np.testing.assert_array_equal(alone[1], shared[1])
