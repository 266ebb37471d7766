"""Super-resolution metrics: PSNR and SSIM on the Y channel, borders cropped.

The SR papers' protocol (as ESRGAN/EDSR evaluation code does it):
  * images in [-1, 1] are quantized to 8 bits (what a saved PNG holds);
  * RGB images are scored on the luma Y of ITU-R BT.601 in [16, 235]
    (Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in 0..255);
    one-channel (grey) images are scored on that channel as it is;
  * `scale` pixels are cropped from every border (the upscaler cannot know
    what lies beyond the low-resolution image's edge);
  * PSNR and SSIM are computed per image and averaged over images.
SSIM is Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5, truncated
at 3.5 sigma), K1 = 0.01, K2 = 0.03, data range 255, population statistics;
the means run over the window's valid region (what scikit-image's
`structural_similarity(gaussian_weights=True, use_sample_covariance=False)`
computes; tests/test_superres.py checks against it).

`SR_METRICS` maps the names allowed in `config.sr.metrics` to what they log
(`eval/sr/NAME`); gaxla/superres.py runs them on held-out images.
"""

from __future__ import annotations

import numpy as np

# name -> (higher is better?) ; 'fd' (classifier-space Frechet distance) is
# computed by gaxla/superres.py since it needs the domain classifier.
SR_METRICS = {"psnr": True, "ssim": True, "fd": False}

_SIGMA = 1.5
_RADIUS = int(3.5 * _SIGMA + 0.5)   # scipy.ndimage's truncation: 11 taps
_K1, _K2 = 0.01, 0.03
_RANGE = 255.0


def to_y(images: np.ndarray) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> 8-bit-quantized luma [N, H, W] as float64 in 0..255."""
  images = np.asarray(images, np.float64)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"SR metrics take images [N, H, W, 1 or 3], got shape {images.shape}")
  pixels = np.round(np.clip((images + 1.0) * 127.5, 0.0, 255.0))
  if pixels.shape[-1] == 1:
    return pixels[..., 0]
  r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
  return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def crop_border(y: np.ndarray, border: int) -> np.ndarray:
  """[N, H, W] -> [N, H - 2 border, W - 2 border]."""
  if border <= 0:
    return y
  if y.shape[1] <= 2 * border or y.shape[2] <= 2 * border:
    raise ValueError(f"images of {y.shape[1]}x{y.shape[2]} px have nothing left after "
                     f"cropping {border} px from each border")
  return y[:, border:-border, border:-border]


def _prepare(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
  if np.shape(sr) != np.shape(hr):
    raise ValueError(f"SR and HR images differ in shape: {np.shape(sr)} vs {np.shape(hr)}")
  return crop_border(to_y(sr), border), crop_border(to_y(hr), border)


def psnr_per_image(sr: np.ndarray, hr: np.ndarray, border: int) -> np.ndarray:
  """PSNR (dB) of each image pair on Y, `border` px cropped; [N]. Identical images: inf."""
  a, b = _prepare(sr, hr, border)
  mse = np.mean(np.square(a - b), axis=(1, 2))
  with np.errstate(divide="ignore"):
    return 10.0 * np.log10(_RANGE ** 2 / mse)


def _gaussian_kernel() -> np.ndarray:
  x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
  k = np.exp(-0.5 * (x / _SIGMA) ** 2)
  return k / k.sum()


def _filter(y: np.ndarray) -> np.ndarray:
  """Separable Gaussian filter of [N, H, W], mirrored edges (scipy's 'reflect')."""
  k = _gaussian_kernel()
  r = _RADIUS
  padded = np.pad(y, ((0, 0), (r, r), (r, r)), mode="symmetric")
  h, w = y.shape[1:]
  rows = sum(k[i] * padded[:, i:i + h, :] for i in range(2 * r + 1))
  return sum(k[i] * rows[:, :, i:i + w] for i in range(2 * r + 1))


def ssim_per_image(sr: np.ndarray, hr: np.ndarray, border: int) -> np.ndarray:
  """SSIM of each image pair on Y, `border` px cropped; [N] (see the module docstring)."""
  a, b = _prepare(sr, hr, border)
  window = 2 * _RADIUS + 1
  if min(a.shape[1:]) < window:
    raise ValueError(f"SSIM needs at least {window}x{window} px after the border crop; "
                     f"images are {a.shape[1]}x{a.shape[2]} (drop 'ssim' from sr.metrics)")
  mu_a, mu_b = _filter(a), _filter(b)
  var_a = _filter(a * a) - mu_a ** 2
  var_b = _filter(b * b) - mu_b ** 2
  cov = _filter(a * b) - mu_a * mu_b
  c1, c2 = (_K1 * _RANGE) ** 2, (_K2 * _RANGE) ** 2
  ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
              / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
  r = _RADIUS  # the window must lie inside the image: average over the valid region
  return ssim_map[:, r:-r, r:-r].mean(axis=(1, 2))


def psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
  """Mean per-image PSNR (dB) on Y with `border` px cropped."""
  return float(np.mean(psnr_per_image(sr, hr, border)))


def ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
  """Mean per-image SSIM on Y with `border` px cropped."""
  return float(np.mean(ssim_per_image(sr, hr, border)))
