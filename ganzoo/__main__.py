"""``python -m ganzoo``: the same command line as ``ganzoo`` (what ``torchrun -m ganzoo`` runs on each rank)."""

from ganzoo.cli import main

if __name__ == "__main__":
    main(prog_name="ganzoo")
