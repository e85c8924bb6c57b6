"""The mood tracker driven by synthetic frames: exact events for flicker, ties, several faces, leaving, privacy."""

from __future__ import annotations

import math

import pytest

from todayfeeling.config import ConfigError, MoodConfig, parse_section
from todayfeeling.mood import FaceObservation, MoodTracker
from todayfeeling.vocabulary import EMOTIONS

FPS = 8  # 0.125 s frames: exact binary fractions, so event times compare exactly
BIG = (0, 0, 100, 100)


def face(emotion: str | dict[str, float], box=BIG, score: float = 1.0) -> FaceObservation:
    probabilities = {emotion: 1.0} if isinstance(emotion, str) else emotion
    return FaceObservation(probabilities=probabilities, box=box, score=score)


def run(tracker: MoodTracker, script, start: float = 0.0) -> tuple[list[tuple[float, dict]], float]:
    """Feed ``script`` = [(seconds, faces-of-every-frame-or-callable(i))...]; return (events, end time)."""
    events, frame = [], round(start * FPS)
    for seconds, faces in script:
        for i in range(round(seconds * FPS)):
            now = frame / FPS
            frame_faces = faces(i) if callable(faces) else faces
            events += [(e.at, e.as_dict()) for e in tracker.update(now, frame_faces)]
            frame += 1
    return events, frame / FPS


def arrived(at, faces, previous):
    return (at, {"event_type": "face_arrived", "faces": faces, "previous_faces": previous})


def left(at, faces, previous):
    return (at, {"event_type": "face_left", "faces": faces, "previous_faces": previous})


def changed(at, mood, previous, confidence, stable_for, previous_for):
    return (at, {"event_type": "mood_changed", "mood": mood, "previous": previous, "confidence": confidence,
                 "stable_for": stable_for, "previous_for": previous_for})


def test_steady_face_gives_its_mood_once_presence_is_confirmed():
    tracker = MoodTracker()
    events, _ = run(tracker, [(10, [face("neutral")])])
    assert events == [arrived(0.5, 1, 0), changed(0.5, "neutral", "none", 1.0, 0.5, 0.5)]
    state = tracker.state
    assert (state.mood, state.confidence, state.since, state.faces, state.privacy) == ("neutral", 1.0, 0.5, 1, False)


def test_real_change_waits_for_the_dwell_time_then_switches_once():
    tracker = MoodTracker()
    events, _ = run(tracker, [(2, [face("neutral")]), (8, [face("happiness")])])
    # happiness leads from 2.875 s and is soon far ahead (confirmed at 4.5 s), but neutral must last 6 s
    tau, frame = 2.0, 1 / FPS
    coverage = 1 - math.exp(-(52 * frame + 1e-3) / tau)  # the bias correction of the average since 0 s
    confidence = round((1 - math.exp(-37 * frame / tau)) / coverage, 3)
    assert confidence == 0.937
    assert events == [arrived(0.5, 1, 0), changed(0.5, "neutral", "none", 1.0, 0.5, 0.5),
                      changed(6.5, "happiness", "neutral", confidence, 3.62, 6.0)]


def test_a_lead_must_be_confirmed_so_a_mood_fading_into_another_does_not_pass_through_a_third():
    tracker = MoodTracker()
    # surprise is always second; while happiness fades into sadness it tops the average for a while
    happy, sad = {"happiness": 0.6, "surprise": 0.4}, {"sadness": 0.6, "surprise": 0.4}
    events, _ = run(tracker, [(20, [face(happy)]), (20, [face(sad)])])
    assert [(at, e["previous"], e["mood"]) for at, e in events if e["event_type"] == "mood_changed"] == [
        (0.5, "none", "happiness"), (23.625, "happiness", "sadness")]  # leads from 22.125 s, confirmed 1.5 s on

    unconfirmed = MoodTracker(MoodConfig(confirm_s=0.0))
    events, _ = run(unconfirmed, [(20, [face(happy)]), (20, [face(sad)])])
    assert [e["mood"] for _, e in events if e["event_type"] == "mood_changed"] == [
        "happiness", "surprise", "sadness"]


def test_a_narrow_but_lasting_lead_wins_after_the_lead_time():
    tracker = MoodTracker()
    events, end = run(tracker, [(10, [face({"neutral": 0.6, "fear": 0.4})])])
    events, _ = run(tracker, [(30, [face({"fear": 0.54, "neutral": 0.46})])], start=end)  # never 0.15 ahead
    assert [(at, e["previous"], e["mood"], e["stable_for"]) for at, e in events] == [
        (24.375, "neutral", "fear", 12.0)]  # fear leads from 12.375 s


