import sys

from bench.code import code_arg, use_code

# Before anything imports the project: --code decides where it comes from.
_code = code_arg(sys.argv[1:])
if _code is not None:
    use_code(_code)

from bench.run import main  # noqa: E402

raise SystemExit(main())
