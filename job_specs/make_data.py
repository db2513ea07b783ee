"""Make the example data sets from scikit-learn's bundled copies (no download).

    python job_specs/make_data.py [iris|diabetes|bike|sales|digits|reviews|checkpoints|foundation|all] [--out job_specs/data]

Splits and seeds are fixed so every run writes the same files (iris: 80/20 split,
random_state 42, as in seed 000). `checkpoints` writes the model folders the image and
text examples start from, randomly initialised (timm and Hugging Face save them as
pretrained weights are saved, so AutoMM loads them offline): it needs the multimodal extra.
`foundation` writes tiny randomly initialised foundation-model folders (Chronos-2, Chronos-Bolt,
TabPFNMix, TabDPT, and Mitra's and TabICL's classifier and regressor where the local backend's foundation
extra is installed) from the installed packages' own model classes, saved as their real weights are, into
<out>/checkpoints/<folder>, so `Chronos2.model_path: ./data/checkpoints/chronos2-tiny` fits and predicts offline;
they forecast noise until you point the spec at real weights (see README), though each answers by its input
(tensors a package zero-initialises get seeded random values).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def iris(out: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    frame = load_iris(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.2, random_state=42)
    _write(out / "iris", train=train, test=test)


def diabetes(out: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    frame = load_diabetes(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.2, random_state=42)
    _write(out / "diabetes", train=train, test=test)


def bike(out: Path, *, stations: int = 3, days: int = 28, horizon: int = 48) -> None:
    """Hourly rentals per station: daily and weekly cycles, a trend, weather noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    hours = pd.date_range("2026-01-05", periods=days * 24, freq="h")
    rows = []
    for station in range(stations):
        base = 40 + 15 * station
        hour, dow = hours.hour.to_numpy(), hours.dayofweek.to_numpy()
        commute = np.exp(-((hour - 8) ** 2) / 4) + np.exp(-((hour - 18) ** 2) / 5)
        weekend = np.where(dow >= 5, 0.6, 1.0)
        trend = 1 + 0.002 * np.arange(len(hours))
        mean = base * (0.3 + 1.7 * commute) * weekend * trend
        count = rng.poisson(mean * rng.lognormal(0, 0.1, len(hours)))
        rows.append(pd.DataFrame({"station": f"s{station}", "timestamp": hours, "count": count}))
    frame = pd.concat(rows, ignore_index=True)
    cut = hours[-horizon]
    _write(out / "bike", train=frame[frame.timestamp < cut], test=frame)


def sales(out: Path, *, stores: int = 3, days: int = 67, horizon: int = 7) -> None:
    """Daily sales per store: a promotion and a price known in advance (known covariates), the day's temperature
    (a past covariate: known once the day is over), each store's size and region (static features).

    train.csv ends `horizon` days before test.csv; request.csv is what a forecast request sends: the training
    history and, after it, the next `horizon` days with promo and price and the sales left blank.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    sizes, rows = [1.0, 2.5, 4.0, 1.5, 3.0], []
    for s in range(stores):
        promo = (rng.random(days) < 0.25).astype(int)
        price = np.round(10 + s + rng.normal(0, 0.5, days) - 2 * promo, 2)
        temperature = np.round(12 + 8 * np.sin(np.arange(days) / 58 * np.pi) + rng.normal(0, 2, days), 1)
        weekly = 3 * np.sin(2 * np.pi * dates.dayofweek.to_numpy() / 7)
        level = 20 + 6 * sizes[s % len(sizes)]
        sales = np.round(level + weekly + 12 * promo - 1.5 * (price - 10 - s) + rng.normal(0, 1, days), 1)
        rows.append(
            pd.DataFrame(
                {"store": f"store_{s}", "day": dates, "sales": sales, "promo": promo, "price": price, "temperature": temperature}
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    cut = dates[-horizon]
    train, future = frame[frame.day < cut], frame[frame.day >= cut]
    request = pd.concat([train, future.assign(sales=np.nan, temperature=np.nan)]).sort_values(["store", "day"])
    static = pd.DataFrame(
        {
            "store": [f"store_{s}" for s in range(stores)],
            "size": [sizes[s % len(sizes)] for s in range(stores)],
            "region": [("north", "south")[s % 2] for s in range(stores)],
        }
    )
    _write(out / "sales", train=train, test=frame, stores=static, request=request)


def digits(out: Path) -> None:
    """8x8 digit images as PNG files plus a CSV of (image path, label), AutoGluon's image format."""
    import numpy as np
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    folder = out / "digits"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(data.images):
        path = folder / "images" / f"{i:04d}.png"
        Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((32, 32)).save(path)
        paths.append(f"images/{i:04d}.png")
    frame = pd.DataFrame({"image": paths, "label": data.target})
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame.label)
    _write(folder, train=train, test=test)


