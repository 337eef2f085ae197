"""Imports every op family so that their ops register, in palette order."""

from . import sources  # noqa: F401
from . import arithmetic  # noqa: F401
from . import activations  # noqa: F401
from . import linalg  # noqa: F401
from . import conv  # noqa: F401
from . import pooling  # noqa: F401
from . import regularisation  # noqa: F401
from . import sequence  # noqa: F401
from . import recurrent  # noqa: F401
from . import losses  # noqa: F401
