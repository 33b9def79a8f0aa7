"""lra: an executable reproduction of "Can Local Representation Alignment RNNs Solve Temporal
Tasks?" (Manchev & Garcia-Peraza-Herrera). See the book for the derivations behind each module."""
from lra.algorithms.bptt import BPTT, BPTTConfig, bptt_grads
from lra.engine.trainer import MemberResult, PopulationTrainer, resolve_device
from lra.algorithms.lra_diff import (LRADiff, LRADiffConfig, ReleasedCodeSwitches, lra_diff_grads, normalize)
from lra.model import RNNParams, forward, init_population
from lra.algorithms.tptt import TPTT, TPTTConfig
from lra.tasks import TASKS, generate, get_task, validation_set

__version__ = "0.1.0"
