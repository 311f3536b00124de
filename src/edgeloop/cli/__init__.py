"""Command-line interface: one thin Typer sub-app or command per module."""
