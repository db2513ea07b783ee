"""Prices read from the clouds' own sources (recorded answers served on loopback, or botocore's Stubber), cached, and used."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cloudauto import compile as compile_spec
from cloudauto import prices
from cloudauto.backend import CompileError
from cloudauto.spec.errors import CloudautoError as CloudautoErrorForTests

from ..conftest import ROOT, dedent
from .conftest import PRICED_SPEC

EXE = Path(sys.executable).with_name("cloudauto")
DATA = Path(__file__).resolve().parents[1] / "prices_data"
OFFER_PATH = "/offers/v1.0/aws/AmazonSageMaker/20260101000000/us-east-1/index.json"

SPEC = PRICED_SPEC


class _Recorded(BaseHTTPRequestHandler):
    """AWS's offer files under /offers/..., Azure's Retail Prices API under /azure/api/retail/prices (by $skip)."""

    seen: list[str] = []
    replaced: dict[str, bytes] = {}  # a path's body served instead of the recorded one (a malformed answer)

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        self.seen.append(self.path)
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        body = self.replaced.get(parts.path)
        if body is not None:
            pass
        elif parts.path == "/offers/v1.0/aws/AmazonSageMaker/current/region_index.json":
            body = (DATA / "sagemaker_region_index.json").read_bytes()
        elif parts.path == OFFER_PATH:
            body = (DATA / "sagemaker_offer_us-east-1.json").read_bytes()
        elif parts.path == "/azure/api/retail/prices":
            if "armRegionName eq 'eastus'" not in query.get("$filter", [""])[0]:
                body = json.dumps({"Items": [], "NextPageLink": None, "Count": 0}).encode()
            else:
                page = {"100": 2, "200": 3}.get(query.get("$skip", ["0"])[0], 1)
                body = (DATA / f"azure_eastus_page{page}.json").read_bytes()
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def source_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def sources(source_server, tmp_path, monkeypatch):
    """A home of its own, the sources pointed at loopback, and no AWS credentials (so the offer file is read)."""
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(prices.AWS_URL_ENV, source_server)
    monkeypatch.setenv(prices.AZURE_URL_ENV, f"{source_server}/azure/api/retail/prices")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "CLOUDAUTO_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    _Recorded.seen.clear()
    _Recorded.replaced.clear()
    return tmp_path / "home"


def _table(rows):
    return {(r["instance_type"], r["kind"], r["market"], r["unit"]): r["usd"] for r in rows}


SAGEMAKER_EXPECTED = {
    ("ml.g5.2xlarge", "hosting", "on-demand", "hour"): 1.515,
    ("ml.g5.2xlarge", "training", "on-demand", "hour"): 1.515,
    ("ml.m5.xlarge", "batch", "on-demand", "hour"): 0.23,
    ("ml.m5.xlarge", "hosting", "on-demand", "hour"): 0.23,
    ("ml.m5.xlarge", "training", "on-demand", "hour"): 0.23,
    ("ml.m5.xlarge", "training", "spot", "hour"): 0.069,
    ("serverless", "serverless", "on-demand", "GB-second"): 0.00002,
}


def test_the_offer_file_gives_one_price_per_kind_and_leaves_the_rest_out(sources, source_server):
    done = prices.update_region("sagemaker", "us-east-1")
    # Notebook / Processing (other components), the free tier and the zero-priced row, Outposts and eu-west-1 are left out
    assert done.note == "no AWS credentials: read the public offer file"
    cached = json.loads(done.path.read_text())
    assert _table(cached["rows"]) == SAGEMAKER_EXPECTED
    assert {r["source"] for r in cached["rows"]} == {source_server + OFFER_PATH}
    assert all(abs(prices._from_iso(r["read_at"]) - time.time()) < 60 for r in cached["rows"])
    assert _Recorded.seen == ["/offers/v1.0/aws/AmazonSageMaker/current/region_index.json", OFFER_PATH]


def test_a_region_aws_publishes_no_prices_for_is_said_and_writes_nothing(sources):
    with pytest.raises(prices.PriceSourceError, match="AWS publishes no SageMaker prices for region 'ap-south-2'"):
        prices.update_region("sagemaker", "ap-south-2")
    assert not (sources / "prices").exists()
    done = subprocess.run(
        [str(EXE), "prices", "update", "-b", "sagemaker", "--region", "ap-south-2"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert done.returncode == 2 and "AWS publishes no SageMaker prices for region 'ap-south-2'" in done.stderr
    assert "Traceback" not in done.stderr


def _stubbed_client():
    import boto3
    from botocore.stub import Stubber

    client = boto3.session.Session().client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_the_query_api_is_read_page_by_page(sources):
    recorded = json.loads((DATA / "sagemaker_get_products.json").read_text())
    client, stub = _stubbed_client()
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]
    stub.add_response(
        "get_products",
        recorded["pages"][0],
        {"ServiceCode": "AmazonSageMaker", "Filters": filters, "FormatVersion": "aws_v1"},
    )
    stub.add_response(
        "get_products",
        recorded["pages"][1],
        {"ServiceCode": "AmazonSageMaker", "Filters": filters, "FormatVersion": "aws_v1", "NextToken": "page-2"},
    )
    with stub:
        done = prices.update_region("sagemaker", "us-east-1", client=client)
    stub.assert_no_pending_responses()
    rows = json.loads(done.path.read_text())["rows"]
    assert _table(rows) == SAGEMAKER_EXPECTED and done.note is None
    assert all("pricing:GetProducts ServiceCode=AmazonSageMaker regionCode=us-east-1" in r["source"] for r in rows)
    assert _Recorded.seen == []  # the offer file was not needed


def test_a_denied_query_api_falls_back_to_the_offer_file(sources):
    client, stub = _stubbed_client()
    stub.add_client_error("get_products", "AccessDeniedException", "not authorized to perform: pricing:GetProducts")
    with stub:
        done = prices.update_region("sagemaker", "us-east-1", client=client)
    assert done.note.startswith("the Price List Query API failed") and "pricing:GetProducts" in done.note
    assert _table(json.loads(done.path.read_text())["rows"]) == SAGEMAKER_EXPECTED


def test_azure_pages_are_followed_and_only_linux_consumption_kept(sources, source_server):
    done = prices.update_region("azureml", "eastus")
    rows = json.loads(done.path.read_text())["rows"]
    # Windows, DevTestConsumption, Reservation, a zero price and an item without its region are left out
    assert _table(rows) == {
        ("Standard_DS3_v2", "vm", "on-demand", "hour"): 0.229,
        ("Standard_DS3_v2", "vm", "spot", "hour"): 0.0458,
        ("Standard_DS3_v2", "vm", "low-priority", "hour"): 0.0458,
        ("Standard_NC6s_v3", "vm", "on-demand", "hour"): 3.06,
        ("Standard_NC6s_v3", "vm", "spot", "hour"): 0.306,
    }
    # three pages (the second empty), each NextPageLink followed on the redirected source
    assert [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query).get("$skip") for p in _Recorded.seen] == [
        None,
        ["100"],
        ["200"],
    ]
    first = urllib.parse.parse_qs(urllib.parse.urlsplit(_Recorded.seen[0]).query)["$filter"][0]
    assert first == "serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' and priceType eq 'Consumption'"
    assert rows[0]["source"].startswith(f"{source_server}/azure/api/retail/prices?%24filter=serviceName%20eq")


def test_the_estimate_after_prices_update_is_the_hand_worked_figure(sources, spec_file):
    prices.update_region("sagemaker", "us-east-1")
    prices.update_region("azureml", "eastus")
    spec = spec_file(dedent(SPEC))
    # min(10 trials × 0.5 h, 2 h × 3 at once) = 5 h; × 2 instances = 10 instance-hours on SageMaker, 5 node-hours on Azure ML
    sagemaker = compile_spec(spec, "sagemaker").estimate
    assert math.isclose(sagemaker.usd_max, 10 * 0.23) and math.isclose(sagemaker.usd_spot, 10 * 0.069)  # $2.30, spot $0.69
    assert sagemaker.price.source.endswith("read today (cloudauto prices)") and not sagemaker.price.stale
    azure = compile_spec(spec, "azureml").estimate
    assert math.isclose(azure.usd_max, 5 * 0.229) and math.isclose(azure.usd_spot, 5 * 0.0458)  # $1.145, spot $0.229
    # limits.max_cost holds against the on-demand bound: just below refuses, just above accepts
    for backend, worst, below, above in (("sagemaker", "$2.30", 2.25, 2.5), ("azureml", "$1.15", 1.1, 1.2)):
        refused = spec_file(dedent(SPEC).replace("  timeout: 2h", f"  timeout: 2h\n  max_cost: {below}"), name="below.yaml")
        with pytest.raises(CompileError, match=rf"the worst case is \{worst} .* above limits.max_cost \${below}"):
            compile_spec(refused, backend)
        accepted = spec_file(dedent(SPEC).replace("  timeout: 2h", f"  timeout: 2h\n  max_cost: {above}"), name="above.yaml")
        assert math.isclose(compile_spec(accepted, backend).estimate.usd_max, float(worst[1:]), abs_tol=0.006)


def test_the_spec_and_the_users_price_file_still_win_over_the_cache(sources, spec_file, tmp_path, monkeypatch):
    prices.update_region("sagemaker", "us-east-1")
    text = dedent(SPEC)
    own = spec_file(text.replace("{role: ", "{price_per_hour: 1.5, role: "), name="own.yaml")
    assert math.isclose(compile_spec(own, "sagemaker").estimate.usd_max, 15.0)
    table = tmp_path / "mine.json"
    row = {
        "backend": "sagemaker",
        "kind": "training",
        "region": "us-east-1",
        "instance_type": "ml.m5.xlarge",
        "usd_per_hour": 0.5,
    }
    table.write_text(json.dumps({"prices": [{**row, "source": "our rate card"}]}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(table))
    assert math.isclose(compile_spec(spec_file(text), "sagemaker").estimate.usd_max, 5.0)


def _age_cache(path: Path, days: float) -> None:
    data = json.loads(path.read_text())
    old = prices.iso(time.time() - days * 86400)
    data["read_at"] = old
    for row in data["rows"]:
        row["read_at"] = old
    path.write_text(json.dumps(data))


def test_compile_stays_offline_and_names_the_command_for_a_missing_or_stale_price(sources, spec_file):
    spec = spec_file(dedent(SPEC))
    missing = compile_spec(spec, "sagemaker")
    assert missing.estimate.usd_max is None and _Recorded.seen == []
    assert "or read the cloud's prices: cloudauto prices update --backend sagemaker --region us-east-1" in missing.notes[0]
    done = prices.update_region("sagemaker", "us-east-1")
    _age_cache(done.path, 45)
    _Recorded.seen.clear()
    stale = compile_spec(spec, "sagemaker")
    assert math.isclose(stale.estimate.usd_max, 2.3) and stale.estimate.price.stale and _Recorded.seen == []
    assert "read 45 days ago, stale: over 30 days (cloudauto prices); refresh it: cloudauto prices update" in stale.notes[0]


def test_submit_and_deploy_refresh_one_stale_price_and_go_on_without_the_network(sources, monkeypatch):
    done = prices.update_region("azureml", "eastus")
    _age_cache(done.path, 40)
    _Recorded.seen.clear()
    said = prices.refresh("azureml", "training", "Standard_DS3_v2", "eastus")
    assert said.startswith("prices: the price of Standard_DS3_v2 in eastus was 40 days old: read it again from ")
    assert "armSkuName%20eq%20%27Standard_DS3_v2%27" in _Recorded.seen[0]
    rows = json.loads(done.path.read_text())["rows"]
    fresh = {(r["instance_type"], r["market"]): prices._from_iso(r["read_at"]) > time.time() - 60 for r in rows}
    assert fresh[("Standard_DS3_v2", "on-demand")] and not fresh[("Standard_NC6s_v3", "on-demand")]  # the others stay as read
    assert prices.refresh("azureml", "training", "Standard_DS3_v2", "eastus") is None  # fresh now: nothing read
    monkeypatch.setenv(prices.AZURE_URL_ENV, "http://127.0.0.1:9/api/retail/prices")  # nothing listens there
    said = prices.refresh("azureml", "training", "Standard_NC6s_v3", "eastus")
    assert "reading it failed" in said and "cannot reach it" in said and said.endswith("going on with the stale price")


def test_the_cli_updates_shows_lists_and_keeps_the_cache_private(sources):
    env = dict(os.environ)
    done = subprocess.run(
        [str(EXE), "prices", "update", "-b", "azureml", "--region", "eastus"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    path = sources / "prices" / "azureml" / "eastus.json"
    assert "azureml eastus: 5 prices from " in done.stdout and str(path) in done.stdout
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    shown = subprocess.run([str(EXE), "prices", "show", "Standard_DS3_v2"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 4 and "low-priority" in shown.stdout
    assert "today" in shown.stdout and "stale" not in shown.stdout
    _age_cache(path, 31)
    listed = subprocess.run([str(EXE), "prices", "list"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "azureml" in listed.stdout and "31d (stale)" in listed.stdout
    none = subprocess.run([str(EXE), "prices", "show", "ml.p5.48xlarge"], capture_output=True, text=True, env=env)
    assert none.returncode == 3 and "cloudauto prices update --backend sagemaker" in none.stderr


def test_two_updates_at_once_leave_one_whole_file(sources):
    env = dict(os.environ)
    command = [str(EXE), "prices", "update", "-b", "sagemaker", "-b", "azureml", "--region", "us-east-1", "--region", "eastus"]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in running]
    # each backend's other region is not one it publishes: exit 2, said; the regions it has are written whole
    assert [p.returncode for p in running] == [2, 2], outputs
    assert _table(json.loads((sources / "prices" / "sagemaker" / "us-east-1.json").read_text())["rows"]) == SAGEMAKER_EXPECTED
    assert len(json.loads((sources / "prices" / "azureml" / "eastus.json").read_text())["rows"]) == 5
    assert sorted(p.name for p in (sources / "prices").rglob("*")) == ["azureml", "eastus.json", "sagemaker", "us-east-1.json"]


def test_cost_prints_the_worst_case_side_by_side(sources, spec_file):
    prices.update_region("sagemaker", "us-east-1")
    prices.update_region("azureml", "eastus")
    spec = spec_file(dedent(SPEC))
    done = subprocess.run(
        [str(EXE), "cost", str(spec), "--instance-type", "ml.g5.2xlarge", "--instance-type", "ml.m5.xlarge",
         "--instance-type", "Standard_NC6s_v3", "--instance-type", "Standard_DS3_v2", "--format", "json"],
        capture_output=True, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = {(r["backend"], r["instance_type"]): (r["estimate_max"], r["spot_estimate_max"]) for r in json.loads(done.stdout)}
    # 10 instance-hours on SageMaker: × 1.515, × 0.23 (spot 0.069); 5 node-hours on Azure: × 3.06 (spot 0.306), × 0.229 (spot 0.0458)
    assert found == {
        ("sagemaker", "ml.g5.2xlarge"): (15.15, None),
        ("sagemaker", "ml.m5.xlarge"): (2.3, 0.69),
        ("azureml", "Standard_NC6s_v3"): (15.3, 1.53),
        ("azureml", "Standard_DS3_v2"): (1.15, 0.23),
    }
    text = subprocess.run([str(EXE), "cost", str(spec)], capture_output=True, text=True, env=dict(os.environ))
    lines = text.stdout.splitlines()
    assert text.returncode == 0 and lines[0].split()[:3] == ["backend", "instance", "type"]
    assert lines[1].split()[:5] == ["azureml", "Standard_DS3_v2", "eastus", "0.229", "$1.15"]  # the cheapest first
    assert lines[2].split()[:5] == ["sagemaker", "ml.m5.xlarge", "us-east-1", "0.23", "$2.30"]


def test_submit_reads_a_missing_price_first_and_goes_on_without_the_network(sources, spec_file, monkeypatch):
    spec = spec_file(dedent(SPEC))
    done = subprocess.run([str(EXE), "submit", str(spec), "-b", "azureml"], capture_output=True, text=True, env=dict(os.environ))
    # the price is read before the job's estimate; the submit then stops where it would anyway: no workspace here
    assert done.stderr.startswith("prices: the price of Standard_DS3_v2 in eastus was missing: read it again from ")
    assert done.returncode == 3 and "no Azure ML workspace" in done.stderr
    assert prices.lookup("azureml", "training", "Standard_DS3_v2", "eastus").usd == 0.229
    env = {**os.environ, "CLOUDAUTO_HOME": str(sources / "other"), prices.AZURE_URL_ENV: "http://127.0.0.1:9/api/retail/prices"}
    done = subprocess.run([str(EXE), "submit", str(spec), "-b", "azureml"], capture_output=True, text=True, env=env)
    assert done.stderr.startswith("prices: the price of Standard_DS3_v2 in eastus is missing, and reading it failed (")
    assert "cannot reach it" in done.stderr.splitlines()[0] and done.stderr.splitlines()[0].endswith("going on with no price")
    assert done.returncode == 3 and "no Azure ML workspace" in done.stderr and "Traceback" not in done.stderr


def test_a_serverless_endpoint_lists_its_price_per_gb_second(sources):
    from cloudauto.endpoints import EndpointInfo, priced_serverless, table

    info = EndpointInfo(name="tiny", backend="sagemaker", status="InService", instance_type="serverless")
    unknown = priced_serverless(info, "us-east-1")
    assert unknown.usd_per_hour is None and unknown.usd_per_unit is None
    assert unknown.price_source.endswith("no price cached: cloudauto prices update --backend sagemaker --region us-east-1")
    prices.update_region("sagemaker", "us-east-1")
    info = priced_serverless(
        EndpointInfo(name="tiny", backend="sagemaker", status="InService", instance_type="serverless"), "us-east-1"
    )
    assert info.usd_per_unit == {"GB-second": 0.00002} and info.usd_per_hour is None
    assert "$2e-05/GB-second" in table([info]).splitlines()[1] and "$0" not in table([info])


def test_max_cost_on_the_local_backend_is_said_to_have_no_effect(spec_file):
    local = dedent(SPEC).replace('"azureml://datastores/workspaceblobstore/paths/train.csv"', "./train.csv")
    job = compile_spec(spec_file(local.replace("  timeout: 2h", "  timeout: 2h\n  max_cost: 5")), "local")
    (said,) = [w for w in job.warnings if w.path == ("limits", "max_cost")]
    assert said.level == "warning" and "limits.max_cost has no effect on the local backend: it bills nothing" in said.message
    assert not [w for w in compile_spec(spec_file(local, name="free.yaml"), "local").warnings if w.path == ("limits", "max_cost")]


def test_cost_refuses_a_type_no_backend_runs_and_lists_a_repeated_one_once(sources, spec_file):
    """`--instance-type bogus` was dropped without a word; a type given twice was priced twice."""
    spec = spec_file(dedent(SPEC))
    bogus = subprocess.run(
        [str(EXE), "cost", str(spec), "--instance-type", "bogus"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert bogus.returncode == 64, bogus.stderr
    assert "--instance-type bogus: no backend priced here runs it (sagemaker: ml.*, azureml: Standard_*)" in bogus.stderr
    twice = subprocess.run(
        [str(EXE), "cost", str(spec), "-b", "sagemaker", "--instance-type", "ml.m5.xlarge", "--instance-type", "ml.m5.xlarge",
         "--format", "json"],
        capture_output=True, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert twice.returncode == 0, twice.stderr
    assert [r["instance_type"] for r in json.loads(twice.stdout)] == ["ml.m5.xlarge"]


# ---- what the cache, a price file and the sources may hold -------------------------------------------------------


def _cli(*args, env=None):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, env=env or dict(os.environ))


def _hand_edit(path: Path, edit) -> None:
    """Change a cached file as a user's editor would (bare NaN / Infinity where Python writes them)."""
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


