"""The training stages' shared helpers (``assets/training.py``)."""


def test_training_progress_is_one_line_per_interval_however_often_the_best_improves(monkeypatch):
    """Every epoch a new best, 100 epochs of 0.5 s: the first epoch and then one line per 15 s, not one a best
    (the main job's console once held a hundred training lines)."""
    import types

    from llmhni_pipeline.assets import training

    clock = iter(x * 0.5 for x in range(1000))
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    context = types.SimpleNamespace(log=types.SimpleNamespace(info=lines.append))
    log = training.epoch_logger(context, total_epochs=100)
    for epoch in range(1, 101):
        log({"epoch": epoch, "loss": 1.0 / epoch, "valid_recall@20": epoch / 100})
    assert 3 <= len(lines) <= 5 and lines[0].startswith("epoch 1/100")