def test_flicker_and_single_frame_spikes_do_not_change_the_mood():
    tracker = MoodTracker()
    calm = {"neutral": 0.65, "happiness": 0.35}
    spike = {"happiness": 0.95, "neutral": 0.05}
    surprise = {"surprise": 0.95, "neutral": 0.05}

    def flicker(i):
        return [face(spike if i % 6 == 5 else surprise if i % 11 == 10 else calm)]

    events, _ = run(tracker, [(60, flicker)])
    raw = [max(EMOTIONS, key=lambda e: flicker(i)[0].probabilities.get(e, 0.0)) for i in range(60 * FPS)]
    raw_changes = sum(a != b for a, b in zip(raw, raw[1:], strict=False))
    assert raw_changes > 200  # the per-frame argmax flips all the time...
    assert events == [arrived(0.5, 1, 0), changed(0.5, "neutral", "none", 0.65, 0.5, 0.5)]  # ...the room does not


def test_ties_go_to_neutral_then_emotion_order_and_never_flip_the_current_mood():
    tracker = MoodTracker()
    events, end = run(tracker, [(2, [face({"happiness": 0.5, "surprise": 0.5})])])
    assert events == [arrived(0.5, 1, 0), changed(0.5, "happiness", "none", 0.5, 0.5, 0.5)]
    events, end = run(tracker, [(20, [face({"surprise": 0.5, "happiness": 0.5})])], start=end)
    assert events == []  # an exact tie with the current mood keeps it

    other = MoodTracker()
    events, _ = run(other, [(2, [face({"anger": 0.5, "neutral": 0.5})])])
    assert events == [arrived(0.5, 1, 0), changed(0.5, "neutral", "none", 0.5, 0.5, 0.5)]


def test_two_faces_average_weighs_by_size_while_nearest_takes_the_largest():
    near = face("neutral", box=(0, 0, 120, 120))
    far_a = face("happiness", box=(200, 0, 64, 64))
    far_b = face("happiness", box=(300, 0, 64, 64))
    frames = [(5, [near, far_a, far_b])]

    average, _ = run(MoodTracker(MoodConfig(multi_face="average")), frames)
    assert average == [arrived(0.5, 3, 0), changed(0.5, "happiness", "none", 0.667, 0.5, 0.5)]

    nearest, _ = run(MoodTracker(MoodConfig(multi_face="nearest")), frames)
    assert nearest == [arrived(0.5, 3, 0), changed(0.5, "neutral", "none", 1.0, 0.5, 0.5)]


def test_small_unsure_faces_count_less_than_large_confident_ones():
    frames = [(5, [face("sadness", box=BIG, score=0.9), face("happiness", box=(0, 0, 16, 16), score=0.6)])]
    events, _ = run(MoodTracker(), frames)
    happiness_weight = 0.6 * 16 / 64
    assert events == [arrived(0.5, 2, 0),
                      changed(0.5, "sadness", "none", round(0.9 / (0.9 + happiness_weight), 3), 0.5, 0.5)]


def test_a_face_with_nan_probabilities_counts_for_nothing_and_does_not_poison_the_smoothing():
    tracker = MoodTracker()
    broken = face({"happiness": float("nan"), "neutral": 0.5})
    events, end = run(tracker, [(2, [face("neutral"), broken])])
    assert events == [arrived(0.5, 2, 0), changed(0.5, "neutral", "none", 1.0, 0.5, 0.5)]
    assert math.isfinite(tracker.state.confidence)
    events, _ = run(tracker, [(10, [face("happiness")])], start=end)
    assert [e["mood"] for _, e in events if e["event_type"] == "mood_changed"] == ["happiness"]


def test_people_leaving_are_debounced_and_the_room_becomes_none_after_the_absence_timeout():
    tracker = MoodTracker()
    alice, bob = face("happiness", box=(0, 0, 100, 100)), face("happiness", box=(200, 0, 90, 90))

    def missed_detections(i):  # bob flickers out for single frames, then both blink out once
        return [] if i == 20 else [alice] if i % 5 == 2 else [alice, bob]

    events, end = run(tracker, [(10, missed_detections)])
    assert events == [arrived(0.5, 2, 0), changed(0.5, "happiness", "none", 1.0, 0.5, 0.5)]

    events, end = run(tracker, [(4, [alice]), (30, [])], start=end)
    assert events == [left(11.875, 1, 2), left(15.875, 0, 1),  # last seen + 2 s
                      changed(28.875, "none", "happiness", 0.0, 0.0, 28.38)]  # last face at 13.875 + 15 s
    assert (tracker.state.mood, tracker.state.faces) == ("none", 0)

    events, _ = run(tracker, [(2, [bob])], start=end)
    assert events == [arrived(44.5, 1, 0), changed(44.5, "happiness", "none", 1.0, 0.5, 15.62)]


