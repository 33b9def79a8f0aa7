"""What the book computes from stored rows (wing 5 of 5: ground <- algorithms <- engine <- campaign
<- analysis <- faces).

:mod:`labels` names what the reader sees (tasks, grid keys and values) and :mod:`budgets` says what
a budget runs, in words, with the command that computes its rows; :mod:`page` holds the page's
rules for a figure (size, style, legibility) and glues figures and text into the book. Above them:
:mod:`report` loads stored rows and the paper's published tables (``lra/analysis/published/``,
labelled "paper"); :mod:`tables` sets them side by side; :mod:`figures` draws the paper's figures
again; :mod:`controls` and :mod:`paired` compare methods against the readout-only control and
each other, seed by seed; :mod:`verdicts` decides each claim C1-C10; :mod:`findings` says it in
words.

May import: every wing below (it reads stored rows through :mod:`lra.campaign.store`). Nothing
here trains a network.
"""
