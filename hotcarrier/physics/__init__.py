"""The hot-carrier physical model of Au@CdS (see docs/physics.md)."""
