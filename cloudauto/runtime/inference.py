"""The inference handler: one piece of code behind every endpoint.

It loads a saved AutoGluon predictor once and turns request bodies into predictions. The
same functions serve as SageMaker's `model_fn / input_fn / predict_fn / output_fn`, as
Azure ML's `init() / run()`, and behind the local endpoint. A bad payload raises
`BadRequest` (a 4xx with a message that names the problem); anything else is a real fault.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .versions import MODEL_INFO, installed_autogluon, mismatch

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CSV, JSON, NPY, JSONL = "text/csv", "application/json", "application/x-npy", "application/jsonlines"
# set on a batch transform's model: its CSV lines come without the header, and a bad row fails alone
BATCH_COLUMNS_ENV, BATCH_PROBABILITIES_ENV = "CLOUDAUTO_BATCH_COLUMNS", "CLOUDAUTO_BATCH_PROBABILITIES"
STATIC_FEATURES_FILE = "static_features.csv"  # a forecaster's item-level features, saved beside it at the trial's end
SMALL_CSV = 16 * 1024  # bodies up to this size skip pandas' CSV parser


class BadRequest(ValueError):
    """The request cannot be scored as sent; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ModelLoadError(RuntimeError):
    """The model folder cannot be served here (another AutoGluon release, no model info)."""


def write_model_info(model_dir: Path, **info: Any) -> None:
    """What the handler needs to know about a saved model, next to it, with the AutoGluon release that saved it."""
    info.setdefault("autogluon_version", installed_autogluon())
    (Path(model_dir) / MODEL_INFO).write_text(json.dumps(info, indent=2))


def _check_release(info: dict[str, Any], model_dir: Path) -> None:
    """AutoGluon would refuse another release's predictor with a bare AssertionError: say which two differ."""
    problem = mismatch(info.get("autogluon_version"), installed_autogluon(), "this serving environment")
    if problem:
        raise ModelLoadError(f"{model_dir}: {problem}")


def _persist(predictor: Any, model_dir: Path) -> None:
    """The best model and its ancestors in memory, as `predictor.persist()` puts them, at a fraction of its cost.

    AutoGluon refuses to persist models that would take more than 40 % of the free memory, and
    weighs each by pickling it (0.5-1 s for one small GBM, more for large ones). A model's files
    on disk are that pickle: where all of them together take less than half that share, they are
    persisted without the weighing; otherwise AutoGluon's own check decides.
    """
    from autogluon.common.utils.resource_utils import ResourceManager

    share = 0.4
    try:
        on_disk = sum(f.stat().st_size for f in (model_dir / "models").rglob("*") if f.is_file())
        fits = on_disk < share / 2 * ResourceManager.get_available_virtual_mem()
    except (OSError, ValueError):
        fits = False
    predictor.persist(max_memory=None if fits else share)


