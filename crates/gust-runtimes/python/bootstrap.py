"""Entry point of gust's Python runtime.

The runtime itself is ``_gust_bootstrap``: imported rather than run as a script,
Python loads it from the compiled ``__pycache__`` that gust writes when it starts,
instead of compiling 800 lines at every cold start (a script run directly is
always compiled from source).
"""

import _gust_bootstrap

_gust_bootstrap.main()
