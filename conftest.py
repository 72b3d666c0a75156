"""Settings for every pytest run in this repository (tests/ and the doctests in dhag/)."""

import torch

# The tensors in tests and docstring examples are tiny: one thread is faster than several, by far on a
# busy machine, and leaves the other cores to the rest of the work.
torch.set_num_threads(1)
