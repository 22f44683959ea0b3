"""Reconciliation: journal entries against statement lines, in ordered passes of SQL.

``model`` names the outcomes, the tolerances and the staged columns; ``staging`` copies a
run's entries and lines out of the store into files of one neutral shape; ``passes``
holds the SQL every engine runs over them; ``engines`` runs it (DuckDB embedded; Spark
plugs in behind the same ``Engine`` protocol); ``explain`` words each break;
``service`` runs, stores and decides; ``export`` writes break lists as CSV and XLSX;
``generator`` makes a day with known truth, to prove the passes right.
"""
