"""The Wit job language: grammar, syntax tree, parser, checker, printer and error reports.

Pure: text in, checked job out. Nothing here imports the runtime, plugins, CLI or network code.
"""