POSITIVE = "great excellent loved wonderful fast reliable sturdy comfortable bright perfect".split()
NEGATIVE = "broken awful slow hated noisy flimsy late cheap dull useless".split()
NEUTRAL = "the a this it product box item color size order shipping price battery screen really quite".split()


def reviews(out: Path, rows: int = 600) -> None:
    """Short product reviews with a sentiment label: a few opinion words among neutral ones, some mixed (seeded)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    texts, labels = [], []
    for _ in range(rows):
        good = int(rng.integers(0, 2))
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(5, 12))))
        main, other = (POSITIVE, NEGATIVE) if good else (NEGATIVE, POSITIVE)
        words += list(rng.choice(main, size=int(rng.integers(1, 4))))
        if rng.random() < 0.3:  # a mixed review: one word of the other side
            words.append(str(rng.choice(other)))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append("positive" if good else "negative")
    frame = pd.DataFrame({"review": texts, "sentiment": labels})
    cut = int(rows * 0.8)
    _write(out / "reviews", train=frame.iloc[:cut], test=frame.iloc[cut:])


# small timm backbones, saved at the examples' 32-pixel input size
TIMM_BACKBONES = ("resnet10t", "resnet14t")


def checkpoints(out: Path) -> None:
    """Randomly initialised checkpoint folders: timm image backbones and a tiny BERT with a tokenizer trained on the reviews."""
    import json

    import timm
    import torch

    folder = out / "checkpoints"
    for name in TIMM_BACKBONES:
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=0)
        torch.save(model.state_dict(), target / "pytorch_model.bin")
        config = dict(model.pretrained_cfg)
        config.update(input_size=(3, 32, 32), test_input_size=(3, 32, 32), crop_pct=1.0)  # AutoMM resizes to this
        info = {"architecture": name, "num_features": model.num_features, "pretrained_cfg": config}
        (target / "config.json").write_text(json.dumps(info, indent=2, default=str))
        print(f"wrote {target} (timm {name}, random weights)")

    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if not (out / "reviews" / "train.csv").is_file():
        reviews(out)
    import pandas as pd

    texts = pd.read_csv(out / "reviews" / "train.csv")["review"].tolist()
    trained = BertWordPieceTokenizer(lowercase=True)
    trained.train_from_iterator(texts, vocab_size=200, min_frequency=1)
    target = folder / "tiny-bert"
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(tokenizer_object=trained._tokenizer, model_max_length=64)
    tokenizer.save_pretrained(target)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(target)
    print(f"wrote {target} (a 2-layer BERT, random weights, WordPiece vocabulary of {len(tokenizer)})")


# the quantiles Chronos-2 and Chronos-Bolt are trained for (AutoGluon asks for 0.1 ... 0.9)
QUANTILES = [0.01, 0.05, *[round(0.1 * i, 1) for i in range(1, 10)], 0.95, 0.99]


# written beside the tiny folders; raised when what foundation() writes changes (2: each tabular one answers by its
# input), so tests/conftest.py remakes folders an older make_data wrote
FOUNDATION_VERSION = 2
FOUNDATION_STAMP = ".made-by-foundation"


def foundation_is_current(out: Path) -> bool:
    """Whether `out/checkpoints` holds the folders this make_data's foundation() writes."""
    stamp = out / "checkpoints" / FOUNDATION_STAMP
    return stamp.is_file() and stamp.read_text().strip() == str(FOUNDATION_VERSION)


