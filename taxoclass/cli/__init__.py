"""The ``taxoclass`` command. A thin layer: parse arguments, call the library, print, exit."""
