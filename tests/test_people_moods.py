"""Each person's own mood beside the room's: their faces only, their presence as arrival and leaving."""

from __future__ import annotations

from todayfeeling.config import MoodConfig
from todayfeeling.mood import FaceObservation
from todayfeeling.people_moods import PeopleMoods
from todayfeeling.vocabulary import EMOTIONS

CONFIG = MoodConfig(arrive_after_s=0.5, leave_after_s=1.0, absence_timeout_s=3.0, min_dwell_s=2.0)


def face(mood: str) -> FaceObservation:
    return FaceObservation({e: (0.9 if e == mood else 0.02) for e in EMOTIONS}, (0, 0, 120, 120))


def run(moods: PeopleMoods, start: float, seconds: float, faces: list) -> list:
    events, now = [], start
    while now < start + seconds:
        events += moods.update(now, faces)
        now += 0.2
    return events


def test_each_person_has_their_own_mood_and_guests_count_for_nobody() -> None:
    moods = PeopleMoods(CONFIG, ["Mina", "Jo"])
    events = run(moods, 0.0, 3.0, [("mina", face("happiness")), ("Jo", face("sadness")), (None, face("anger"))])
    assert moods.state("Mina").mood == "happiness" and moods.state("jo").mood == "sadness"
    kinds = [(e.event_type, e.details["person"]) for e in events]
    assert ("person_arrived", "Mina") in kinds and ("person_arrived", "Jo") in kinds
    changed = [e.details for e in events if e.event_type == "mood_changed"]
    assert {(d["person"], d["mood"]) for d in changed} == {("Mina", "happiness"), ("Jo", "sadness")}
    assert sorted(listener.name for listener in moods.listeners()) == ["Jo", "Mina"]
    assert moods.state("the guest") is None


def test_a_person_who_leaves_leaves_once_and_is_no_listener_any_more() -> None:
    moods = PeopleMoods(CONFIG, ["Mina"])
    run(moods, 0.0, 2.0, [("Mina", face("neutral"))])
    events = run(moods, 2.0, 5.0, [])
    assert [e.event_type for e in events].count("person_left") == 1
    assert moods.state("Mina").mood == "none" and moods.listeners() == []


def test_privacy_ends_every_persons_mood_and_removed_people_are_forgotten() -> None:
    moods = PeopleMoods(CONFIG, ["Mina", "Jo"])
    run(moods, 0.0, 2.0, [("Mina", face("surprise"))])
    events = moods.set_privacy(True, 2.0)
    assert ("person_left", "Mina") in [(e.event_type, e.details["person"]) for e in events]
    assert all(state.mood == "none" for state in moods.states().values())
    moods.set_people(["Jo"], 3.0)
    assert set(moods.states()) == {"Jo"} and moods.state("Mina") is None


def test_a_rename_in_another_case_keeps_the_mood_under_the_new_spelling() -> None:
    moods = PeopleMoods(CONFIG, ["mina"])
    run(moods, 0.0, 3.0, [("mina", face("happiness"))])
    moods.set_people(["Mina"], 3.0)  # `people rename mina Mina`
    assert {name: state.mood for name, state in moods.states().items()} == {"Mina": "happiness"}
    events = run(moods, 3.0, 5.0, [])
    assert ("person_left", "Mina") in [(e.event_type, e.details["person"]) for e in events]
