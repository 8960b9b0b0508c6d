"""Regenerate the bundled synthetic Au@CdS TA datasets (deterministic: fixed seeds).

    python datasets/generate.py            # writes datasets/au_cds_clean.nc, au_cds_defective.nc

Each file is a bundle written by :func:`hotcarrier.physics.simulate.write_bundle`: the root
group is the highest-fluence sample mid-IR trace and the groups ``midir_F0.020``,
``midir_F0.050``, ``reference`` and ``visible`` hold the rest (see datasets/README.md).
``hotcarrier simulate --preset clean --seed 20240601 --out X.nc`` writes the same file.
"""

from __future__ import annotations

from pathlib import Path

from hotcarrier.physics.simulate import simulate_to_file

HERE = Path(__file__).resolve().parent

SETS = {
    # name: (preset, seed, mid-IR noise in mOD)
    "au_cds_clean": ("clean", 20240601, 0.01),
    "au_cds_defective": ("defective", 20240602, 0.01),
}


def main() -> None:
    for name, (preset, seed, noise) in SETS.items():
        path = simulate_to_file(HERE / f"{name}.nc", preset, seed=seed, noise_mOD=noise)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
