"""Keys for the compiled-step caches (``visualization.compiled_for``, ``objectives.compiled``).

Two settings share a compiled step only when they behave the same. Objects with settings (a
modifier class with its parameters, a learning-rate schedule) are keyed by those settings, so an
equal fresh object reuses the step; code (functions, lambdas, builtins, partials) and objects
whose settings cannot be read are keyed by identity. Identity is safe: the cached compiled step holds the
object, so its id is not reused while the cache entry lives.
"""
import functools
import types

from .engine import KERAS_VIS_RMSPROP

_CODE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)


def settings_key(value):
    """A hashable key for a parameterization, input modifier or grad modifier setting."""
    if value is None or isinstance(value, (str, int, float, bool, tuple)):
        return value
    if isinstance(value, _CODE):  # a function's __dict__ is empty: it says nothing about its code
        return ("id", id(value))
    state = getattr(value, "__dict__", None)
    if state is None:  # __slots__ or a C object: its settings cannot be read
        return ("id", id(value))
    # An instance's behaviour is its class and its attributes (none: the class alone, PixelImage()).
    return (type(value), repr(sorted((k, repr(v)) for k, v in state.items())))


def optimizer_key(optimizer_settings):
    """A hashable key for an ``engine.make_optimizer`` dict (None or {} = keras-vis's RMSprop).

    A schedule is keyed by its class and config: its repr holds its memory address, so a fresh
    equal schedule would compile anew on every call and grow the cache.
    """
    settings = optimizer_settings or KERAS_VIS_RMSPROP  # as CompiledOptimizer resolves it: {} is the default too
    return tuple(sorted((str(name), _value_key(value)) for name, value in settings.items()))


def _value_key(value):
    get_config = getattr(value, "get_config", None)
    if callable(get_config):
        return (type(value).__name__, repr(sorted(get_config().items())))
    return repr(value)
