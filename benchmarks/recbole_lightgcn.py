"""RecBole 1.2.1 LightGCN on a pre-split dataset; runs inside the benchmark's own RecBole venv.

Not part of the project: ``bench_recommender.py`` creates that venv and calls this file with its Python.
Prints one JSON line: seconds per training epoch, epochs run, best validation and test metrics.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # RecBole checkpoints pickle its Config

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.general_recommender import LightGCN  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_seed  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--data-path", required=True)
parser.add_argument("--dataset", required=True)
parser.add_argument("--epochs", type=int, default=300)
parser.add_argument("--seed", type=int, default=2026)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--patience", type=int, default=20)
parser.add_argument("--reg", type=float, default=1e-5)
args = parser.parse_args()

config = Config(
    model="LightGCN",
    dataset=args.dataset,
    config_dict={
        "data_path": args.data_path,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "load_col": {"inter": ["user_id", "item_id"]},
        "benchmark_filename": ["train", "valid", "test"],
        "embedding_size": 64,
        "n_layers": 3,
        "reg_weight": args.reg,
        "learning_rate": args.lr,
        "train_batch_size": 2048,
        "epochs": args.epochs,
        "eval_step": 1,
        "stopping_step": args.patience,
        "valid_metric": "recall@20",
        "metrics": ["Recall", "NDCG"],
        "topk": [10, 20],
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "eval_batch_size": 4096 * 64,
        "seed": args.seed,
        "reproducibility": True,
        "device": "cpu",
        "use_gpu": False,
        "show_progress": False,
        "checkpoint_dir": os.path.join(args.data_path, "saved"),
        "worker": 0,
    },
)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, test_data = data_preparation(config, dataset)
model = LightGCN(config, train_data.dataset).to(config["device"])
trainer = Trainer(config, model)

epoch_seconds, eval_seconds = [], []
train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch


def timed_train(*a, **k):
    t = time.perf_counter()
    out = train_epoch(*a, **k)
    epoch_seconds.append(time.perf_counter() - t)
    return out


def timed_valid(*a, **k):
    t = time.perf_counter()
    out = valid_epoch(*a, **k)
    eval_seconds.append(time.perf_counter() - t)
    return out


trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
best_valid_score, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
print(
    json.dumps(
        {
            "engine": "recbole",
            "seconds_per_epoch": sum(epoch_seconds) / len(epoch_seconds),
            "eval_seconds": sum(eval_seconds) / max(len(eval_seconds), 1),
            "epochs_run": len(epoch_seconds),
            "best_epoch": trainer.best_valid_score and (len(epoch_seconds) - trainer.cur_step),
            "valid_recall@20": float(best_valid["recall@20"]),
            "test_recall@20": float(test["recall@20"]),
            "test_ndcg@10": float(test["ndcg@10"]),
        }
    )
)
