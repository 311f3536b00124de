"""The demo's closing report: the step table, the shifted-domain mAP before and after, and how to
open the hub the demo filled in a browser."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from edgeloop.demo.field import FieldRound
from edgeloop.demo.steps import Steps, console


def print_report(out: Path, result: FieldRound, steps: Steps) -> None:
    """Print what the demo did and what to open next."""
    console.print()
    console.print(steps.table())
    change = (result.map_after - result.map_before) * 100
    colour = "green" if change > 0 else "red"
    console.print(
        f"[bold]shifted domain (held-out B images), mAP50-95:[/] {result.map_before:.3f} before -> "
        f"[bold {colour}]{result.map_after:.3f}[/] after ({change:+.1f} points)"
    )
    console.print(
        f"frames the device captured and sent: {result.captured}; labelled (by the script standing in "
        f"for a person): {result.labelled}; published: shapes@{result.published}; "
        f"the device now runs shapes@{result.switched_to}"
    )
    hub = result.hub
    command = " ".join(shlex.quote(a) for a in ["edgeloop", *hub.serve_args()[:-2], "--port", "8700"])
    token = shlex.quote(str(hub.data / "admin.token"))
    console.print()
    console.print(
        "[bold]Look at it in a browser[/] (the demo stopped its hub; this starts it again on its data):"
    )
    console.print(f"   {command}", markup=False, soft_wrap=True)  # whole lines, to copy
    console.print(
        f'   echo "http://127.0.0.1:8700/#token=$(cat {token})"   # then open that link',
        markup=False,
        soft_wrap=True,
    )
    console.print(
        "   Devices: field-cam-1 and the version it runs; Gallery: the captured frames with their "
        "labels; Retrain: the job, its log and the gate report of shapes@2; Rollouts: both rollouts "
        "with the device's states."
    )
    console.print(f"   everything the demo made is under {out} ({out / 'summary.json'}: these numbers)")
    write_summary(out / "summary.json", result, steps)


def write_summary(path: Path, result: FieldRound, steps: Steps) -> None:
    """The numbers above as JSON: each step's seconds and result, frames, versions, mAP."""
    summary = {
        "steps": [{"step": s.short, "seconds": round(s.seconds, 1), "result": s.result} for s in steps.done],
        "total_s": round(steps.total_s(), 1),
        "captured": result.captured,
        "labelled": result.labelled,
        "published": result.published,
        "device_runs": result.switched_to,
        "ota": result.ota,
        "shifted_map50_95": {"before": result.map_before, "after": result.map_after},
        "hub": {"data": str(result.hub.data), "keys": str(result.hub.keys)},
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
