"""Imports fine but has no `handler`: the runtime must report Runtime.HandlerNotFound."""


def some_other_function(event, context):
    return "not the configured handler"
