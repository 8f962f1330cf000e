"""`python -m clara_cli` runs the command-line interface."""

from clara_cli.cli.main import cli

if __name__ == "__main__":
    cli()
