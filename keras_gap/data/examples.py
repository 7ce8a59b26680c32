"""How the examples of a split are read: by index, or as one stream.

Both kinds shuffle *before* decoding, so a shuffled pipeline never holds more
than a few decoded images (those being decoded in parallel and the batches
being prefetched), however large the split:

* ``IndexedExamples`` (in-memory arrays, rendered scenes, a folder's file
  list) can read any example by its index. Shuffling draws a fresh seeded
  permutation of the indices every epoch (8 bytes per example) and decodes
  in that order.
* ``StreamedExamples`` (TFDS) read encoded records in file order. Shuffling
  shuffles the files (TFDS ``shuffle_files``) and then the still-encoded
  records in a buffer of bounded size, and decodes after that.
"""

import numpy as np
import tensorflow as tf

# The default seed of ``sample_indices``: every program that evaluates "N
# images" of a split evaluates the same N unless told otherwise.
DEFAULT_SAMPLE_SEED = 0


def sample_indices(num_examples, count, seed=DEFAULT_SAMPLE_SEED):
    """``min(count, num_examples)`` distinct indices drawn uniformly with
    ``seed`` from the whole split, in increasing order."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"a sample needs a count >= 1, got {count!r}")
    if count >= num_examples:
        return np.arange(num_examples, dtype=np.int64)
    chosen = np.random.default_rng(seed).choice(num_examples, size=int(count), replace=False)
    return np.sort(chosen).astype(np.int64)


def _epoch_permutations(num_examples, seed, repeat):
    """Indices ``0..num_examples-1`` in a fresh seeded order every epoch: each
    repetition, and each new iteration of the dataset (as Keras ``fit`` does
    every epoch), draws the next permutation seed."""
    epoch_seeds = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)
    if not repeat:
        epoch_seeds = epoch_seeds.take(1)
    seed = tf.constant(int(seed), tf.int64)

    def permutation(epoch_seed):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_examples, dtype=tf.int64), seed=tf.stack([seed, epoch_seed])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    return epoch_seeds.flat_map(permutation)


class IndexedExamples:
    """Examples read one by one with ``load(index) -> (image, label)``.

    ``skip_errors`` drops an example whose ``load`` fails (a file that passed
    the folder's checks but does not decode) instead of ending the pipeline;
    TensorFlow logs a warning naming it.
    """

    def __init__(self, num_examples, load, indices=None, skip_errors=False):
        self.load = load
        self.indices = None if indices is None else np.asarray(indices, np.int64)
        self.num_examples = int(num_examples if indices is None else len(self.indices))
        self.skip_errors = skip_errors

    def examples(self, shuffle_seed=None, repeat=False):
        """Unbatched ``(image, label)`` pairs, decoded in parallel."""
        if shuffle_seed is None:
            positions = tf.data.Dataset.range(self.num_examples)
            if repeat:
                positions = positions.repeat()
        else:
            positions = _epoch_permutations(self.num_examples, shuffle_seed, repeat)
        if self.indices is not None:
            indices = tf.constant(self.indices)
            positions = positions.map(lambda position: tf.gather(indices, position))
        dataset = positions.map(
            self.load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        if self.skip_errors:
            dataset = dataset.ignore_errors(log_warning=True)
        elif not repeat:
            # The length is known: Keras then counts steps instead of running
            # into the end of the data ("Your input ran out of data").
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(self.num_examples))
        return dataset

    def subset(self, positions):
        """The examples at ``positions`` (indices into this set), in that order."""
        chosen = np.asarray(positions, np.int64)
        if self.indices is not None:
            chosen = self.indices[chosen]
        return IndexedExamples(len(chosen), self.load, chosen, self.skip_errors)


class StreamedExamples:
    """Examples read as a stream of encoded records and decoded afterwards.

    Args:
        num_examples: records in the stream.
        records: ``records(shuffle_files, seed)`` -> unbatched dataset of
            encoded records in file order (shuffled files when asked).
        decode: ``decode(record) -> (image, label)``.
        shuffle_buffer: encoded records the example shuffle holds.
        keep: sorted indices into the stream to keep (a sample), or ``None``.
    """

    def __init__(self, num_examples, records, decode, shuffle_buffer, keep=None):
        self.records = records
        self.decode = decode
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        self.keep = None if keep is None else np.asarray(keep, np.int64)
        self._total = int(num_examples)
        self.num_examples = self._total if keep is None else len(self.keep)

    def examples(self, shuffle_seed=None, repeat=False):
        """Unbatched ``(image, label)`` pairs, decoded in parallel."""
        if self.keep is None:
            stream = self.records(shuffle_seed is not None, shuffle_seed)
        else:
            # A sample is defined on the file order, so files stay in order.
            mask = np.zeros(self._total, bool)
            mask[self.keep] = True
            mask = tf.constant(mask)
            stream = self.records(False, None).enumerate().filter(
                lambda index, record: tf.gather(mask, index)
            ).map(lambda index, record: record)
        if shuffle_seed is not None:
            stream = stream.shuffle(
                min(self.shuffle_buffer, self.num_examples), seed=shuffle_seed,
                reshuffle_each_iteration=True,
            )
        if repeat:
            stream = stream.repeat()
        return stream.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def subset(self, positions):
        """The examples at sorted ``positions`` (indices into this set)."""
        chosen = np.asarray(positions, np.int64)
        if self.keep is not None:
            chosen = self.keep[chosen]
        return StreamedExamples(
            self._total, self.records, self.decode, self.shuffle_buffer, chosen
        )
