"""Fails at import time: the runtime must report Runtime.ImportModuleError."""

import module_that_does_not_exist_in_gust_tests  # noqa: F401


def handler(event, context):
    return "unreachable"
