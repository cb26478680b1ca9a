"""Around the bodies: pages and Link headers, ETags and the rate limit, faults, restarts."""

from __future__ import annotations

import http.client
import json
import re
import time

import pytest

from tests.forge.client import call, repo_path


def links(reply) -> dict[str, str]:
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', reply.headers.get("link", ""))
    return {rel: url for url, rel in found}


def test_pages_follow_link_headers_without_an_empty_last_page(forge):
    for index in range(7):
        forge.create_issue("alice", f"issue {index}")
    first = call(forge, "GET", repo_path(forge, "/issues?per_page=3&direction=asc"))
    assert [issue["title"] for issue in first.body] == ["issue 0", "issue 1", "issue 2"]
    assert set(links(first)) == {"next", "last"}
    assert "page=3" in links(first)["last"]

    seen, url, pages = [], links(first)["next"], 1
    seen += first.body
    while url:
        reply = call(forge, "GET", url.removeprefix(forge.url))
        seen += reply.body
        pages += 1
        url = links(reply).get("next")
    assert pages == 3 and len(seen) == 7
    assert set(links(reply)) == {"prev", "first"}
    assert call(forge, "GET", repo_path(forge, "/issues?per_page=500")).headers.get("link") is None


def test_etag_gives_304_that_does_not_count(forge):
    forge.create_issue("alice", "watched")
    first = call(forge, "GET", repo_path(forge, "/issues"))
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    counted, remaining = forge.counted_count, int(first.headers["x-ratelimit-remaining"])

    again = call(forge, "GET", repo_path(forge, "/issues"), headers={"If-None-Match": etag})
    assert again.status == 304 and again.body is None
    assert forge.counted_count == counted
    assert int(again.headers["x-ratelimit-remaining"]) == remaining

    forge.create_issue("alice", "new")
    changed = call(forge, "GET", repo_path(forge, "/issues"), headers={"If-None-Match": etag})
    assert changed.status == 200 and len(changed.body) == 2
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1
    assert forge.counted_count == counted + 1


def test_rate_limit_counts_per_token(forge):
    call(forge, "GET", "/user", login="alice")
    call(forge, "GET", "/user", login="alice")
    reply = call(forge, "GET", "/user", login="bob")
    assert reply.headers["x-ratelimit-limit"] == "5000"
    assert reply.headers["x-ratelimit-used"] == "1"
    overview = call(forge, "GET", "/rate_limit", login="alice").body
    assert overview["resources"]["core"]["used"] == 2
    assert overview["rate"]["remaining"] == 4998


def test_exhausted_rate_limit_gets_403(forge_factory):
    forge = forge_factory(rate_limit=2)
    assert call(forge, "GET", "/user").status == 200
    assert call(forge, "GET", "/user").status == 200
    refused = call(forge, "GET", "/user")
    assert refused.status == 403 and "rate limit" in refused.body["message"]
    assert refused.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize(
    "kind,status", [("500", 500), ("502", 502), ("secondary", 403), ("429", 429)]
)
def test_injected_faults_fail_the_next_requests(forge, kind, status):
    forge.inject_faults(kind, 2)
    for _ in range(2):
        reply = call(forge, "GET", "/user")
        assert reply.status == status
        if kind in ("secondary", "429"):
            assert reply.headers["retry-after"] == "1"
            assert "secondary rate limit" in reply.body["message"]
    assert call(forge, "GET", "/user").status == 200


def test_hang_fault_outlasts_the_client_timeout_then_drops(forge):
    forge.inject_faults("hang", 1, hang_s=5)
    started = time.monotonic()
    with pytest.raises((TimeoutError, OSError, http.client.HTTPException)):
        call(forge, "GET", "/user", timeout=0.3)
    assert time.monotonic() - started < 3
    assert call(forge, "GET", "/user").status == 200


def test_faults_over_http_and_stats(forge):
    parts = forge.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(parts[0], int(parts[1]), timeout=5)
    connection.request("POST", "/_sandbox/faults", body=json.dumps({"kind": "502", "count": 1}))
    assert connection.getresponse().status == 204
    connection.close()
    assert call(forge, "GET", "/user").status == 502
    stats = call(forge, "GET", "/_sandbox/stats", login=None).body
    assert stats == {"request_count": forge.request_count, "counted_count": 0}
    bad = call(forge, "POST", "/_sandbox/faults", {"kind": "teapot"}, login=None)
    assert bad.status == 422


def test_data_survives_a_restart(forge_factory, tmp_path):
    first = forge_factory(tmp_path / "data")
    number = call(first, "POST", repo_path(first, "/issues"), {"title": "keep me"}).body["number"]
    call(first, "POST", repo_path(first, f"/issues/{number}/comments"), {"body": "note"})
    first.stop()

    second = forge_factory(tmp_path / "data")
    issue = call(second, "GET", repo_path(second, f"/issues/{number}")).body
    assert issue["title"] == "keep me" and issue["comments"] == 1
    assert (
        call(second, "POST", repo_path(second, "/issues"), {"title": "next"}).body["number"]
        == number + 1
    )
    assert not list((tmp_path / "data").rglob(".*.json.*")), "no temporary files left"


def test_a_failing_endpoint_answers_500_and_the_server_lives_on(forge, monkeypatch):
    def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setattr(
        forge.api,
        "routes",
        [
            (method, pattern, broken if handler.__name__ == "get_user" else handler)
            for method, pattern, handler in forge.api.routes
        ],
    )
    reply = call(forge, "GET", "/user")
    assert reply.status == 500 and "boom" in reply.body["message"]
    assert call(forge, "GET", repo_path(forge)).status == 200
