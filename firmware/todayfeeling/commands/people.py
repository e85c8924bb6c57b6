"""`todayfeeling people add|list|remove|rename`: the household members this device recognises (DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from todayfeeling.camera import CameraError, find_camera, make_source
from todayfeeling.commands.common import add_model_arguments, command_config, inference_overrides, load_pipeline
from todayfeeling.config import AppConfig, InferenceConfig
from todayfeeling.history import HistoryError, MoodHistory
from todayfeeling.inference.manifest import Manifest, ModelError, ModelSpec
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.music.audience import unknown_names
from todayfeeling.people.database import PeopleDatabase, PeopleError, Person, check_name, default_path
from todayfeeling.people.embedding import KIND, MATCH_THRESHOLD, FaceEmbedder, embedding_size, model_id
from todayfeeling.people.enrolment import Enrolment, enrol_folder
from todayfeeling.people.guided import SHOT_INTERVAL_S, STEP_TIMEOUT_S, GuidedSession, parse_emotions, session_steps
from todayfeeling.people.recognition import Recogniser
from todayfeeling.text import printable

log = logging.getLogger(__name__)

CAMERA_OPTIONS = ("source", "emotions", "timeout", "no_speech")
HISTORY_WAIT_S = 3.0  # how long `people remove` / `rename` wait for the daemon's lock on the mood history


def add_people_db_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--people-db PATH``, the people database (shared by `people`, `detect`)."""
    parser.add_argument("--people-db", type=Path, metavar="PATH", help=help_text)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `people` sub-command and its actions."""
    parser = subparsers.add_parser("people", help="enrol, list, remove or rename the household members",
                                   description="Face templates (never pictures) of the people this device "
                                               "recognises, kept on the device only.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="enrol a person from a folder of their photos or live at the camera "
                                          "(or add shots)")
    add.add_argument("name", metavar="NAME")
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument("--from", dest="folder", type=Path, metavar="DIR",
                     help="photos of that one person: DIR/* (recognition) and DIR/<emotion>/* (labelled shots)")
    how.add_argument("--camera", action="store_true",
                     help="live at the device, guided step by step by the speaker and this terminal: a few "
                          "seconds of neutral, then the emotions the person is willing to show")
    add.add_argument("--source", metavar="SPEC",
                     help="with --camera: auto, picamera, /dev/videoN, a video file or a folder of frames "
                          "(default: [camera] source)")
    add.add_argument("--emotions", metavar="LIST",
                     help="with --camera: the emotions to ask for after neutral, comma-separated (default: "
                          "happiness,surprise,sadness,anger,fear; none: neutral only)")
    add.add_argument("--timeout", type=float, metavar="S",
                     help=f"with --camera: seconds each step waits for good shots before going on (default "
                          f"{STEP_TIMEOUT_S:g}; Enter skips a step)")
    add.add_argument("--no-speech", action="store_true", help="with --camera: the prompts on this terminal only")
    listing = actions.add_parser("list", help="the enrolled people")
    listing.add_argument("--json", action="store_true",
                         help="a JSON list of {name, templates, recognisable, calibration: {shots, emotion_model, "
                              "in_use} or null}")
    remove = actions.add_parser("remove", help="forget a person entirely")
    remove.add_argument("name", metavar="NAME")
    rename = actions.add_parser("rename", help="give an enrolled person another name")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    for action in (add, listing, remove, rename):
        add_people_db_argument(action, "the people database (default: [people] db, else people.json in the "
                                       "state directory)")
        add_model_arguments(action)
        action.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the action; 1 when it failed (with the reason on stderr), 2 when a model is missing."""
    try:
        if args.action == "add":
            return _add(args)
        embedding_model = _manifest(args).spec("", KIND)
        # whoever is enrolled can be listed, removed and renamed even after the embedding model changed
        database = _open(args, embedding_model, any_model=True)
        if args.action == "list":
            _list(database, model_id(embedding_model), _emotion_model_id(args), args.json)
            return 0
        config = command_config(args)
        # the history first: when it cannot be changed (locked by the daemon), nothing is, and the same
        # command can be run again; the other order left the rows of someone no longer enrolled for good
        if args.action == "remove":
            person = database.remove(args.name)  # in memory until saved
            if not _change_history(config, lambda history: history.forget(person.name), f"of {person.name} deleted",
                                   f"{person.name} is not removed"):
                return 1
            database.save()
            print(f"removed {person.name} ({_count(len(person.templates), 'template')}) from {database.path}")
        else:
            enrolled = database.get(args.old)
            old_name = enrolled.name if enrolled else args.old
            person = database.rename(args.old, args.new)
            if not _change_history(config, lambda history: history.rename(old_name, person.name),
                                   f"of {old_name} renamed to {person.name}", f"{old_name} is not renamed"):
                return 1
            database.save()
            print(f"renamed {old_name} to {person.name} in {database.path}")
        _note_config_names(config, database)
        return 0
    except ModelError as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    except (PeopleError, CameraError) as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 1