def foundation(out: Path) -> None:
    """Tiny random-weight Chronos-2 and Chronos-Bolt folders (and TabPFNMix's), as `from_pretrained` reads them."""
    import torch
    from chronos.chronos2.config import Chronos2CoreConfig
    from chronos.chronos2.model import Chronos2Model
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    folder = out / "checkpoints"
    torch.manual_seed(0)
    config = Chronos2CoreConfig(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, dropout_rate=0.0)
    config.architectures = ["Chronos2Model"]
    config.chronos_pipeline_class = "Chronos2Pipeline"
    config.chronos_config = {
        "context_length": 512,
        "input_patch_size": 16,
        "input_patch_stride": 16,
        "output_patch_size": 16,
        "max_output_patches": 4,
        "quantiles": QUANTILES,
        "use_reg_token": True,
        "use_arcsinh": True,
        "time_encoding_scale": 512,
    }
    target = folder / "chronos2-tiny"
    Chronos2Model(config).save_pretrained(target)
    print(f"wrote {target} (Chronos-2, 2 layers of width 32, random weights)")

    torch.manual_seed(0)
    config = T5Config(
        d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=4, dropout_rate=0.0, decoder_start_token_id=0
    )
    config.architectures = ["ChronosBoltModelForForecasting"]
    config.chronos_pipeline_class = "ChronosBoltPipeline"
    config.chronos_config = {
        "context_length": 512,
        "prediction_length": 64,
        "input_patch_size": 16,
        "input_patch_stride": 16,
        "quantiles": [round(0.1 * i, 1) for i in range(1, 10)],
        "use_reg_token": True,
    }
    target = folder / "chronos-bolt-tiny"
    ChronosBoltModelForForecasting(config).save_pretrained(target)
    print(f"wrote {target} (Chronos-Bolt, 1+1 layers of width 32, random weights)")
    tabpfnmix(folder / "tabpfnmix-tiny")
    mitra(folder / "mitra-tiny")
    mitra(folder / "mitra-tiny-regressor", regression=True)
    tabicl(folder / "tabicl-tiny")
    tabicl(folder / "tabicl-tiny-regressor", regression=True)
    tabdpt(folder / "tabdpt-tiny")
    (folder / FOUNDATION_STAMP).write_text(f"{FOUNDATION_VERSION}\n")


