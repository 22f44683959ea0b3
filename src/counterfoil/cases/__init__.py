"""Cases: carry every discrepancy from discovery to an approved adjustment."""
