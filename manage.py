#!/usr/bin/env python
"""Django's command-line utility for ADCE."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    from adce_site.process_exit import run_command_line

    run_command_line(sys.argv)


if __name__ == "__main__":
    main()
