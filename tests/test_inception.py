"""FID InceptionV3: layer shapes against the reference table, outputs, and the
.pth -> .npz converter (on synthetic files in both PyTorch formats, written by
hand here because torch is not installed)."""

import collections
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla.evaluate import inception, torch_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------
# The reference: pytorch-fid's state dict (torchvision Inception3 + FID blocks),
# conv weights as (out, in, kh, kw).
# ----------------------------------------------------------------------------
def _block_a(name, cin, pool):
  return [(f"{name}.branch1x1", 64, cin, 1, 1), (f"{name}.branch5x5_1", 48, cin, 1, 1),
          (f"{name}.branch5x5_2", 64, 48, 5, 5), (f"{name}.branch3x3dbl_1", 64, cin, 1, 1),
          (f"{name}.branch3x3dbl_2", 96, 64, 3, 3), (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
          (f"{name}.branch_pool", pool, cin, 1, 1)]


def _block_c(name, c):
  return [(f"{name}.branch1x1", 192, 768, 1, 1), (f"{name}.branch7x7_1", c, 768, 1, 1),
          (f"{name}.branch7x7_2", c, c, 1, 7), (f"{name}.branch7x7_3", 192, c, 7, 1),
          (f"{name}.branch7x7dbl_1", c, 768, 1, 1), (f"{name}.branch7x7dbl_2", c, c, 7, 1),
          (f"{name}.branch7x7dbl_3", c, c, 1, 7), (f"{name}.branch7x7dbl_4", c, c, 7, 1),
          (f"{name}.branch7x7dbl_5", 192, c, 1, 7), (f"{name}.branch_pool", 192, 768, 1, 1)]


def _block_e(name, cin):
  return [(f"{name}.branch1x1", 320, cin, 1, 1), (f"{name}.branch3x3_1", 384, cin, 1, 1),
          (f"{name}.branch3x3_2a", 384, 384, 1, 3), (f"{name}.branch3x3_2b", 384, 384, 3, 1),
          (f"{name}.branch3x3dbl_1", 448, cin, 1, 1), (f"{name}.branch3x3dbl_2", 384, 448, 3, 3),
          (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
          (f"{name}.branch_pool", 192, cin, 1, 1)]


REFERENCE_CONVS = (
    [("Conv2d_1a_3x3", 32, 3, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3),
     ("Conv2d_2b_3x3", 64, 32, 3, 3), ("Conv2d_3b_1x1", 80, 64, 1, 1),
     ("Conv2d_4a_3x3", 192, 80, 3, 3)]
    + _block_a("Mixed_5b", 192, 32) + _block_a("Mixed_5c", 256, 64)
    + _block_a("Mixed_5d", 288, 64)
    + [("Mixed_6a.branch3x3", 384, 288, 3, 3), ("Mixed_6a.branch3x3dbl_1", 64, 288, 1, 1),
       ("Mixed_6a.branch3x3dbl_2", 96, 64, 3, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)]
    + _block_c("Mixed_6b", 128) + _block_c("Mixed_6c", 160) + _block_c("Mixed_6d", 160)
    + _block_c("Mixed_6e", 192)
    + [("Mixed_7a.branch3x3_1", 192, 768, 1, 1), ("Mixed_7a.branch3x3_2", 320, 192, 3, 3),
       ("Mixed_7a.branch7x7x3_1", 192, 768, 1, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
       ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)]
    + _block_e("Mixed_7b", 1280) + _block_e("Mixed_7c", 2048))


def reference_state_dict(seed=0):
  """A state dict shaped like pytorch-fid's file, with He-scaled random values."""
  rng = np.random.default_rng(seed)
  sd = collections.OrderedDict()
  for name, cout, cin, kh, kw in REFERENCE_CONVS:
    sd[f"{name}.conv.weight"] = (rng.normal(size=(cout, cin, kh, kw))
                                 * np.sqrt(2.0 / (cin * kh * kw))).astype(np.float32)
    sd[f"{name}.bn.weight"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    sd[f"{name}.bn.bias"] = rng.normal(0, 0.1, cout).astype(np.float32)
    sd[f"{name}.bn.running_mean"] = rng.normal(0, 0.1, cout).astype(np.float32)
    sd[f"{name}.bn.running_var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    sd[f"{name}.bn.num_batches_tracked"] = np.array(7, np.int64)
  sd["fc.weight"] = (rng.normal(size=(1008, 2048)) / np.sqrt(2048)).astype(np.float32)
  sd["fc.bias"] = rng.normal(0, 0.1, 1008).astype(np.float32)
  return sd


def test_parameter_tree_matches_the_reference_table():
  params = inception.abstract_variables()["params"]
  stats = inception.abstract_variables()["batch_stats"]
  for name, cout, cin, kh, kw in REFERENCE_CONVS:
    node = params
    for part in name.split("."):
      node = node[part]
    assert node["conv"]["kernel"].shape == (kh, kw, cin, cout), name
    assert node["bn"]["scale"].shape == node["bn"]["bias"].shape == (cout,), name
    stat = stats
    for part in name.split("."):
      stat = stat[part]
    assert stat["bn"]["mean"].shape == stat["bn"]["var"].shape == (cout,)
  assert params["fc"]["kernel"].shape == (2048, 1008) and params["fc"]["bias"].shape == (1008,)
  # Nothing beyond the table: 94 convs + fc; torchvision's count without the aux head.
  assert len(jax.tree.leaves(params)) == 3 * len(REFERENCE_CONVS) + 2
  assert len(REFERENCE_CONVS) == 94
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params)) == 23_850_960


def test_feature_shapes_at_299_and_with_grey_inputs():
  variables = inception.abstract_variables()
  for shape in [(2, 299, 299, 3), (2, 28, 28, 1), (2, 512, 512, 3)]:
    out = jax.eval_shape(inception.InceptionV3().apply, variables,
                         jax.ShapeDtypeStruct(shape, jnp.float32))
    assert out["pool"].shape == (2, 2048)
    assert out["logits"].shape == out["logits_unbiased"].shape == (2, 1008)
  with pytest.raises(ValueError, match="at least 75"):
    jax.eval_shape(inception.InceptionV3(resize=0).apply, variables,
                   jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))


def test_average_pools_ignore_padding_and_7c_max_pools():
  ones = jnp.ones((1, 4, 4, 1))
  np.testing.assert_allclose(inception._avg_pool_same(ones), ones)  # not 4/9 at corners
  x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 5, 5, 8)), jnp.float32)
  block = {name: inception.InceptionE(pool) for name, pool in (("avg", "avg"), ("max", "max"))}
  variables = block["avg"].init(jax.random.key(0), x)
  avg, mx = (block[k].apply(variables, x) for k in ("avg", "max"))
  # Same weights: only the last 192 channels (the pool branch) may differ.
  np.testing.assert_allclose(avg[..., :-192], mx[..., :-192], rtol=1e-6)
  assert not np.allclose(avg[..., -192:], mx[..., -192:])


