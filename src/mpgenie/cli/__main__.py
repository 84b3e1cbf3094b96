"""``python -m mpgenie.cli``: the same command as the ``mpgenie`` script."""

from mpgenie.cli import main

main()
