"""Batch-wise tf.data augmentation that imitates the on-device face aligner's small errors."""

from __future__ import annotations

import math

import tensorflow as tf

from . import IMAGE_SIZE

ROTATION_DEG = 10.0
SHIFT = 0.10  # fraction of the frame
ZOOM = 0.10
BRIGHTNESS = 0.10  # additive, on the [0, 1] scale
CONTRAST = 0.25  # multiplicative around the image mean: 1 +- CONTRAST
ERASE_P = 0.5
ERASE_AREA = (0.02, 0.20)


def _affine(images: tf.Tensor) -> tf.Tensor:
    """Random rotation (+-10 deg), zoom (+-10 %) and shift (+-10 %), reflecting at the borders."""
    n = tf.shape(images)[0]
    theta = tf.random.uniform([n], -1.0, 1.0) * ROTATION_DEG * math.pi / 180
    zoom = tf.random.uniform([n], 1 - ZOOM, 1 + ZOOM)
    tx = tf.random.uniform([n], -SHIFT, SHIFT) * IMAGE_SIZE
    ty = tf.random.uniform([n], -SHIFT, SHIFT) * IMAGE_SIZE
    c = (IMAGE_SIZE - 1) / 2
    a0, a1 = tf.cos(theta) / zoom, tf.sin(theta) / zoom
    b0, b1 = -tf.sin(theta) / zoom, tf.cos(theta) / zoom
    a2 = c - a0 * c - a1 * c - tx
    b2 = c - b0 * c - b1 * c - ty
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[IMAGE_SIZE, IMAGE_SIZE],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def _photometric(images: tf.Tensor) -> tf.Tensor:
    """Random brightness and contrast jitter, clipped to [0, 1]."""
    n = tf.shape(images)[0]
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.uniform([n, 1, 1, 1], 1 - CONTRAST, 1 + CONTRAST)
    bright = tf.random.uniform([n, 1, 1, 1], -BRIGHTNESS, BRIGHTNESS)
    return tf.clip_by_value((images - mean) * contrast + mean + bright, 0.0, 1.0)


def _erase(images: tf.Tensor) -> tf.Tensor:
    """Random erasing: with probability ERASE_P replace a random rectangle by uniform noise."""
    n = tf.shape(images)[0]
    size = float(IMAGE_SIZE)
    area = tf.random.uniform([n], *ERASE_AREA) * size * size
    log_ratio = tf.random.uniform([n], math.log(0.3), math.log(1 / 0.3))
    h = tf.clip_by_value(tf.sqrt(area * tf.exp(log_ratio)), 1.0, size)
    w = tf.clip_by_value(tf.sqrt(area / tf.exp(log_ratio)), 1.0, size)
    y0 = tf.random.uniform([n]) * (size - h)
    x0 = tf.random.uniform([n]) * (size - w)
    grid = tf.range(IMAGE_SIZE, dtype=tf.float32)
    in_y = (grid[None, :] >= y0[:, None]) & (grid[None, :] < (y0 + h)[:, None])
    in_x = (grid[None, :] >= x0[:, None]) & (grid[None, :] < (x0 + w)[:, None])
    apply = tf.random.uniform([n]) < ERASE_P
    mask = in_y[:, :, None] & in_x[:, None, :] & apply[:, None, None]
    noise = tf.random.uniform(tf.shape(images))
    return tf.where(mask[..., None], noise, images)


def augment(images: tf.Tensor) -> tf.Tensor:
    """uint8 batch (B, 48, 48) -> augmented float batch (B, 48, 48, 1) in [0, 1]."""
    x = tf.cast(images, tf.float32)[..., None] / 255.0
    flip = tf.random.uniform([tf.shape(x)[0], 1, 1, 1]) < 0.5
    x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    x = _affine(x)
    x = _photometric(x)
    return _erase(x)


def to_input(images: tf.Tensor) -> tf.Tensor:
    """uint8 batch (B, 48, 48) -> float model input (B, 48, 48, 1) without augmentation."""
    return tf.cast(images, tf.float32)[..., None] / 255.0
