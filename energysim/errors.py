"""The one exception type users see from energysim: a bad input, named with its field and value."""


class EnergySimError(ValueError):
    """A clear, user-facing error: the message names the offending field/layer and its value.

    The command-line tools print it as one line and exit with status 2.
    """
