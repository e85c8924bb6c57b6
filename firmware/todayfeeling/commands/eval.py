"""`todayfeeling eval`: accuracy, recall and confusion of emotion models on labelled images."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from todayfeeling.commands.common import add_model_arguments, command_config, inference_overrides, load_pipeline
from todayfeeling.commands.people import add_people_db_argument, command_recogniser
from todayfeeling.evaluation import (
    DatasetError,
    LabelledSet,
    ModelEvaluation,
    csv_images,
    evaluate,
    folder_images,
    format_evaluation,
    labelled_set,
    plot_confusion,
    read_exclusions,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` sub-command."""
    parser = subparsers.add_parser(
        "eval", help="accuracy and confusion matrix of emotion models on labelled images",
        description="Score emotion models on a folder of <label>/ images (FER-2013, FER+ or the six emotion "
                    "names) or on FER+ labels.csv. Labels outside the six emotions are skipped and counted.")
    parser.add_argument("path", nargs="?", type=Path, metavar="FOLDER",
                        help="folder of <label>/ image folders; with --labels-csv: the folder the CSV's "
                             "fer2013_file paths start from (default: ../fer2013 beside the CSV)")
    parser.add_argument("--labels-csv", type=Path, help="FER+ labels.csv: majority labels of one split")
    parser.add_argument("--split", default="valid", help="split of --labels-csv (default: valid)")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="LIST",
                        help="text file of relative image paths to leave out (e.g. images leaked from train)")
    framing = parser.add_mutually_exclusive_group()
    framing.add_argument("--crop", action="store_true", help="each image is already a cropped face (no detector)")
    framing.add_argument("--context", action="store_true",
                        help="enlarge each image 3x and frame it in grey before the detector (for tight crops "
                             "such as FER-2013's, where the detector needs room around the face)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="emotion model from the manifest; repeat to compare models on the same images")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="write the confusion matrices as a PNG")
    parser.add_argument("--json", action="store_true", help="one JSON object with every number")
    add_people_db_argument(parser, "recognise enrolled people and score each model also with their personal "
                                   "calibration, side by side with the generic reading")
    add_model_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate each model; exit 2 on bad data or a missing model, 1 when images were unreadable."""
    try:
        data = _labelled_set(args)
    except DatasetError as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    if args.plot and (problem := _plot_problem(args.plot)):  # before the evaluation, which may take hours
        print(f"todayfeeling: cannot write the plot {args.plot}: {problem}", file=sys.stderr)
        return 2
    config = command_config(args, inference_overrides(args))
    usable, recogniser = command_recogniser(args, config)
    if not usable:
        return 2
    results = []
    for model in args.model or [args.emotion_model or ""]:
        pipeline = load_pipeline(argparse.Namespace(**{**vars(args), "emotion_model": model or None}))
        if pipeline is None:
            return 2
        results.append(evaluate(pipeline, data.samples, args.crop, args.context, recogniser))
    _emit(args, data, results)  # first: a plot that cannot be written loses no result
    _hint_when_faces_are_missed(args, results)
    for result in results:
        for path, error in result.unreadable:
            print(f"{path}: error: {error}", file=sys.stderr)
    failed = any(r.unreadable for r in results)
    if args.plot:
        try:
            plot_confusion([(f"{r.model} ({_mode(args)})", r.metrics) for r in results], args.plot)
            print(f"todayfeeling: wrote the confusion matrices to {args.plot}", file=sys.stderr)
        except (OSError, cv2.error) as err:
            print(f"todayfeeling: cannot write the plot {args.plot}: {err}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def _plot_problem(path: Path) -> str | None:
    """Why the plot cannot be written there, or None."""
    if not path.parent.is_dir():
        return f"folder {path.parent} does not exist"
    if not cv2.haveImageWriter(str(path)):
        return f"no image format for {path.suffix or 'a name without a suffix'} (use .png)"
    return None


MISSED_FOR_A_HINT = 0.5  # share of images without a face found above which eval suggests --crop/--context


def _hint_when_faces_are_missed(args: argparse.Namespace, results: list[ModelEvaluation]) -> None:
    """Tight face crops (FER-2013's 48x48) through the detector find almost no face: say what to do."""
    if args.crop or not results:
        return
    metrics = results[0].metrics
    missed = int(metrics.missed.sum())
    if metrics.total and missed / metrics.total > MISSED_FOR_A_HINT:
        print(f"todayfeeling: no face found in {missed} of {metrics.total} images (they count as wrong). If the "
              "images are already face crops, use --crop (each image is one face) or --context (room around "
              "each crop for the detector).", file=sys.stderr)


def _mode(args: argparse.Namespace) -> str:
    return "crop" if args.crop else "pipeline+context" if args.context else "pipeline"


def _labelled_set(args: argparse.Namespace) -> LabelledSet:
    exclusions = [parts for list_file in args.exclude for parts in read_exclusions(list_file)]
    if args.labels_csv:
        images_root = args.path or args.labels_csv.resolve().parent.parent / "fer2013"
        pairs = csv_images(args.labels_csv, images_root, args.split)
        return labelled_set(f"{args.labels_csv} ({args.split})", pairs, exclusions)
    if args.path is None:
        raise DatasetError("give a FOLDER of <label>/ images or --labels-csv")
    return labelled_set(str(args.path), folder_images(args.path), exclusions)


def _emit(args: argparse.Namespace, data: LabelledSet, results: list[ModelEvaluation]) -> None:
    mode = _mode(args)
    if args.json:
        print(json.dumps({"data": data.as_dict(), "mode": mode, "models": [r.as_dict() for r in results]}))
        return
    skipped = ", ".join(f"{label} {count}" for label, count in sorted(data.skipped.items())) or "none"
    print(f"{data.source}: {len(data.samples)} images ({mode}); skipped labels: {skipped}; "
          f"excluded: {data.excluded}")
    for result in results:
        print()
        print(format_evaluation(result))
    if len(results) > 1:
        print()
        print(_comparison(results))


def _comparison(results: list[ModelEvaluation]) -> str:
    width = max(len(r.model) for r in results)
    lines = [f"{'model'.ljust(width)}  accuracy  macro recall  ms/face"]
    for r in results:
        per_face = r.as_dict()["ms"]["per_face"]
        lines.append(f"{r.model.ljust(width)}  {r.metrics.accuracy:8.2%}  {r.metrics.macro_recall:12.2%}  "
                     f"{per_face if per_face is not None else '-':>7}")
    return "\n".join(lines)
