# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # gaxla from a notebook
#
# Train the quick start (a class-conditional DCGAN on scikit-learn's bundled
# 8x8 digits) for a few steps, look at its samples, then load the workdir the
# way you would load any finished run: sample, generate from latents and
# evaluate. Runs on a laptop CPU in about a minute.
#
# This file is a [jupytext](https://jupytext.readthedocs.io) notebook:
# `jupytext --to notebook docs/notebook.py` makes the `.ipynb`; CI runs it
# as it is (tests/test_notebook.py), so it stays true. `NOTEBOOK_STEPS`,
# `NOTEBOOK_CLASSIFIER_STEPS` and `NOTEBOOK_WORKDIR` (environment) shorten the
# run and choose its folder.

# %%
import os
import tempfile

import numpy as np

import gaxla

steps = int(os.environ.get("NOTEBOOK_STEPS", "300"))
classifier_steps = int(os.environ.get("NOTEBOOK_CLASSIFIER_STEPS", "1000"))
workdir = os.environ.get("NOTEBOOK_WORKDIR") or os.path.join(tempfile.mkdtemp(), "quickstart")

# %% [markdown]
# ## Train
# `gaxla.fit` is `gaxla train` for notebooks: a config file (or a
# ConfigDict), a workdir, and config overrides (dotted keys spelled with
# `__`). It returns the trained run.

# %%
run = gaxla.fit("configs/quickstart.py", workdir, num_steps=steps,
                log_every_steps=max(steps // 2, 1), eval_every_steps=steps,
                checkpoint_every_steps=steps, eval__classifier_steps=classifier_steps)
run

# %% [markdown]
# One row per digit, EMA generator (an image: shows inline).

# %%
run.grid(size=8)

# %% [markdown]
# Train on, in place, and look again.

# %%
metrics = run.train(max(steps // 10, 1))
print(run.step, {k: round(v, 3) for k, v in metrics.items() if k in ("d_loss", "g_loss")})
run.grid(size=8)

# %% [markdown]
# ## Load a workdir
# Any workdir `gaxla train` wrote loads the same way, on one device.

# %%
run = gaxla.load(workdir)
print(run, run.config.model.name, run.num_classes, "classes")

# %%
sevens = run.sample(8, labels=7, truncation=0.5)
print(sevens.shape, float(sevens.min()), float(sevens.max()))

# %% [markdown]
# The generator as a function of the latent: the same `z` with two classes.

# %%
z = run.latent(4, seed=1)
both = np.concatenate([run.generator(z, labels=[3] * 4), run.generator(z, labels=[8] * 4)])
print(both.shape)

# %% [markdown]
# ## Evaluate
# Metrics in the domain classifier's feature space (the classifier trains
# once, in a few seconds, and is cached).

# %%
scores = run.evaluate(["classifier"], num_samples=200)
scores
