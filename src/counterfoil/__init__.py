"""Counterfoil: keeps, proves and reconciles point-of-sale records."""

__version__ = "0.1.0"
