"""The six emotions of the product, in their fixed order, and the mood `none`."""

EMOTIONS: tuple[str, ...] = ("anger", "fear", "happiness", "sadness", "surprise", "neutral")
NO_MOOD = "none"
MOODS: tuple[str, ...] = EMOTIONS + (NO_MOOD,)
