"""CLI subcommands, one module each.

Every module here defines `register(subparsers)`, which adds its subcommand
and sets `func` on the parser to a callable taking the parsed args and
returning an exit code. The CLI discovers the modules, so adding a command
is adding a file.
"""
