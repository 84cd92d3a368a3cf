"""`sbft losses`: the wiring (what a loss's description holds is tested in tests/losses/)."""

from __future__ import annotations

from sbft.families import FAMILIES
from sbft.losses.describe import data_text


def test_the_list_shows_every_loss_once_with_its_data(cli):
    result = cli("losses")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for family in FAMILIES.values():
        assert f"{family.name} losses" in result.stdout
        for info in family.losses.values():
            assert f"  {info.name} · {data_text(info)}" in lines, info.name
            assert f"      {info.summary}" in lines
    assert "label:" not in result.stdout  # the data says the label: no second 'label: score'
    assert "\x1b" not in result.stdout

    result = cli("losses", "--type", "cross-encoder")
    assert "cross-encoder losses" in result.stdout and "bi-encoder losses" not in result.stdout
    result = cli("losses", "--type", "sparse")
    assert result.exit_code == 2 and "unknown model type 'sparse'" in result.stderr


def test_one_loss_in_detail_and_a_typo(cli):
    result = cli("losses", "cosentloss")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("CoSENTLoss (bi-encoder loss)")
    assert "  input columns: (sentence1, sentence2) + score  (2 columns)" in result.stdout
    assert "scale" in result.stdout and "= 20.0" in result.stdout
    assert "columns: [sentence1, sentence2]" in result.stdout and "loss: CoSENTLoss" in result.stdout

    result = cli("losses", "CosentLos")
    assert result.exit_code == 2 and "Did you mean 'CoSENTLoss'?" in result.stderr
