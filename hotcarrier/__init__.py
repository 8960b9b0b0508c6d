"""hotcarrier: ultrafast carrier dynamics in plasmonic metal–semiconductor nanocrystals.

Float64: the package does not change JAX's global settings at import; see
:mod:`hotcarrier._x64` (``hotcarrier.x64()`` is a context manager enabling float64).
"""

from ._x64 import x64
from .dataset import check_ta, make_ta_dataset
from .errors import DataFormatError, HotcarrierError

__version__ = "0.1.0"

__all__ = ["x64", "check_ta", "make_ta_dataset", "DataFormatError", "HotcarrierError",
           "__version__"]
