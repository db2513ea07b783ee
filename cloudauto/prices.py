"""Prices read from the clouds' own price sources, cached under the home with their source and age.

`update()` reads a backend's price source for a region and writes what it read to
`<home>/prices/<backend>/<region>.json`; `lookup()` answers from that cache without the
network, saying how old the figure is. Nothing here is shipped as a figure: the package
only knows where the clouds publish their prices.

- SageMaker: the AWS Price List Query API (`pricing.get_products`, ServiceCode AmazonSageMaker)
  where credentials are found, else the public offer file found through `region_index.json`.
  A product's kind is its `platoinstancetype` (Training, SpotTraining, Hosting, BatchTransform;
  `component` where that is absent); only on-demand terms in USD per `Hrs` are hourly prices.
  Serverless inference rows are kept per their own unit (GB-second, request).
- Azure ML: the Azure Retail Prices API (no login), Virtual Machines, `priceType eq 'Consumption'`,
  following `NextPageLink`; Linux rows only; `... Spot` and `... Low Priority` rows kept apart as
  their own market; Azure ML compute is billed at the VM's price.

The sources' base URLs can be pointed elsewhere (a proxy, a test server): CLOUDAUTO_AWS_PRICING_URL
(the offer files), CLOUDAUTO_AZURE_PRICES_URL (the Retail Prices API), and botocore's own
AWS_ENDPOINT_URL_PRICING for the Query API. AWS's Price List is informational: what SageMaker
bills is its pricing page's figure.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .spec.errors import CloudautoError

HOME_ENV = "CLOUDAUTO_HOME"
AWS_URL_ENV = "CLOUDAUTO_AWS_PRICING_URL"
AZURE_URL_ENV = "CLOUDAUTO_AZURE_PRICES_URL"
AWS_DEFAULT_URL = "https://pricing.us-east-1.amazonaws.com"
AZURE_DEFAULT_URL = "https://prices.azure.com/api/retail/prices"
STALE_DAYS = 30
CLOCK_SKEW_S = 3600.0  # a cached read time this far ahead of the clock is still taken (a home shared by machines)
BACKENDS = ("sagemaker", "azureml")
HTTP_TIMEOUT_S = 60.0
REFRESH_TIMEOUT_S = 15.0  # submit / deploy wait this long at most per request for a price before going on without
MAX_PAGES = 5000  # Azure: a NextPageLink loop stops here rather than forever
# No instance the clouds sell costs this much an hour (the largest are about $100/h): a figure at or above it is
# a broken row, never a price. The same cap holds for per-unit prices (GB-second, request).
MAX_USD = 10_000.0

# SageMaker's platoinstancetype (component where absent) -> (kind, market); any other product is not ours to price
SAGEMAKER_KINDS = {
    "Training": ("training", "on-demand"),
    "SpotTraining": ("training", "spot"),
    "Hosting": ("hosting", "on-demand"),
    "BatchTransform": ("batch", "on-demand"),
}
SERVERLESS_UNITS = {"gb-second": "GB-second", "gb-seconds": "GB-second", "request": "request", "requests": "request"}


class PriceSourceError(CloudautoError):
    """A price source could not be read (network, HTTP status, not the format it publishes)."""

    exit_code = 2


class CacheError(CloudautoError):
    """A cached price file that cannot be read or is not what this module writes (named, with how to rewrite it)."""

    exit_code = 3  # a home file that cannot be read or written (README, Exit codes)


@dataclass(frozen=True)
class CachedPrice:
    usd: float
    unit: str  # "hour", "GB-second", "request"
    source: str  # the URL (or API call) it was read from
    read_at: float  # epoch seconds
    market: str = "on-demand"

    @property
    def age_days(self) -> float:
        return max(0.0, (time.time() - self.read_at) / 86400)

    @property
    def stale(self) -> bool:
        return self.age_days > STALE_DAYS


def usd_figure(value: Any, *, text: bool = False) -> Optional[float]:
    """A price as a float where it is a finite number above 0 and below MAX_USD, else None.

    0 is refused too: a free row is not a price a budget can hold against. `text`: the sources
    publish figures as strings ("0.23"); a cache or a price file holds numbers only.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str) if text else (int, float)):
        return None
    try:
        usd = float(value)
    except (ValueError, OverflowError):
        return None
    return usd if math.isfinite(usd) and 0 < usd < MAX_USD else None