def _add(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    given = [f"--{option.replace('_', '-')}" for option in CAMERA_OPTIONS if getattr(args, option) not in (None, False)]
    if given and not args.camera:
        raise PeopleError(f"{', '.join(given)}: only with --camera")
    pipeline = load_pipeline(args)
    if pipeline is None:
        return 2
    embedder = FaceEmbedder.from_manifest(_manifest(args), threads=command_config(args).inference.threads)
    _open(args, embedder.spec)  # a corrupt or foreign database stops before any work
    if args.camera:
        try:
            enrolment = _enrol_live(args, name, pipeline, embedder)
        except KeyboardInterrupt:
            print(f"todayfeeling: enrolment of {name} cancelled: nothing was stored", file=sys.stderr)
            return 130
        what, noun = "the camera session", "shot"
    else:
        enrolment = enrol_folder(args.folder, pipeline, embedder)
        what, noun = str(args.folder), "photo"
    # read again: a camera session takes minutes, and a `people remove` or `rename` meanwhile must hold
    database = _open(args, embedder.spec)
    enrolment.screen(database, name, MATCH_THRESHOLD)
    for path, reason in enrolment.skipped:
        print(f"skipped {printable(path)}: {reason}")
    if not enrolment.templates:
        print(f"todayfeeling: {what}: no face could be enrolled (each {noun} must show {name} alone)",
              file=sys.stderr)
        return 1
    person = database.add(name, enrolment.templates)
    if enrolment.labelled:
        person.calibrate(enrolment.labelled, model_id(pipeline.classifier.spec))
    database.save()
    shots = ", ".join(f"{count} {label or 'unlabelled'}" for label, count in sorted(enrolment.labels.items()))
    print(f"enrolled {person.name}: {_count(len(enrolment.shots), noun)} ({shots}); "
          f"{_count(len(person.templates), 'template')}{_calibration(person)} in {database.path}")
    return 0


def _enrol_live(args: argparse.Namespace, name: str, pipeline: FacePipeline, embedder: FaceEmbedder) -> Enrolment:
    """The guided session on the camera (or ``--source``), its shots enrolled as ``--from`` would enrol
    photos; the frames are dropped once embedded."""
    from todayfeeling.people.prompts import Speech  # pygame: only for the action that speaks

    config = command_config(args)
    steps = session_steps(parse_emotions(args.emotions))
    spec: str | None = args.source or config.camera.source
    if spec == "auto":  # `run` falls back to the demo picture; enrolling it as a person would be a lie
        spec = find_camera(config.camera)
    if spec is None:
        raise CameraError("no camera found to enrol from: a running appliance holds its camera (stop it first: "
                          "sudo systemctl stop todayfeeling), or name one with --source")
    source = make_source(spec, config.camera, manifest=_manifest(args))
    speech = Speech()
    if not args.no_speech and (reason := speech.start()):
        print(f"speech off: {reason}; the prompts are on this terminal only")
    try:
        source.open()
        session = GuidedSession(source, pipeline.detector, speech, show=print, skip=_enter_presses(),
                                timeout=STEP_TIMEOUT_S if args.timeout is None else args.timeout,
                                interval=0.0 if source.is_finite else SHOT_INTERVAL_S)
        print(f"enrolling {name} from {source.name}: {_count(len(steps), 'step')}, each waits for good shots "
              f"(Enter skips a step); no picture is stored")
        captures = session.run(steps)
    finally:
        source.close()
        speech.close()
    enrolment = Enrolment()
    for capture in captures:
        enrolment.add_image(capture.path, capture.label, capture.image, pipeline, embedder)
    return enrolment


def _enter_presses() -> Callable[[], bool]:
    """``skip()``: whether Enter was pressed on this terminal since the last call (never without a terminal)."""
    if not sys.stdin.isatty():
        return lambda: False
    pressed = threading.Event()

    def read() -> None:
        for _line in sys.stdin:
            pressed.set()

    threading.Thread(target=read, name="enter-key", daemon=True).start()

    def skip() -> bool:
        was = pressed.is_set()
        pressed.clear()
        return was

    return skip


def _change_history(config: AppConfig, change: Callable[[MoodHistory], int], done: str, refused: str) -> bool:
    """Make ``change`` to the person's mood history rows when the history file exists (also with ``[history]
    enabled = false``: rows written before are still theirs) and say how many rows are ``done``; False (saying
    ``refused``, with the reason) when the history cannot be changed."""
    if not config.history.db.exists():
        return True
    history = MoodHistory.from_config(config.history, busy_timeout_s=HISTORY_WAIT_S)
    try:
        rows = change(history)
    except HistoryError as err:
        print(f"todayfeeling: {refused}: their mood history cannot be changed now: {err}; nothing was changed, "
              "run it again", file=sys.stderr)
        return False
    finally:
        history.close()
    print(f"mood history ({history.path}): {_count(rows, 'row')} {done}")
    return True


def _note_config_names(config: AppConfig, database: PeopleDatabase) -> None:
    """Say which keys of the music config name nobody enrolled any more (they are ignored until someone of
    that name is)."""
    unknown = unknown_names(config.music, [person.name for person in database.people])
    if unknown:
        print(f"note: the config names someone not enrolled in {database.path}: {', '.join(unknown)}; ignored "
              "until they are (edit the config to follow a rename)")


def _list(database: PeopleDatabase, embedding_model: str, emotion_model: str, as_json: bool) -> None:
    """Each person's templates and calibration; a calibration made for another emotion model than the one in
    use (after a model update, or another ``emotion_model`` in the config) is shown as not in use, and so are
    templates of another embedding model (``embedding_model``: the one in use)."""
    people = database.people
    recognisable = database.model_id == embedding_model
    if as_json:
        print(json.dumps([{"name": p.name, "templates": len(p.templates), "recognisable": recognisable,
                           "calibration": p.calibration and {"shots": p.calibration.shots,
                                                             "emotion_model": p.calibration.model,
                                                             "in_use": p.calibration.model == emotion_model}}
                          for p in people]))
        return
    if not people:
        print(f"nobody is enrolled ({database.path})")
    elif not recognisable:
        print(f"{database.path}: the templates were made by embedding model {database.model_id}, not the one in "
              f"use ({embedding_model}): nobody below can be recognised until enrolled again with the current "
              "model, into a new database (move this one away first)")
    for person in people:
        calibration = person.calibration
        stale = "" if calibration is None or calibration.model == emotion_model else (
            f" for emotion model {calibration.model}, not the one in use ({emotion_model}): not used; "
            f"enrol {person.name} again with labelled shots to calibrate")
        print(f"{person.name}: {_count(len(person.templates), 'template')}{_calibration(person)}{stale}")


def _calibration(person: Person) -> str:
    """", calibrated from N labelled shots" for a person with a calibration, else nothing."""
    shots = person.calibration.shots if person.calibration else 0
    return f", calibrated from {_count(shots, 'labelled shot')}" if shots else ""


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _inference(args: argparse.Namespace) -> InferenceConfig:
    """The [inference] settings the command runs with (config file and flags)."""
    return command_config(args, inference_overrides(args)).inference


def _manifest(args: argparse.Namespace) -> Manifest:
    return Manifest(_inference(args).models_dir)


def _emotion_model_id(args: argparse.Namespace) -> str:
    """The id that calibrations record of the emotion model the command's config uses."""
    inference = _inference(args)
    return model_id(Manifest(inference.models_dir).spec(inference.emotion_model, "emotion"))


def people_db_path(args: argparse.Namespace, config: AppConfig) -> Path | None:
    """The people database a command uses: ``--people-db``, else ``[people] db``; None when neither is set."""
    return args.people_db or config.people.db


def command_recogniser(args: argparse.Namespace, config: AppConfig) -> tuple[bool, Recogniser | None]:
    """For `detect` and `eval`: (usable, the recogniser of the command's people database, None without one).
    A database asked for with ``--people-db`` that cannot be used makes the command not usable (False, with the
    reason on stderr); one only named by ``[people] db`` that is off, missing or with ``--crop`` leaves
    recognition off (said in the log)."""
    people_db = people_db_path(args, config)
    if people_db is None:
        return True, None
    reason = _recognition_off(args, config, people_db)
    if reason and args.people_db is None:
        log.info("%s: %s; recognition off", people_db, reason)
        return True, None
    if reason:
        print(f"todayfeeling: {people_db}: {reason}", file=sys.stderr)
        return False, None
    try:
        return True, Recogniser.open(people_db, Manifest(config.inference.models_dir),
                                     threads=config.inference.threads)
    except (ModelError, PeopleError) as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return False, None


def _recognition_off(args: argparse.Namespace, config: AppConfig, people_db: Path) -> str:
    """Why the people database cannot be used by `detect` or `eval` as asked; "" when it can."""
    if not config.people.enabled:
        return "recognition is off in the config ([people] enabled = false)"
    if args.crop:
        return "recognition needs whole photos, not --crop (faces are aligned on their keypoints)"
    if not people_db.is_file():
        return "no such people database (`todayfeeling people add NAME --from DIR` creates it)"
    return ""


def _open(args: argparse.Namespace, embedding_model: ModelSpec, any_model: bool = False) -> PeopleDatabase:
    config = command_config(args)
    path = people_db_path(args, config) or default_path(config.daemon.state_dir)
    return PeopleDatabase.load(path, model_id(embedding_model), embedding_size(embedding_model), any_model)
