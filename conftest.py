"""Collection rules for the doctests of the installed package (``--doctest-modules --pyargs``).

nle is the optional ``[nethack]`` extra: without it the one module that imports nle at the top
(:mod:`advrl.envs.nethack.tasks`) cannot be imported, so its doctests are not collected.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("nle") else ["envs/nethack/tasks.py"]
