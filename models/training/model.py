"""The emotion CNN: a small VGG-style network built only from Edge-TPU-friendly ops."""

from __future__ import annotations

import keras
from keras import layers

from . import IMAGE_SIZE, LABELS


def build_model(width: int = 32, dropout: float = 0.4, weight_decay: float = 0.0) -> keras.Model:
    """Four stages of two 3x3 Conv-BN-ReLU and a 2x2 max-pool, global average pool, softmax head.

    Input: (48, 48, 1) float in [0, 1] (pixel / 255). Widths are ``width * (1, 2, 4, 8)``.
    After conversion every layer maps to Conv2D (BN folded, ReLU fused), MaxPool2D, Mean,
    FullyConnected or Softmax.
    """
    reg = keras.regularizers.l2(weight_decay) if weight_decay else None
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = inputs
    for stage, mult in enumerate((1, 2, 4, 8)):
        for i in range(2):
            x = layers.Conv2D(width * mult, 3, padding="same", use_bias=False,
                              kernel_regularizer=reg, name=f"conv{stage}_{i}")(x)
            x = layers.BatchNormalization(name=f"bn{stage}_{i}")(x)
            x = layers.ReLU(name=f"relu{stage}_{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(len(LABELS), activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=f"emotion_vgg{width}")
