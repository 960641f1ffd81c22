"""`python -m cobflow`: the command line (importing this module runs nothing)."""

from cobflow.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
