"""Who each face track is, for the daemon: a track is recognised once when it starts and checked again every
``recheck_s`` seconds, not on every frame; the people database is read again when its file changes.

A face without a track id (tracking off) is recognised on every frame. A track whose face is nobody enrolled
is a guest (None). The people database is watched by its file's identity (inode, size, modification time):
``todayfeeling people add/remove/rename`` replace the file whole, so a change is seen at the next check and
every track is recognised afresh against the new templates. A database that cannot be read then (being
written, corrupt) is logged and the one in memory kept: the daemon never stops over it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from todayfeeling.inference.manifest import ModelSpec
from todayfeeling.inference.pipeline import FaceEmotion
from todayfeeling.people.database import PeopleDatabase, PeopleError
from todayfeeling.people.recognition import Recogniser

log = logging.getLogger(__name__)

FileStamp = tuple[int, int, int] | None  # (inode, size, mtime ns) of the database file; None: no file


@dataclass(frozen=True)
class PeopleChange:
    """How the enrolled people changed when the database was read again: who was removed, who renamed."""

    removed: list[str]
    renamed: dict[str, str]  # old name -> new name (the same templates under another name)


@dataclass
class _Known:
    name: str | None
    checked: float  # monotonic seconds of the last recognition


def file_stamp(path: Path) -> FileStamp:
    """What tells a changed database file from the one read: inode, size and modification time."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class TrackRecognition:
    """Names the faces of each frame (see the module docstring); not thread-safe (the daemon's loop owns it)."""

    def __init__(self, recogniser: Recogniser, recheck_s: float) -> None:
        self.recogniser = recogniser
        self.recheck_s = recheck_s
        self._known: dict[int, _Known] = {}
        self._stamp = file_stamp(recogniser.database.path)
        self.recognised = 0  # embeddings computed so far (the bench's per-track figure)

    @property
    def database(self) -> PeopleDatabase:
        """The people database in use."""
        return self.recogniser.database

    @property
    def names(self) -> list[str]:
        """The enrolled names, as the database spells them."""
        return [person.name for person in self.database.people]

    def identify(self, frame_bgr: np.ndarray, faces: Sequence[FaceEmotion], now: float) -> list[str | None]:
        """The enrolled name of each face (None: a guest), recognising only new or due tracks."""
        names: list[str | None] = []
        for face in faces:
            known = self._known.get(face.track) if face.track is not None else None
            if known is None or now - known.checked >= self.recheck_s:
                name = self.recogniser.identify(frame_bgr, face.face).name
                self.recognised += 1
                if face.track is not None:
                    self._known[face.track] = _Known(name, now)
                names.append(name)
            else:
                names.append(known.name)
        live = {face.track for face in faces}
        self._known = {track: known for track, known in self._known.items() if track in live}
        return names

    def calibrated(self, faces: Sequence[FaceEmotion], names: Sequence[str | None],
                   emotion_model: ModelSpec) -> list[FaceEmotion]:
        """Each face with its person's personally calibrated probabilities (guests and the uncalibrated as
        they are)."""
        return [self.recogniser.personal(face, name, emotion_model) for face, name in zip(faces, names, strict=True)]

    def forget(self) -> None:
        """Forget who every track was (privacy: whoever comes back is recognised afresh)."""
        self._known.clear()

    def reload_if_changed(self) -> PeopleChange | None:
        """Read the database again if its file changed: who went, or None when nothing was read."""
        stamp = file_stamp(self.database.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            database = PeopleDatabase.load(self.database.path, self.database.model_id, self.database.template_size)
        except PeopleError as err:
            log.warning("people database changed but cannot be used, keeping the one read before: %s", err)
            return None
        old, self.recogniser.database = self.database, database
        self._known.clear()  # templates may have changed: every track is recognised again
        log.info("people database re-read: %d enrolled", len(database.people))
        removed, renamed = [], {}
        for person in old.people:
            if database.get(person.name) is None:
                twin = next((new.name for new in database.people if old.get(new.name) is None
                             and _same_templates(new.templates, person.templates)), None)
                if twin is None:
                    removed.append(person.name)
                else:
                    renamed[person.name] = twin
        return PeopleChange(removed, renamed)


def _same_templates(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True))