def home() -> Path:
    """The same home the rest of cloudauto keeps its files in: CLOUDAUTO_HOME, else the per-user data folder."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("cloudauto", appauthor=False)).resolve()
    except ImportError:  # the same folder platformdirs gives on Linux
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return (Path(base) / "cloudauto").resolve()


def cache_file(backend: str, region: str) -> Path:
    if "/" in region or region in ("", ".", "..") or "\x00" in region:
        raise CloudautoError(f"--region {region!r}: not a region name")
    return home() / "prices" / backend / f"{region}.json"


def update_command(backend: str, region: Optional[str]) -> str:
    """The command that fills the cache for this backend and region (what messages tell a user to run)."""
    return f"cloudauto prices update --backend {backend}" + (f" --region {region}" if region else "")


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _from_iso(text: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


# ---- the cache ---------------------------------------------------------------------------------------------


def read_cache(backend: str, region: str) -> Optional[dict[str, Any]]:
    """The cached file of a backend's region, validated, or None where there is none.

    A file that is there but cannot be read, or is not what this module writes, raises CacheError
    naming it: its prices are never used, and `prices update` writes it again.
    """
    path = cache_file(backend, region)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, backend, region, getattr(exc, "strerror", None) or str(exc)) from None
    return validate_cache(text, path, backend, region)


def _unreadable(path: Path, backend: str, region: str, why: str) -> CacheError:
    return CacheError(
        f"{path}: the cached prices cannot be used ({why}); {update_command(backend, region)} writes the file again"
    )


def validate_cache(text: str, path: Path, backend: str, region: str) -> dict[str, Any]:
    """The one check of a cached file, for every reader: JSON, {"rows": [...]}, each row whole and its price sane."""
    try:
        data = json.loads(text, parse_constant=lambda name: float("nan"))
    except ValueError as exc:
        raise _unreadable(path, backend, region, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise _unreadable(path, backend, region, 'not {"rows": [...]}')
    for number, row in enumerate(data["rows"]):
        problem = _row_problem(row)
        if problem:
            raise _unreadable(path, backend, region, f"rows[{number}]{problem}")
    return data


def _read_at_problem(read_at: Any) -> Optional[str]:
    try:
        when = _from_iso(read_at)
    except (TypeError, ValueError, OverflowError):
        return f".read_at is {json.dumps(read_at)}, not a time as YYYY-MM-DDTHH:MM:SSZ"
    if when > time.time() + CLOCK_SKEW_S:  # it would count as read today forever, never stale
        return f".read_at {read_at} is in the future"
    return None


def oldest_read_at(data: dict[str, Any]) -> Optional[str]:
    """A region's age is its oldest row's: one instance read again does not make the others fresh."""
    return min((row["read_at"] for row in data.get("rows", [])), default=data.get("read_at"))


def _row_problem(row: Any) -> Optional[str]:
    if not isinstance(row, dict):
        return " is not an object"
    for key in ("instance_type", "kind", "market", "unit", "read_at"):
        if not isinstance(row.get(key), str) or not row[key]:
            return f".{key} is {json.dumps(row.get(key))}, not a name" if key != "read_at" else _read_at_problem(row.get(key))
    if "source" in row and not isinstance(row["source"], str):
        return f".source is {json.dumps(row['source'])}, not a URL"
    problem = _read_at_problem(row["read_at"])
    if problem:
        return problem
    if usd_figure(row.get("usd")) is None:
        return f".usd is {json.dumps(row.get('usd'))}, not a number above 0 and below ${MAX_USD:,.0f}"
    return None


def write_cache(backend: str, region: str, rows: list[dict[str, Any]], source: str, read_at: float) -> Path:
    """Write atomically (a private temp file, then rename): a reader, or a second update, never sees half a file."""
    path = cache_file(backend, region)
    old = os.umask(0o077)  # the home is the user's alone: 0700 folders, 0600 files
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in (path.parent, path.parent.parent):
            if folder.stat().st_mode & 0o077:
                folder.chmod(0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{region}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CacheError(f"{path}: cannot write the cached prices ({exc.strerror or exc})") from None
    finally:
        os.umask(old)
    document = {"backend": backend, "region": region, "source": source, "read_at": iso(read_at), "rows": rows}
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CacheError(f"{path}: cannot write the cached prices ({exc.strerror or exc})") from None
        raise
    return path


def cached_regions(backend: str) -> list[str]:
    folder = home() / "prices" / backend
    if folder.is_dir():
        return sorted(p.stem for p in folder.glob("*.json"))
    for above in (home(), home() / "prices", folder):
        if above.exists() and not above.is_dir():  # not "nothing cached": the home cannot hold the cache at all
            raise CacheError(f"{above}: not a folder, so no prices can be cached under it (set {HOME_ENV} to a folder)")
    return []


def lookup(
    backend: str, kind: str, instance_type: str, region: Optional[str], market: str = "on-demand"
) -> Optional[CachedPrice]:
    """The cached hourly price of one instance (kind: training, hosting, batch), or None where none was read."""
    if not region:
        return None
    data = read_cache(backend, region)
    if data is None:
        return None
    kinds = (kind, "vm")  # Azure ML compute is billed at the VM's own price, whatever runs on it
    for row in data["rows"]:
        if (
            row.get("instance_type") == instance_type
            and row.get("kind") in kinds
            and row.get("market") == market
            and row.get("unit") == "hour"
        ):
            return _price(row)
    return None


def serverless(backend: str, region: Optional[str]) -> dict[str, CachedPrice]:
    """A serverless endpoint's cached prices by unit ("GB-second", "request")."""
    data = read_cache(backend, region) if region else None
    found: dict[str, CachedPrice] = {}
    for row in (data or {}).get("rows", []):
        if row.get("kind") == "serverless" and row.get("unit") in ("GB-second", "request"):
            found.setdefault(row["unit"], _price(row))
    return found


