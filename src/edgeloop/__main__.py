"""``python -m edgeloop``: the same as the ``edgeloop`` command."""

from edgeloop.cli.main import main

main()
