"""Operations: Prometheus metrics (``metrics.py``) and structured logs (``logs.py``)."""
