"""The music library on disk: ``<music>/<folder>/…`` with sub-folders and M3U playlists followed.

A folder's tracks are its audio files (mp3, ogg, wav, flac) at any depth plus the entries of the
``.m3u``/``.m3u8`` playlists in it (relative entries resolve against the playlist's folder). Missing
entries, unsupported files, anything that is not a regular file (a named pipe called ``a.mp3`` would block
the decoder for ever) and unreadable folders are skipped with a log line and listed in
:attr:`Library.skipped`. Files are not decoded here: the player finds corrupt ones when it loads them and
reports them with :meth:`Library.mark_bad`, which keeps them out until the file changes or a rescan.

A folder is scanned when it is first asked for, and again when it changed on disk: every folder walked,
every playlist read and the folder of every playlist entry is remembered with its modification time, and
:meth:`Library.tracks` compares them (a ``stat`` each, no listing) before answering, so music copied in
while the appliance runs is played without a restart. :meth:`Library.rescan` forgets everything (SIGHUP,
MQTT ``cmd refresh``). Tracks are asked for once per track change, never per camera frame. Thread-safe:
the player's thread reads while the daemon may rescan.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from todayfeeling.text import printable
from todayfeeling.vocabulary import EMOTIONS

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".wav", ".flac"})
PLAYLIST_EXTENSIONS = frozenset({".m3u", ".m3u8"})


@dataclass(frozen=True)
class Skipped:
    """A file or playlist entry the library will not play, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class _Scan:
    """One folder as last scanned: its tracks, what was skipped, and what to look at for changes."""

    tracks: list[Path]
    skips: list[Skipped]
    stamps: dict[str, int | None]  # every folder walked, playlist read and playlist entry's folder -> mtime_ns

    def changed(self) -> bool:
        """Whether a folder or playlist it read has changed (or appeared, or gone) since."""
        return any(_stamp(path) != stamp for path, stamp in self.stamps.items())


class Library:
    """Playable tracks per folder of the music directory, scanned at start and on :meth:`rescan`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._scans: dict[str, _Scan] = {}
        self._bad: dict[Path, tuple[str, int | None]] = {}  # track -> why, its mtime when it failed
        self.rescan()

    def rescan(self) -> None:
        """Forget every scan and bad mark, then scan the mood folders again."""
        with self._lock:
            self._scans.clear()
            self._bad.clear()
        if not self.root.is_dir():
            log.warning("music folder %s does not exist: nothing to play", self.root)
        counts = {mood: len(self.tracks(mood)) for mood in EMOTIONS}
        log.info("music library %s: %s", self.root, ", ".join(f"{m} {n}" for m, n in counts.items()))

    def tracks(self, folder: str) -> list[Path]:
        """The playable tracks of ``folder`` (a mood or any folder under the root), in name order; the folder
        is scanned again first when it changed on disk."""
        with self._lock:
            scan = self._scans.get(folder)
            if scan is None or scan.changed():
                if scan is not None:
                    log.info("music library: %s changed on disk; scanning it again", folder)
                scan = self._scans[folder] = _scan_folder(self.root / folder)
            return [track for track in scan.tracks if not self._still_bad(track)]

    def _still_bad(self, track: Path) -> bool:
        """Marked bad and not changed since (a file replaced by a good copy gets another chance)."""
        mark = self._bad.get(track)
        if mark is None:
            return False
        if _stamp(str(track)) != mark[1]:
            del self._bad[track]
            return False
        return True

    def mark_bad(self, track: Path, reason: str) -> None:
        """Keep ``track`` out of every playlist until it changes or the next rescan (it failed to load)."""
        with self._lock:
            self._bad[track] = (reason, _stamp(str(track)))
        log.warning("skipping unplayable track %s: %s", printable(track), printable(reason))

    @property
    def skipped(self) -> list[Skipped]:
        """Everything left out so far: unsupported files, missing playlist entries, unplayable tracks."""
        with self._lock:
            found = [skip for scan in self._scans.values() for skip in scan.skips]
            return found + [Skipped(path, reason) for path, (reason, _) in self._bad.items()]


def _stamp(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _scan_folder(folder: Path) -> _Scan:
    skips: list[Skipped] = []
    stamps: dict[str, int | None] = {str(folder): _stamp(str(folder))}
    if not folder.is_dir():
        return _Scan([], skips, stamps)
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
        stamps[dirpath] = _stamp(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(f for f in filenames if not f.startswith(".")):
            path = Path(dirpath) / name
            suffix = path.suffix.lower()
            if suffix not in AUDIO_EXTENSIONS | PLAYLIST_EXTENSIONS:
                _skip(skips, path, "not a supported audio file (mp3, ogg, wav, flac) or playlist")
            elif not path.is_file():  # reading a named pipe could block for ever
                _skip(skips, path, "not a regular file (a named pipe or a device)" if path.exists() else
                      "a broken link (its target is missing, or it leads back to itself)")
            elif suffix in PLAYLIST_EXTENSIONS:
                stamps[str(path)] = _stamp(str(path))
                found.extend(_read_playlist(path, skips, stamps))
            else:
                found.append(path)
    unique: dict[str, Path] = {}
    for track in found:
        unique.setdefault(os.path.realpath(track), track)  # never raises (a link may have changed since)
    return _Scan(list(unique.values()), skips, stamps)


def _read_playlist(playlist: Path, skips: list[Skipped], stamps: dict[str, int | None]) -> list[Path]:
    """The playlist's playable entries. Each entry's folder goes into ``stamps``, so an entry outside the
    mood folder that is copied in later (an album still copying) is found without a rescan."""
    try:
        raw = playlist.read_bytes()
    except OSError as err:
        _skip(skips, playlist, f"cannot read playlist: {err.strerror or err}")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # old .m3u files are Windows' ANSI (cp1252: ’ – … in 0x80-0x9f), or Latin-1
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
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
        folder = str(path.parent)
        if folder not in stamps:  # one stat per folder, not per entry
            stamps[folder] = _stamp(folder)
        if not path.is_file():
            _skip(skips, path, f"missing (listed in {playlist.name})")
        elif path.suffix.lower() not in AUDIO_EXTENSIONS:
            _skip(skips, path, f"not a supported audio file (listed in {playlist.name})")
        else:
            entries.append(path)
    return entries


def _skip(skips: list[Skipped], path: Path, reason: str) -> None:
    log.warning("music library: skipping %s: %s", printable(path), printable(reason))
    skips.append(Skipped(path, reason))
