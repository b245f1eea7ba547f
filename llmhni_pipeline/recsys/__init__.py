"""The recommender engine in plain PyTorch: graphs, backbones, losses, samplers, training, evaluation.

No Dagster import anywhere below this package, so the same code trains inside an asset, in a benchmark
script, or on a GPU machine that has only torch.
"""
