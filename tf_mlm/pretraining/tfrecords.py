"""TFRecord files of ``tf.train.Example`` records, read without TensorFlow,
so that ``tf-mlm inspect`` starts in a fraction of a second.

A TFRecord file is a sequence of frames: the record's length (uint64,
little-endian), the masked CRC-32C of those 8 bytes, the record, the masked
CRC-32C of the record. Both checksums are verified, with Google's
``google-crc32c``. The records are parsed by ``protobuf`` as
``tensorflow.Example`` messages: the message types are declared here (their
field numbers and types are TensorFlow's ``example.proto`` and
``feature.proto``) in a descriptor pool of tf_mlm's own, so they never clash
with TensorFlow's when both are loaded.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import BinaryIO, Dict, Iterator

import numpy as np

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class RecordError(Exception):
    """A TFRecord file that is truncated or fails its checksums."""


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _read_exactly(f: BinaryIO, n: int, what: str, index: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise RecordError(f"record {index}: truncated {what} ({len(data)} of {n} bytes)")
    return data


def iter_records(path: str) -> Iterator[bytes]:
    """The serialized records of the TFRecord file ``path`` (GZIP-compressed
    when it ends in ``.gz``), checksums verified; :class:`RecordError` on a
    truncated or corrupted frame or compressed stream, ``OSError`` when the
    file cannot be read."""
    try:
        yield from _frames(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise RecordError(f"corrupted or truncated compressed data ({e})") from None


def _frames(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        yield from frames(f)


def frames(f: BinaryIO) -> Iterator[bytes]:
    """The serialized records of the (uncompressed) TFRecord stream ``f``,
    checksums verified; :class:`RecordError` on a truncated or corrupted frame."""
    index = 0
    while True:
        index += 1
        header = f.read(_HEADER.size)
        if not header:
            return
        if len(header) != _HEADER.size:
            raise RecordError(f"record {index}: truncated length")
        (crc,) = _CRC.unpack(_read_exactly(f, _CRC.size, "length checksum", index))
        if crc != _masked_crc(header):
            raise RecordError(f"record {index}: corrupted length (checksum mismatch)")
        (length,) = _HEADER.unpack(header)
        data = _read_exactly(f, length, "data", index)
        (crc,) = _CRC.unpack(_read_exactly(f, _CRC.size, "data checksum", index))
        if crc != _masked_crc(data):
            raise RecordError(f"record {index}: corrupted data (checksum mismatch)")
        yield data


_EXAMPLE = None


def example_class():
    """The ``Example`` message class, built once from its descriptor."""
    global _EXAMPLE
    if _EXAMPLE is not None:
        return _EXAMPLE
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="tf_mlm.example", package="tf_mlm.example", syntax="proto3"
    )

    def message(name, *fields, **options):
        msg = proto.message_type.add(name=name, **options)
        for number, (field_name, ftype, label, type_name, oneof) in enumerate(fields, 1):
            field = msg.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
            if oneof is not None:
                field.oneof_index = oneof
        return msg

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", ("value", F.TYPE_BYTES, rep, None, None))
    message("FloatList", ("value", F.TYPE_FLOAT, rep, None, None))
    message("Int64List", ("value", F.TYPE_INT64, rep, None, None))
    feature = message(
        "Feature",
        ("bytes_list", F.TYPE_MESSAGE, opt, ".tf_mlm.example.BytesList", 0),
        ("float_list", F.TYPE_MESSAGE, opt, ".tf_mlm.example.FloatList", 0),
        ("int64_list", F.TYPE_MESSAGE, opt, ".tf_mlm.example.Int64List", 0),
    )
    feature.oneof_decl.add(name="kind")
    features = message(
        "Features", ("feature", F.TYPE_MESSAGE, rep, ".tf_mlm.example.Features.FeatureEntry", None)
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    entry.field.add(
        name="value", number=2, type=F.TYPE_MESSAGE, label=opt, type_name=".tf_mlm.example.Feature"
    )
    entry.options.map_entry = True
    message("Example", ("features", F.TYPE_MESSAGE, opt, ".tf_mlm.example.Features", None))

    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tf_mlm.example.Example")
    if hasattr(message_factory, "GetMessageClass"):
        _EXAMPLE = message_factory.GetMessageClass(descriptor)
    else:  # protobuf < 4.21
        _EXAMPLE = message_factory.MessageFactory(pool).GetPrototype(descriptor)
    return _EXAMPLE


def parse_example(data: bytes) -> Dict[str, np.ndarray]:
    """The features of a serialized ``tf.train.Example``: int64 lists as
    int64 arrays, float lists as float32 arrays, bytes lists as lists of
    bytes. ``ValueError`` when ``data`` is not an Example."""
    from google.protobuf.message import DecodeError

    example = example_class()()
    try:
        example.ParseFromString(data)
    except DecodeError as e:
        raise ValueError(f"not a tf.train.Example ({e})") from None
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "int64_list":
            out[name] = np.asarray(feature.int64_list.value, np.int64)
        elif kind == "float_list":
            out[name] = np.asarray(feature.float_list.value, np.float32)
        elif kind == "bytes_list":
            out[name] = list(feature.bytes_list.value)
        else:
            out[name] = np.zeros(0, np.int64)
    return out
