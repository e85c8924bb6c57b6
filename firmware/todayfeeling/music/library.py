"""The music library on disk: ``<music>/<folder>/…`` with sub-folders and M3U playlists followed.

A folder's tracks are its audio files (mp3, ogg, wav, flac) at any depth plus the entries of the
``.m3u``/``.m3u8`` playlists in it (relative entries resolve against the playlist's folder). Missing
entries, unsupported files and unreadable folders are skipped with a log line and listed in
:attr:`Library.skipped`. Files are not decoded here: the player finds corrupt ones when it loads them and
reports them with :meth:`Library.mark_bad`, which keeps them out until the next :meth:`Library.rescan`.
Thread-safe: the player's thread reads while the daemon may rescan.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from todayfeeling.emotions import EMOTIONS

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".wav", ".flac"})
PLAYLIST_EXTENSIONS = frozenset({".m3u", ".m3u8"})


@dataclass(frozen=True)
class Skipped:
    """A file or playlist entry the library will not play, and why."""

    path: Path
    reason: str


class Library:
    """Playable tracks per folder of the music directory, scanned at start and on :meth:`rescan`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._folders: dict[str, list[Path]] = {}
        self._scan_skips: dict[str, list[Skipped]] = {}
        self._bad: dict[Path, str] = {}
        self.rescan()

    def rescan(self) -> None:
        """Forget every scan and bad mark, then scan the mood folders again."""
        with self._lock:
            self._folders.clear()
            self._scan_skips.clear()
            self._bad.clear()
        if not self.root.is_dir():
            log.warning("music folder %s does not exist: nothing to play", self.root)
        counts = {mood: len(self.tracks(mood)) for mood in EMOTIONS}
        log.info("music library %s: %s", self.root, ", ".join(f"{m} {n}" for m, n in counts.items()))

    def tracks(self, folder: str) -> list[Path]:
        """The playable tracks of ``folder`` (a mood or any folder under the root), in name order."""
        with self._lock:
            if folder not in self._folders:
                skips: list[Skipped] = []
                self._folders[folder] = _scan_folder(self.root / folder, skips)
                self._scan_skips[folder] = skips
            return [track for track in self._folders[folder] if track not in self._bad]

    def mark_bad(self, track: Path, reason: str) -> None:
        """Keep ``track`` out of every playlist until the next rescan (it failed to load)."""
        with self._lock:
            self._bad[track] = reason
        log.warning("skipping unplayable track %s: %s", track, reason)

    @property
    def skipped(self) -> list[Skipped]:
        """Everything left out so far: unsupported files, missing playlist entries, unplayable tracks."""
        with self._lock:
            found = [skip for skips in self._scan_skips.values() for skip in skips]
            return found + [Skipped(path, reason) for path, reason in self._bad.items()]


def _scan_folder(folder: Path, skips: list[Skipped]) -> list[Path]:
    if not folder.is_dir():
        return []
    found: list[Path] = []
    visited: set[str] = set()

    def unreadable(err: OSError) -> None:
        _skip(skips, Path(err.filename or folder), f"cannot read folder: {err.strerror or err}")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:  # a symlink loop or a folder linked twice
            dirnames.clear()
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(f for f in filenames if not f.startswith(".")):
            path = Path(dirpath) / name
            suffix = path.suffix.lower()
            if suffix in AUDIO_EXTENSIONS:
                found.append(path)
            elif suffix in PLAYLIST_EXTENSIONS:
                found.extend(_read_playlist(path, skips))
            else:
                _skip(skips, path, "not a supported audio file (mp3, ogg, wav, flac) or playlist")
    unique: dict[Path, Path] = {}
    for track in found:
        unique.setdefault(track.resolve(), track)
    return list(unique.values())


def _read_playlist(playlist: Path, skips: list[Skipped]) -> list[Path]:
    try:
        raw = playlist.read_bytes()
    except OSError as err:
        _skip(skips, playlist, f"cannot read playlist: {err.strerror or err}")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # old .m3u files are often Latin-1
        text = raw.decode("latin-1")
    entries = []
    for line in (line.strip() for line in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if "://" in line:
            _skip(skips, playlist, f"entry {line!r}: streams and URLs are not supported")
            continue
        entry = Path(line.replace("\\", "/"))
        path = Path(os.path.normpath(entry if entry.is_absolute() else playlist.parent / entry))
        if not path.is_file():
            _skip(skips, path, f"missing (listed in {playlist.name})")
        elif path.suffix.lower() not in AUDIO_EXTENSIONS:
            _skip(skips, path, f"not a supported audio file (listed in {playlist.name})")
        else:
            entries.append(path)
    return entries


def _skip(skips: list[Skipped], path: Path, reason: str) -> None:
    log.warning("music library: skipping %s: %s", path, reason)
    skips.append(Skipped(path, reason))
