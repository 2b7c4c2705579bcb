"""``python -m mlwright``: the same command as the ``mlwright`` console script."""

from mlwright.cli import main

if __name__ == "__main__":
    main()
