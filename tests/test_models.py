"""Tests for the torch-free checkpoint reader and the embedded EfficientNet-Lite0."""

import builtins
import collections
import io
import os
import pickle
import sys
import types
import zipfile

import keras
import numpy as np
import pytest

from actmax_widgets._torch_pickle import load_torch_state_dict
from actmax_widgets.models import (
    _lite0_state_dict,
    decode_predictions,
    efficientnet_lite0,
    imagenet_labels,
)

_LEGACY_HEADER = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}]


# --- a torch-free writer of zip checkpoints ------------------------------------------------
# pickle writes a global by importing its module and checking the object is there, so fake
# `torch` modules in sys.modules let plain pickle emit exactly the records torch.save does.


class _FakeStorage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _FakeTensor:
    def __init__(self, storage, offset, shape, strides):
        self.args = (storage, offset, shape, strides, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


@pytest.fixture
def fake_torch(monkeypatch):
    torch = types.ModuleType("torch")
    torch_utils = types.ModuleType("torch._utils")
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = torch_utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", torch_utils)
    return torch


def _pickled(state, torch, claimed=None):
    """``state`` pickled as torch.save does, and its storages (key -> array). ``claimed``
    (key -> element count) makes a storage record claim another size than it has."""
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                storages[obj.key] = obj.array
                numel = (claimed or {}).get(obj.key, obj.array.size)
                return ("storage", torch.FloatStorage, obj.key, "cpu", numel)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(collections.OrderedDict(state))
    return buffer.getvalue(), storages


def _save_zip(state, path, torch, claimed=None, omit=(), compression=zipfile.ZIP_STORED):
    """Write ``state`` (name -> _FakeTensor) as torch.save's zip format does; hostile variants
    claim other storage sizes (``claimed``), leave storages out (``omit``) or compress them."""
    data, storages = _pickled(state, torch, claimed)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/byteorder", "little")
        for key, array in storages.items():
            if key not in omit:
                archive.writestr(f"archive/data/{key}", array.astype("<f4").tobytes())


# --- the restricted unpickler ------------------------------------------------------------


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evals:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload", [_RunsShell, _Evals])
@pytest.mark.parametrize("where", ["first pickle", "after legacy header", "zip data.pkl"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload, where):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    evil = pickle.dumps(payload(marker), protocol=2)
    if where == "zip data.pkl":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", evil)
    else:
        header = b"".join(pickle.dumps(obj, protocol=2) for obj in _LEGACY_HEADER)
        path.write_bytes(evil if where == "first pickle" else header + evil)

    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global \S+\.(system|eval):"):
        load_torch_state_dict(path)
    assert not marker.exists()


def test_zip_checkpoint_round_trips_strided_and_shared_tensors(tmp_path, fake_torch):
    weights = np.arange(24, dtype=np.float32)
    shared = _FakeStorage("0", weights)
    state = {
        "contiguous": _FakeTensor(shared, 0, (2, 3, 4), (12, 4, 1)),
        # Same storage, read transposed from an offset: what channels-last tensors look like.
        "transposed": _FakeTensor(shared, 12, (4, 3), (1, 4)),
        "scalar": _FakeTensor(_FakeStorage("1", np.array([7.0])), 0, (), ()),
    }
    path = tmp_path / "ok.pth"
    _save_zip(state, path, fake_torch)

    loaded = load_torch_state_dict(path)

    assert list(loaded) == ["contiguous", "transposed", "scalar"]
    np.testing.assert_array_equal(loaded["contiguous"], weights.reshape(2, 3, 4))
    np.testing.assert_array_equal(loaded["transposed"], weights[12:].reshape(3, 4).T)
    assert loaded["transposed"].flags["C_CONTIGUOUS"]
    assert loaded["scalar"].shape == () and loaded["scalar"] == 7.0


def test_tensor_reaching_past_its_storage_is_refused(tmp_path, fake_torch):
    storage = _FakeStorage("0", np.zeros(4, dtype=np.float32))
    path = tmp_path / "overflow.pth"
    _save_zip({"w": _FakeTensor(storage, 2, (4,), (1,))}, path, fake_torch)
    with pytest.raises(pickle.UnpicklingError, match="reaches past its storage"):
        load_torch_state_dict(path)


def test_lite0_state_dict_has_expected_layout():
    state = _lite0_state_dict()
    assert _lite0_state_dict() is state  # read once per process
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert "_blocks.0._expand_conv.weight" not in state  # expand ratio 1
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.bias"].shape == (1000,)
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert all(np.isfinite(v).all() for v in state.values())


# --- labels ---------------------------------------------------------------------------------


def test_imagenet_labels():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench"
    assert labels[285] == "Egyptian cat"
    assert labels[967] == "espresso"


def test_decode_predictions_orders_best_first():
    probs = np.zeros((2, 1000), dtype=np.float32)
    probs[0, [285, 281]] = [0.7, 0.2]
    probs[1, 967] = 0.9
    decoded = decode_predictions(probs, top=2)
    assert decoded[0] == [(285, "Egyptian cat", pytest.approx(0.7)), (281, "tabby", pytest.approx(0.2))]
    assert decoded[1][0] == (967, "espresso", pytest.approx(0.9))


def test_decode_predictions_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"probs\[None\]"):
        decode_predictions(np.zeros(1000))


# --- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_shape", "hint"),
    [
        ((224, 224), r"\(height, width, 3\)"),
        ((1, 224, 224, 3), r"\(height, width, 3\)"),
        ((3, 224, 224), r"channel axis last"),
        ((224, 224, 1), r"RGB"),
        ((16, 224, 3), r">= 32"),
        (None, r"\(None, None, 3\)"),
    ],
)
def test_bad_input_shape_names_the_fix(input_shape, hint):
    with pytest.raises(ValueError, match=hint):
        efficientnet_lite0(input_shape=input_shape)


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite0()


def test_layer_names_follow_keras_applications(model):
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["input_layer", "rescaling", "stem_conv", "stem_bn", "stem_activation"]
    assert names[-5:] == ["top_conv", "top_bn", "top_activation", "avg_pool", "predictions"]
    assert {"block1a_dwconv", "block1a_project_bn", "block2a_expand_activation", "block2b_add"} <= set(names)
    assert "block1a_expand_conv" not in names
    assert "block2a_add" not in names  # stride 2: no skip connection
    activations = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    assert {layer.get_config()["activation"] for layer in activations} == {"relu6"}
    assert len(activations) == 1 + (2 * 16 - 1) + 1  # stem, two per block but one in block1a, head
    assert model.get_layer("predictions").get_config()["activation"] == "softmax"


def test_any_input_size_and_headless(model):
    flexible = efficientnet_lite0(input_shape=(None, None, 3))
    probs = flexible.predict(np.full((1, 160, 160, 3), 127.0, dtype=np.float32), verbose=0)
    assert probs.shape == (1, 1000)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)

    headless = efficientnet_lite0(include_top=False)
    assert headless.output_shape == (None, 7, 7, 1280)
    assert headless.layers[-1].name == "top_activation"


@pytest.mark.slow
def test_classifies_photos(model):
    from PIL import Image
    from skimage import data

    def as_input(photo):
        return np.asarray(Image.fromarray(photo).resize((224, 224), Image.BILINEAR), dtype=np.float32)

    images = np.stack([as_input(data.chelsea()), as_input(data.coffee())])
    top1 = [row[0] for row in decode_predictions(model.predict(images, verbose=0), top=1)]
    assert top1[0][:2] == (285, "Egyptian cat") and top1[0][2] > 0.5
    assert top1[1][:2] == (967, "espresso") and top1[1][2] > 0.5
