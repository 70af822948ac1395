"""The two conventions every metric takes, and the constants that pin each one down.

`convention="mit"` (default) follows the MIT MATLAB code (`cvzoya/saliency`, code_forMetrics)
line by line; `convention="pysaliency"` follows pysaliency 0.2.x (`matthias-k/pysaliency`). Each
metric's docstring says where they differ. The two big systematic differences:
- MIT works on the BINARY fixation map: a pixel fixated twice counts once. pysaliency counts every
  fixation (duplicates weigh twice). With a fixation list, "mit" de-duplicates it.
- MIT min-max normalises S before AUC/SIM/IG; pysaliency does not (it only shifts negative maps).
"""
import numpy as np

CONVENTIONS = ("mit", "pysaliency")
# MATLAB's `eps` (2^-52), as KLdiv.m and InfoGain.m call it; pysaliency's MIT_KLDiv types the
# literal 2.2204e-16 instead (eps printed to 5 digits). Each convention uses its own.
MATLAB_EPS = float(np.finfo(np.float64).eps)
PYSALIENCY_EPS = 2.2204e-16
# AUC_Judd.m jitter: `saliencyMap + rand(size(saliencyMap))/10000000`.
JUDD_JITTER = 1e-7


def check_convention(convention):
    """ValueError unless `convention` is one of `CONVENTIONS`."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
