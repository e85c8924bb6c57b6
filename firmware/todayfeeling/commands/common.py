"""What several sub-commands share: the config and model options, and loading the pipeline."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from todayfeeling.config import load_config
from todayfeeling.inference.manifest import ModelError
from todayfeeling.inference.pipeline import FacePipeline

log = logging.getLogger(__name__)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --models, --emotion-model, --backend, --threads."""
    parser.add_argument("--config", type=Path, help="config file (TOML); defaults otherwise")
    parser.add_argument("--models", type=Path, help="models folder (default: the installed models)")
    parser.add_argument("--emotion-model", help="emotion model name from the manifest")
    parser.add_argument("--backend", choices=("auto", "cpu", "edgetpu"), help="where the models run")
    parser.add_argument("--threads", type=int, help="CPU threads per model")


def inference_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The [inference] values given on the command line."""
    flags = {"models_dir": args.models and str(args.models), "emotion_model": args.emotion_model,
             "backend": args.backend, "threads": args.threads}
    return {key: value for key, value in flags.items() if value is not None}


def load_pipeline(args: argparse.Namespace) -> FacePipeline | None:
    """The pipeline as configured; None (with the reason on stderr) when a model cannot be loaded."""
    config = load_config(args.config, {"inference": inference_overrides(args)})
    try:
        return FacePipeline.from_config(config.inference)
    except ModelError as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return None
