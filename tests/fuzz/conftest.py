"""Hypothesis profiles of the fuzz suite (see ``fuzz/support.py`` for the counts).

``make test`` runs the ``tuneforge`` profile: derandomised (the same examples every run, so
the suite never flakes) and without an example database. ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``) runs 50 times as many, with fresh random examples and the
database under ``.hypothesis/`` that replays any failure first.
"""

from __future__ import annotations

import os

from hypothesis import settings

from fuzz.support import COMMON_SETTINGS, FUZZ_PROFILE, PROFILE_ENV

settings.register_profile("tuneforge", derandomize=True, database=None, **COMMON_SETTINGS)
settings.register_profile(FUZZ_PROFILE, **COMMON_SETTINGS)
settings.load_profile(os.environ.get(PROFILE_ENV) or "tuneforge")
