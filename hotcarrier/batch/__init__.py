"""Batched fitting: many datasets (or pixels) with one model in one compiled, vmapped call.

* :func:`fit_batch` — TA datasets, tuples of datasets or file paths (streamed in chunks);
* :func:`fit_arrays` — a stack of maps on one grid (TA microscopy pixels, series);
* :func:`bootstrap` — resampling uncertainty of a single fit, as a batch;
* multi-start (``n_starts``/``starts``), sharding over devices (``devices``), chunked
  streaming with a progress callback (``chunk_size``, ``progress``);
* results: one :class:`xarray.Dataset` with a ``batch`` dimension
  (:func:`save_results`, :func:`summary_table`, :func:`summary_records`).

See ``docs/batch.md`` (including multi-host use with ``jax.distributed``).
"""

from .bootstrap import bootstrap
from .fit import STATUS_MESSAGES, BatchFitter, fit_arrays, fit_batch, make_starts, prepare_item
from .results import (median_relative_error, results_to_dataset, save_results, summary_records,
                      summary_table)
from .sharding import resolve_devices
from .streaming import DEFAULT_CHUNK_SIZE, TextProgress

__all__ = ["fit_batch", "fit_arrays", "bootstrap", "make_starts", "prepare_item", "BatchFitter",
           "STATUS_MESSAGES", "results_to_dataset", "save_results", "summary_records",
           "summary_table", "median_relative_error", "resolve_devices", "TextProgress",
           "DEFAULT_CHUNK_SIZE"]
