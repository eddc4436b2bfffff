"""End-of-sweep summary: per-die yield and defect counts, and failed dies with their reasons."""

from __future__ import annotations

from typing import Any

from labctl.core.defects import DefectCode
from procedures.events import DIE_TOPIC, DieEvent

_DEFECT_NAMES = tuple(code.name.lower() for code in DefectCode if code != DefectCode.OK)
_FINAL = ("complete", "failed", "skipped", "aborted")


class SweepSummary:
    """Listener that keeps the last final event of each die, in the order dies finished."""

    def __init__(self) -> None:
        self.dies: dict[str, DieEvent] = {}

    def handle(self, topic: str, record: Any) -> None:
        if topic == DIE_TOPIC and record["status"] in _FINAL:
            self.dies[record["die"]] = record

    def counts(self) -> dict[str, int]:
        """Number of dies by final status."""
        result: dict[str, int] = {status: 0 for status in _FINAL}
        for event in self.dies.values():
            result[event["status"]] += 1
        return result

    def text(self) -> str:
        """A plain-text table and the failure list, ready to print or log."""
        header = f"{'die':<10} {'status':<9} {'yield':>7} " + " ".join(
            f"{name:>8}" for name in _DEFECT_NAMES
        )
        lines = [header, "-" * len(header)]
        for name, event in self.dies.items():
            yield_text = (f"{100 * event['yield_fraction']:6.2f}%"
                          if event["yield_fraction"] is not None else f"{'-':>7}")
            counts = " ".join(
                f"{event['defects'].get(defect, 0):>8}" if event["defects"] else f"{'-':>8}"
                for defect in _DEFECT_NAMES
            )
            lines.append(f"{name:<10} {event['status']:<9} {yield_text} {counts}")
        totals = self.counts()
        measured = [e for e in self.dies.values() if e["yield_fraction"] is not None]
        total_cells = sum(e["cells"] for e in measured)
        if total_cells:
            ok_cells = sum(e["cells"] * (e["yield_fraction"] or 0.0) for e in measured)
            lines.append(f"wafer yield over {len(measured)} characterised dies: "
                         f"{100 * ok_cells / total_cells:.2f}% of {total_cells} cells")
        lines.append(", ".join(f"{n} {status}" for status, n in totals.items() if n)
                     or "no dies processed")
        problems = [e for e in self.dies.values() if e["status"] in ("failed", "aborted")]
        if problems:
            lines.append("dies not completed:")
            lines.extend(f"  {e['die']}: {e['status']}: {e['reason']}" for e in problems)
        return "\n".join(lines)
