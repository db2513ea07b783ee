"""The spec head the foundation-model tests share: seed 000's bike forecast (48 hours ahead, MASE)."""

from __future__ import annotations


def bike_head(name: str, data: str) -> str:
    """name, task, data and metric of a bike forecasting spec whose tables are under `data` (a folder, ./data,
    or a `{data}` placeholder the caller formats later)."""
    return f"""name: {name}
task: time_series_forecasting
data:
  train: {data}/bike/train.csv
  test: {data}/bike/test.csv
  label: count
  timestamp: timestamp
  item_id: station
  prediction_length: 48
  freq: h
metric: MASE
"""
