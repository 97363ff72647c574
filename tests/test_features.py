"""Architecture features computed once: the shipped table is current and equals a fresh count, and
anything else is counted once and then read from the disk cache."""
import csv

import pytest

from energy_nb.compute import features
from energy_nb.core import paths
from helpers import cli


def test_shipped_table_is_current_and_complete():
    assert features.stale_rows() == [], "regenerate with `energy-nb features --regenerate`"
    with paths.FEATURES_CSV.open() as fh:
        rows = list(csv.DictReader(fh))
    have = {(r["model"], r["size"], r["role"], int(r["height"])) for r in rows}
    for model in ("sd2", "sd35", "flux", "qwen"):
        for size, resolutions in features.SHIPPED:
            for r in resolutions:
                for role in features.roles(model):
                    assert (model, size, role, r) in have


@pytest.mark.parametrize("model, role, res, size", [("sd2", "denoiser", 512, "full"), ("flux", "vae", 256, "full"),
                                                    ("qwen", "text_encoder", 64, "tiny")])
@pytest.mark.slow
def test_shipped_rows_equal_a_fresh_count(model, role, res, size):
    shipped = features._shipped()[(model, size, role, res, res)]
    fresh = features.count(model, role, res, res, size)
    assert fresh == shipped


@pytest.mark.slow
def test_uncached_features_are_counted_once_then_read_from_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_NB_CACHE", str(tmp_path))
    features._lookup.cache_clear()
    f = features.component("sd2", "denoiser", 320, 320)  # not in the shipped table
    assert f.flops > 0 and f.kernels > 0 and f.params == features.parameters("sd2")
    cached = list((tmp_path / "features").glob("sd2-full-denoiser-320x320-*.json"))
    assert len(cached) == 1
    features._lookup.cache_clear()

    def no_counting(*a, **k):
        raise AssertionError("recounted although the disk cache has it")

    monkeypatch.setattr(features, "count", no_counting)
    assert features.component("sd2", "denoiser", 320, 320) == f
    features._lookup.cache_clear()


def test_bad_requests_name_the_value():
    with pytest.raises(ValueError, match="unknown model 'dalle'"):
        features.component("dalle", "denoiser", 512, 512)
    with pytest.raises(KeyError, match="has no component 'unet'"):
        features.component("sd2", "unet", 512, 512)
    with pytest.raises(ValueError, match="height 500 is impossible for flux"):
        features.component("flux", "denoiser", 500, 512)


def test_cli_features_lists_the_table():
    out = cli("features", "--models", "sd2").stdout
    assert "denoiser" in out and "vae" in out and "text_encoder" in out