BUDGET_SPEC = SPEC.replace("  timeout: 2h", "  timeout: 2h\n  max_cost: 1")


@pytest.mark.parametrize("usd", [-5, 0, float("nan"), 1e300, "0.1", None, True, 20000])
def test_a_cached_price_that_is_no_positive_finite_figure_is_refused_never_used(sources, spec_file, usd):
    done = prices.update_region("sagemaker", "us-east-1")

    def edit(data):
        for row in data["rows"]:
            if row["instance_type"] == "ml.m5.xlarge" and row["kind"] == "training" and row["market"] == "on-demand":
                row["usd"] = usd

    _hand_edit(done.path, edit)
    spec = spec_file(dedent(BUDGET_SPEC))
    with pytest.raises(prices.CacheError) as caught:
        compile_spec(spec, "sagemaker")
    said = str(caught.value)
    assert str(done.path) in said and "rows[" in said and "usd" in said
    assert "cloudauto prices update --backend sagemaker --region us-east-1" in said and caught.value.exit_code == 3
    for args in (["cost", spec, "--format", "json"], ["cost", spec], ["prices", "show", "ml.m5.xlarge"]):
        ran = _cli(*args)
        assert ran.returncode == 3, (args, ran.stdout, ran.stderr)
        assert str(done.path) in ran.stderr and "Traceback" not in ran.stderr and "$nan" not in ran.stdout


