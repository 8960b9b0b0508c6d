"""Analyses on top of a TA map or a fit: residual SVD, lifetime-density analysis (model-free)
and automatic model choice (:mod:`.choice`, imported on use: it needs the batch engine)."""

from .lda import lda_peaks, lifetime_density
from .residual import noise_verdict, residual_svd

__all__ = ["lifetime_density", "lda_peaks", "residual_svd", "noise_verdict"]
