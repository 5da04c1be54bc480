"""The official SDK's import paths (``vatel.models``, ``vatel.models.rest``, ``vatel.models.ws``).

The models live in :mod:`vatel.protocol`; these modules re-export them so code written for the
official SDK imports unchanged.
"""

from vatel.models.rest import *  # noqa: F403
from vatel.models.rest import __all__ as _rest_all
from vatel.models.ws import *  # noqa: F403
from vatel.models.ws import __all__ as _ws_all

__all__ = _rest_all + _ws_all  # noqa: PLE0605
