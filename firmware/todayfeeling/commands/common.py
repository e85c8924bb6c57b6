"""What several sub-commands share: the one ``--config`` option, the model options, loading the pipeline, and
signal handling."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from todayfeeling.config import DEFAULT_CONFIG_PATH, AppConfig, config_file, load_config
from todayfeeling.inference.manifest import ModelError
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.vocabulary import BackendChoice, names

log = logging.getLogger(__name__)

Overrides = dict[str, dict[str, Any]]


def add_config_argument(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """``--config FILE``: the config every command reads (default: the device's, when it exists)."""
    parser.add_argument("--config", type=Path, metavar="FILE", default=default,
                        help=f"config file (TOML; default: {DEFAULT_CONFIG_PATH} if present, else the defaults)")


def command_config(args: argparse.Namespace, overrides: Overrides | None = None) -> AppConfig:
    """The config the command runs with: the file :func:`~todayfeeling.config.config_file` picks for
    ``--config``, with ``overrides`` (from flags) applied; ConfigError when it cannot be used."""
    return load_config(config_file(args.config), overrides)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --models, --emotion-model, --backend, --threads."""
    add_config_argument(parser)
    parser.add_argument("--models", type=Path, help="models folder (default: the installed models)")
    parser.add_argument("--emotion-model", help="emotion model name from the manifest")
    parser.add_argument("--backend", choices=names(BackendChoice), help="where the models run")
    parser.add_argument("--threads", type=int, help="CPU threads per model")


def inference_overrides(args: argparse.Namespace) -> Overrides:
    """The [inference] values given on the command line."""
    flags = {"models_dir": args.models and str(args.models), "emotion_model": args.emotion_model,
             "backend": args.backend, "threads": args.threads}
    return {"inference": {key: value for key, value in flags.items() if value is not None}}


def load_pipeline(args: argparse.Namespace) -> FacePipeline | None:
    """The pipeline as configured; None (with the reason on stderr) when a model cannot be loaded."""
    config = command_config(args, inference_overrides(args))
    try:
        return FacePipeline.from_config(config.inference)
    except ModelError as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return None


def handle_signal(signum: signal.Signals, request: Callable[[], None]) -> Any:
    """Make ``request`` when ``signum`` arrives, from a thread of its own; returns the handler it replaces.

    A handler runs in the main thread between two bytecodes, maybe while that thread holds a lock the request
    needs (a ``threading.Event``'s, say, while it waits on it): taking it there would deadlock. So the handler
    only starts a thread that makes the request.
    """
    return signal.signal(signum, lambda *_: threading.Thread(target=request, name="signal-request",
                                                             daemon=True).start())
