"""The services: every rule-bearing operation, called alike by the CLI, the API and the console."""
