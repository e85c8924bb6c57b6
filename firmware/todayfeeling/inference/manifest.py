"""The model manifest (``models/manifest.json``): which model files exist, their checksums, how to feed them.

The one reader of the manifest and the one SHA-256 of a model file, for the runtime, ``doctor`` and
``models/fetch_models.py`` alike. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INSTALLED_MODELS_DIR = Path("/opt/todayfeeling/models")
_CHECKOUT_MODELS_DIR = Path(__file__).resolve().parents[3] / "models"
FETCH_HINT = "run `python3 models/fetch_models.py` (or provisioning/install.sh) to install the model files"


class ModelError(RuntimeError):
    """A model that cannot be used: missing, unknown or unreadable, with what to do about it."""


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry, resolved to a file on disk."""

    name: str
    kind: str
    path: Path
    input_shape: tuple[int, ...]
    color: str  # "rgb" or "gray"
    norm_scale: float  # real input = pixel * norm_scale + norm_offset
    norm_offset: float
    labels: tuple[str, ...] = ()
    fold: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_models_dir() -> Path:
    """$TODAYFEELING_MODELS, else the checkout's models/ (development), else the installed models."""
    env = os.environ.get("TODAYFEELING_MODELS")
    if env:
        return Path(env)
    if (_CHECKOUT_MODELS_DIR / "manifest.json").is_file():
        return _CHECKOUT_MODELS_DIR
    return INSTALLED_MODELS_DIR


def _shape_problem(data: Any) -> str | None:
    """What is wrong with a manifest's layout: what the code below reads must be there."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("models", {}), dict) or not isinstance(data.get("defaults", {}), dict):
        return "'models' and 'defaults' must be objects"
    for name, entry in data.get("models", {}).items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in ("file", "sha256")):
            return f"model {name!r} needs a 'file' and a 'sha256'"
    return None


class Manifest:
    """Reads ``manifest.json`` in a models folder and resolves entries to :class:`ModelSpec`."""

    def __init__(self, models_dir: Path | None = None) -> None:
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        manifest_path = self.models_dir / "manifest.json"
        try:
            data = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise ModelError(f"no model manifest at {manifest_path}; {FETCH_HINT}") from None
        except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
            raise ModelError(f"cannot read {manifest_path}: {err}") from None
        if problem := _shape_problem(data):
            raise ModelError(f"{manifest_path} is not a model manifest ({problem}); {FETCH_HINT}")
        self.entries: dict[str, dict[str, Any]] = data.get("models", {})
        self.defaults: dict[str, str] = data.get("defaults", {})

    def problem(self, name: str) -> str | None:
        """Why entry ``name``'s file cannot be trusted (missing, unreadable, wrong checksum), or None."""
        path = self.models_dir / self.entries[name]["file"]
        if not path.is_file():
            return f"{path} is missing"
        try:
            actual = sha256_file(path)
        except OSError as err:
            return f"cannot read {path}: {err.strerror or err}"
        if actual != self.entries[name]["sha256"]:
            return f"{path} does not match its sha256 in the manifest"
        return None

    def spec(self, name: str = "", kind: str = "emotion", verify: bool = True) -> ModelSpec:
        """The entry ``name`` (or the default of ``kind``), checking that its file is in place and, with
        ``verify``, that it matches its sha256 (a truncated or damaged model file can crash the TFLite runtime
        outright; hashing the models of a run takes tens of milliseconds)."""
        name = name or self.defaults.get(kind, "")
        entry = self.entries.get(name)
        if entry is None or entry.get("kind") != kind:
            known = ", ".join(k for k, v in self.entries.items() if v.get("kind") == kind)
            raise ModelError(f"unknown {kind} model {name!r} (manifest has: {known})")
        path = self.models_dir / entry["file"]
        if not path.is_file():
            raise ModelError(f"model file {path} is missing; {FETCH_HINT}")
        if verify and (problem := self.problem(name)) is not None:
            raise ModelError(f"{problem}; {FETCH_HINT}")
        spec_input = entry["input"]
        norm = spec_input.get("normalisation", {})
        return ModelSpec(
            name=name,
            kind=entry["kind"],
            path=path,
            input_shape=tuple(spec_input["shape"]),
            color=spec_input.get("color", "rgb"),
            norm_scale=float(norm.get("scale", 1.0)),
            norm_offset=float(norm.get("offset", 0.0)),
            labels=tuple(entry.get("labels", ())),
            fold=dict(entry.get("fold", {})),
            extra={k: v for k, v in entry.items() if k not in {"kind", "file", "input", "labels", "fold"}},
        )
