"""Batch-wise tf.data augmentation that imitates the on-device face aligner's small errors.

Two strengths (``train.py --augmentation``): ``aligner`` (the shipped recipe) covers the aligner's small
errors and light jitter; ``camera`` also imitates cameras unlike FER-2013's sources: wider framing jitter,
gamma, blur, sensor noise and a lower resolution resampled up (issue 16's robustness experiment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from . import AUGMENTATIONS, IMAGE_SIZE

BRIGHTNESS = 0.10  # additive, on the [0, 1] scale
CONTRAST = 0.25  # multiplicative around the image mean: 1 +- CONTRAST
ERASE_P = 0.5
ERASE_AREA = (0.02, 0.20)


@dataclass(frozen=True)
class Jitter:
    """How far the affine jitter goes: rotation (degrees), shift (share of the frame), zoom (share)."""

    rotation_deg: float
    shift: float
    zoom: float


ALIGNER = Jitter(10.0, 0.10, 0.10)  # the aligner's small errors (the shipped recipe)
CAMERA = Jitter(15.0, 0.12, 0.15)  # wider than the aligner's small errors: other people, other framings
GAMMA = (0.6, 1.6)  # exponent on [0, 1]: dark or washed-out exposure
BLUR_P, BLUR_SIGMA = 0.3, (0.3, 1.2)  # out of focus, motion
NOISE_P, NOISE_STD = 0.3, (0.01, 0.05)  # sensor noise on [0, 1]
LOW_RES_P, LOW_RES_SIZE = 0.3, (20, 40)  # a small face in a wide frame, resampled up to 48 px


def _affine(images: tf.Tensor, jitter: Jitter) -> tf.Tensor:
    """Random rotation, zoom and shift within ``jitter``, reflecting at the borders."""
    n = tf.shape(images)[0]
    theta = tf.random.uniform([n], -1.0, 1.0) * jitter.rotation_deg * math.pi / 180
    zoom = tf.random.uniform([n], 1 - jitter.zoom, 1 + jitter.zoom)
    tx = tf.random.uniform([n], -jitter.shift, jitter.shift) * IMAGE_SIZE
    ty = tf.random.uniform([n], -jitter.shift, jitter.shift) * IMAGE_SIZE
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


def _chosen(n: tf.Tensor, p: float) -> tf.Tensor:
    """(n, 1, 1, 1) booleans, each true with probability p."""
    return tf.random.uniform([n, 1, 1, 1]) < p


def _blur(images: tf.Tensor) -> tf.Tensor:
    """Gaussian blur of a random strength (one sigma per batch: a 5x5 separable kernel)."""
    sigma = tf.random.uniform([], *BLUR_SIGMA)
    taps = tf.range(-2.0, 3.0)
    kernel = tf.exp(-(taps ** 2) / (2 * sigma ** 2))
    kernel /= tf.reduce_sum(kernel)
    blurred = tf.nn.conv2d(images, tf.reshape(kernel, [5, 1, 1, 1]), 1, "SAME")
    return tf.nn.conv2d(blurred, tf.reshape(kernel, [1, 5, 1, 1]), 1, "SAME")


def _camera(images: tf.Tensor) -> tf.Tensor:
    """Gamma, then blur, noise and a lower resolution, each on a random share of the batch; in [0, 1]."""
    n = tf.shape(images)[0]
    gamma = tf.exp(tf.random.uniform([n, 1, 1, 1], math.log(GAMMA[0]), math.log(GAMMA[1])))
    x = tf.pow(tf.clip_by_value(images, 1e-4, 1.0), gamma)
    x = tf.where(_chosen(n, BLUR_P), _blur(x), x)
    std = tf.random.uniform([n, 1, 1, 1], *NOISE_STD)
    x = tf.where(_chosen(n, NOISE_P), x + tf.random.normal(tf.shape(x)) * std, x)
    size = tf.random.uniform([], LOW_RES_SIZE[0], LOW_RES_SIZE[1] + 1, dtype=tf.int32)
    low = tf.image.resize(tf.image.resize(x, [size, size], "area"), [IMAGE_SIZE, IMAGE_SIZE], "bilinear")
    return tf.clip_by_value(tf.where(_chosen(n, LOW_RES_P), low, x), 0.0, 1.0)


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


def augment(images: tf.Tensor, strength: str = "aligner") -> tf.Tensor:
    """uint8 batch (B, 48, 48) -> augmented float batch (B, 48, 48, 1) in [0, 1] (``strength``: AUGMENTATIONS)."""
    if strength not in AUGMENTATIONS:
        raise ValueError(f"augmentation {strength!r} is not one of {', '.join(AUGMENTATIONS)}")
    x = tf.cast(images, tf.float32)[..., None] / 255.0
    x = tf.where(_chosen(tf.shape(x)[0], 0.5), tf.reverse(x, axis=[2]), x)
    camera = strength == "camera"
    x = _photometric(_affine(x, CAMERA if camera else ALIGNER))
    return _erase(_camera(x) if camera else x)


def to_input(images: tf.Tensor) -> tf.Tensor:
    """uint8 batch (B, 48, 48) -> float model input (B, 48, 48, 1) without augmentation."""
    return tf.cast(images, tf.float32)[..., None] / 255.0
