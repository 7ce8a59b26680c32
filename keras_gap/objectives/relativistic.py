"""CDA's relativistic cross-entropy (Naseer et al., NeurIPS 2019).

``−CE(k(x̂) − k(x), argmax k(x))``: the adversarial logits are judged
*relative to* the clean ones, so the generator is rewarded for moving every
class score away from where the clean image put it, not only for lowering
the predicted class. CDA trains with this loss and the clip projection
(``layers.ClipProjection``); its generators transfer across architectures
and data domains far better than GAP's.
"""

import keras
from keras import ops

from keras_gap.objectives.classification import Objective


class RelativisticCrossEntropy(Objective):
    """``−CE(k(x̂) − k(x), argmax k(x))`` per image (CDA, untargeted).

    Unbounded below, like CDA's: images already fooled keep pushing their
    scores further from the clean ones, which is what helps the
    perturbation transfer to victims it was not trained on.
    """

    name = "cda"

    def per_example_loss(self, clean_logits, adversarial_logits, labels=None):
        reference = ops.argmax(clean_logits, axis=-1)
        relative = ops.convert_to_tensor(adversarial_logits) - ops.stop_gradient(
            ops.convert_to_tensor(clean_logits))
        return -keras.losses.sparse_categorical_crossentropy(
            reference, relative, from_logits=True
        )
