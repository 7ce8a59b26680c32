"""Reflection padding, the Keras 3 replacement for tensorflow-addons' layer."""

import keras


@keras.saving.register_keras_serializable(package="keras_gap")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by reflecting the image at its border.

    Args:
        padding: ``((top, bottom), (left, right))`` or ``(height, width)``
            (symmetric) or a single int. Exported as the stock TF op
            ``MirrorPad``.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        elif isinstance(padding[0], int):
            padding = ((padding[0], padding[0]), (padding[1], padding[1]))
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        if any(p < 0 for pair in self.padding for p in pair):
            raise ValueError(f"padding must be non-negative, got {padding}")

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return keras.ops.pad(
            inputs,
            [[0, 0], [top, bottom], [left, right], [0, 0]],
            mode="reflect",
        )

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        height, width = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            input_shape[3],
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
