"""Fault SPEC parsing (examples and properties) and the injector's reproducible decisions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.core.errors import ConfigError
from labctl.core.roles import ROLES
from labctl.sim.faults import (
    PROBABILITIES,
    FaultSpec,
    InstrumentFaults,
    RoleFaults,
    garble,
    parse_fault_spec,
)

EXAMPLE = ("read_smu:garble=0.01,timeout=0.005;prober:error=0.01;controller:restart=0.001;"
           "contact_loss=0.02")


def test_the_documented_example() -> None:
    spec = parse_fault_spec(EXAMPLE)
    assert spec.role("read_smu") == RoleFaults(garble=0.01, timeout=0.005)
    assert spec.role("prober") == RoleFaults(error=0.01)
    assert spec.role("controller") == RoleFaults(restart=0.001)
    assert spec.role("gate_smu") == RoleFaults()
    assert spec.contact_loss == 0.02 and spec.seed is None
    assert parse_fault_spec(spec.to_text()) == spec


def test_untargeted_and_group_targets_apply_where_the_fault_exists() -> None:
    spec = parse_fault_spec("garble=0.1;error=0.2;smu:compliance=0.3,delay=0.5,delay_s=0.25;"
                            "seed=7")
    assert all(spec.role(role).garble == 0.1 for role in ROLES)
    assert spec.role("prober").error == 0.2 and spec.role("controller").error == 0.0
    for smu in ("read_smu", "gate_smu"):
        assert spec.role(smu).compliance == 0.3 and spec.role(smu).delay_s == 0.25
    assert spec.role("prober").compliance == 0.0
    assert spec.seed == 7
    assert parse_fault_spec("") == FaultSpec() and parse_fault_spec(" ; ;").empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scope:garble=0.1", "unknown target 'scope'"),
        ("read_smu:garbel=0.1", "unknown setting 'garbel'"),
        ("garble=1.5", "probability (0 ... 1), got 1.5"),
        ("garble=-0.1", "probability"),
        ("garble=nan", "must be finite"),
        ("garble=x", "must be a number"),
        ("garble", "expected name=value"),
        ("read_smu:", "no settings after read_smu"),
        ("garble=0.1,garble=0.2", "garble given twice"),
        ("read_smu:error=0.1", "error does not apply to read_smu"),
        ("prober:compliance=0.1", "compliance does not apply to prober"),
        ("prober:contact_loss=0.1", "contact_loss is station-wide"),
        ("station:garble=0.1", "not a station-wide setting"),
        ("seed=1.5", "seed must be a whole number"),
        ("seed=-1", "seed must be a whole number"),
        ("delay_s=0", "delay_s must be in (0, 60] s"),
        ("x" * 20_000, "too long"),
    ],
)
def test_bad_specs_are_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_fault_spec(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdegilmoprstuvwxy_:;,=.0123456789- e\t")),
               max_size=80))
def test_any_text_parses_or_is_refused_with_config_error(text: str) -> None:
    try:
        spec = parse_fault_spec(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert parse_fault_spec(spec.to_text()) == spec


probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def fault_specs(draw: st.DrawFn) -> FaultSpec:
    roles = {}
    for role in draw(st.lists(st.sampled_from(ROLES), unique=True)):
        values = {name: draw(probabilities) for name, applies in PROBABILITIES.items()
                  if role in applies and draw(st.booleans())}
        if draw(st.booleans()):
            values["delay_s"] = draw(st.floats(min_value=0.001, max_value=60.0))
        faults = RoleFaults(**values)
        if faults != RoleFaults():
            roles[role] = faults
    return FaultSpec(roles=roles, contact_loss=draw(probabilities),
                     seed=draw(st.none() | st.integers(min_value=0, max_value=2**62)))


@settings(max_examples=150, deadline=None)
@given(fault_specs())
def test_every_spec_survives_its_own_text(spec: FaultSpec) -> None:
    assert parse_fault_spec(spec.to_text()) == spec


def _decisions(faults: InstrumentFaults, n: int) -> list[object]:
    out: list[object] = []
    for k in range(n):
        out.append(faults.on_line(f"line {k}"))
        out.append(faults.on_reply(f"1.234567E-0{k % 10}"))
        out.append(faults.on_acquisition(100, in_contact=True))
    return out


def test_decisions_are_reproducible_from_the_seed() -> None:
    spec = parse_fault_spec("read_smu:garble=0.2,timeout=0.1,drop=0.05,restart=0.02,"
                            "compliance=0.1;contact_loss=0.1")
    first = _decisions(InstrumentFaults.for_role(spec, "read_smu", seed=5), 300)
    again = _decisions(InstrumentFaults.for_role(spec, "read_smu", seed=5), 300)
    other = _decisions(InstrumentFaults.for_role(spec, "read_smu", seed=6), 300)
    assert first == again
    assert first != other


def test_each_fault_draws_from_its_own_stream() -> None:
    """Raising one rate does not shift when another fault fires."""
    def garbled_at(spec: str) -> list[int]:
        faults = InstrumentFaults.for_role(parse_fault_spec(spec), "controller", seed=1)
        return [k for k in range(500) if faults.on_reply("1,2,3").text not in ("1,2,3", None)]

    alone = garbled_at("garble=0.1")
    assert 20 < len(alone) < 90
    assert garbled_at("garble=0.1;delay=0.2") == alone
    with_losses = garbled_at("garble=0.1;timeout=0.3")  # a lost reply hides its garbling
    assert with_losses and set(with_losses) < set(alone)


def test_rates_and_counts() -> None:
    faults = InstrumentFaults.for_role(parse_fault_spec("prober:error=0.1,drop=0.05"),
                                       "prober", seed=3)
    actions = [faults.on_line("StepNextDie 3 0") for _ in range(4000)]
    assert 300 < actions.count("error") < 500
    assert 120 < actions.count("drop") < 290
    assert faults.counts.injected == {"error": actions.count("error"),
                                      "drop": actions.count("drop")}
    assert faults.counts.lines == 4000
    assert faults.counts.faulty_replies == actions.count("error")
    # IEEE 488.2 commands never get an SCI error code; empty lines are never faulty.
    assert {faults.on_line("*IDN?") for _ in range(200)} <= {"execute", "drop"}
    assert {faults.on_line("   ") for _ in range(200)} == {"execute"}


def test_acquisition_faults_fall_inside_the_acquisition() -> None:
    faults = InstrumentFaults.for_role(parse_fault_spec("read_smu:compliance=1;contact_loss=1"),
                                       "read_smu", seed=0)
    for n in (1, 7, 19600):
        fate = faults.on_acquisition(n, in_contact=True)
        assert fate.contact_lost_at is not None and 0 <= fate.contact_lost_at < n
        assert fate.spike_at is not None and 0 <= fate.spike_at < n
    assert faults.on_acquisition(5, in_contact=False).contact_lost_at is None
    gate = InstrumentFaults.for_role(parse_fault_spec("contact_loss=1"), "gate_smu", seed=0)
    assert gate.on_acquisition(5, in_contact=True).contact_lost_at is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,E+-;\"abc ", min_size=1, max_size=60),
       st.integers(min_value=0, max_value=2**32))
def test_a_garbled_reply_always_differs(text: str, seed: int) -> None:
    assert garble(text, np.random.default_rng(seed)) != text