# ----------------------------------------------------------------------------
# Writing .pth files without torch: a minimal pickle writer for state dicts.
# ----------------------------------------------------------------------------
_STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


def _pickle_state_dict(state_dict, storage_key, legacy):
  """Protocol-2 pickle of an OrderedDict of tensors, as torch.save writes it."""
  out = [b"\x80\x02"]

  def global_(module, name):
    out.append(b"c" + f"{module}\n{name}\n".encode())

  def value(v):
    if v is None:
      out.append(b"N")
    elif isinstance(v, bool):
      out.append(b"\x88" if v else b"\x89")
    elif isinstance(v, int):
      out.append(b"J" + struct.pack("<i", v))
    elif isinstance(v, str):
      data = v.encode()
      out.append(b"X" + struct.pack("<I", len(data)) + data)
    elif isinstance(v, tuple):
      out.append(b"(")
      for item in v:
        value(item)
      out.append(b"t")
    else:
      raise TypeError(type(v))

  global_("collections", "OrderedDict")
  out.append(b")R(")  # OrderedDict(), then MARK for SETITEMS
  for i, (key, array) in enumerate(state_dict.items()):
    value(key)
    global_("torch._utils", "_rebuild_tensor_v2")
    out.append(b"(")  # args of _rebuild_tensor_v2
    out.append(b"(")  # persistent id tuple
    value("storage")
    global_("torch", _STORAGE_NAMES[array.dtype])
    value(storage_key(i))
    value("cpu")
    value(array.size)
    if legacy:
      value(None)
    out.append(b"tQ")  # TUPLE, BINPERSID
    value(0)
    value(tuple(array.shape))
    value(tuple(s // array.itemsize for s in array.strides))
    value(False)
    global_("collections", "OrderedDict")
    out.append(b")R")
    out.append(b"tR")  # TUPLE, REDUCE
  out.append(b"u.")  # SETITEMS, STOP
  return b"".join(out)


def write_pth(state_dict, path, legacy=False):
  arrays = [np.array(v, order="C") for v in state_dict.values()]
  state_dict = collections.OrderedDict(zip(state_dict.keys(), arrays))
  if legacy:
    with open(path, "wb") as f:
      f.write(pickle.dumps(0x1950A86A20F9469CFC6C, 2))
      f.write(pickle.dumps(1001, 2))
      f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True}, 2))
      f.write(_pickle_state_dict(state_dict, lambda i: str(94000 + i), legacy=True))
      keys = [str(94000 + i) for i in range(len(arrays))]
      f.write(pickle.dumps(keys, 2))
      f.writelines(struct.pack("<q", array.size) + array.astype(array.dtype.newbyteorder("<"))
                .tobytes() for array in arrays)
  else:
    with zipfile.ZipFile(path, "w") as z:
      z.writestr("archive/data.pkl", _pickle_state_dict(state_dict, str, legacy=False))
      z.writestr("archive/byteorder", "little")
      z.writestr("archive/version", "3\n")
      for i, array in enumerate(arrays):
        z.writestr(f"archive/data/{i}", array.tobytes())