def test_a_short_absence_keeps_the_mood():
    tracker = MoodTracker()
    events, end = run(tracker, [(3, [face("sadness")]), (10, []), (3, [face("sadness")])])
    assert events == [arrived(0.5, 1, 0), changed(0.5, "sadness", "none", 1.0, 0.5, 0.5),
                      left(4.875, 0, 1), arrived(13.5, 1, 0)]
    assert tracker.state.mood == "sadness"


def test_an_absence_timeout_of_zero_ends_the_mood_with_the_first_frame_without_a_face():
    tracker = MoodTracker(MoodConfig(absence_timeout_s=0.0))  # accepted by the config: "at once"
    events, end = run(tracker, [(3, [face("sadness")])])
    assert events == [arrived(0.5, 1, 0), changed(0.5, "sadness", "none", 1.0, 0.5, 0.5)]
    assert tracker.state.mood == "sadness"  # a face in view is never an absence
    events, _ = run(tracker, [(1, [])], start=end)
    assert events[0] == changed(3.0, "none", "sadness", 0.0, 0.0, 2.5)


def test_a_lone_false_detection_now_and_then_does_not_keep_the_mood_of_an_empty_room():
    tracker = MoodTracker()  # someone happy leaves; a poster is taken for a faint face every 10 s
    events, end = run(tracker, [(20, [face("happiness")])])
    ghost = face({"neutral": 0.9, "anger": 0.1}, box=(0, 0, 30, 30), score=0.6)
    events += run(tracker, [(600, lambda i: [ghost] if i % (10 * FPS) == 0 else [])], start=end)[0]
    assert tracker.state.mood == "none" and tracker.state.faces == 0  # not neutral, for ever, with no one there
    assert [data["mood"] for _, data in events if data["event_type"] == "mood_changed"] == ["happiness", "none"]


def test_a_face_that_weighs_almost_nothing_breaks_nothing():
    tracker = MoodTracker()  # a replayed detect line with a score of 1e-14: exp() rounds its first step to 0
    run(tracker, [(1, [face("happiness", score=1e-14)])])  # a ZeroDivisionError before
    assert tracker.state.mood in ("none", "happiness") and 0.0 <= tracker.state.confidence <= 1.0


def test_privacy_turns_the_mood_to_none_at_once_and_ignores_frames_until_it_ends():
    tracker = MoodTracker()
    _, end = run(tracker, [(3, [face("anger")])])
    events = [(e.at, e.as_dict()) for e in tracker.set_privacy(True, end)]
    assert events == [left(3.0, 0, 1), changed(3.0, "none", "anger", 0.0, 0.0, 2.5)]
    assert tracker.state.privacy and tracker.state.mood == "none"
    assert tracker.set_privacy(True, end) == []

    events, end = run(tracker, [(5, [face("anger")])], start=end)
    assert events == [] and tracker.state.faces == 0
    assert tracker.set_privacy(False, end) == []
    events, _ = run(tracker, [(1, [face("fear")])], start=end)
    assert events == [arrived(8.5, 1, 0), changed(8.5, "fear", "none", 1.0, 0.5, 5.5)]


def test_smoothing_is_frame_rate_independent():
    def switch_time(fps: int) -> float:
        tracker = MoodTracker(MoodConfig(min_dwell_s=0.0))
        for i in range(12 * fps):
            now = i / fps
            for event in tracker.update(now, [face("neutral" if now < 4 else "sadness")]):
                if event.details.get("mood") == "sadness":
                    return now
        raise AssertionError("no switch")

    slow, fast = switch_time(4), switch_time(32)
    assert abs(slow - fast) <= 0.25  # one slow frame: the same mood change, whatever the camera's rate


def test_config_section_validates_values():
    config = parse_section(MoodConfig, {"time_constant_s": 3, "multi_face": "nearest"}, "c.toml", "mood.")
    assert config.time_constant_s == 3.0 and config.multi_face == "nearest"
    with pytest.raises(ConfigError, match="mood.switch_margin: must be at least 0 and below 1, got 1.5"):
        parse_section(MoodConfig, {"switch_margin": 1.5}, "c.toml", "mood.")
    with pytest.raises(ConfigError, match="mood.multi_face: must be one of"):
        parse_section(MoodConfig, {"multi_face": "loudest"}, "c.toml", "mood.")


def test_reconfigure_keeps_the_mood_and_applies_new_thresholds_from_then_on():
    tracker = MoodTracker()
    _, end = run(tracker, [(2, [face("neutral")])])
    tracker.reconfigure(MoodConfig(min_dwell_s=0.0, switch_margin=0.5))
    assert tracker.state.mood == "neutral"
    events, _ = run(tracker, [(5, [face("surprise")])], start=end)
    # no dwell now (the old 6 s would wait until 6.5 s), but surprise must lead by 0.5 (0.75 to 0.25)
    assert [(at, e["mood"], e["previous"]) for at, e in events] == [(5.5, "surprise", "neutral")]
    assert events[0][1]["confidence"] >= 0.75