def _price(row: dict[str, Any]) -> CachedPrice:
    return CachedPrice(
        usd=float(row["usd"]),
        unit=row["unit"],
        source=row.get("source", "?"),
        read_at=_from_iso(row["read_at"]) if row.get("read_at") else 0.0,
        market=row.get("market", "on-demand"),
    )


def rows(backend: Optional[str] = None, region: Optional[str] = None, instance_type: Optional[str] = None) -> Iterator[dict]:
    """Every cached row (for `prices list` and `prices show`), with its backend and region."""
    for name in [backend] if backend else BACKENDS:
        for reg in [region] if region else cached_regions(name):
            data = read_cache(name, reg)
            for row in (data or {}).get("rows", []):
                if instance_type is None or row.get("instance_type") == instance_type:
                    yield {"backend": name, "region": reg, **row}


# ---- reading the sources -----------------------------------------------------------------------------------


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S) -> Any:
    import urllib.error
    import urllib.request  # here: http.client and ssl are most of this module's import, and only a price refresh reads

    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "cloudauto-prices"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or the user's own URL)
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise PriceSourceError(f"{shown(url)}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PriceSourceError(f"{shown(url)}: cannot reach it ({reason})") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise PriceSourceError(f"{shown(url)}: not JSON ({exc})") from None


def _with(url: str, path: Optional[str] = None, query: Optional[dict[str, str]] = None) -> str:
    """`url` with its path replaced (relative to it) and `query` merged into its own query (a key in it stays)."""
    parts = urllib.parse.urlsplit(url)
    merged = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    merged.update(query or {})
    if path is not None:
        path = parts.path.rstrip("/") + "/" + path.lstrip("/")
    encoded = urllib.parse.urlencode(merged, quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path if path is None else path, encoded, ""))


