"""The few domain exceptions the rest of the app turns into messages a person can act on."""


class SimulacraError(Exception):
    """Base for errors with a message meant for the user, never a traceback."""


class LaneError(SimulacraError):
    """One lane failed; the message says why and what to do."""


class ModelUnavailable(SimulacraError):
    """A model name is unknown, or its file or key is missing."""


class LaneTimeout(LaneError):
    """A chat server did not answer, or stopped answering, within the lane's time limits."""


class PromptTooLong(LaneError):
    """Even the mask's frame plus the newest user turn do not fit in the model's context."""


class LaneSpecError(SimulacraError):
    """A `--lane MODEL[@MASK]` value that cannot be parsed."""


class VectorFileError(SimulacraError):
    """A control-vector GGUF file that cannot be written, or read for this model (wrong size, wrong layers)."""