def input_dependent(model, seed: int = 0):
    """`model` with each all-zero parameter filled with small seeded random values, returned.

    Some packages zero-initialise layers that training moves (TabICL's out-projections: 34 of its tensors), so their
    untrained network ignores its input and answers one value for every row; a test that compares predictions
    before and after something could then never fail. The random values are the same on every run (`seed`).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.numel() and not param.any():
                scale = param.shape[-1] ** -0.5 if param.dim() > 1 else 0.02  # a weight as PyTorch initialises one
                param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * scale)
    return model


def mitra(target: Path, regression: bool = False) -> None:
    """Mitra's Tab2D (autogluon.tabular's own, `hf_model` reads it), small, random weights: a classifier, or a
    regressor (Mitra's two default checkpoints differ the same way; `MITRA.hf_reg_model` takes the regressor).

    Skipped, saying so, where autogluon.tabular[mitra] (einx, loguru) is not installed.
    """
    try:
        import torch
        from autogluon.tabular.models.mitra._internal.models.tab2d import Tab2D
    except ImportError as err:
        print(f"skipped {target} (Mitra: {err.name} is not installed; pip install 'autogluon.tabular[mitra]')")
        return
    torch.manual_seed(0)
    # dim_output 10: MitraClassifier's fixed class count (sklearn_interface.DEFAULT_CLASSES); a regressor answers 1
    task, outputs = ("REGRESSION", 1) if regression else ("CLASSIFICATION", 10)
    model = Tab2D(dim=32, dim_output=outputs, n_layers=2, n_heads=4, task=task, use_pretrained_weights=False, path_to_weights="", device="cpu")
    input_dependent(model).save_pretrained(str(target))
    print(f"wrote {target} (Mitra {task.lower()}, 2 layers of width 32, random weights)")


def tabicl(target: Path, regression: bool = False) -> None:
    """TabICL's network (the tabicl package's own `TabICL`), small, random weights, in a folder: the checkpoint file
    `TABICL.model_path` reads, named as TabICL's own are (`tabicl-classifier-*.ckpt`, `tabicl-regressor-*.ckpt`).

    Skipped, saying so, where autogluon.tabular[tabicl] is not installed.
    """
    try:
        import torch
        from tabicl._model.tabicl import TabICL
    except ImportError as err:
        print(f"skipped {target} (TabICL: {err.name} is not installed; pip install 'autogluon.tabular[tabicl]')")
        return
    torch.manual_seed(0)
    # max_classes 0 makes the regressor (999 quantiles, as TabICL's own); 10: the classifier's class count
    kind, classes = ("regressor", 0) if regression else ("classifier", 10)
    config = dict(max_classes=classes, embed_dim=16, col_num_blocks=1, col_nhead=2, col_num_inds=8, row_num_blocks=1)
    config.update(row_nhead=2, row_num_cls=2, icl_num_blocks=1, icl_nhead=2)
    target.mkdir(parents=True, exist_ok=True)
    network = input_dependent(TabICL(**config))
    torch.save({"config": config, "state_dict": network.state_dict()}, target / f"tabicl-{kind}-tiny.ckpt")
    print(f"wrote {target} (TabICL {kind}, 1 block per stage of width 16, random weights)")


def tabdpt(target: Path) -> None:
    """TabDPT's network (the tabdpt package's own `TabDPTModel`), small, random weights, in a folder: the
    `.safetensors` file with its config in the metadata, as TabDPT's own (`TABDPT.model_weight_path` reads it; one
    checkpoint serves classification and regression). Skipped, saying so, where autogluon.tabular[tabdpt] is not installed.
    """
    import json

    try:
        import torch
        from safetensors.torch import save_file
        from tabdpt.model import TabDPTModel
    except ImportError as err:
        print(f"skipped {target} (TabDPT: {err.name} is not installed; pip install 'autogluon.tabular[tabdpt]')")
        return
    torch.manual_seed(0)
    # the names TabDPTModel.load reads from the file's "cfg"; 10 classes and 16 features at most (wider tables: PCA)
    model = dict(max_num_classes=10, max_num_features=16, emsize=16, ff_dim=32, nhead=2, nlayers=1, enc_cell_dim=16)
    model.update(regression_bin_count=16, regression_bin_min=-5.0, regression_bin_max=5.0, y_encoder_dim=8)
    model.update(min_eval_context=64, max_eval_context=1024, num_col_attn_layers=1, n_thinking_rows=0)
    network = TabDPTModel(
        dropout=0.0,
        enc_cell_dim=16,
        n_out=10,
        regression_bin_count=16,
        regression_bin_min=-5.0,
        regression_bin_max=5.0,
        nhead=2,
        nhid=32,
        ninp=16,
        nlayers=1,
        num_features=16,
        base_len=64,
        max_len=1024,
        y_encoder_dim=8,
        num_col_attn_layers=1,
    )
    input_dependent(network)
    config = {"model": model, "training": {"dropout": 0.0}, "env": {"device": "cpu"}}
    target.mkdir(parents=True, exist_ok=True)
    weights = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(weights, str(target / "tabdpt-tiny.safetensors"), metadata={"cfg": json.dumps(config)})
    print(f"wrote {target} (TabDPT, 1 layer of width 16, random weights)")


def tabpfnmix(target: Path) -> None:
    """TabPFNMix's FoundationTransformer (autogluon.tabular's own), small, random weights."""
    import torch
    from autogluon.tabular.models.tabpfnmix._internal.models.foundation.foundation_transformer import FoundationTransformer

    torch.manual_seed(0)
    model = FoundationTransformer(
        n_features=100, n_classes=10, dim=32, n_layers=2, n_heads=4, attn_dropout=0.0, y_as_float_embedding=True
    )
    input_dependent(model).save_pretrained(target)
    print(f"wrote {target} (TabPFNMix, 2 layers of width 32, random weights)")


def _write(folder: Path, **frames) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"wrote {path} ({len(frame)} rows)")


MAKERS = {"iris": iris, "diabetes": diabetes, "bike": bike, "sales": sales, "digits": digits, "reviews": reviews, "checkpoints": checkpoints, "foundation": foundation}


def main() -> None:
    import os

    # Hugging Face's "Writing model shards" bars among the "wrote ..." lines: read when huggingface_hub is first imported
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["all"], choices=[*MAKERS, "all"])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    for name in MAKERS if "all" in args.which else args.which:
        MAKERS[name](args.out)


if __name__ == "__main__":
    main()