def shown(url: str) -> str:
    """A source URL as it is stored and printed: the values of the query keys the user's own URLs carry
    (a subscription key, a token) and any password in it are replaced by ***; ours ($filter, $skip) stay."""
    private = set()
    for name in (AWS_URL_ENV, AZURE_URL_ENV):
        private |= {k for k, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(os.environ.get(name, "")).query, True)}
    parts = urllib.parse.urlsplit(url)
    query = [(k, "***" if k in private else v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="*")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, encoded, ""))


def _aws_base() -> str:
    return os.environ.get(AWS_URL_ENV, AWS_DEFAULT_URL)


def sagemaker_offer_url(region: str, timeout: float = HTTP_TIMEOUT_S) -> str:
    """The region's current offer file, found through the service's region_index.json."""
    index_url = _with(_aws_base(), "/offers/v1.0/aws/AmazonSageMaker/current/region_index.json")
    index = _get_json(index_url, timeout)
    regions = index.get("regions") if isinstance(index, dict) else None
    if not isinstance(regions, dict):
        raise PriceSourceError(f"{shown(index_url)}: no 'regions' in it (not a region_index.json)")
    entry = regions.get(region)
    if not isinstance(entry, dict) or not entry.get("currentVersionUrl"):
        raise PriceSourceError(
            f"{shown(index_url)}: AWS publishes no SageMaker prices for region '{region}' (it lists {len(regions)} regions)"
        )
    return _with(_aws_base(), str(entry["currentVersionUrl"]))


def _offer_products(offer: Any, url: str) -> Iterator[dict[str, Any]]:
    """An offer file's products as get_products returns them: {"product": ..., "terms": {"OnDemand": {...}}}."""
    if not isinstance(offer, dict) or not isinstance(offer.get("products"), dict):
        raise PriceSourceError(f"{shown(url)}: no 'products' in it (not an AWS offer file)")
    terms = offer.get("terms") or {}
    on_demand = (terms.get("OnDemand") or {}) if isinstance(terms, dict) else None
    if not isinstance(on_demand, dict):
        raise PriceSourceError(f"{shown(url)}: its 'terms' hold no 'OnDemand' object (not an AWS offer file)")
    for sku, product in offer["products"].items():
        yield {"product": product, "terms": {"OnDemand": on_demand.get(sku, {})}}


def pricing_endpoint_region(region: str) -> str:
    """The Price List Query API lives in us-east-1, eu-central-1 and ap-south-1: the nearest of them."""
    if region.startswith(("eu-", "me-", "af-", "il-")):
        return "eu-central-1"
    if region.startswith("ap-"):
        return "ap-south-1"
    return "us-east-1"


