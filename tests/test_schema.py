"""The shared CSV schema and the transcription of Tables 6-9."""
import pytest

from energy_nb.core import paths
from energy_nb.data import paper
from energy_nb.data.schema import COLUMN_NAMES, SchemaError, read_energy_csv


def test_transcription_counts_and_checksum():
    df = paper.a100_energy()
    assert len(df) == 280
    assert df.groupby("model").size().to_dict() == {"flux": 80, "sd35": 80, "sd2": 80, "qwen": 40}
    # Guard against edits: the sum of all 280 published energies (J) and a few spot values.
    assert df["energy_j"].sum() == pytest.approx(202_196_670.0, rel=1e-9)
    key = df.set_index(["model", "height", "steps", "dtype", "cfg"])["energy_j"]
    assert key[("flux", 1024, 50, "fp16", 0)] == 7.65e5
    assert key[("qwen", 256, 10, "fp16", 0)] == 1.83e4
    assert key[("sd2", 1024, 50, "fp32", 1)] == 6.26e5
    assert set(df["source"]) == {"paper:Table 6", "paper:Table 7", "paper:Table 8", "paper:Table 9"}


@pytest.mark.skipif(not paths.PAPER_TEXT.exists(), reason="paper text not beside the checkout")
def test_transcription_matches_the_paper_text():
    parsed = paper.parse_energy_tables(paths.PAPER_TEXT.read_text())
    shipped = paper.a100_energy()
    cols = ["model", "height", "steps", "dtype", "cfg"]
    merged = parsed.merge(shipped[cols + ["energy_j"]].astype({"height": int, "steps": int, "cfg": int}),
                          on=cols, suffixes=("_text", "_csv"))
    assert len(merged) == 280
    assert merged.energy_j_text.to_numpy() == pytest.approx(merged.energy_j_csv.to_numpy(), rel=1e-12)


def _write(tmp_path, rows, header=None):
    p = tmp_path / "e.csv"
    header = header or ["model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts", "energy_j", "source"]
    p.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    return p


GOOD = "flux,A100,512,512,10,fp16,1,100,1000,test"


def test_good_row_loads_with_all_columns(tmp_path):
    df = read_energy_csv(_write(tmp_path, [GOOD]))
    assert list(df.columns) == COLUMN_NAMES and df.loc[0, "status"] == "ok"


@pytest.mark.parametrize("row, column, allowed", [
    ("flx,A100,512,512,10,fp16,1,100,1000,t", "model", "sd2, sd35, flux, qwen"),
    ("flux,A100,512,512,10,fp64,1,100,1000,t", "dtype", "fp16, fp32, bf16"),
    ("flux,A100,500,512,10,fp16,1,100,1000,t", "height", "multiple of 16"),
    ("flux,A100,512,512,0,fp16,1,100,1000,t", "steps", ">= 1"),
    ("flux,A100,512,512,10,fp16,2,100,1000,t", "cfg", "0 (off) or 1 (on)"),
    ("flux,A100,512,512,10,fp16,1,100,-5,t", "energy_j", "positive"),
    ("flux,A100,512,512,ten,fp16,1,100,5,t", "steps", "an integer"),
    ("flux,A 100,512,512,10,fp16,1,100,5,t", "gpu", "letters, digits"),
])
def test_bad_row_names_file_line_column_and_allowed(tmp_path, row, column, allowed):
    p = _write(tmp_path, [GOOD, row])
    with pytest.raises(SchemaError) as err:
        read_energy_csv(p)
    msg = str(err.value)
    assert str(p) in msg and "line 3" in msg and f"column '{column}'" in msg and allowed in msg


def test_unknown_column_refused(tmp_path):
    p = _write(tmp_path, [GOOD + ",x"], header=["model", "gpu", "height", "width", "steps", "dtype", "cfg",
                                                 "n_prompts", "energy_j", "source", "colour"])
    with pytest.raises(SchemaError, match="colour"):
        read_energy_csv(p)
