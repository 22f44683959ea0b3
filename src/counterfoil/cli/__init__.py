"""The ``counterfoil`` command line (Typer): a thin face on the services."""
