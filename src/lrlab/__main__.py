"""``python -m lrlab``: the command line."""

from lrlab.cli import main

if __name__ == "__main__":
    main()