def _query_api_products(
    region: str, instance_type: Optional[str], client: Any = None, timeout: float = HTTP_TIMEOUT_S
) -> tuple[Iterator[dict], str]:
    """get_products pages for the region (and instance); needs credentials and pricing:GetProducts."""
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "pricing",
            region_name=pricing_endpoint_region(region),
            config=Config(connect_timeout=min(10, timeout), read_timeout=timeout, retries={"max_attempts": 2}),
        )
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    if instance_type:
        filters.append({"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type})
    source = f"{client.meta.endpoint_url} pricing:GetProducts ServiceCode=AmazonSageMaker regionCode={region}"

    def pages() -> Iterator[dict]:
        kwargs: dict[str, Any] = {"ServiceCode": "AmazonSageMaker", "Filters": filters, "FormatVersion": "aws_v1"}
        while True:
            page = client.get_products(**kwargs)
            for text in page.get("PriceList", []):
                try:
                    yield json.loads(text) if isinstance(text, str) else text
                except ValueError:
                    yield None  # counted as a row not understood
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    return pages(), source


class _Malformed(Exception):
    """One row of a source's answer that is not in the format the source publishes (skipped and counted)."""


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed
    return value


def _text(mapping: dict[str, Any], key: str, default: str = "") -> str:
    value = mapping.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _Malformed
    return value


def _source_usd(value: Any) -> float:
    """A source's figure: 0 where the row is free (left out), else a sane price; anything else is malformed."""
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            if float(value) == 0:
                return 0.0
        except (ValueError, OverflowError):
            pass
    usd = usd_figure(value, text=True)
    if usd is None:
        raise _Malformed
    return usd


def _usd_dimensions(item: dict[str, Any]) -> list[tuple[float, str]]:
    """(USD, unit) of each on-demand price dimension of a product, the first tier only."""
    found = []
    for term in _obj(_obj(item.get("terms") or {}).get("OnDemand") or {}).values():
        for dimension in _obj(_obj(term).get("priceDimensions") or {}).values():
            usd = _obj(_obj(dimension).get("pricePerUnit") or {}).get("USD")
            if usd is None or str(dimension.get("beginRange", "0")) not in ("0", "0.0"):
                continue
            found.append((_source_usd(usd), _text(dimension, "unit")))
    return found


@dataclass
class Rows:
    """What was read from an answer: the rows, and how many of the answer's rows were not understood."""

    rows: list[dict[str, Any]]
    not_understood: int = 0

    @property
    def note(self) -> Optional[str]:
        if not self.not_understood:
            return None
        return f"{self.not_understood} rows of the answer were not understood (not the source's format): left out"


def sagemaker_rows(items: Iterator[Any], region: str, source: str, read_at: float) -> Rows:
    """One row per (instance, kind, market): hourly prices of training, spot training, hosting and batch transform."""
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    bad = 0
    for item in items:
        try:
            _sagemaker_item(found, _obj(item), region, source, read_at)
        except _Malformed:
            bad += 1
    return Rows(sorted(found.values(), key=lambda r: (r["instance_type"], r["kind"], r["market"], r["unit"])), bad)


def _sagemaker_item(found: dict, item: dict[str, Any], region: str, source: str, read_at: float) -> None:
    product = _obj(item.get("product") or {})
    attributes = _obj(product.get("attributes") or {})
    if _text(attributes, "regionCode", region) != region or _text(attributes, "locationType", "AWS Region") != "AWS Region":
        return
    plato = _text(attributes, "platoinstancetype") or _text(attributes, "component")
    usage = _text(attributes, "usagetype")
    if "Serverless" in plato or "ServerlessInf" in usage:
        if "Training" in plato:
            return
        for usd, unit in _usd_dimensions(item):
            named = SERVERLESS_UNITS.get(unit.lower().replace(" ", "-"))
            if named and usd > 0:
                _keep(found, ("serverless", "serverless", "on-demand", named), region, usd, named, source, read_at, usage)
        return
    kind = SAGEMAKER_KINDS.get(plato)
    instance = _text(attributes, "instanceName") or _text(attributes, "instanceType").split("-")[0]
    if kind is None or not instance.startswith("ml."):
        return
    for usd, unit in _usd_dimensions(item):
        if unit == "Hrs" and usd > 0:
            _keep(found, (instance, *kind, "hour"), region, usd, "hour", source, read_at, usage)


def _keep(
    found: dict, key: tuple[str, str, str, str], region: str, usd: float, unit: str, source: str, read_at: float, usage: str
) -> None:
    """Several products for one (instance, kind, market): the highest figure, so a worst case never undercounts."""
    instance, kind, market, _ = key
    row = {
        "instance_type": instance,
        "kind": kind,
        "market": market,
        "region": region,
        "usd": usd,
        "unit": unit,
        "source": source,
        "read_at": iso(read_at),
    }
    if usage:
        row["usagetype"] = usage
    if key not in found or found[key]["usd"] < usd:
        found[key] = row


def azure_rows(items: Iterator[Any], region: str, source: str, read_at: float) -> Rows:
    """One row per (VM size, market): Linux consumption prices per hour; spot and low priority as their own market."""
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    bad = 0
    for item in items:
        try:
            _azure_item(found, _obj(item), region, source, read_at)
        except _Malformed:
            bad += 1
    return Rows(sorted(found.values(), key=lambda r: (r["instance_type"], r["market"])), bad)


def _azure_item(found: dict, item: dict[str, Any], region: str, source: str, read_at: float) -> None:
    product, sku, arm_sku = _text(item, "productName"), _text(item, "skuName"), _text(item, "armSkuName")
    if (
        _text(item, "type") != "Consumption"  # DevTestConsumption, Reservation
        or _text(item, "armRegionName") != region
        or _text(item, "serviceName", "Virtual Machines") != "Virtual Machines"
        or product.endswith((" Windows", " Win"))
        or " Windows " in f"{product} "
        or _text(item, "currencyCode", "USD") != "USD"
        or _text(item, "unitOfMeasure", "1 Hour") != "1 Hour"
        or not arm_sku.startswith("Standard_")
    ):
        return
    market = "spot" if sku.endswith(" Spot") else "low-priority" if sku.endswith(" Low Priority") else "on-demand"
    usd = _source_usd(item.get("retailPrice", item.get("unitPrice")))
    if usd > 0:
        _keep(found, (arm_sku, "vm", market, "hour"), region, usd, "hour", source, read_at, "")


def azure_items(
    region: str, instance_type: Optional[str] = None, timeout: float = HTTP_TIMEOUT_S
) -> tuple[Iterator[dict[str, Any]], str]:
    """The Retail Prices API's items, page after page (NextPageLink), for Virtual Machines in the region."""
    base = os.environ.get(AZURE_URL_ENV, AZURE_DEFAULT_URL)
    query = f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption'"
    if instance_type:
        query += f" and armSkuName eq '{instance_type}'"
    first = _with(base, query={"$filter": query})

    def pages() -> Iterator[dict[str, Any]]:
        url: Optional[str] = first
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            page = _get_json(url, timeout)
            if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
                raise PriceSourceError(f"{shown(url)}: no 'Items' in it (not a Retail Prices API answer)")
            yield from page["Items"]
            url = page.get("NextPageLink") or None
            if url and base != AZURE_DEFAULT_URL:  # a redirected source keeps its next pages there too
                url = _with(base, query=dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, True)))

    return pages(), shown(first)


