"""What may be published: a guard that keeps payloads small and private.

Nothing the device publishes may carry an image or an embedding, and no identity unless the owner turned
per-person publishing on. :func:`publishable` lets through only plain JSON values (text, numbers, booleans,
short lists, small objects), refuses binary data, arrays and long text or lists (an image or an embedding
cannot hide in a payload that passes), and refuses keys that name such data; ``person`` (an enrolled
name) passes only with ``people=True``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

MAX_TEXT = 512  # characters of one string value
MAX_ITEMS = 32  # entries of one list or object; an embedding has hundreds
FORBIDDEN_KEYS = frozenset({
    "image", "images", "frame", "frames", "crop", "crops", "pixels", "jpeg", "jpg", "png", "thumbnail",
    "embedding", "embeddings", "descriptor", "identity", "person", "person_id", "face_id", "name_of_face",
})


class PayloadError(ValueError):
    """A value that must not be published (wrong type, too big, or private data)."""


PERSON_KEY = "person"


def publishable(value: Any, where: str = "payload", people: bool = False) -> Any:
    """A JSON-ready copy of ``value``, or :class:`PayloadError` if it is not allowed on the wire.

    Numbers of any numeric type (numpy included) become ``int``/``float``; non-finite floats become
    ``None``; datetimes become ISO-8601 text.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise PayloadError(f"{where}: text of {len(value)} characters is longer than {MAX_TEXT}")
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        _check_size(value, where)
        clean = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"{where}: key {key!r} is not text")
            if key.lower() in FORBIDDEN_KEYS and not (people and key == PERSON_KEY and
                                                        (item is None or isinstance(item, str))):
                raise PayloadError(f"{where}.{key}: images, embeddings and identities are never published")
            clean[key] = publishable(item, f"{where}.{key}", people)
        return clean
    if isinstance(value, (list, tuple)):
        _check_size(value, where)
        return [publishable(item, f"{where}[{i}]", people) for i, item in enumerate(value)]
    raise PayloadError(f"{where}: a {type(value).__name__} cannot be published")


def _check_size(value: Mapping | list | tuple, where: str) -> None:
    if len(value) > MAX_ITEMS:
        raise PayloadError(f"{where}: {len(value)} entries is more than {MAX_ITEMS}")


def timestamp() -> str:
    """Now, as ISO-8601 in UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
