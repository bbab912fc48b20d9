"""The shared progress bar: silent unless asked, strict about its switch."""

import pytest

from advrl.progress import AdvanceBar, progress


def test_an_enabled_bar_draws_to_stderr_and_a_disabled_one_prints_nothing(capsys):
    with progress(False, 4, "quiet", "step") as bar:
        bar.update(4)
    assert capsys.readouterr() == ("", "")
    with progress(True, 4, "loud", "step") as bar:
        bar.update(4)
    err = capsys.readouterr().err
    assert "loud" in err and "4/4" in err


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_switch_must_be_a_bool(value):
    with pytest.raises(TypeError, match="progress_bar must be True or False"):
        progress(value, 4, "x", "step")


def test_advance_bar_knows_its_units():
    with pytest.raises(ValueError, match="unit must be 'timesteps' or 'episodes'"):
        AdvanceBar(progress(False, 1, "x", "step"), "generations")