@pytest.mark.parametrize("usd", [-5, 0, 1e300, "0.1", None, True])
def test_a_price_file_row_that_is_no_positive_finite_figure_is_refused(sources, spec_file, tmp_path, monkeypatch, usd):
    table = tmp_path / "mine.json"
    row = {"backend": "sagemaker", "kind": "training", "instance_type": "ml.m5.xlarge", "usd_per_hour": usd, "source": "card"}
    table.write_text(json.dumps({"prices": [row]}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(table))
    with pytest.raises(CloudautoErrorForTests, match=rf"{table}: prices\[0\]\.usd_per_hour must be a number above 0"):
        compile_spec(spec_file(dedent(BUDGET_SPEC)), "sagemaker")


def _first_row(edit):
    def change(data):
        edit(data["rows"][0])

    return change


HAND_EDITS = {
    "a row not an object": lambda data: data["rows"].insert(0, "ml.m5.xlarge 0.23"),
    "a row without kind": _first_row(lambda row: row.pop("kind")),
    "read_at yesterday": _first_row(lambda row: row.update(read_at="yesterday")),
    "read_at a number": _first_row(lambda row: row.update(read_at=5)),
    "read_at garbage": _first_row(lambda row: row.update(read_at="2026-13-45T99:00:00Z")),
    "instance_type a list": _first_row(lambda row: row.update(instance_type=["ml.m5.xlarge"])),
}


@pytest.mark.parametrize("case", [*HAND_EDITS, "truncated", "a directory", "the home a file"])
def test_a_hand_edited_or_broken_cache_is_a_clear_error_naming_the_file(sources, spec_file, tmp_path, case):
    done = prices.update_region("sagemaker", "us-east-1")
    env = dict(os.environ)
    named = done.path
    if case == "truncated":
        done.path.write_text(done.path.read_text()[:300])
    elif case == "a directory":
        done.path.unlink()
        done.path.mkdir()
    elif case == "the home a file":
        named = tmp_path / "home-file"
        named.write_text("not a folder")
        env["CLOUDAUTO_HOME"] = str(named)
    else:
        _hand_edit(done.path, HAND_EDITS[case])
    spec = spec_file(dedent(SPEC))
    for args in (["cost", spec, "--format", "json"], ["cost", spec], ["prices", "show", "ml.m5.xlarge"]):
        ran = _cli(*args, env=env)
        assert ran.returncode == 3, (args, ran.stdout, ran.stderr)
        assert str(named) in ran.stderr and "Traceback" not in ran.stderr, (args, ran.stderr)
    listed = _cli("prices", "list", env=env)
    assert listed.returncode in (0, 3) and "Traceback" not in listed.stderr, listed.stderr
    if case != "the home a file":  # no region is cached there: nothing to list
        assert str(named) in listed.stdout + listed.stderr
    if case in ("a directory", "the home a file"):  # update cannot write it either: said, exit 3, nothing half-written
        ran = _cli("prices", "update", "-b", "sagemaker", "--region", "us-east-1", env=env)
        assert ran.returncode == 3 and str(named) in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    else:  # update writes the file again, whole
        ran = _cli("prices", "update", "-b", "sagemaker", "--region", "us-east-1", env=env)
        assert ran.returncode == 0, ran.stderr
        assert _table(prices.read_cache("sagemaker", "us-east-1")["rows"]) == SAGEMAKER_EXPECTED


def _strict_json(path: Path):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_malformed_rows_of_an_aws_offer_file_are_skipped_and_counted(sources):
    offer = json.loads((DATA / "sagemaker_offer_us-east-1.json").read_text())
    good_sku = "SMTRNM5XL0000001"
    good = offer["products"][good_sku]

    def like(sku, **attributes):
        offer["products"][sku] = {**good, "sku": sku, "attributes": {**good["attributes"], **attributes}}
        offer["terms"]["OnDemand"][sku] = json.loads(json.dumps(offer["terms"]["OnDemand"][good_sku]).replace(good_sku, sku))

    offer["products"]["BADPRODUCT"] = "ml.m5.xlarge"
    offer["products"]["BADATTRS"] = {**good, "attributes": ["ml.m5.xlarge"]}
    like("BADNAME", instanceName=5, instanceType=5)
    like("BADPLATO", platoinstancetype=["Training"])
    like("BADTERM")
    offer["terms"]["OnDemand"]["BADTERM"] = {"x": "on demand"}
    like("BADUSD", instanceName="ml.c5.xlarge")
    offer["terms"]["OnDemand"]["BADUSD"] = json.loads(
        json.dumps(offer["terms"]["OnDemand"]["BADUSD"]).replace('"0.2300000000"', '"Infinity"')
    )
    _Recorded.replaced[OFFER_PATH] = json.dumps(offer).encode()
    done = prices.update_region("sagemaker", "us-east-1")
    assert _table(_strict_json(done.path)["rows"]) == SAGEMAKER_EXPECTED
    assert "6 rows of the answer were not understood" in done.note
    ran = _cli("prices", "update", "-b", "sagemaker", "--region", "us-east-1")
    assert ran.returncode == 0 and "6 rows of the answer were not understood" in ran.stderr, ran.stderr


def test_malformed_items_of_an_azure_answer_are_skipped_and_counted(sources):
    page = (DATA / "azure_eastus_page1.json").read_text()
    data = json.loads(page)
    item = next(i for i in data["Items"] if i["armSkuName"] == "Standard_DS3_v2" and i["retailPrice"] == 0.229)
    huge = {**item, "armSkuName": "Standard_X", "retailPrice": 12345.0, "unitPrice": 12345.0}
    data["Items"] = ["Standard_DS3_v2", 5, None, huge, *data["Items"]]
    data["NextPageLink"] = None
    text = json.dumps(data).replace("12345.0", "1e400", 2)  # as an answer holds it: beyond a float
    _Recorded.replaced["/azure/api/retail/prices"] = text.encode()
    done = prices.update_region("azureml", "eastus")
    rows = _strict_json(done.path)["rows"]
    assert all(math.isfinite(r["usd"]) and r["usd"] < 1e4 for r in rows)
    assert "4 rows of the answer were not understood" in done.note


def test_a_read_time_in_the_future_is_refused_and_list_shows_the_oldest_row(sources, spec_file):
    done = prices.update_region("azureml", "eastus")
    _age_cache(done.path, 40)
    prices.refresh("azureml", "training", "Standard_DS3_v2", "eastus")  # one instance read again: the file's read_at is new
    listed = json.loads(_cli("prices", "list", "--format", "json").stdout)
    assert [(r["region"], r["age"], r["stale"]) for r in listed] == [("eastus", "40d (stale)", True)]
    _hand_edit(done.path, _first_row(lambda row: row.update(read_at="2099-01-01T00:00:00Z")))
    ran = _cli("cost", spec_file(dedent(SPEC)), "-b", "azureml")
    assert ran.returncode == 3 and str(done.path) in ran.stderr and "in the future" in ran.stderr, ran.stderr


def test_a_source_url_with_a_key_in_its_query_keeps_the_filter_and_never_shows_the_key(sources, source_server, monkeypatch):
    secret = "Secret-key-0123456789"
    monkeypatch.setenv(prices.AZURE_URL_ENV, f"{source_server}/azure/api/retail/prices?subscription-key={secret}")
    monkeypatch.setenv(prices.AWS_URL_ENV, f"{source_server}/?token={secret}")
    ran = _cli("prices", "update", "-b", "azureml", "-b", "sagemaker", "--region", "eastus", "--region", "us-east-1")
    asked = [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query) for p in _Recorded.seen]
    azure = [q for p, q in zip(_Recorded.seen, asked, strict=True) if p.startswith("/azure/") and "'eastus'" in q["$filter"][0]]
    assert [q.get("$skip") for q in azure] == [None, ["100"], ["200"]]  # every page, the key kept on each
    assert all(q["subscription-key"] == [secret] for q in azure)
    assert "armRegionName eq 'eastus'" in azure[0]["$filter"][0]
    assert all(q["token"] == [secret] for p, q in zip(_Recorded.seen, asked, strict=True) if p.startswith("/offers/"))
    assert any(p.startswith(OFFER_PATH + "?") for p in _Recorded.seen)  # the offer file's own URL, key kept
    listed = _cli("prices", "list")
    assert secret not in ran.stdout + ran.stderr + listed.stdout + listed.stderr
    for path in (sources / "prices").rglob("*.json"):
        assert secret not in path.read_text()
    assert len(prices.read_cache("azureml", "eastus")["rows"]) == 5
    assert _table(prices.read_cache("sagemaker", "us-east-1")["rows"]) == SAGEMAKER_EXPECTED


