"""On-device capture: samplers score frames, a policy decides, privacy filters, a durable spool keeps.

See docs/improve.md and LOOP.md (invariants 1-3).
"""

from __future__ import annotations

from edgeloop.improve.capture import Capture, Decision, ModelRef
from edgeloop.improve.policy import CapturePolicy, load_policy, policy_from_dict
from edgeloop.improve.records import Sample, SampleRecord
from edgeloop.improve.spool import Spool, SpoolError

__all__ = [
    "Capture",
    "CapturePolicy",
    "Decision",
    "ModelRef",
    "Sample",
    "SampleRecord",
    "Spool",
    "SpoolError",
    "load_policy",
    "policy_from_dict",
]
