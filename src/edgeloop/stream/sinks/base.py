"""The sink contract: ``open / write(result) / event(event) / close``, usable with ``with``."""

from __future__ import annotations

from typing import TypeVar

from edgeloop.stream.frames import Event, FrameResult

S = TypeVar("S", bound="Sink")


class Sink:
    """Base class: subclasses override ``open``, ``write``, ``close`` and, if they care, ``event``.

    ``close`` must be idempotent and leave complete output (no partial lines or
    unfinalised files) whenever it is called.
    """

    @classmethod
    def from_target(cls: type[S], target: str, sources: dict[str, float | None]) -> S:
        """The sink for a ``--sink NAME:TARGET`` value; ``sources`` maps source names to fps.

        Sinks whose constructor takes more than the target (the video sink) override this.
        """
        return cls(target)  # type: ignore[call-arg]  # subclasses take the target first

    def open(self) -> None:
        """Acquire resources (files, connections)."""

    def write(self, result: FrameResult) -> None:
        """Handle one frame's results."""
        raise NotImplementedError

    def event(self, event: Event) -> None:
        """Handle one event (source lost/reconnected, zone entered, line crossed)."""

    def close(self) -> None:
        """Flush and release. Safe to call more than once."""

    def __enter__(self) -> Sink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
