"""Wiring: builds the hub of services and the app of one process from one Settings object."""
