"""Neural-network layers shared by the model families."""

from gaxla.nn.attention import SelfAttention  # noqa: F401
from gaxla.nn.layers import (  # noqa: F401
    Conv, ConvTranspose, Dense, nearest_upsample_conv3x3, spectral_sigmas, upsample_nearest)
from gaxla.nn.normalization import BATCH_MOMENTS, BatchNorm, ConditionalBatchNorm  # noqa: F401
