"""Neural-network layers shared by the model families."""

from gaxla.nn.attention import SelfAttention  # noqa: F401
from gaxla.nn.layers import Conv, ConvTranspose, Dense, spectral_sigmas  # noqa: F401
from gaxla.nn.normalization import BATCH_MOMENTS, BatchNorm, ConditionalBatchNorm  # noqa: F401
