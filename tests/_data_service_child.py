"""Processes for tests/test_data_service.py: a tf.data service dispatcher, a
worker, and a client whose pipeline masks with tf_mlm.

    python _data_service_child.py dispatcher
    python _data_service_child.py worker DISPATCHER_PORT [PORT]
    python _data_service_child.py client DISPATCHER_PORT MODE NUM_ELEMENTS SECONDS_PER_BATCH

Servers pick free ports themselves (port 0) and print them as a JSON line;
every address is 127.0.0.1. The client prints one JSON line per batch it
receives, then ``{"done": ...}``.
"""

import json
import sys
import time

# The masking configuration, shared with the test's checks.
CLS, SEP, MASK = 101, 102, 103
VOCAB = 1000
CAP, RATE = 5, 0.3
BATCH = 4


def input_ids(index):
    """The unmasked ids of element ``index`` (pure arithmetic, so that the
    test can recompute them with NumPy): [CLS] body [SEP], body ids >= 200."""
    length = 6 + (index * 7) % 17
    return [CLS] + [200 + (index * 31 + j * 17) % 700 for j in range(length)] + [SEP]


def _emit(obj):
    print(json.dumps(obj), flush=True)


def dispatcher():
    import tensorflow as tf

    import tf_mlm

    # In distributed_epoch mode the dispatcher builds the dataset graph too
    # (to split its source), so it needs tf_mlm's ops as much as the workers.
    tf.load_op_library(tf_mlm.get_library_path())
    server = tf.data.experimental.service.DispatchServer(
        tf.data.experimental.service.DispatcherConfig(
            port=0,
            protocol="grpc",
            # Notice a dead worker fast, so that its splits move on.
            worker_timeout_ms=1000,
            job_gc_check_interval_ms=1000,
        )
    )
    _emit({"port": int(server.target.rsplit(":", 1)[1])})
    server.join()


def worker(dispatcher_port, port=0):
    import tensorflow as tf

    import tf_mlm

    # The worker runs the dataset graph, which contains tf_mlm's ops: they
    # must be registered in this process before any task arrives.
    tf.load_op_library(tf_mlm.get_library_path())
    server = tf.data.experimental.service.WorkerServer(
        tf.data.experimental.service.WorkerConfig(
            dispatcher_address=f"127.0.0.1:{dispatcher_port}",
            worker_address="127.0.0.1:%port%",
            port=port,
            protocol="grpc",
            heartbeat_interval_ms=200,
        )
    )
    port = int(server._address.rsplit(":", 1)[1])
    # The address the dispatcher hands to clients: worker_address above.
    _emit({"worker": f"127.0.0.1:{port}"})
    server.join()


def pipeline(num_elements):
    """Elements carry their index and unmasked ids; the map masks a batch."""
    import tensorflow as tf

    import tf_mlm

    def make(index):
        length = 6 + (index * 7) % 17
        body = 200 + (index * 31 + tf.range(length, dtype=tf.int64) * 17) % 700
        ids = tf.concat([[CLS], body, [SEP]], axis=0)
        return {"index": index, "ids": ids}

    selector = tf_mlm.RandomItemSelector(
        max_selections_per_batch=CAP, selection_rate=RATE, unselectable_ids=[0, CLS, SEP]
    )
    chooser = tf_mlm.MaskValuesChooser(
        vocab_size=VOCAB, mask_token=MASK, mask_token_rate=0.8, random_token_rate=0.1
    )

    def mask(batch):
        masked, positions, labels = tf_mlm.mask_language_model(batch["ids"], selector, chooser)
        return dict(batch, masked=masked, positions=positions, labels=labels)

    return (
        tf.data.Dataset.range(num_elements)  # splittable: distributed_epoch works
        .map(make)
        .ragged_batch(BATCH)
        .map(mask)
    )


def client(dispatcher_port, mode, num_elements, seconds_per_batch):
    import tensorflow as tf

    ds = pipeline(num_elements).apply(
        tf.data.experimental.service.distribute(
            processing_mode=mode,
            service=f"grpc://127.0.0.1:{dispatcher_port}",
            max_outstanding_requests=1,
        )
    )
    batches = 0
    for batch in ds:
        _emit(
            {
                k: v.numpy().tolist() if isinstance(v, tf.Tensor) else v.to_list()
                for k, v in batch.items()
            }
        )
        batches += 1
        time.sleep(seconds_per_batch)
    _emit({"done": batches})


def main(argv):
    import _subprocess_utils

    _subprocess_utils.die_with_parent()
    role = argv[1]
    if role == "dispatcher":
        dispatcher()
    elif role == "worker":
        worker(int(argv[2]), int(argv[3]) if len(argv) > 3 else 0)
    elif role == "client":
        client(int(argv[2]), argv[3], int(argv[4]), float(argv[5]))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv)