# ---- update ------------------------------------------------------------------------------------------------


@dataclass
class Updated:
    backend: str
    region: str
    rows: int
    source: str
    path: Optional[Path]
    note: Optional[str] = None  # e.g. why the offer file was read instead of the Query API


def default_region(backend: str) -> Optional[str]:
    if backend == "sagemaker":
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return os.environ.get("AZURE_LOCATION") or None


def _aws_credentials() -> bool:
    try:
        import boto3
    except ImportError:
        return False
    try:
        return boto3.session.Session().get_credentials() is not None
    except Exception:  # a broken profile is no credentials for this purpose
        return False


def _sagemaker_items(
    region: str, instance_type: Optional[str], client: Any, timeout: float = HTTP_TIMEOUT_S
) -> tuple[list[dict], str, Optional[str]]:
    """Products from the Query API where it can be used, else from the public offer file (and why)."""
    note = None
    if client is not None or _aws_credentials():
        try:
            items, source = _query_api_products(region, instance_type, client, timeout)
            return list(items), source, None
        except Exception as exc:  # botocore's ClientError / NoCredentialsError / EndpointConnectionError
            if not _is_botocore_error(exc):
                raise
            note = f"the Price List Query API failed ({without_html(str(exc))}); read the public offer file instead"
    else:
        note = "no AWS credentials: read the public offer file"
    try:
        url = sagemaker_offer_url(region, timeout)
        return list(_offer_products(_get_json(url, timeout), url)), shown(url), note
    except CloudautoError as exc:  # both failed: say both, not only the fallback's reason
        if note is None or not note.startswith("the Price List Query API failed"):
            raise
        raise PriceSourceError(f"{note.split('; read the')[0]}; and the public offer file: {exc}") from None


def without_html(text: str) -> str:
    """`text` with an HTML error page in it (an emulator's or a proxy's 500 page, which botocore quotes whole) cut
    to the page's title, else its first line of text: a warning stays one line."""
    import re

    start = re.search(r"<!doctype html|<html", text, re.IGNORECASE)
    if start is None:
        return text
    page = text[start.start() :]
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    lines = [re.sub(r"<[^>]*>", "", line).strip() for line in page.splitlines()]
    said = " ".join(title.group(1).split()) if title else next((line for line in lines if line), "an HTML page")
    return f"{text[: start.start()]}{said}"