class Model:
    """A loaded predictor and the columns it expects."""

    batch_header: Optional[bytes] = None  # a batch transform's column names, where its CSV lines come without them
    batch_probabilities = False
    numeric = False  # a tabular model whose every feature is a number

    def __init__(self, model_dir: str | os.PathLike):
        self.dir = Path(model_dir)
        info_path = self.dir / MODEL_INFO
        if not info_path.is_file():
            raise FileNotFoundError(f"{self.dir} holds no cloudauto model ({MODEL_INFO} is missing)")
        self.info = json.loads(info_path.read_text())
        _check_release(self.info, self.dir)
        self.kind = self.info.get("kind", "tabular")
        columns = os.environ.get(BATCH_COLUMNS_ENV)
        self.batch_header: Optional[bytes] = ",".join(json.loads(columns)).encode() if columns else None
        self.batch_probabilities = os.environ.get(BATCH_PROBABILITIES_ENV) == "1"
        if self.kind == "tabular":
            from autogluon.tabular import TabularPredictor

            self.predictor = TabularPredictor.load(str(self.dir), require_py_version_match=False)
            ignored = set(self.info.get("ignored_columns", []))  # data.ignore_columns: accepted, never asked for
            self.features: list[str] = [c for c in self.predictor.original_features if c not in ignored]
            self.dtypes: dict[str, str] = dict(self.info.get("dtypes", {}))
            # every feature a number: a request's finite numbers need no column-by-column look (check())
            self.numeric = bool(self.features) and self._numeric(self.features)
            _persist(self.predictor, self.dir)  # models in memory: no disk read per request
        elif self.kind == "timeseries":
            from autogluon.timeseries import TimeSeriesPredictor

            self.predictor = TimeSeriesPredictor.load(str(self.dir))
            info = self.info
            self.known: list[str] = list(info.get("known_covariates") or [])
            # a request carries each series' recent history: these columns, in any order (and, with known
            # covariates, their values for the next prediction_length steps: rows after it, the label blank)
            self.features = [c for c in (info.get("item_id"), info["timestamp"], info["label"]) if c]
            self.features += [c for c in (*(info.get("past_covariates") or []), *self.known) if c not in self.features]
            self.dtypes = {info["label"]: "float"}
            self.static = self._static_features()
        elif self.kind == "multimodal":
            from autogluon.multimodal import MultiModalPredictor

            self.predictor = MultiModalPredictor.load(str(self.dir))
            self.features = list(self.info.get("features", []))
            self.images: list[str] = list(self.info.get("images", []))
            self.dtypes = {}
        else:
            raise BadRequest(f"serving {self.kind} models is not supported by this version", status=501)

    # request -> frame ----------------------------------------------------------------------
    def parse(self, body: bytes, content_type: Optional[str], numbers: bool = True) -> pd.DataFrame:
        """The request's rows, checked; the first row of a wrong shape (or with no values) is a 400 naming it."""
        frame, shape = self.parse_rows(body, content_type)
        if shape:
            row, reason = min(shape.items())
            raise BadRequest(f"row {row} {reason}")
        return self.check(frame, numbers)

    def parse_rows(self, body: bytes, content_type: Optional[str]) -> tuple[pd.DataFrame, dict[int, str]]:
        """The body as a frame, and the rows (by position) of a wrong shape with the reason: a batch fails those alone.

        A row of the wrong shape keeps its place in the frame with no values, so the rows
        after it keep their numbers.
        """
        import pandas as pd

        if not body or not body.strip():
            raise BadRequest("the request body is empty")
        kind = (content_type or CSV).split(";")[0].strip().lower()
        if kind == CSV and self.batch_header is not None and not body.startswith(self.batch_header):
            body = self.batch_header + b"\n" + body  # a batch transform's lines: the header was split off
        shape: dict[int, str] = {}
        try:
            if kind == CSV:
                _check_header(_csv_header(body), "header")
                frame = self._numeric_csv(body)
                if frame is None and len(body) <= SMALL_CSV:
                    frame = self._small_csv(body)
                if frame is None:
                    frame, shape = _general_csv(body)
            elif kind == JSON:
                frame, shape = self._from_json(_json_loads(body))
            elif kind == NPY:
                frame = self._from_npy(body)
            elif kind.startswith("image/") or kind == "application/x-image":
                raise BadRequest(
                    f"this endpoint serves a {self.kind} model, which takes {CSV}, {JSON} or {NPY}, not images "
                    "(an image model, trained for image_classification, takes them)",
                    status=415,
                )
            else:
                raise BadRequest(f"content type {kind!r} is not supported; send {CSV}, {JSON} or {NPY}", status=415)
        except BadRequest:
            raise
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise BadRequest(f"cannot read the {kind} body: {exc}") from None
        return frame, shape

    def _numeric(self, names: Iterable[str]) -> bool:
        """Whether every one of these columns is a numeric feature (so the rows fit one float block)."""
        return all(self.dtypes.get(name) in ("int", "float") for name in names)

    def _numeric_csv(self, body: bytes) -> Optional[pd.DataFrame]:
        """Plain numeric CSV (every column a numeric feature, no quoting) straight into one float block.

        NumPy's C reader, without pandas' parser and its fixed cost; anything
        else (quotes, text, ragged rows, a bad number) returns None and takes the general
        path, which names the problem.
        """
        import numpy as np
        import pandas as pd

        if b'"' in body:
            return None
        head, _, rest = body.partition(b"\n")
        names = head.decode("utf-8", errors="replace").rstrip("\r").split(",")
        if not rest.strip() or not self._numeric(names):
            return None
        try:
            values = np.loadtxt(io.BytesIO(rest), delimiter=",", dtype=float, ndmin=2, comments=None)
        except ValueError:
            return None
        if values.shape[1] != len(names):
            return None
        return pd.DataFrame(values, columns=names)

    def _small_csv(self, body: bytes) -> Optional[pd.DataFrame]:
        """A few rows of plain numeric CSV without pandas' parser and its fixed cost; None to fall back."""
        import csv

        import numpy as np
        import pandas as pd

        try:
            header, *rows = csv.reader(body.decode("utf-8").splitlines())
        except (ValueError, UnicodeDecodeError):
            return None
        if not rows or any(len(r) != len(header) or not any(r) for r in rows):
            return None  # a row of the wrong shape or without values: the general path names it
        if self._numeric(header):
            try:  # one float block: AutoGluon predicts faster on it than on a column per block
                return pd.DataFrame(np.array(rows, dtype=float), columns=header)
            except ValueError:
                return None  # the full path names the bad value
        columns: dict[str, Any] = {}
        for i, name in enumerate(header):
            values = [r[i] for r in rows]
            if self.dtypes.get(name) in ("int", "float"):
                try:
                    columns[name] = np.array(values, dtype=float)
                except ValueError:
                    return None  # the full path names the bad value
            else:
                columns[name] = values
        return pd.DataFrame(columns)

    def _from_npy(self, body: bytes) -> pd.DataFrame:
        """SageMaker's NumpySerializer body, read without a parser.

        A structured array names its columns (what `score()` sends); a plain 2-D array (1-D:
        one row) holds the model's features in the order /ping lists them.
        """
        import numpy as np
        import pandas as pd

        try:
            array = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:  # not .npy, cut short, or objects (pickles: never loaded)
            raise BadRequest(f"cannot read the {NPY} body: {exc}") from None
        names = array.dtype.names
        kinds = [array.dtype[n].kind for n in names] if names else [array.dtype.kind]
        unfit = [k for k in kinds if k not in "biufUSMm"]
        if unfit:
            raise BadRequest(f"cannot score {NPY} values of dtype {array.dtype}: send numbers, text or times")
        if names:
            rows = array.reshape(-1)
            if self._numeric(names) and all(k in "biuf" for k in kinds):
                from numpy.lib import recfunctions

                # every column a numeric feature: one float block, as from CSV
                return pd.DataFrame(recfunctions.structured_to_unstructured(rows, dtype=float), columns=list(names))
            return pd.DataFrame({n: np.char.decode(rows[n]) if rows[n].dtype.kind == "S" else rows[n] for n in names})
        if self.kind == "timeseries":
            raise BadRequest(
                f"a forecast request in {NPY} must be a structured array naming its columns: {', '.join(self.features)}"
            )
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2:
            raise BadRequest(f"a plain {NPY} array is one row (1-D) or rows (2-D), not {array.ndim}-D")
        if array.shape[1] != len(self.features):
            raise BadRequest(
                f"the array has {array.shape[1]} columns; this model takes {len(self.features)}, in this order: {', '.join(self.features)}"
            )
        if array.dtype.kind == "S":
            array = np.char.decode(array)
        return pd.DataFrame(array, columns=self.features)

    def _from_json(self, data: Any) -> tuple[pd.DataFrame, dict[int, str]]:
        """Records, {columns, data}, {data}, {instances} or Azure's {input_data}; rows of another width are named."""
        return json_rows(data, self.features)

    def check(self, frame: pd.DataFrame, numbers: bool = True, empty: bool = True) -> pd.DataFrame:
        """The model's columns in its order; with `empty`, a row without a value in any of them is a 400."""

        if frame.empty:
            raise BadRequest("no rows to score")
        if self.kind == "timeseries":
            return self._check_history(frame)
        if frame.columns.tolist() != self.features:
            missing = [c for c in self.features if c not in frame.columns]
            if missing:
                raise BadRequest(f"missing columns: {', '.join(map(str, missing))}; expected: {', '.join(self.features)}")
            frame = frame[self.features]
        if numbers and empty and self.numeric and _finite_numbers(frame):
            return frame  # no blank row, nothing to convert, nothing infinite: what the checks below would return
        blank = _empty_rows(frame) if empty else []
        if blank:
            raise BadRequest(f"row {blank[0]} has no values")
        if not numbers:
            return frame
        converted, bad = self.numbers(frame)
        if bad:
            position, (column, value) = min(bad.items())
            row = int(frame.index[position])
            if _infinite(value):
                raise BadRequest(f"column {column!r} takes finite numbers; row {row} has {_shown(value)}, which is out of range")
            raise BadRequest(f"column {column!r} takes numbers; row {row} has {_shown(value)}")
        return converted

    def numbers(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, tuple[str, Any]]]:
        """The number columns as numbers, and the rows (by position) holding a value that is none: (column, value).

        A request fails on the first such row; a batch fails those rows alone and scores the rest.
        An infinite value (`inf`, `1e400`, a 400-digit integer) is refused as well, in every
        column read as numbers: the models were trained on finite data, and sklearn's (RF, XT)
        refuse it with a 500 where the GBMs would answer something.
        """
        import numpy as np
        import pandas as pd

        bad: dict[int, tuple[str, Any]] = {}
        kinds = {column: dtype.kind for column, dtype in frame.dtypes.items()}  # one look, not a Series per column
        texts: dict[str, pd.Series] = {}
        for column, dtype in self.dtypes.items():
            # only columns that did not parse as numbers need a look
            if dtype in ("int", "float") and column in kinds and kinds[column] not in "iufb":
                texts[column] = frame[column]
                converted = pd.to_numeric(frame[column], errors="coerce")
                wrong = (converted.isna() & frame[column].notna()).to_numpy().nonzero()[0]
                for position in wrong:
                    bad.setdefault(int(position), (column, frame[column].iloc[position]))
                frame = frame.assign(**{column: converted})
                kinds[column] = frame[column].dtype.kind
        floats = [column for column, kind in kinds.items() if kind == "f"]
        if floats:
            infinite = np.isinf(frame[floats].to_numpy(dtype=float))
            for position, index in zip(*infinite.nonzero(), strict=True):
                column = floats[index]
                value = texts[column].iloc[position] if column in texts else frame[column].iloc[position]
                bad.setdefault(int(position), (column, value))
        return frame, bad

    def _check_history(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Time series: each item's history (timestamp, target), at least a few steps, parseable times."""
        import pandas as pd

        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            future = (
                f", and the known covariates {', '.join(self.known)} for the next {self.info.get('prediction_length')} "
                f"steps after it (rows with the label '{self.info['label']}' left blank)"
                if getattr(self, "known", None)
                else ""
            )
            raise BadRequest(
                f"missing columns: {', '.join(missing)}; a forecast request is each series' history: "
                f"{', '.join(self.features)}{future}"
            )
        timestamp, label = self.info["timestamp"], self.info["label"]
        times = _timestamps(frame[timestamp])
        if not pd.api.types.is_datetime64_any_dtype(times):  # offsets that change (a DST switch), or aware beside naive
            kinds = sorted({str(getattr(t, "utcoffset", lambda: None)()) for t in times.dropna()})[:3]
            raise BadRequest(
                f"column {timestamp!r} mixes time zones or UTC offsets ({', '.join(kinds)}): a series is one clock; send "
                "its times in one offset (UTC, say) or without one, as the model was trained"
            )
        if times.isna().any():
            row = int(times.index[times.isna()][0])
            raise BadRequest(
                f"column {timestamp!r} takes timestamps in one format (the first row's, {frame[timestamp].iloc[0]!r}, or "
                f"ISO 8601); row {row} has {frame[timestamp].iloc[row]!r}"
            )
        values = pd.to_numeric(frame[label], errors="coerce")
        bad = values.isna() & frame[label].notna()
        if bad.any():
            row = int(values.index[bad][0])
            value = frame[label].iloc[row]
            if not _infinite(value):
                raise BadRequest(f"column {label!r} takes numbers; row {row} has {_shown(value)}")
        infinite = values.isin([float("inf"), float("-inf")]) | bad
        if infinite.any():  # a history the model was not trained on: refused, as a row's features are
            row = int(values.index[infinite][0])
            shown = _shown(frame[label].iloc[row])
            raise BadRequest(f"column {label!r} takes finite numbers; row {row} has {shown}, which is out of range")
        frame = frame.assign(**{timestamp: times, label: values})
        self._check_freq(frame)
        if getattr(self, "known", None):
            self._check_future(frame)
        if getattr(self, "static", None) is not None:
            self._static_for(frame)
        return frame

    # forecasts with covariates -------------------------------------------------------------
    def _static_features(self) -> Optional[pd.DataFrame]:
        """The training series' static features, saved beside the model (None for a model trained without)."""
        import pandas as pd

        if not self.info.get("static_features"):
            return None
        table = pd.read_csv(self.dir / STATIC_FEATURES_FILE)
        table = table.set_index(table.columns[0])
        table.index = table.index.astype(str)  # a request's ids, from CSV or JSON, are matched as text
        return table

    def _static_for(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each requested series' static features: from its rows where the request has the columns, else the training ones."""
        item = self.info["item_id"]
        columns = list(self.static.columns)
        items = list(dict.fromkeys(frame[item]))
        table = self.static
        if all(c in frame.columns for c in columns):  # the request's own, per series (the first row's)
            given = frame.groupby(item, sort=False)[columns].first()
            given.index = given.index.astype(str)
            table = given.combine_first(table)[columns]
        unknown = [i for i in items if str(i) not in table.index]
        if unknown:
            raise BadRequest(
                f"series {', '.join(map(repr, unknown[:10]))}: no static features ({', '.join(columns)}); this model was "
                f"trained with data.static_features for its training series: send {', '.join(columns)} as columns of "
                f"{'its' if len(unknown) == 1 else 'their'} rows"
            )
        found = table.loc[[str(i) for i in items]]
        found.index = items
        return found

    def split_future(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(history, future): a series' rows after its last label value are its future (known covariates only)."""
        import pandas as pd

        label, timestamp, item = self.info["label"], self.info["timestamp"], self.info.get("item_id")
        keys = frame[item] if item else pd.Series("series", index=frame.index)
        labelled = frame[timestamp].where(frame[label].notna())
        last = labelled.groupby(keys).transform("max")
        future = frame[timestamp] > last.fillna(pd.Timestamp.min)
        return frame[~future], frame[future]

    def _check_future(self, frame: pd.DataFrame) -> None:
        """Each series' known covariates for every one of the next prediction_length steps: a 400 naming what lacks."""
        import pandas as pd

        label, timestamp, item = self.info["label"], self.info["timestamp"], self.info.get("item_id")
        length = int(self.info["prediction_length"])
        freq = getattr(getattr(self, "predictor", None), "freq", None) or self.info.get("freq")
        history, future = self.split_future(frame)
        how = f"send a row for each of those steps after the history, with its {', '.join(self.known)} and a blank '{label}'"
        groups = dict(list(history.groupby(item, sort=False))) if item else {None: history}
        ahead = dict(list(future.groupby(item, sort=False))) if item else {None: future}
        for name in dict.fromkeys(frame[item]) if item else [None]:
            where = f"series {name!r}: " if item else ""
            past = groups.get(name)
            if past is None or past.empty:
                raise BadRequest(f"{where}no history: every row has a blank '{label}'; send its past values before its future")
            if not freq:
                continue
            steps = pd.date_range(past[timestamp].max(), periods=length + 1, freq=freq)[1:]
            rows = ahead.get(name, future.iloc[:0]).set_index(timestamp)
            lacking = [t for t in steps if t not in rows.index]
            if lacking:
                shown = ", ".join(map(_when, lacking[:3])) + (" ..." if len(lacking) > 3 else "")
                raise BadRequest(
                    f"{where}this model forecasts with the known covariates {', '.join(self.known)}, so it needs their "
                    f"values for the next {length} steps ({_when(steps[0])} to {_when(steps[-1])}); {len(lacking)} of "
                    f"them have no row ({shown}): {how}"
                )
            values = rows.loc[steps, self.known]
            blank = values.isna()
            if blank.any().any():
                column = next(c for c in self.known if blank[c].any())
                at = values.index[blank[column].to_numpy()][0]
                raise BadRequest(
                    f"{where}the known covariate {column!r} has no value at {_when(at)}, one of the {length} steps to forecast: "
                    "send its value in that row"
                )

    def _check_freq(self, frame: pd.DataFrame) -> None:
        """A history at another frequency than the model's would be resampled to it, without a word: a 400 naming both.

        The data's frequency as the submit-time check infers it (per item); an irregular or too short
        history says none, and its timestamps must still fall on the model's steps (no timestamp twice).
        """
        model_freq = getattr(getattr(self, "predictor", None), "freq", None) or self.info.get("freq")
        self._check_inferred(frame, model_freq)
        self._check_steps(frame, model_freq)

    def _check_inferred(self, frame: pd.DataFrame, model_freq: Optional[str]) -> None:
        """The frequency pandas infers from three points or more, against the model's (the clearer message)."""
        import warnings

        from pandas.tseries.frequencies import to_offset

        from .data_check import FREQ_WORDS, inferred_freq

        if not model_freq:
            return
        data_freq = inferred_freq(frame, self.info["timestamp"], self.info.get("item_id"))
        if data_freq is None:
            return
        with warnings.catch_warnings():  # 'H', 'T' ...: pandas' deprecated aliases still name the same offsets
            warnings.simplefilter("ignore", FutureWarning)
            try:
                offsets = {freq: to_offset(freq) for freq in (model_freq, data_freq)}
            except ValueError:
                return  # a frequency pandas does not know here: AutoGluon says what it makes of it
        if offsets[model_freq] == offsets[data_freq]:
            return

        def described(freq: str) -> str:
            word = FREQ_WORDS.get(offsets[freq].freqstr)
            return f"{word} ({freq})" if word else f"at frequency {freq}"

        raise BadRequest(
            f"this model forecasts {described(model_freq)} series but the history is {described(data_freq)}: "
            f"it would be resampled to {model_freq}, to values that are not in it; send the history at {model_freq}"
        )

    def _check_steps(self, frame: pd.DataFrame, model_freq: Optional[str]) -> None:
        """A series with a timestamp twice, or (for a fixed-length frequency such as D or h) two points closer
        than a whole number of the model's steps, cannot be the model's series: AutoGluon would average them
        into one step without a word, however few points there are (infer_freq needs three)."""
        import warnings

        import pandas as pd
        from pandas.tseries.frequencies import to_offset

        timestamp, item = self.info["timestamp"], self.info.get("item_id")
        step = None
        if model_freq:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                try:
                    offset = to_offset(model_freq)
                    step = pd.Timedelta(offset) if isinstance(offset, pd.offsets.Tick) else None
                except (ValueError, TypeError):
                    step = None
        stamps = pd.to_datetime(frame[timestamp], errors="coerce")
        for name, series in stamps.groupby(frame[item]) if item else [(None, stamps)]:
            ordered = series.dropna().sort_values()
            gaps = ordered.diff().iloc[1:]
            where = f"item {name!r}: " if item else ""
            if (gaps == pd.Timedelta(0)).any():
                twice = ordered[ordered.duplicated()].iloc[0]
                raise BadRequest(f"{where}the timestamp {twice} comes twice in the history; send one value per step")
            if step is not None and step > pd.Timedelta(0):
                off = gaps[(gaps % step) != pd.Timedelta(0)]
                if len(off):
                    later = ordered.loc[off.index[0]]
                    raise BadRequest(
                        f"{where}two points {off.iloc[0]} apart (the one at {later}) are not a whole number of this "
                        f"model's {model_freq} steps; send the history at {model_freq}"
                    )

    # predictions ---------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame, probabilities: bool = False) -> pd.DataFrame:
        """Predictions; with `probabilities`, one proba_<class> column per class as well.

        For a forecaster: the next prediction_length steps of every series in the request,
        the mean and the quantiles, one row per series and step.
        """
        import pandas as pd

        if self.kind == "timeseries":
            return self._forecast(frame)
        if self.kind == "multimodal":  # classes from one pass: the most probable one is the prediction
            proba = self.predictor.predict_proba(frame, as_pandas=True)
            classes = list(proba.columns)
            predicted = [classes[i] for i in proba.to_numpy().argmax(axis=1)]
            columns = {f"proba_{c}": proba[c].to_numpy() for c in classes} if probabilities else {}
            return pd.DataFrame({"prediction": predicted, **columns})

        if not probabilities or not self.predictor.can_predict_proba:
            return pd.DataFrame({"prediction": self.predictor.predict(frame).to_numpy()})
        proba = self.predictor.predict_proba(frame)
        prediction = self.predictor.predict_from_proba(proba)  # one pass through the models, not two
        columns = {f"proba_{c}": proba[c].to_numpy() for c in proba.columns}
        return pd.DataFrame({"prediction": prediction.to_numpy(), **columns})

    def answer_columns(self, probabilities: bool = False) -> list[str]:
        """The columns `predict` answers with (tabular and MultiModal): what an output of no rows still has as its header."""
        proba = probabilities and (self.kind == "multimodal" or self.predictor.can_predict_proba)
        classes = list(getattr(self.predictor, "class_labels", None) or []) if proba else []
        return ["prediction", *(f"proba_{c}" for c in classes)]

    def score_rows(
        self, frame: pd.DataFrame, probabilities: bool = False, shape: Optional[dict[int, str]] = None
    ) -> pd.DataFrame:
        """Predictions for rows that have their columns, where a bad row fails alone (batch inference).

        One row out per row in, in order; a row that cannot be scored (a value that is no number
        in a number column, a model error on that row alone) has no prediction and its reason in
        `error`, and the file's line of each row in `_line` where the frame came from a CSV file.
        BadRequest only when no row at all can be scored.
        """
        import pandas as pd

        lines = frame.attrs.get("lines")  # a batch's CSV chunk says the line each row starts on (batch_io.csv_chunks)
        if shape is None:  # and which rows had another width
            shape = frame.attrs.get("shape")
        if frame.attrs:  # read: pandas compares attrs when it joins frames, and an array there raises (AutoGluon joins)
            frame = frame.copy(deep=False)
            frame.attrs = {}
        failures = {p: f"the row {reason}" for p, reason in (shape or {}).items()}  # of the wrong shape
        if self.kind == "tabular":
            failures.update({p: "the row has no values" for p in _empty_rows(frame) if p not in failures})
            frame, bad = self.numbers(frame)
            failures.update({p: _number_problem(c, v) for p, (c, v) in bad.items() if p not in failures})
        # every row good (the common case): the frame as it is, no positions listed, taken or joined back
        good: Any = pd.RangeIndex(len(frame)) if not failures else [p for p in range(len(frame)) if p not in failures]
        try:
            taken = frame if not failures else frame.iloc[good]
            predicted = self.predict(taken, probabilities) if len(good) else pd.DataFrame({"prediction": []})
            predicted.index = good
        except (BadRequest, ValueError, TypeError, KeyError) as whole:  # find the rows: one at a time
            rows = []
            for p in good:
                try:
                    one = self.predict(frame.iloc[[p]], probabilities)
                except Exception as exc:  # that row's own fault
                    failures[p] = f"{type(exc).__name__}: {exc}"
                    continue
                one.index = [p]
                rows.append(one)
            if not rows:
                raise BadRequest(f"no row could be scored: {whole}") from None
            predicted = pd.concat(rows)
        if failures:  # a failed row is a blank: integer and boolean classes stay so (nullable), not floats
            predicted = predicted.astype({c: _NULLABLE[d.kind] for c, d in predicted.dtypes.items() if d.kind in _NULLABLE})
        whole = not failures and predicted.index.equals(pd.RangeIndex(len(frame)))  # one answer per row, in order
        scored = predicted if whole else pd.DataFrame(index=range(len(frame))).join(predicted)
        if failures:
            scored["error"] = pd.Series(failures, dtype="object")
        if lines is not None and len(lines) == len(scored):  # for the failures file: where each row is in its CSV file
            scored["_line"] = lines
        return scored

    def _forecast(self, frame: pd.DataFrame) -> pd.DataFrame:
        from autogluon.timeseries import TimeSeriesDataFrame

        info = self.info
        item = info.get("item_id") or "item_id"
        static = self._static_for(frame) if getattr(self, "static", None) is not None else None
        known = getattr(self, "known", [])
        history, future = self.split_future(frame) if known else (frame, None)
        if len(history.columns) > len(self.features):
            history = history[self.features]  # static features and other columns are not past covariates
        if not info.get("item_id"):
            history = history.assign(item_id="series")
            future = future.assign(item_id="series") if future is not None else None
        try:
            history = TimeSeriesDataFrame.from_data_frame(history, id_column=item, timestamp_column=info["timestamp"])
            if static is not None:
                history.static_features = static
            covariates = None
            if future is not None:
                covariates = TimeSeriesDataFrame.from_data_frame(
                    future[[item, info["timestamp"], *known]], id_column=item, timestamp_column=info["timestamp"]
                )
            forecast = self.predictor.predict(history, known_covariates=covariates)
        except (ValueError, KeyError) as exc:  # too short a history, irregular timestamps ...
            raise BadRequest(f"cannot forecast from this history: {exc}") from None
        out = forecast.reset_index().rename(columns={"item_id": item, "timestamp": info["timestamp"]})
        if not info.get("item_id"):
            out = out.drop(columns=[item])
        return out

    def render(self, predictions: pd.DataFrame, accept: Optional[str]) -> tuple[bytes, str]:
        kind = _answer_kind(accept)
        if kind == CSV:
            return predictions.to_csv(index=False).encode(), CSV
        if kind == JSON:
            return _records_json(predictions), JSON
        if kind == NPY:
            return _npy(predictions), NPY
        if kind == JSONL:  # one answer per line, as a batch transform assembles them
            return "\n".join(_json_rows(predictions)).encode(), JSONL
        raise BadRequest(f"cannot answer in {kind!r}; accept {CSV}, {JSON}, {JSONL} or {NPY}", status=406)

    def handle(
        self, body: bytes, content_type: Optional[str], accept: Optional[str], probabilities: bool = False
    ) -> tuple[bytes, str]:
        if self.kind == "multimodal":
            return self._handle_multimodal(body, content_type, accept)
        if self.batch_header is not None:  # a batch transform: every line gets an answer, a bad one its error
            frame, shape = self.parse_rows(body, content_type)  # score_rows judges shapes and numbers row by row
            frame = self.check(frame, numbers=False, empty=False)
            return self.render(self.score_rows(frame, probabilities or self.batch_probabilities, shape), accept)
        frame = self.parse(body, content_type)
        if self.kind == "tabular" and not probabilities and _answer_kind(accept) == JSON:
            # the common answer, predictions alone as JSON records, straight from the values: a frame
            # around them costs more than a small request's parse
            values = self.predictor.predict(frame).to_numpy()  # what predict() puts in its one column
            if values.dtype.kind in "iufbO":
                return _prediction_records(values.dtype.kind, values.tolist()), JSON
            import pandas as pd

            return self.render(pd.DataFrame({"prediction": values}), accept)  # times and the like: pandas' words
        return self.render(self.predict(frame, probabilities), accept)

    # MultiModalPredictor: image bytes, base64 images in JSON, text rows ------------------------
    def _handle_multimodal(self, body: bytes, content_type: Optional[str], accept: Optional[str]) -> tuple[bytes, str]:
        """The predicted class and every class's probability, per image or row (images pass through a temporary folder)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cloudauto-images-") as folder:
            result = self.predict(self._parse_multimodal(body, content_type, Path(folder)), probabilities=True)
        return self.render(result, accept)

    def _parse_multimodal(self, body: bytes, content_type: Optional[str], folder: Path) -> pd.DataFrame:
        import base64
        import binascii

        import pandas as pd

        if not body or not body.strip():
            raise BadRequest("the request body is empty")
        kind = (content_type or CSV).split(";")[0].strip().lower()
        takes = (
            f"image bytes (image/png, image/jpeg) or {JSON} with base64 images in '{self.images[0]}'"
            if self.images
            else f"text rows as {CSV} or {JSON} with the columns {', '.join(self.features)}"
        )
        if kind.startswith("image/") or kind == "application/x-image":
            if not self.images or len(self.features) != 1:
                raise BadRequest(f"this model takes {takes}, not one bare image", status=415)
            frame = pd.DataFrame({self.images[0]: [_image_file(body, folder, 0)]})
        elif kind == JSON:
            try:
                frame, shape = self._from_json(_json_loads(body))
            except ValueError as exc:
                raise BadRequest(f"cannot read the {JSON} body: {exc}") from None
            if shape:
                row, reason = min(shape.items())
                raise BadRequest(f"row {row} {reason}")
            for column in self.images:
                if column not in frame.columns:
                    continue
                files = []
                for row, value in enumerate(frame[column]):
                    try:
                        data = base64.b64decode(str(value), validate=True)
                    except (binascii.Error, ValueError):
                        raise BadRequest(f"column {column!r}, row {row}: not a base64 image") from None
                    files.append(_image_file(data, folder, row))
                frame = frame.assign(**{column: files})
        elif kind == CSV and not self.images:
            try:
                frame = pd.read_csv(io.BytesIO(body))
            except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise BadRequest(f"cannot read the {CSV} body: {exc}") from None
        else:
            raise BadRequest(f"this model takes {takes}, not {kind}", status=415)
        if frame.empty:
            raise BadRequest("no rows to score")
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise BadRequest(f"missing columns: {', '.join(missing)}; this model takes {takes}")
        return frame[self.features]


# rows of the wrong shape, and bodies built to hurt -------------------------------------------
MAX_NUMBER_DIGITS = 308  # an integer past this cannot be a float: refused, not an OverflowError


_NULLABLE = {"i": "Int64", "u": "UInt64", "b": "boolean"}  # NumPy kinds with no missing value: pandas' nullable dtypes


def _infinite(value: Any) -> bool:
    """Whether a value read as a number is past a float's range (`inf`, `1e400`, 400 digits), not text."""
    import math

    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, float) and math.isinf(value)


def _when(stamp: Any) -> str:
    """A timestamp as a message says it: the date alone at midnight."""
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def _shown(value: Any) -> str:
    """A value as a message quotes it (a NumPy scalar as the Python one), a long one cut short."""
    if not isinstance(value, str) and hasattr(value, "item"):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}... ({len(str(value)):,} characters)"


def _number_problem(column: str, value: Any) -> str:
    """A batch row's reason for a value that is no (finite) number."""
    if _infinite(value):
        return f"column {column!r} takes finite numbers; {_shown(value)} is out of range"
    return f"column {column!r} takes numbers, not {_shown(value)}"


def _fields(n: int) -> str:
    return f"{n} field{'' if n == 1 else 's'}"


def _check_header(names: list[Any], what: str) -> None:
    """A column named twice would be read twice (pandas renames one, the model sees a feature too many)."""
    seen: set[Any] = set()
    for name in names:
        if name in seen:
            raise BadRequest(f"column {name!r} appears twice in the {what}; name each column once")
        seen.add(name)


def _csv_header(body: bytes) -> list[str]:
    import csv

    first = body.lstrip(b"\r\n").split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    return next(csv.reader([first]), [])


def _general_csv(body: bytes) -> tuple[pd.DataFrame, dict[int, str]]:
    """pandas' reader, with rows of another width than the header found and kept in place without values.

    pandas pads a short row with missing values and refuses a long one for the whole body,
    so the rows are counted only when one may be short (a missing value in the last column)
    or pandas found a long one (or took every row's extra fields for an index).
    """
    import csv

    import pandas as pd

    try:
        frame: Optional[pd.DataFrame] = pd.read_csv(io.BytesIO(body))
        refused: Optional[Exception] = None
    except pd.errors.ParserError as exc:
        frame, refused = None, exc
    # every row longer than the header makes pandas take the first columns for an index, without a word
    implicit_index = frame is not None and not isinstance(frame.index, pd.RangeIndex)
    if frame is not None and not implicit_index and (frame.empty or not frame.iloc[:, -1].isna().any()):
        return frame, {}
    rows = [row for row in csv.reader(io.StringIO(body.decode("utf-8"))) if row]  # blank lines skipped, as pandas does
    header, width = rows[0], len(rows[0])
    shape = {i: f"has {_fields(len(row))}; the header has {width}" for i, row in enumerate(rows[1:]) if len(row) != width}
    if not shape:
        if frame is None:
            raise ValueError(str(refused))
        return frame, {}
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([""] * width if i in shape else row for i, row in enumerate(rows[1:]))
    return pd.read_csv(io.StringIO(text.getvalue())), shape


def _json_number(text: str) -> Any:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise BadRequest(f"the number {text[:12]}... ({digits:,} digits) is too large to score")
    return int(text) if digits <= 18 else float(text)


def _json_loads(body: bytes) -> Any:
    """JSON with its integers bounded and its depth failing as a 400, not a RecursionError."""
    try:
        return json.loads(body, parse_int=_json_number)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply to be rows") from None


def _nested(values: Iterable[Any]) -> bool:
    return any(isinstance(v, (list, dict)) for v in values)


def json_rows(data: Any, features: Optional[list[str]] = None) -> tuple[pd.DataFrame, dict[int, str]]:
    """JSON rows as a frame, and the rows (by position) of another shape with the reason (the server's and `score`'s reader).

    Records, {columns, data}, {data}, {instances} or Azure's {input_data}; bare lists of
    values are the model's `features` in order, and need them (a file read by `score` has none).
    """
    if isinstance(data, dict):
        if "input_data" in data:  # Azure ML managed online endpoints: {"input_data": {"columns", "data"}}
            data = data["input_data"]
        if isinstance(data, dict) and "data" in data and isinstance(data["data"], list) and "columns" not in data:
            data = data["data"]
        elif isinstance(data, dict) and "instances" in data:  # SageMaker / TF-serving style
            data = data["instances"]
    if isinstance(data, dict) and "columns" in data and "data" in data:
        columns, rows = data["columns"], data["data"]
        if isinstance(columns, list) and len(columns) == 1 and isinstance(rows, list):
            # one column may come as a flat list of values (Azure AutoML's image scoring sends it so)
            rows = [r if isinstance(r, list) else [r] for r in rows]
        if not isinstance(columns, list) or not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BadRequest("{columns, data}: columns is a list of names and data a list of rows (lists)")
        _check_header(columns, "columns")
        return _rows_frame(rows, [str(c) for c in columns], f"the columns are {len(columns)}")
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return _records_frame(data)
    if isinstance(data, list) and all(isinstance(row, list) for row in data):
        if features is None:
            raise BadRequest(
                "JSON rows are records ([{column: value}, ...]) or {columns, data}: a list of lists names no columns"
            )
        return _rows_frame(data, features, f"the model takes {len(features)}")
    raise BadRequest("JSON must be a list of records, {columns, data}, {data: [...]} or {input_data: {...}}")


def _rows_frame(rows: list[list[Any]], columns: list[str], takes: str) -> tuple[pd.DataFrame, dict[int, str]]:
    import pandas as pd

    width, shape = len(columns), {}
    for i, row in enumerate(rows):
        if not row:
            shape[i] = "has no values"
        elif len(row) != width:
            shape[i] = f"has {_fields(len(row))}; {takes}"
        elif _nested(row):
            shape[i] = "holds a list or an object; a value is a number, text or null"
    clean = [[None] * width if i in shape else row for i, row in enumerate(rows)] if shape else rows
    return pd.DataFrame(clean, columns=columns), shape


def _records_frame(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[int, str]]:
    """Records all with the keys of the first that has any: another set of keys is a row of another shape."""
    import pandas as pd

    first = next((i for i, r in enumerate(records) if any(v is not None for v in r.values())), None)
    keys = list(records[first]) if first is not None else []
    known, shape = set(keys), {}
    for i, record in enumerate(records):
        if not any(v is not None for v in record.values()):
            shape[i] = "has no values"
            continue
        missing = [k for k in keys if k not in record]
        extra = [k for k in record if k not in known]
        if missing:
            shape[i] = f"has no {', '.join(map(repr, missing))}, which row {first} has"
        elif extra:
            shape[i] = f"has {', '.join(map(repr, extra))}, which row {first} has not"
        elif _nested(record.values()):
            shape[i] = "holds a list or an object; a value is a number, text or null"
    clean = [dict.fromkeys(keys) if i in shape else r for i, r in enumerate(records)] if shape else records
    return pd.DataFrame.from_records(clean, columns=keys or None), shape


def _finite_numbers(frame: pd.DataFrame) -> bool:
    """Whether every value is a finite number, from one array: a float block (what the CSV and npy
    readers make of numeric rows) is read without a copy, and a missing value (NaN) is not finite."""
    import numpy as np

    values = frame.to_numpy()
    return values.dtype.kind in "iub" or (values.dtype.kind == "f" and bool(np.isfinite(values).all()))


def _empty_rows(frame: pd.DataFrame) -> list[int]:
    """The positions of rows with no value in any column."""
    if frame.shape[1] == 0 or frame.empty:
        return []
    return frame.isna().all(axis=1).to_numpy().nonzero()[0].tolist()


def _image_file(data: bytes, folder: Path, row: int) -> str:
    """An image the request carried, as a file AutoMM can read; what is not an image is a 400 naming the row."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            suffix = (image.format or "png").lower()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise BadRequest(f"item {row} is not an image PIL can read") from None
    path = folder / f"{row}.{suffix}"
    path.write_bytes(data)
    return str(path)


def _timestamps(column: pd.Series) -> pd.Series:
    """A history's times, one format for the whole column: the one pandas infers from its first value, else ISO 8601
    (which takes '2024-05-01' beside '2024-05-01 00:00'); NaT where a value is in neither. Never value by value
    (`format="mixed"` read 12/05/2024 month-first and 13/05/2024 day-first: a scrambled series, forecast exit 0)."""
    import warnings

    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" notice: the fallbacks below decide
        for fmt in (None, "ISO8601"):
            try:
                return pd.to_datetime(column, format=fmt)
            except (ValueError, TypeError, OverflowError):
                continue
        return pd.to_datetime(column, errors="coerce")


def _answer_kind(accept: Optional[str]) -> str:
    kind = (accept or JSON).split(";")[0].strip().lower()
    return JSON if kind in ("*/*", "") else kind


def _records_json(predictions: pd.DataFrame) -> bytes:
    """JSON records; predictions alone (the common answer) without building a dict per row."""
    if list(predictions.columns) != ["prediction"]:
        return ("[" + ",".join(_json_rows(predictions)) + "]").encode()
    column = predictions["prediction"]
    return _prediction_records(column.dtype.kind, column.tolist())


def _json_rows(frame: pd.DataFrame) -> list[str]:
    """Each row as a JSON object's text: floats exact (pandas' to_json rounds to 10 decimal places, which made a
    forecast of 3.152746e-07 3.153e-07), NaN/NA as null, times in ISO 8601; built per column, as _prediction_records."""
    template = "{" + ",".join(json.dumps(str(name)).replace("%", "%%") + ":%s" for name in frame.columns) + "}"
    texts = [_json_texts(column.dtype.kind, column.tolist()) for _, column in frame.items()]
    return [template % row for row in zip(*texts, strict=True)]


def _json_texts(kind: str, values: list[Any]) -> list[str]:
    """Each value of a column of this dtype kind as JSON text."""
    import math

    import pandas as pd

    if kind == "f":  # repr of a finite float is a JSON number, exact; NaN and inf are not (nor Float64's NA)
        return ["null" if v is None or v is pd.NA or not math.isfinite(v) else repr(float(v)) for v in values]
    if kind in "iu":  # a nullable column's blank (a failed row) is null
        return ["null" if v is None or v is pd.NA else str(v) for v in values]
    if kind == "b":
        return ["null" if v is None or v is pd.NA else "true" if v else "false" for v in values]
    if kind == "M":
        return ["null" if v is pd.NaT else f'"{v.isoformat()}"' for v in values]

    return [json.dumps(_plain(v), default=str, allow_nan=False) for v in values]


def _plain(value: Any) -> Any:
    """A value of an object column as JSON's own types: numpy scalars as numbers, times in ISO 8601, blanks and
    non-finite floats as null, inside lists and dicts too (NaN in a list was written as invalid JSON)."""
    import datetime
    import math

    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):  # .item() gives nanoseconds as an int
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _prediction_records(kind: str, values: list[Any]) -> bytes:
    """[{"prediction": value}, ...] for values of this dtype kind."""
    if not values:
        return b"[]"
    return ('[{"prediction":' + '},{"prediction":'.join(_json_texts(kind, values)) + "}]").encode()

def _npy(predictions: pd.DataFrame) -> bytes:
    """Predictions alone as a 1-D array, with probabilities (or a forecast) as a structured one; text as unicode."""
    import numpy as np

    def plain(column: pd.Series) -> Any:
        if column.dtype.kind in "iub" and column.hasnans:  # a nullable column with blanks: NaN where a row failed
            return column.to_numpy(dtype=float, na_value=np.nan)
        values = column.to_numpy()
        return values.astype(str) if values.dtype.kind == "O" else values

    if list(predictions.columns) == ["prediction"]:
        array = plain(predictions["prediction"])
    else:
        columns = [plain(predictions[c]) for c in predictions.columns]
        array = np.empty(len(predictions), dtype=[(str(c), v.dtype) for c, v in zip(predictions.columns, columns, strict=True)])
        for name, values in zip(array.dtype.names, columns, strict=True):
            array[name] = values
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


# the SageMaker inference toolkit's contract --------------------------------------------------
def model_fn(model_dir: str) -> Model:
    """SageMaker extracts model.tar.gz into model_dir; the predictor may sit one folder down."""
    found = next(Path(model_dir).rglob(MODEL_INFO), None)
    return Model(found.parent if found else model_dir)


def transform_fn(model: Model, body: Any, content_type: str, accept: str) -> tuple[bytes, str]:
    """The toolkit hands text types over decoded (str) and the rest as the model server's bytearray.

    A bad payload is raised as the toolkit's own error with our status, so the caller gets
    a 4xx with our message rather than the toolkit's 500 for any exception.
    """
    data = body.encode() if isinstance(body, str) else bytes(body)
    try:
        return model.handle(data, content_type, accept)
    except BadRequest as exc:
        try:
            from sagemaker_inference.errors import BaseInferenceToolkitError
        except ImportError:  # pragma: no cover - outside SageMaker's inference containers
            raise exc from None
        from http import HTTPStatus

        raise BaseInferenceToolkitError(exc.status, str(exc), HTTPStatus(exc.status).phrase) from None


# Azure ML's scoring-script contract ----------------------------------------------------------
_azure_model: Optional[Model] = None


def init() -> None:
    global _azure_model
    root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    found = next(root.rglob(MODEL_INFO), None)
    _azure_model = Model(found.parent if found else root)


def run(raw_data: str) -> Any:
    body, _ = _azure_model.handle(raw_data.encode() if isinstance(raw_data, str) else raw_data, JSON, JSON)
    return json.loads(body)


__all__ = ["BadRequest", "MODEL_INFO", "Model", "init", "model_fn", "run", "transform_fn", "write_model_info"]
# SageMaker's toolkit takes transform_fn in place of input_fn / predict_fn / output_fn
