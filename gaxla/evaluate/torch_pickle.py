"""Reads PyTorch `.pth` state dicts into NumPy arrays, without PyTorch.

Two on-disk formats exist:
  zip (torch >= 1.6)   `<dir>/data.pkl` holds the pickled object; each tensor
                       storage is a raw little-endian file `<dir>/data/<key>`.
  legacy (older)       one stream of pickles: magic number, protocol version,
                       system info, the object, the list of storage keys; then
                       each storage as an int64 element count plus raw bytes.
In both, tensors are pickled as calls to `torch._utils._rebuild_tensor_v2(
storage, offset, size, stride, ...)` whose storage is a persistent id
('storage', torch.<Type>Storage, key, location, numel[, view]).

The unpickler below resolves only those few globals and refuses every other
one, so loading a file can never run code from it (unlike `pickle.load`).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
  """Stands for `torch.FloatStorage` etc. in the pickle."""

  def __init__(self, name: str):
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
  """A tensor storage whose bytes are filled in after unpickling."""

  def __init__(self, key: str, dtype: np.dtype, numel: int):
    self.key, self.dtype, self.numel = key, dtype, numel
    self.array: np.ndarray | None = None


class _LazyTensor:
  def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def materialize(self) -> np.ndarray:
    flat = self.storage.array
    if flat is None:
      raise ValueError(f"storage {self.storage.key} has no data in the file")
    if not self.size:  # a scalar; as_strided would treat shape () as "unchanged"
      return np.array(flat[self.offset])
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride])
    return np.array(view)  # a contiguous copy


def _rebuild_tensor(storage, offset, size, stride, *unused):
  return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
  return data


class _Unpickler(pickle.Unpickler):
  def __init__(self, file):
    super().__init__(file)
    self.storages: dict[str, _Storage] = {}

  def find_class(self, module, name):
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
      return _rebuild_tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
      return _rebuild_parameter
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    raise pickle.UnpicklingError(
        f"{module}.{name} is not allowed in a weights file (only tensors and dicts are read)")

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    storage_type, key, _location, numel = pid[1:5]
    view = pid[5] if len(pid) > 5 else None
    if view is not None:
      raise pickle.UnpicklingError("storage views (pre-0.4 PyTorch files) are not supported")
    key = str(key)
    if key not in self.storages:
      self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
    return self.storages[key]


def _materialize(obj):
  if isinstance(obj, _LazyTensor):
    return obj.materialize()
  if isinstance(obj, dict):
    return type(obj)((k, _materialize(v)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialize(v) for v in obj)
  return obj


def _load_zip(path: str):
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pkl = [n for n in names if n.endswith("data.pkl")]
    if len(pkl) != 1:
      raise ValueError(f"{path}: expected one data.pkl in the archive, found {len(pkl)}")
    prefix = pkl[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in names:
      byteorder = archive.read(f"{prefix}byteorder").decode().strip()
    unpickler = _Unpickler(io.BytesIO(archive.read(pkl[0])))
    obj = unpickler.load()
    for storage in unpickler.storages.values():
      raw = archive.read(f"{prefix}data/{storage.key}")
      dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
      storage.array = np.frombuffer(raw, dtype, storage.numel).astype(storage.dtype)
  return obj


def _load_legacy(path: str):
  with open(path, "rb") as f:
    try:
      magic = _Unpickler(f).load()
    except Exception as e:
      raise ValueError(f"{path} is neither a zip nor a legacy PyTorch file ({e})") from e
    if magic != _LEGACY_MAGIC:
      raise ValueError(f"{path} is neither a zip nor a legacy PyTorch file")
    _Unpickler(f).load()  # protocol version
    _Unpickler(f).load()  # system info: a dict of plain values
    unpickler = _Unpickler(f)
    obj = unpickler.load()
    keys = _Unpickler(f).load()
    for key in keys:
      storage = unpickler.storages[str(key)]
      (count,) = struct.unpack("<q", f.read(8))
      raw = f.read(count * storage.dtype.itemsize)
      if len(raw) != count * storage.dtype.itemsize:
        raise ValueError(f"{path}: truncated storage {key}")
      storage.array = np.frombuffer(raw, storage.dtype.newbyteorder("<"), count).astype(
          storage.dtype)
  return obj


def load(path: str):
  """Loads a `.pth` file's object (e.g. a state dict) with tensors as NumPy arrays.

  Args:
    path: a file written by `torch.save` (zip or legacy format).

  Returns:
    The saved object; every tensor is a NumPy array of the same dtype/shape.

  Raises:
    pickle.UnpicklingError: the file references anything but tensors and dicts.
  """
  loader = _load_zip if zipfile.is_zipfile(path) else _load_legacy
  return _materialize(loader(path))