def test_torch_pickle_reads_strided_tensors(tmp_path):
  base = np.arange(12, dtype=np.float32).reshape(3, 4)
  # A transposed (non-contiguous) view: the reader must honour strides.
  sd = collections.OrderedDict(a=base, n=np.array(5, np.int64))
  path = str(tmp_path / "x.pth")
  write_pth(sd, path)
  loaded = torch_pickle.load(path)
  np.testing.assert_array_equal(loaded["a"], base)
  assert loaded["n"].dtype == np.int64 and int(loaded["n"]) == 5
  # Hand-made transposed view: same storage, strides (1, 4).
  data = _pickle_state_dict({"t": base}, str, legacy=False).replace(
      b"J" + struct.pack("<i", 4) + b"J" + struct.pack("<i", 1),
      b"J" + struct.pack("<i", 1) + b"J" + struct.pack("<i", 4))
  data = data.replace(b"J" + struct.pack("<i", 3) + b"J" + struct.pack("<i", 4) + b"t",
                      b"J" + struct.pack("<i", 4) + b"J" + struct.pack("<i", 3) + b"t")
  with zipfile.ZipFile(str(tmp_path / "t.pth"), "w") as z:
    z.writestr("archive/data.pkl", data)
    z.writestr("archive/data/0", base.tobytes())
  np.testing.assert_array_equal(torch_pickle.load(str(tmp_path / "t.pth"))["t"], base.T)


def test_torch_pickle_refuses_code(tmp_path):
  path = str(tmp_path / "evil.pth")
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps(os.system))
  with pytest.raises(pickle.UnpicklingError, match="not allowed"):
    torch_pickle.load(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_converter_round_trip(tmp_path, legacy):
  sd = reference_state_dict()
  pth, npz = str(tmp_path / "w.pth"), str(tmp_path / "out" / "w.npz")
  write_pth(sd, pth, legacy=legacy)
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "convert_inception_weights.py"),
       "--pth", pth, "--out", npz], capture_output=True, text=True, timeout=120, check=False,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert result.returncode == 0, result.stderr
  variables = inception.load_variables(npz)
  params, stats = variables["params"], variables["batch_stats"]
  for name, *_ in REFERENCE_CONVS:
    p, s = params, stats
    for part in name.split("."):
      p, s = p[part], s[part]
    np.testing.assert_array_equal(p["conv"]["kernel"],
                                  sd[f"{name}.conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(p["bn"]["scale"], sd[f"{name}.bn.weight"])
    np.testing.assert_array_equal(p["bn"]["bias"], sd[f"{name}.bn.bias"])
    np.testing.assert_array_equal(s["bn"]["mean"], sd[f"{name}.bn.running_mean"])
    np.testing.assert_array_equal(s["bn"]["var"], sd[f"{name}.bn.running_var"])
  np.testing.assert_array_equal(params["fc"]["kernel"], sd["fc.weight"].T)
  np.testing.assert_array_equal(params["fc"]["bias"], sd["fc.bias"])
  if legacy:
    return
  # The loaded weights run: a small batch at the smallest input size gives
  # finite 2048-d features, and logits = pool @ W^T + b as in the reference.
  x = np.random.default_rng(1).uniform(-1, 1, (2, 75, 75, 1)).astype(np.float32)
  out = jax.jit(inception.InceptionV3(resize=0).apply)(variables, x)
  pool = np.asarray(out["pool"])
  assert pool.shape == (2, 2048) and np.isfinite(pool).all() and pool.min() >= 0
  np.testing.assert_allclose(out["logits"], pool @ sd["fc.weight"].T + sd["fc.bias"],
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(out["logits_unbiased"], pool @ sd["fc.weight"].T,
                             rtol=1e-4, atol=1e-4)


def test_converter_rejects_wrong_files(tmp_path):
  sd = reference_state_dict()
  sd["Mixed_5b.branch1x1.conv.weight"] = np.zeros((64, 192, 3, 3), np.float32)
  with pytest.raises(ValueError, match="wrong shapes.*Mixed_5b/branch1x1"):
    inception.from_torch_state_dict(sd)
  del sd["fc.bias"]
  with pytest.raises(ValueError, match="missing.*fc/bias"):
    inception.from_torch_state_dict(sd)


def test_missing_weights_name_the_converter(tmp_path):
  with pytest.raises(FileNotFoundError, match="convert_inception_weights.py"):
    inception.load_variables(str(tmp_path / "nope.npz"))
