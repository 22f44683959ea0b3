"""Who may read the operations routes: ``/metrics`` is public like ``/health`` and
``/ready`` (a Prometheus scraper has no session; it holds counts and timings, no
merchant's data, and docs/deploy.md keeps it behind the reverse proxy)."""

from __future__ import annotations

EVERYONE = frozenset(
    {"anonymous", "terminal", "integration", "cashier", "supervisor", "finance", "auditor", "admin"}
)

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/metrics"): EVERYONE,
}
