"""Run by tests/nn/test_distributed.py under torchrun: one rank of a data-parallel training.

python -m torch.distributed.run --standalone --nproc_per_node K ddp_worker.py SURVEY RUN CONFIG_JSON MAX_STEPS
"""

import json
import sys

from karaoke.nn.model import ModelConfig
from karaoke.nn.training import TrainConfig, train
from karaoke.spectra.survey import load_survey

if __name__ == "__main__":
    survey_path, out, config, max_steps = sys.argv[1:5]
    c = json.loads(config)
    train(
        load_survey(survey_path),
        ModelConfig.from_dict(c["model"]),
        TrainConfig.from_dict(c["train"]),
        out,
        device="cpu",
        progress=False,
        max_steps=int(max_steps) or None,
    )
