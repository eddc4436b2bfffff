"""labctl sets torch's OpenMP wait policy before torch loads, unless the user set one."""

from __future__ import annotations

import os
import subprocess
import sys

REPORT = (
    "import os, sys; {imports}; from labctl.core import thread_policy; "
    "print(os.environ.get('OMP_WAIT_POLICY'), thread_policy.wait_policy_in_effect())"
)


def run_python(imports: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(imports=imports)],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def test_training_entry_points_get_the_passive_policy_before_torch_loads() -> None:
    assert run_python("import labctl.training.evaluate") == "PASSIVE PASSIVE"
    assert run_python("import labctl; import torch") == "PASSIVE PASSIVE"


def test_an_explicit_user_setting_is_kept() -> None:
    assert run_python("import labctl", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE ACTIVE"


def test_torch_loaded_first_is_reported_as_the_runtime_default() -> None:
    # Too late to change the runtime: the module says so instead of claiming the policy.
    assert run_python("import torch; import labctl") == "PASSIVE None"
