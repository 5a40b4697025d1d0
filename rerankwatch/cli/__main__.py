"""`python -m rerankwatch.cli`: the `rerankwatch` command."""

from rerankwatch.cli import main

main()
