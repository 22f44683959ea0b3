"""Counterfoil's signed, hash-chained journal of point-of-sale records."""
