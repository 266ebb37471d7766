"""Neural-network layers shared by the model families."""

from gaxla.nn.layers import Conv, ConvTranspose, Dense, spectral_sigmas  # noqa: F401
