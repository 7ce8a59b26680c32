"""A PyTorch classifier written from scratch, trained here, and attacked
through Keras' torch backend (run with ``KERAS_BACKEND=torch``).

``python tests/torch_victim_run.py DIR``: trains a small CNN with batch
norm on 6,000 Fashion-MNIST images, saves it as TorchScript
(``DIR/victim.pt``), checks through ``keras_gap.victims.from_torch`` that a
GAP training step leaves its weights and batch-norm statistics unchanged,
then runs ``python -m train.universal --victim torchscript:DIR/victim.pt``
into ``DIR/run``. Writes ``DIR/report.json``.
"""

import json
import os
import sys

import numpy as np
import torch

from keras_gap import GAPTrainer
from keras_gap import Untargeted
from keras_gap.data import load_fashion_mnist
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.attack_config import resolve_config
from keras_gap.victims import from_torch
from keras_gap.victims import load_victim
from train import universal


class SmallNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.norm = torch.nn.BatchNorm2d(16)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(32 * 7 * 7, 10)

    def forward(self, images):
        x = torch.relu(self.norm(self.conv1(images)))
        return self.head(torch.relu(self.conv2(x)).flatten(1))


def main(directory):
    torch.manual_seed(0)
    images, labels = load_fashion_mnist("train")
    images = images[:6000].astype(np.float32) / 255.0  # (N, 28, 28, 1)
    channels_first = torch.tensor(np.transpose(images, (0, 3, 1, 2)))
    targets = torch.tensor(labels[:6000].astype(np.int64))
    net = SmallNet()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(2):
        for start in range(0, len(targets), 64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(channels_first[start:start + 64]),
                                                     targets[start:start + 64])
            loss.backward()
            optimizer.step()
    net.eval()
    path = os.path.join(directory, "victim.pt")
    torch.jit.save(torch.jit.script(net), path)

    test_images, test_labels = load_fashion_mnist("test")
    test_images = test_images[:1000].astype(np.float32) / 255.0
    victim = from_torch(torch.jit.load(path), (28, 28, 1))
    predicted = np.argmax(np.asarray(victim.logits(test_images)), -1)
    clean_accuracy = float(np.mean(predicted == test_labels[:1000]))
    module = victim.model.layers[-1].module
    before = {k: v.clone() for k, v in module.state_dict().items()}
    from keras_gap.perturbers import build_perturber

    trainer = GAPTrainer(build_perturber("universal", "resnet", (28, 28, 1), "linf", 0.1,
                                         filters=4, num_residual_blocks=1), victim,
                         Untargeted())
    trainer.compile()
    trainer.fit(images[:64], batch_size=32, epochs=1, verbose=0)
    frozen = all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    errors = {}
    for case, call in {
        "missing_file": lambda: load_victim(f"torchscript:{directory}/missing.pt",
                                            input_shape=(28, 28, 1)),
        "wrong_shape": lambda: from_torch(torch.jit.load(path), (32, 32, 3)),
        "xla": lambda: resolve_config(AttackConfig(victims=[f"torchscript:{path}"],
                                                   jit_compile="on")),
        "bad_preprocessing": lambda: from_torch(net, (28, 28, 1),
                                                preprocessing={"mean": [0.5, 0.5],
                                                               "std": [0.5, 0.5]}),
    }.items():
        try:
            call()
            errors[case] = None
        except ValueError as error:
            errors[case] = str(error)
    status = universal.main(["--victim", f"torchscript:{path}", "--epochs", "4",
                             "--steps-per-epoch", "100", "--eval-images", "1000",
                             "--output-dir", os.path.join(directory, "run")])
    with open(os.path.join(directory, "report.json"), "w") as handle:
        json.dump({"clean_accuracy": clean_accuracy, "frozen": frozen, "status": status,
                   "errors": errors}, handle)


if __name__ == "__main__":
    main(sys.argv[1])
