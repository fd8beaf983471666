"""Exit codes scripts can rely on."""

OK = 0
PROBLEMS = 1  # the command ran and found something wrong (dead letters, rejections, ...)
USAGE = 2  # bad arguments or settings
UNREACHABLE = 3  # Redis or the API could not be reached