def _is_botocore_error(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("botocore", "boto3"))


def update_region(
    backend: str,
    region: str,
    *,
    instance_type: Optional[str] = None,
    client: Any = None,
    now: Optional[float] = None,
    timeout: float = HTTP_TIMEOUT_S,
) -> Updated:
    """Read one region's prices from the backend's source and cache them (all of it, or one instance type merged in)."""
    if backend not in BACKENDS:
        raise CloudautoError(f"--backend {backend}: prices are read for {', '.join(BACKENDS)}")
    cache_file(backend, region)  # the region's name is checked before anything is read
    read_at = time.time() if now is None else now
    if backend == "sagemaker":
        items, source, note = _sagemaker_items(region, instance_type, client, timeout)
        read = sagemaker_rows(iter(items), region, source, read_at)
    else:
        pages, source = azure_items(region, instance_type, timeout)
        read, note = azure_rows(pages, region, source, read_at), None
    found = read.rows
    if read.note:
        note = f"{note}; {read.note}" if note else read.note
    if instance_type:  # one instance type refreshed: the region's other rows stay as they were
        found = [r for r in found if r["instance_type"] == instance_type]  # an offer file holds the whole region
        if not found:
            return Updated(backend, region, 0, source, None, note=_also(f"{source} has no price for {instance_type}", read.note))
        earlier = read_cache(backend, region) or {"rows": []}
        found = [r for r in earlier["rows"] if r.get("instance_type") != instance_type] + found
    elif not found:
        return Updated(
            backend, region, 0, source, None, note=_also(f"{source} has no {backend} price for region '{region}'", read.note)
        )
    path = write_cache(backend, region, found, source, read_at)
    return Updated(backend, region, len(found), source, path, note=note)


def _also(note: str, more: Optional[str]) -> str:
    return f"{note}; {more}" if more else note


def refresh(backend: str, kind: str, instance_type: Optional[str], region: Optional[str]) -> Optional[str]:
    """`submit` / `deploy`: read again a missing or stale cached price of the one instance type they need.

    A line saying what was done, or None where the cache already had a fresh price. Without the
    network the line says so, and the caller goes on with what it has.
    """
    if backend not in BACKENDS or not instance_type or not region:
        return None
    known = lookup(backend, kind, instance_type, region)
    if known is not None and not known.stale:
        return None
    why = "missing" if known is None else f"{known.age_days:.0f} days old"
    try:
        done = update_region(backend, region, instance_type=instance_type, timeout=REFRESH_TIMEOUT_S)
    except CloudautoError as exc:
        rest = "the stale price" if known is not None else "no price"
        return f"prices: the price of {instance_type} in {region} is {why}, and reading it failed ({exc}); going on with {rest}"
    if not done.rows:
        return f"prices: the price of {instance_type} in {region} is {why}; {done.note}"
    return f"prices: the price of {instance_type} in {region} was {why}: read it again from {done.source}"


def update(
    backends: Optional[list[str]] = None, regions: Optional[list[str]] = None, *, say: Callable[[str], None] = lambda s: None
) -> list[Updated]:
    """`cloudauto prices update`: each backend's regions (those given, else those cached, else the environment's)."""
    done: list[Updated] = []
    for backend in backends or list(BACKENDS):
        wanted = list(regions or []) or cached_regions(backend) or [r for r in [default_region(backend)] if r]
        if not wanted:
            say(f"{backend}: no region to read: give --region (e.g. eastus) or set AZURE_LOCATION")
        for region in wanted:
            done.append(update_region(backend, region))
    return done


__all__ = [
    "AWS_URL_ENV",
    "CacheError",
    "MAX_USD",
    "AZURE_URL_ENV",
    "CachedPrice",
    "PriceSourceError",
    "STALE_DAYS",
    "Updated",
    "cache_file",
    "lookup",
    "refresh",
    "rows",
    "serverless",
    "update",
    "update_command",
    "update_region",
    "usd_figure",
    "validate_cache",
]
