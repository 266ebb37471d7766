"""Inception Score (Salimans et al., 2016) from class logits or probabilities.

IS = exp(E_x KL(p(y|x) || p(y))), computed on `splits` equal parts of the
samples (10 in the reference code), reported as mean and std over the parts.
The reference code takes logits = pool3 @ W of the 2015 Inception graph's
softmax layer without its bias; `gaxla.evaluate.inception` exposes those as
`logits_unbiased`.
"""

from __future__ import annotations

import numpy as np


def _softmax(logits: np.ndarray) -> np.ndarray:
  shifted = logits - logits.max(axis=1, keepdims=True)
  e = np.exp(shifted)
  return e / e.sum(axis=1, keepdims=True)


def inception_score(probs: np.ndarray | None = None, logits: np.ndarray | None = None,
                    splits: int = 10) -> tuple[float, float]:
  """Inception Score of samples given their class predictions.

  Args:
    probs: [n, classes] p(y|x) (rows sum to 1); or
    logits: [n, classes] unnormalized log-probabilities (softmax is applied).
    splits: number of equal parts (the last n % splits samples are dropped).

  Returns:
    (mean, std) of the score over the splits; 1 for uniform predictions,
    `classes` for confident predictions spread evenly over the classes.
  """
  if (probs is None) == (logits is None):
    raise ValueError("pass exactly one of probs or logits")
  p = _softmax(np.asarray(logits, np.float64)) if probs is None else np.asarray(probs, np.float64)
  if p.ndim != 2 or len(p) < splits:
    raise ValueError(f"need [n >= splits={splits}, classes] predictions, got {p.shape}")
  part = len(p) // splits
  scores = []
  for i in range(splits):
    chunk = p[i * part:(i + 1) * part]
    marginal = chunk.mean(axis=0, keepdims=True)
    # 0 log 0 = 0: confident (one-hot) predictions are exact zeros.
    with np.errstate(divide="ignore", invalid="ignore"):
      terms = np.where(chunk > 0, chunk * (np.log(chunk) - np.log(marginal)), 0.0)
    scores.append(np.exp(terms.sum(axis=1).mean()))
  return float(np.mean(scores)), float(np.std(scores))
