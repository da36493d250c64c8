"""Comparisons of models and their reports: ``genmodels compare``, ``demo``, ``report``, ``runs``.

- :mod:`.compare`: the runner (same budget, same metrics) and ``results.json``/``.csv``;
- :mod:`.demo`: one model of every registered family kind on built-in data;
- :mod:`.rebuild`: a report from existing run directories;
- :mod:`.runs`: listing run directories with their final metrics;
- :mod:`.figures`, :mod:`.diagnostics`: the figures (matplotlib, imported lazily);
- :mod:`.html`: the self-contained HTML page; :mod:`.columns`: which direction is better;
- :mod:`.browser`: loading a report in headless Chromium (for the tests).
"""
