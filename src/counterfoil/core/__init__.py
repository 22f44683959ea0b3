"""The pure domain: money, fees, card numbers, transactions. No database, HTTP or files."""
