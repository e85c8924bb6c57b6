"""The emotion CNNs: small convolutional networks built only from Edge-TPU-friendly ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import IMAGE_SIZE, LABELS

if TYPE_CHECKING:
    import keras

ARCHITECTURES: dict[str, tuple[tuple[int, str], ...]] = {
    # the first shipped model (until Nov 2026): 295 k parameters, 30 M multiply-adds
    "vgg": ((1, "cc"), (2, "cc"), (4, "cc"), (8, "cc")),
    # the shipped model, a third of vgg's cost: one convolution at 48x48, the second one of each
    # later stage depthwise-separable; 124 k parameters, 10 M multiply-adds
    "sep": ((1, "c"), (2, "cs"), (4, "cs"), (8, "cs")),
    # "sep" with both 6x6 layers full convolutions: 253 k parameters, 15 M multiply-adds
    "mixed": ((1, "c"), (2, "cs"), (4, "cs"), (8, "cc")),
}
"""Each stage: (width multiplier, its layers), then a 2x2 max-pool. Layer "c" is a 3x3 convolution,
"s" a depthwise 3x3 convolution followed by a pointwise 1x1 convolution (each with BN and ReLU)."""


def build_model(width: int, dropout: float, arch: str) -> keras.Model:
    """The network ``arch`` at base width ``width``: stages of ``ARCHITECTURES[arch]``, global average pool,
    dropout, softmax head.

    Input: (48, 48, 1) float in [0, 1] (pixel / 255). After conversion every layer maps to Conv2D or
    DepthwiseConv2D (BN folded, ReLU fused), MaxPool2D, Mean, FullyConnected or Softmax. The recipe's
    values (the shipped width, dropout and layout) live in one place: the training command's defaults.
    """
    import keras
    from keras import layers

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = inputs
    for stage, (mult, kinds) in enumerate(ARCHITECTURES[arch]):
        for i, kind in enumerate(kinds):
            name = f"{stage}_{i}"
            if kind == "s":
                x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{name}")(x)
                x = layers.BatchNormalization(name=f"dwbn{name}")(x)
                x = layers.ReLU(name=f"dwrelu{name}")(x)
                x = layers.Conv2D(width * mult, 1, use_bias=False, name=f"pw{name}")(x)
            else:
                x = layers.Conv2D(width * mult, 3, padding="same", use_bias=False, name=f"conv{name}")(x)
            x = layers.BatchNormalization(name=f"bn{name}")(x)
            x = layers.ReLU(name=f"relu{name}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(len(LABELS), activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=f"emotion_{arch}{width}")
