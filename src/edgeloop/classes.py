"""Class filters given by people: names and ids, checked against a model's classes."""

from __future__ import annotations

from collections.abc import Sequence

from edgeloop.errors import ConfigError


def parse_classes(
    spec: str | Sequence[str], names: Sequence[str], flag: str = "--classes"
) -> tuple[int, ...]:
    """Class ids for ``spec``: class names and ids, comma-separated and mixed (``"person,2"``).

    A token that is one of ``names`` is that class (so a class named ``"7"`` wins
    over id 7); otherwise it must be an id in ``0..len(names)-1``. Repeats are
    kept once, in the order given.

    Args:
        spec: ``"red,2"`` or ``["red", "2"]``.
        names: the model's class names, index = class id.
        flag: how the user gave ``spec``, named in errors.

    Raises:
        ConfigError: an empty filter, an unknown name or an id out of range; the
            message lists the model's classes.
    """
    tokens = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec)]
    tokens = [t for t in tokens if t]
    if not tokens:
        raise ConfigError(f"{flag} is empty: give class names or ids, e.g. {flag} {_example(names)}")
    ids: list[int] = []
    for token in tokens:
        class_id = _one(token, names, flag)
        if class_id not in ids:
            ids.append(class_id)
    return tuple(ids)


def _one(token: str, names: Sequence[str], flag: str) -> int:
    if token in names:
        return list(names).index(token)
    try:
        class_id = int(token)
    except ValueError:
        raise ConfigError(
            f"{flag}: unknown class '{token}'; this model's classes are {describe_classes(names)}"
        ) from None
    if not 0 <= class_id < len(names):
        raise ConfigError(
            f"{flag}: class id {class_id} is out of range: this model has {len(names)} "
            f"class{'' if len(names) == 1 else 'es'} (ids 0..{len(names) - 1}): {describe_classes(names)}"
        )
    return class_id


def describe_classes(names: Sequence[str], limit: int = 30) -> str:
    """``0 red, 1 green, 2 blue`` (the first ``limit``, then how many more)."""
    shown = ", ".join(f"{i} {n}" for i, n in enumerate(names[:limit]))
    more = len(names) - limit
    return shown + (f", ... and {more} more (edgeloop bundle info lists them all)" if more > 0 else "")


def _example(names: Sequence[str]) -> str:
    return f"{names[0]},{min(1, len(names) - 1)}" if names else "0"
