"""Realistic demo data: two merchants, three terminals each, a month of traffic."""
