"""Run the paper's released script ``lra2_reg.py`` (nmanchev/lra-rnn) *unmodified*.

This wrapper is ours; the released code is not part of this repository. It imports the released
module from a directory given on the command line (an export of the released repository made
outside this repository) and calls its own ``run_experiment`` with the arguments below; nothing in
the released module is patched. Its printed output (stdout) is what this folder stores.

Usage: python run_released.py RELEASED_DIR TASK LR GLR MAXITER
  TASK: "perm" (random permutation) or "temp" (temporal order), as the released script names them.
Fixed: seed 1234, orthogonal init, 100 hidden, T = 10, batch 20, SGD, K = 10, lambda (the
script's ``alpha``) = 0, c = 1, check every 100 iterations, local loss "MSE", plot=False.
"""
import platform
import sys
import time

released_dir, task, lr, glr, maxiter = sys.argv[1:6]
sys.path.insert(0, released_dir)

import matplotlib  # noqa: E402  (the released module imports pyplot; no display here)
matplotlib.use("Agg")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import lra2_reg  # noqa: E402  (the released script, unmodified)

print(f"WRAPPER torch {torch.__version__} threads {torch.get_num_threads()} "
      f"python {platform.python_version()} machine {platform.machine()} "
      f"cpu {platform.processor() or 'unknown'}")
t0 = time.time()
acc, it = lra2_reg.run_experiment(1234, nn.init.orthogonal_, task, 100, 10, 20, "SGD", float(lr),
                                  float(glr), 10, 0.0, 1.0, int(maxiter), 100, "MSE", plot=False)
print(f"WRAPPER returned best_val_acc {acc!r} it {it} wall_s {time.time() - t0:.1f}")
