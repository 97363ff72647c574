"""The paper's published numbers, as reference data (never used as our results).

:func:`parse_energy_tables` re-reads Tables 6-9 from the paper's text (the LaTeX half of each cell)
so that a test can check ``data/paper/a100_energy.csv`` against the source whenever the text is
beside the checkout.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..core import paths
from ..data.schema import read_energy_csv

#: Table number -> model, and the (dtype, cfg) order of its columns.
TABLES: dict[int, tuple[str, list[tuple[str, int]]]] = {
    6: ("flux", [("fp16", 0), ("fp16", 1), ("fp32", 0), ("fp32", 1)]),
    7: ("sd35", [("fp16", 0), ("fp16", 1), ("fp32", 0), ("fp32", 1)]),
    8: ("sd2", [("fp16", 0), ("fp16", 1), ("fp32", 0), ("fp32", 1)]),
    9: ("qwen", [("fp16", 0), ("fp16", 1)]),
}
_NUM = re.compile(r"(\d\.\d+)\\times 10\^\{(\d+)\}")


def parse_energy_tables(text: str) -> pd.DataFrame:
    """Parse Tables 6-9 (A100, 100 prompts, joules) from the paper's extracted text."""
    records = []
    starts = {n: text.index(f"Table {n}. A100 GPU energy") for n in TABLES}
    order = sorted(starts, key=starts.get)
    for k, n in enumerate(order):
        end = starts[order[k + 1]] if k + 1 < len(order) else len(text)
        model, cols = TABLES[n]
        res = None
        for line in text[starts[n]:end].splitlines()[2:]:
            m = re.match(r"^(\d+)×(\d+)\s+(\d+)\s", line)
            if m:
                res = (int(m.group(1)), int(m.group(2)))
                steps = int(m.group(3))
            else:
                m = re.match(r"^(\d+)\s", line)
                if not m:
                    continue
                steps = int(m.group(1))
            vals = [float(a) * 10 ** int(b) for a, b in _NUM.findall(line)]
            if len(vals) != len(cols) or res is None:
                continue
            for (dtype, cfg), val in zip(cols, vals):
                records.append(dict(model=model, gpu="A100", height=res[0], width=res[1], steps=steps,
                                    dtype=dtype, cfg=cfg, n_prompts=100, energy_j=val,
                                    source=f"paper:Table {n}"))
    return pd.DataFrame(records)


#: The GPU part behind the paper's tables: "NVIDIA A100 ... with 80 GB of HBM2e memory" (its Sec. 4.4); the form
#: factor is not stated, the SXM4 one (400 W) is assumed, as on the transfer page. The laws priced by the
#: datasheet read this row of ``data/gpus.csv`` (bandwidth 2039 GB/s, not the 40 GB part's 1555).
PAPER_GPU_PART = "A100-SXM4-80GB"


def a100_energy() -> pd.DataFrame:
    """The transcribed Tables 6-9 (validated), 280 rows; ``gpu_part`` is :data:`PAPER_GPU_PART` where the
    transcription leaves it empty (the tables name the GPU family only)."""
    df = read_energy_csv(paths.A100_ENERGY_CSV)
    df["gpu_part"] = df["gpu_part"].astype("object").where(df["gpu_part"].notna(), PAPER_GPU_PART)
    return df


def published_params() -> pd.DataFrame:
    """The paper's fitted parameters (Tables 1 and 2): table, model, parameter, value."""
    from ..core.provenance import note_read

    note_read(paths.PUBLISHED_PARAMS_CSV)
    return pd.read_csv(paths.PUBLISHED_PARAMS_CSV)


def published_table(table: str) -> pd.DataFrame:
    """Published parameters of one table ('Table 1' or 'Table 2') as parameter x model."""
    p = published_params()
    return p[p["table"] == table].pivot(index="parameter", columns="model", values="value")


#: Per-query energies the paper cites for LLMs (Sec. 5.1), in Wh.
LLM_QUERY_WH: dict[str, float] = {"ChatGPT query (Altman)": 0.34, "Gemini median request (Elsworth et al.)": 0.24}


def write_a100_csv(text_path: Path = paths.PAPER_TEXT, out: Path = paths.A100_ENERGY_CSV) -> Path:
    """Regenerate the transcription from the paper's text (how the shipped file was made)."""
    from ..data.schema import LEGACY_COLUMN_NAMES

    df = parse_energy_tables(Path(text_path).read_text())
    df = df.reindex(columns=LEGACY_COLUMN_NAMES)  # batch 1, one GPU, net: the defaults of the record columns
    df["status"] = "ok"
    df["meter"] = "codecarbon (paper)"
    df.to_csv(out, index=False, float_format="%.6g")
    return out
