"""The `newsfeed` command for operators (see `newsfeed --help`)."""
