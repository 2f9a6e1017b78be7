"""Summaries, tables and figures on small synthetic cubes (no training)."""

import numpy as np
import pytest

from onepixel.data.lines import selected_images, write_dataset
from onepixel.search.cube import dataset_landing, flip_cube, write_search
from onepixel.study.dataset_stage import study_dataset
from onepixel.study.inputs import open_summary
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import search_settings
from onepixel.study.summary import summarise_search
from onepixel.study.tables.paper import adversarial_rate_rows, on_manifold_rows
from tests.reference import make_summary


def synthetic_cube(ds, config, seed, rate=0.02):
    """A cube of random decisions over the dataset's searched images, as the search stage writes it."""
    chosen = selected_images(ds, True)
    rng = np.random.default_rng(seed)
    size = ds.sizes["row"]
    wrong = rng.random((len(chosen), size, size)) < rate
    margins = np.where(wrong, -1.0, 1.0).astype(np.float32)
    cube = flip_cube(
        margins,
        wrong,
        np.ones(len(chosen)),
        np.zeros(len(chosen), bool),
        ds["label"].values[chosen],
        dataset_landing(ds, chosen),
        {"image": chosen, "angle": ds["rep_angle"].values[chosen], "length": ds["rep_length"].values[chosen]},
    )
    cube.attrs.update(
        provenance_attrs(
            config,
            search_settings(config, size),
            variant="paper",
            size=size,
            angle_step=4.0,
            seed=seed,
            role="net",
        ),
        search_method="fast",
        reached_full_accuracy=1,
        training_accuracy=1.0,
    )
    return cube


@pytest.fixture(scope="module")
def d16(tiny_config):
    return study_dataset(16, 4.0, tiny_config)


def test_summary_counts_equal_counts_by_hand(d16, tiny_config):
    cube = synthetic_cube(d16, tiny_config, seed=0)
    summary = summarise_search(d16, cube)
    adversarial = cube["adversarial"].values
    np.testing.assert_array_equal(summary["pixel_adversarial"].values, adversarial.sum(axis=0))
    assert summary.attrs["n_adversarial"] == int(adversarial.sum())
    # Per angle: the unique searched images that angle generates, and their flips.
    per_image = dict(zip(cube["image"].values.tolist(), adversarial.sum(axis=(1, 2)).tolist(), strict=True))
    for ai in range(d16.sizes["angle"]):
        images = {int(i) for i in np.unique(d16["generator_image"].values[:, ai]) if int(i) in per_image}
        assert summary["angle_images"].values[ai] == len(images)
        assert summary["angle_adversarial"].values[ai] == sum(per_image[i] for i in images)
        if images:
            expected = sum(per_image[i] for i in images) / (len(images) * 16 * 16)
            assert summary["angle_likelihood"].values[ai] == pytest.approx(expected)


def write_study(tmp_path, ds, config, seeds=(0, 1)):
    """Dataset, cubes and summaries of a synthetic (D=16, step 4) study on disk; {key: summary path}."""
    write_dataset(ds, tmp_path / "D16_step4.0.nc")
    paths = {}
    for seed in seeds:
        write_search(synthetic_cube(ds, config, seed), tmp_path / f"cube{seed}.nc")
        paths[(16, 4.0, seed)] = tmp_path / f"summary{seed}.nc"
        make_summary(
            tmp_path / "D16_step4.0.nc",
            tmp_path / f"cube{seed}.nc",
            (16, 4.0, seed),
            config,
            paths[(16, 4.0, seed)],
        )
    return paths


