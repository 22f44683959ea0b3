"""Settlement: the day's settlement list, batch close, late uploads and reports."""
