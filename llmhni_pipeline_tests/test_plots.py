import base64
import io

import matplotlib.image as mpimg

from llmhni_pipeline.plots import bars_png, lines_png, png_markdown, training_curves_png


def _image(png: bytes):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(png))


def test_figures_are_real_pngs_with_one_panel_per_series():
    one = _image(training_curves_png([1, 2, 3], {"loss": [3, 2, 1]}, "t"))
    two = _image(
        training_curves_png([1, 2, 3], {"loss": [3, 2, 1], "valid recall@20": [0.1, 0.2, 0.25]}, "t")
    )
    assert two.shape[0] > one.shape[0]  # the second series gets its own panel
    assert (
        _image(lines_png([0.05, 0.1], {"a": [0.2, 0.19], "b": [0.21, 0.18]}, "noise", "ratio", "R@20")).ndim
        == 3
    )
    assert _image(bars_png({"lightgcn": 0.15, "sgl": 0.16}, "R@20", "R@20", {"sgl": 0.002})).ndim == 3
    md = png_markdown(b"\x89PNG\r\n\x1a\nxyz", "alt")
    assert md.startswith("![alt](data:image/png;base64,") and base64.b64decode(md[29:-1]).endswith(b"xyz")


def test_training_curves_have_whole_epoch_ticks():
    """Five epochs used to get ticks at 1.5, 2.5, …, which reads as a broken model."""
    import matplotlib.pyplot as plt

    from llmhni_pipeline.plots import training_curves_figure

    fig = training_curves_figure([1, 2, 3, 4, 5], {"loss": [0.7, 0.5, 0.4, 0.35, 0.3]}, "five epochs")
    fig.canvas.draw()
    lo, hi = fig.axes[-1].get_xlim()
    ticks = [t for t in fig.axes[-1].get_xticks() if lo <= t <= hi]
    plt.close(fig)
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks), ticks
