"""Experiments as data and their execution (wing 4 of 5: ground <- algorithms <- engine <- campaign
<- analysis <- faces).

:mod:`experiments` declares every experiment and budget; :mod:`planning` merges runs into
populations; :mod:`projection` prices them from committed benchmarks; :mod:`runner` trains what
is missing, resuming only the checkpoints :mod:`population_checkpoints` finds written by the
current code; :mod:`store` keeps one table of rows per (experiment, budget) with provenance,
:mod:`lineage` the code versions recorded (with evidence) as computing the same numbers, and
:mod:`rescue` the rows a failed table write could not store, until the next campaign adds them;
:mod:`slices` packs a device slice (populations by value into its time) and :mod:`device_cache`
keeps what a slice need not measure twice (self-test verdicts, benchmarks of the current code);
:mod:`bundle` packs and verifies rows computed elsewhere (:mod:`tarball` reads its archive
within limits, :mod:`recompute` checks that its numbers follow from their curves and retrains
random rows to compare, :mod:`signatures` checks who signed it); :mod:`executor` submits shards through submitit (:mod:`slurm`: what it asks Slurm for
and reads back); :mod:`params` validates the
parameters of chapters and commands; :mod:`released_runs` writes, reads back and compares the
runs of ``results/released_script/`` (the released script and our two readings of its step).

May import: the ground, the algorithms, the engine and this wing. Never the analysis or the
faces: the command hands the executor the function it runs.
"""
