"""The same attacks from the Adversarial Robustness Toolbox, for comparison.

ART is an optional extra (``pip install keras_gap[bench]``); it is imported
only when one of these functions runs.
"""

import random
import time

import keras
import numpy as np

from keras_gap.baselines.gradient_attacks import check_budget
from keras_gap.baselines.universal import check_time_budget

ART_NORMS = {"linf": np.inf, "l2": 2}


def art_available():
    """True when ``adversarial-robustness-toolbox`` can be imported and
    Keras runs on TensorFlow (ART wraps victims as TensorFlow models)."""
    if keras.backend.backend() != "tensorflow":
        return False
    try:
        import art  # noqa: F401
    except ImportError:
        return False
    return True


def _require_art():
    if not art_available():
        raise ImportError(
            "the ART baselines need adversarial-robustness-toolbox: "
            "pip install 'adversarial-robustness-toolbox>=1.20' (or keras_gap[bench])"
        )


def art_classifier(victim):
    """Wraps a ``Victim`` as an ART ``TensorFlowV2Classifier`` on its logits."""
    _require_art()
    from art.estimators.classification import TensorFlowV2Classifier

    model = victim.model
    if victim.output != "logits":
        inputs = keras.Input(victim.input_shape)
        model = keras.Model(inputs, victim.logits(inputs))
    return TensorFlowV2Classifier(
        model=model, nb_classes=victim.num_classes, input_shape=victim.input_shape,
        loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )


def art_pgd(victim, images, epsilon, norm="linf", steps=10, step_size=None, batch_size=256):
    """ART's ``ProjectedGradientDescent`` (untargeted, no random start).

    ``step_size`` defaults to ``2.5 ε / steps``, like ``keras_gap.baselines.pgd``.
    """
    epsilon = check_budget(norm, epsilon)
    _require_art()
    from art.attacks.evasion import ProjectedGradientDescent

    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    attack = ProjectedGradientDescent(
        art_classifier(victim), norm=ART_NORMS[norm], eps=epsilon, eps_step=step_size,
        max_iter=steps, num_random_init=0, batch_size=batch_size, verbose=False,
    )
    return attack.generate(np.asarray(images, np.float32))


class _DeadlineAttack:
    """ART's inner attack, cut off at a deadline: after it, images pass
    unchanged (so δ stays as it is) and no new pass over the images starts."""

    def __init__(self, attack, universal, deadline):
        self.attack = attack
        self.universal = universal
        self.deadline = deadline

    def generate(self, x, y=None, **kwargs):
        if time.perf_counter() >= self.deadline:
            self.universal.max_iter = 0  # ART's loop checks it before each pass
            return x
        return self.attack.generate(x, y=y, **kwargs)


def art_universal_perturbation(victim, images, epsilon, norm="linf", attacker="fgsm",
                               max_passes=5, target_fooling_rate=0.8, seed=0,
                               time_budget=None):
    """ART's ``UniversalPerturbation`` on ``images``; returns ``δ`` ``(1, H, W, C)``.

    The inner ``attacker`` defaults to FGSM at the full budget: ART's
    DeepFool inner attack runs one image at a time and takes about a second
    per image on a CPU. With ``time_budget`` (seconds), the inner attack
    stops changing δ once it is spent and no further pass starts; ART still
    finishes the pass it is in (one prediction per remaining image) and
    measures its fooling rate, so the build can overrun the budget by that.
    """
    start = time.perf_counter()
    epsilon = check_budget(norm, epsilon)
    check_time_budget(time_budget)
    _require_art()
    from art.attacks.evasion import UniversalPerturbation

    attacker_params = {"eps": epsilon, "norm": ART_NORMS[norm]} if attacker == "fgsm" else None
    attack = UniversalPerturbation(
        art_classifier(victim), attacker=attacker, attacker_params=attacker_params,
        delta=1.0 - target_fooling_rate, max_iter=max_passes, eps=epsilon,
        norm=ART_NORMS[norm], verbose=False,
    )
    if time_budget is not None:
        inner = attack._get_attack

        def deadline_attack(name, params=None):
            return _DeadlineAttack(inner(name, params), attack, start + time_budget)

        attack._get_attack = deadline_attack
    random.seed(seed)  # ART draws its image order from the random module
    attack.generate(np.asarray(images, np.float32))
    return np.asarray(attack.noise, np.float32)
