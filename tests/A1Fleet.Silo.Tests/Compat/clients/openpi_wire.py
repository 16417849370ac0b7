"""openpi's wire format, written from its documentation (docs/compatible-protocols.md, openpi_client/msgpack_numpy):
numpy arrays travel as msgpack maps whose keys are msgpack *bin* values __ndarray__, data, dtype, shape. Independent of
the server's code: the tests check the server against this."""
import msgpack
import numpy as np


def pack_array(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in ("V", "O", "c"):
            raise ValueError(f"unsupported dtype {obj.dtype}")
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def unpack_array(obj):
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def packb(obj):
    return msgpack.packb(obj, default=pack_array, use_bin_type=True)


def unpackb(data):
    return msgpack.unpackb(data, object_hook=unpack_array, raw=False)
