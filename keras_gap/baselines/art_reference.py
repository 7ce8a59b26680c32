"""The same attacks from the Adversarial Robustness Toolbox, for comparison.

ART is an optional extra (``pip install keras_gap[bench]``); it is imported
only when one of these functions runs.
"""

import random

import keras
import numpy as np

from keras_gap.baselines.gradient_attacks import check_budget

ART_NORMS = {"linf": np.inf, "l2": 2}


def art_available():
    """True when ``adversarial-robustness-toolbox`` can be imported."""
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


def art_universal_perturbation(victim, images, epsilon, norm="linf", attacker="fgsm",
                               max_passes=5, target_fooling_rate=0.8, seed=0):
    """ART's ``UniversalPerturbation`` on ``images``; returns ``δ`` ``(1, H, W, C)``.

    The inner ``attacker`` defaults to FGSM at the full budget: ART's
    DeepFool inner attack runs one image at a time and takes about a second
    per image on a CPU.
    """
    epsilon = check_budget(norm, epsilon)
    _require_art()
    from art.attacks.evasion import UniversalPerturbation

    attacker_params = {"eps": epsilon, "norm": ART_NORMS[norm]} if attacker == "fgsm" else None
    attack = UniversalPerturbation(
        art_classifier(victim), attacker=attacker, attacker_params=attacker_params,
        delta=1.0 - target_fooling_rate, max_iter=max_passes, eps=epsilon,
        norm=ART_NORMS[norm], verbose=False,
    )
    random.seed(seed)  # ART draws its image order from the random module
    attack.generate(np.asarray(images, np.float32))
    return np.asarray(attack.noise, np.float32)