@pytest.mark.parametrize("value", ["0", "-1", "1e300", ".inf", ".nan", "20000"])
@pytest.mark.parametrize("backend", ["sagemaker", "azureml"])
def test_a_spec_price_that_is_no_positive_finite_figure_is_an_invalid_spec(backend, value):
    """The spec's price wins over every table: it gets the tables' rule (above 0, below $10,000), or a budget is void."""
    import cloudauto

    with pytest.raises(cloudauto.SpecError) as found:
        cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml", overrides=[f"backends.{backend}.price_per_hour={value}"])
    assert f"backends.{backend}.price_per_hour" in str(found.value)


def test_show_and_list_say_the_price_file_that_wins_and_call_an_old_row_stale(tmp_path, monkeypatch):
    """`cost` used CLOUDAUTO_PRICES while `prices show` said "no cached price" and `list` "no prices cached"."""
    import datetime as dt

    old = (dt.date.today() - dt.timedelta(days=64)).isoformat()
    table = tmp_path / "mine.json"
    row = {"backend": "azureml", "kind": "training", "region": "eastus", "instance_type": "Standard_DS3_v2"}
    table.write_text(json.dumps({"prices": [{**row, "usd_per_hour": 0.29, "source": "our rate card", "read_on": old}]}))
    env = {**os.environ, "CLOUDAUTO_PRICES": str(table), "CLOUDAUTO_HOME": str(tmp_path / "home")}
    shown = _cli("prices", "show", "Standard_DS3_v2", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "$0.29/h from" in shown.stdout and "CLOUDAUTO_PRICES" in shown.stdout and "stale" in shown.stdout
    listed = _cli("prices", "list", env=env)
    assert listed.returncode == 0 and f"price file: {table} (CLOUDAUTO_PRICES)" in listed.stdout
    from cloudauto.cost import lookup

    monkeypatch.setenv("CLOUDAUTO_PRICES", str(table))
    found = lookup("azureml", "training", "Standard_DS3_v2", "eastus")
    assert found.stale and "stale: over 30 days" in found.source  # the estimate says so too


def test_when_the_query_api_and_the_offer_file_both_fail_both_reasons_are_said():
    """The API's reason was thrown away: the user saw only the fallback's "cannot reach region_index.json"."""
    client, stub = _stubbed_client()
    stub.add_client_error("get_products", "InternalFailure", "the emulator answered 500", http_status_code=500)
    with stub, pytest.raises(prices.PriceSourceError) as found:  # the offer file: the closed port tests/conftest.py sets
        prices.update_region("sagemaker", "us-east-1", client=client)
    said = str(found.value)
    assert "the Price List Query API failed" in said and "the emulator answered 500" in said
    assert "and the public offer file:" in said and "region_index.json" in said


def test_an_html_error_page_is_cut_to_its_title_in_the_reason():
    """newuser2 §5: moto's whole 500 HTML page was pasted into the price warning."""
    page = (
        "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
        "<p>The server encountered an internal error and was unable to complete your request.</p>\n"
    )
    client, stub = _stubbed_client()
    stub.add_client_error("get_products", "500", page, http_status_code=500)
    with stub, pytest.raises(prices.PriceSourceError) as found:
        prices.update_region("sagemaker", "us-east-1", client=client)
    said = str(found.value)
    assert "the Price List Query API failed" in said and "500 Internal Server Error" in said, said
    assert "<" not in said and "\n" not in said and "was unable to complete" not in said, said
