"""Which track a playlist plays next: weighted folders, each shuffled without repeats until exhausted."""

from __future__ import annotations

import random
from pathlib import Path

from todayfeeling.config.settings import PlaylistChoice
from todayfeeling.music.library import Library


class Shuffler:
    """Draws tracks for named playlists (a mood, or any folder) from the library.

    A playlist plays the folders its preference lists (by weight, drawn per track), else the folder of its
    own name. Each folder is a shuffle bag: every track once, in random order, before any repeats, and a new
    round never starts with the track that ended the last one.
    """

    def __init__(self, library: Library, preferences: dict[str, list[PlaylistChoice]],
                 rng: random.Random | None = None) -> None:
        self._library = library
        self._preferences = preferences
        self._rng = rng or random.Random()
        self._bags: dict[str, list[Path]] = {}
        self._last: dict[str, Path] = {}

    def draw(self, playlist: str, preferences: dict[str, list[PlaylistChoice]] | None = None) -> Path | None:
        """The next track of ``playlist`` (by ``preferences``, default the household's), or None when it has
        nothing playable."""
        choices = self._choices(playlist, preferences)
        if not choices:
            return None
        folder = self._rng.choices([c.folder for c in choices], weights=[c.weight for c in choices])[0]
        return self._draw_from(folder)

    def playable(self, playlist: str, preferences: dict[str, list[PlaylistChoice]] | None = None) -> bool:
        """Whether :meth:`draw` would find a track for ``playlist`` now (nothing is drawn)."""
        return bool(self._choices(playlist, preferences))

    def _choices(self, playlist: str, preferences: dict[str, list[PlaylistChoice]] | None) -> list[PlaylistChoice]:
        """The folders ``playlist`` may play that have a playable track."""
        chosen = self._preferences if preferences is None else preferences
        return [c for c in (chosen.get(playlist) or [PlaylistChoice(playlist)]) if self._library.tracks(c.folder)]

    def _draw_from(self, folder: str) -> Path:
        tracks = self._library.tracks(folder)
        playable = set(tracks)
        bag = [track for track in self._bags.get(folder, []) if track in playable]
        if not bag:
            bag = list(tracks)
            self._rng.shuffle(bag)
            if len(bag) > 1 and bag[-1] == self._last.get(folder):
                bag[0], bag[-1] = bag[-1], bag[0]
        track = bag.pop()
        self._bags[folder], self._last[folder] = bag, track
        return track
