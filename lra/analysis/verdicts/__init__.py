"""Verdicts on the paper's claims C1-C10 (book chapter "Verdicts").

Step one of splitting the former ``lra/analysis/verdicts.py`` by claim family: the file is moved
here whole (so that ``git log --follow`` keeps its history) and re-exported."""
from lra.analysis.verdicts.regularisation import *  # noqa: F401,F403
from lra.analysis.verdicts.regularisation import _pts  # noqa: F401
