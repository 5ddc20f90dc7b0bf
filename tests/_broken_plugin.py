"""A plugin module that cannot be imported (tests of start-up errors)."""

import ixp_no_such_dependency  # noqa: F401

Plugin = object
