"""The detector's lab: everything that runs the engine offline rather than in a worker.

Stored series (``series``), causal offline scoring through the worker's own step
(``offline``), the Numenta Anomaly Benchmark corpus and scorer (``nab``), training
(``train``), the synthetic corpus of streams with injected anomalies (``synthetic``) and
plots of a scored stream (``plot``). Nothing in the online engine imports from here.
"""

__all__: list[str] = []