def test_rate_table_mean_and_spread_over_seeds(tmp_path, d16, tiny_config):
    paths = write_study(tmp_path, d16, tiny_config)
    summaries = {("paper", *key): open_summary(path, *key, tiny_config) for key, path in paths.items()}
    per_seed, means = adversarial_rate_rows(summaries)
    rates = [row["adversarial_rate"] for row in per_seed]
    assert len(per_seed) == 2 and len(means) == 1
    assert means[0]["rate_mean"] == pytest.approx(np.mean(rates))
    assert means[0]["rate_std"] == pytest.approx(np.std(rates, ddof=1))
    assert means[0]["seeds_below_accuracy_1"] == "none"
    assert {row["variant"] for row in per_seed + means} == {"paper"}
    rows = on_manifold_rows({(16, 4.0): d16}, summaries, exclude_ambiguous=True)
    n_pairs = int((~d16["ambiguous"].values[d16["pair_image"].values]).sum())
    assert rows[0]["n_on_manifold_flips"] == n_pairs
    assert rows[0]["onto_label_0"] + rows[0]["onto_label_1"] + rows[0]["onto_ambiguous"] == n_pairs


def test_the_figures_draw_what_their_data_hold(tmp_path, d16, tiny_config):
    from onepixel.study.figures import files, paper
    from onepixel.study.summary import read_summary

    paths = write_study(tmp_path, d16, tiny_config)
    groups = {(16, 4.0): [read_summary(path) for _, path in sorted(paths.items())]}
    runs = groups[(16, 4.0)]
    # Fig. 5: the heatmap is the per-pixel likelihood, averaged over the seeds.
    fig5 = paper.fig5_heatmaps(groups, tiny_config["dataset"])
    heat = fig5.axes[0].images[0].get_array()
    expected = np.mean([s["pixel_adversarial"].values / s.attrs["n_images"] for s in runs], axis=0)
    np.testing.assert_allclose(heat, expected)
    # Fig. 6: one point per (D, step) at log2(N) / D², the mean rate over seeds; x labels readable.
    fig6 = paper.fig6_redundancy(groups)
    x, y = fig6.axes[0].lines[0].get_data()
    assert x[0] == pytest.approx(np.log2(runs[0].attrs["n_images"]) / 256)
    assert y[0] == pytest.approx(np.mean([s.attrs["adversarial_rate"] for s in runs]))
    fig6.canvas.draw()
    shown = [t.get_text() for t in fig6.axes[0].xaxis.get_ticklabels(which="both") if t.get_text()]
    assert shown and all(label.startswith(("$10^", "$2\\times", "$5\\times")) for label in shown), shown
    assert not any(t.get_text() for t in fig6.axes[0].xaxis.get_minorticklabels())
    # Fig. 4: only angles within the window around each boundary, one line per D.
    fig4 = paper.fig4_likelihood(groups, (0.0, 40.0), 10.0)
    for ax, centre in zip(fig4.axes, (0.0, 40.0), strict=True):
        (line,) = ax.get_lines()[:1]
        assert np.all(np.abs(line.get_xdata() - centre) <= 10.0)
    # The study's jobs save them as PNG and PDF with their provenance.
    png, pdf = tmp_path / "fig6.png", tmp_path / "fig6.pdf"
    files.figure6_redundancy(paths, tiny_config, png, pdf)
    assert png.read_bytes().startswith(b"\x89PNG") and b"git_commit" in png.read_bytes()
    assert pdf.read_bytes().startswith(b"%PDF")
    files.figure2_examples(
        tmp_path / "D16_step4.0.nc", (16, 4.0), tiny_config, tmp_path / "f2.png", tmp_path / "f2.pdf"
    )
    assert (tmp_path / "f2.png").stat().st_size > 5000


def test_ratio_of_mean_rates_and_its_seed_interval():
    from onepixel.study.tables.variants import ratio_interval

    reference = np.array([1.0e-3, 1.2e-3, 0.8e-3, 1.1e-3, 0.9e-3])
    ratio, low, high = ratio_interval(2 * reference, reference)
    assert ratio == pytest.approx(2.0)
    assert 1.0 < low < 2.0 < high
    assert ratio_interval(2 * reference, reference) == (ratio, low, high)  # fixed bootstrap seed
    # Seeds of two variants that overlap: the interval covers 1.
    _, low, high = ratio_interval(reference[::-1] * 1.05, reference)
    assert low < 1.0 < high
