"""The results store: atomic, validated records; bad files are moved aside and recomputed."""

import json

import pytest
from toy_cells import ToyCell, run_toy

from advrl.bench import ResultsStore, run_suite

CELLS = [ToyCell("a"), ToyCell("bb")]
OTHER = json.dumps({"cell": ToyCell("zzz").to_dict(), "result": {"mean_return": 3.0}})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "is empty"),
        ('{"cell": {"kind": "toy", "na', "is not valid JSON"),
        ("[1, 2]", "is not a record"),
        ('{"cell": {"kind": "toy"}, "result": 3}', "is not a record"),
        (OTHER, "is the record of another cell"),
    ],
)
def test_a_bad_cell_file_is_moved_aside_and_recomputed(tmp_path, content, problem):
    store = ResultsStore(tmp_path)
    bad = store.path(CELLS[0])
    bad.write_text(content)
    with pytest.warns(UserWarning, match=f"{bad.name}' {problem}.*moved it to .*corrupt"):
        summary = run_suite(CELLS, tmp_path, workers=1, progress=False, fn=run_toy)
    assert sorted(summary.computed) == sorted(c.key for c in CELLS)
    assert store.get(CELLS[0]) == run_toy(CELLS[0])
    assert (store.cells_dir / "corrupt" / bad.name).read_text() == content  # kept for a look
    again = run_suite(CELLS, tmp_path, workers=1, progress=False, fn=run_toy)
    assert again.computed == [] and len(again.skipped) == 2


def test_reports_skip_and_move_aside_a_bad_file(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(CELLS[0], {"mean_return": 1.0})
    (store.cells_dir / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning, match="broken.json' is not valid JSON"):
        assert [r["result"] for r in store.records("toy")] == [{"mean_return": 1.0}]
    assert not (store.cells_dir / "broken.json").exists()
    assert (store.cells_dir / "corrupt" / "broken.json").is_file()


def test_every_bad_copy_is_kept(tmp_path):
    store = ResultsStore(tmp_path)
    for content in ("", "{"):
        store.path(CELLS[0]).write_text(content)
        with pytest.warns(UserWarning, match="moved it to"):
            assert not store.done(CELLS[0])
    assert sorted(p.read_text() for p in (store.cells_dir / "corrupt").iterdir()) == ["", "{"]


def test_get_without_a_valid_result_names_the_cell(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no valid result for cell '{CELLS[0].key}'"):
        ResultsStore(tmp_path).get(CELLS[0])
