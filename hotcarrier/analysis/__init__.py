"""Model-free analyses of a TA map or of a fit: residual SVD and lifetime-density analysis."""

from .lda import lda_peaks, lifetime_density
from .residual import noise_verdict, residual_svd

__all__ = ["lifetime_density", "lda_peaks", "residual_svd", "noise_verdict"]
