"""File formats ⇄ TA dataset objects (no JAX here)."""
