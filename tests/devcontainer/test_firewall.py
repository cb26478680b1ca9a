"""The firewall script, run for real inside a lab of network namespaces.

The lab is a "container" namespace joined by a veth pair to a "world" namespace that
holds every other host: the container's resolver and a foreign one (dnsmasq), an
allowed host, a blocked host, a host inside GitHub's ranges and GitHub's meta
endpoint (HTTP servers). All addresses are documentation ranges, nothing leaves the
two namespaces, and every namespace, file and process the lab makes is removed
again, also when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import wait_for

pytestmark = pytest.mark.netns

SCRIPT = Path(__file__).resolve().parents[2] / ".devcontainer" / "init-firewall.sh"
LABTOOL = Path(__file__).resolve().parent / "labtool.py"

RESOLVER = "198.51.100.53"
RESOLVER6 = "2001:db8:53::53"
FOREIGN = "198.51.100.54"
FOREIGN6 = "2001:db8:54::54"
ALLOWED, ALLOWED6 = "203.0.113.10", "2001:db8:10::10"
BLOCKED, BLOCKED6 = "203.0.113.20", "2001:db8:20::20"
GITHUB, GITHUB6 = "203.0.113.130", "2001:db8:ab::130"
META, META6 = "203.0.113.131", "2001:db8:ab::131"
RECORDS = {
    "allowed.fw.test": (ALLOWED, ALLOWED6),
    "blocked.fw.test": (BLOCKED, BLOCKED6),
    "gh.fw.test": (GITHUB, GITHUB6),
    "meta.fw.test": (META, META6),
}
META_ANSWER = {
    # Overlapping and repeated ranges on purpose: the script must take them in its stride.
    "web": ["203.0.113.128/25", "2001:db8:ab::/48"],
    "api": ["203.0.113.128/25"],
    "git": ["203.0.113.128/26", "2001:db8:ab::/48"],
    "hooks": ["198.51.100.0/24"],
}
ALLOWLIST = """\
# the lab's allowlist
allowed.fw.test   80
allowed.fw.test   80
nothing.fw.test   80  optional
"""


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=60)


def _lab_possible() -> str:
    if os.geteuid() != 0:
        return "the firewall lab needs root (network namespaces, iptables)"
    for tool in ("ip", "iptables", "ip6tables", "ipset", "dnsmasq", "curl"):
        if shutil.which(tool) is None:
            return (
                f"the firewall lab needs {tool} (Debian: iptables ipset iproute2 dnsmasq-base curl)"
            )
    if not Path("/proc/net/if_inet6").exists():
        return "the firewall lab needs a kernel with IPv6 (it checks both families)"
    probe = f"fwprobe-{uuid.uuid4().hex[:8]}"
    made = _sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns is not possible here: {made.stderr.strip()}"
    _sh("ip", "netns", "del", probe, check=False)
    return ""


@dataclass
class Lab:
    container: str
    tmp: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        clean = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **(env or {})}
        return subprocess.run(
            ["ip", "netns", "exec", self.container, *args],
            capture_output=True,
            text=True,
            env=clean,
            timeout=timeout,
        )

    def firewall(
        self, meta_path: str = "/meta", extra_env: str = ""
    ) -> subprocess.CompletedProcess:
        container_env = self.tmp / "container-environ"
        container_env.write_bytes(extra_env.encode() + b"\0")
        return self.run(
            "bash",
            str(SCRIPT),
            env={
                "FIREWALL_ALLOWLIST": str(self.tmp / "allowlist"),
                "FIREWALL_RESOLVERS": RESOLVER,
                "FIREWALL_META_URL": f"http://meta.fw.test:443{meta_path}",
                "FIREWALL_CHECK_ALLOWED": "http://allowed.fw.test/ http://gh.fw.test:443/",
                "FIREWALL_CHECK_BLOCKED": f"http://blocked.fw.test/ http://[{BLOCKED6}]/",
                "FIREWALL_STATUS_FILE": str(self.tmp / "status"),
                "FIREWALL_CONTAINER_ENV": str(container_env),
            },
            timeout=120,
        )

    def http(self, url: str) -> tuple[bool, float, int]:
        started = time.monotonic()
        result = self.run(
            "curl", "--silent", "--noproxy", "*", "--max-time", "4", "--output", "/dev/null", url
        )
        return result.returncode == 0, time.monotonic() - started, result.returncode

    def tcp(self, address: str, port: int) -> dict:
        result = self.run(sys.executable, str(LABTOOL), "tcp", f"[{address}]:{port}")
        return json.loads(result.stdout)

    def dns(self, server: str, name: str = "allowed.fw.test") -> bool:
        return self.run(sys.executable, str(LABTOOL), "dns", server, name).returncode == 0


@pytest.fixture
def lab(tmp_path, request):
    reason = _lab_possible()
    if reason:
        pytest.skip(reason)

    suffix = uuid.uuid4().hex[:8]
    container, world = f"fwc-{suffix}", f"fww-{suffix}"
    netns_etc = Path("/etc/netns") / container
    made_netns_etc = not netns_etc.parent.exists()
    processes: list[subprocess.Popen] = []

    def clean_up():
        for process in processes:
            process.kill()
            process.wait(timeout=10)
            if process.stdout:
                process.stdout.close()
        for name in (container, world):
            _sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(netns_etc, ignore_errors=True)
        if made_netns_etc:
            try:
                netns_etc.parent.rmdir()
            except OSError:
                pass  # another run's namespace still uses it

    request.addfinalizer(clean_up)

    for name in (container, world):
        _sh("ip", "netns", "add", name)
    # The pair is made inside the namespaces, so it never shows in the host's.
    _sh(
        "ip",
        "-n",
        container,
        "link",
        "add",
        "vc",
        "type",
        "veth",
        "peer",
        "name",
        "vw",
        "netns",
        world,
    )
    for name, link, four, six in (
        (container, "vc", "192.0.2.2/24", "2001:db8:2::2/64"),
        (world, "vw", "192.0.2.1/24", "2001:db8:2::1/64"),
    ):
        _sh("ip", "-n", name, "link", "set", "lo", "up")
        _sh("ip", "-n", name, "addr", "add", four, "dev", link)
        _sh("ip", "-n", name, "-6", "addr", "add", six, "dev", link, "nodad")
        _sh("ip", "-n", name, "link", "set", link, "up")
    _sh("ip", "-n", container, "route", "add", "default", "via", "192.0.2.1")
    _sh("ip", "-n", container, "-6", "route", "add", "default", "via", "2001:db8:2::1")
    for address in (RESOLVER, FOREIGN, ALLOWED, BLOCKED, GITHUB, META):
        _sh("ip", "-n", world, "addr", "add", f"{address}/32", "dev", "lo")
    for address in (RESOLVER6, FOREIGN6, ALLOWED6, BLOCKED6, GITHUB6, META6):
        _sh("ip", "-n", world, "-6", "addr", "add", f"{address}/128", "dev", "lo")

    # `ip netns exec` shows this file as the container's /etc/resolv.conf.
    netns_etc.mkdir(parents=True)
    (netns_etc / "resolv.conf").write_text(f"nameserver {RESOLVER}\noptions timeout:1 attempts:2\n")

    records = [f"--host-record={name},{four},{six}" for name, (four, six) in RECORDS.items()]
    for listen in ((RESOLVER, RESOLVER6), (FOREIGN, FOREIGN6)):
        log = open(tmp_path / f"dnsmasq-{listen[0]}.log", "w")
        processes.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    world,
                    "dnsmasq",
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--pid-file=",
                    "--log-facility=-",
                    *(f"--listen-address={address}" for address in listen),
                    *records,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()

    (tmp_path / "meta.json").write_text(json.dumps(META_ANSWER))
    (tmp_path / "allowlist").write_text(ALLOWLIST)
    listeners = [
        f"{ALLOWED}:80",
        f"[{ALLOWED6}]:80",
        f"{ALLOWED}:22",
        f"[{ALLOWED6}]:22",
        f"{BLOCKED}:80",
        f"[{BLOCKED6}]:80",
        f"{BLOCKED}:22",
        f"{BLOCKED}:8080",
        f"{GITHUB}:443",
        f"[{GITHUB6}]:443",
        f"{GITHUB}:80",
        f"{GITHUB}:22",
        f"[{GITHUB6}]:22",
        f"{META}:443",
        f"[{META6}]:443",
    ]
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            world,
            sys.executable,
            str(LABTOOL),
            "serve",
            str(tmp_path / "meta.json"),
            *listeners,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(server)
    assert server.stdout.readline().strip() == "ready"

    made = Lab(container=container, tmp=tmp_path)
    # Without the firewall the lab lets everything through; otherwise the tests below
    # would prove nothing.
    wait_for(
        lambda: made.http(f"http://[{BLOCKED6}]/")[0], timeout=15, message="IPv6 across the lab"
    )
    wait_for(lambda: made.dns(FOREIGN), timeout=15, message="the lab's DNS servers")
    assert made.http("http://blocked.fw.test/")[0]
    assert made.tcp(ALLOWED, 22)["open"]
    assert made.dns(FOREIGN6)
    return made


def assert_refused_at_once(lab: Lab, url: str):
    ok, seconds, code = lab.http(url)
    assert not ok, f"{url} answered through the firewall"
    assert code == 7 and seconds < 2, f"{url} was not refused at once (curl {code}, {seconds:.1f}s)"


def assert_allowlist_in_force(lab: Lab):
    for url in (
        "http://allowed.fw.test/",
        f"http://{ALLOWED}/",
        f"http://[{ALLOWED6}]/",
        "http://gh.fw.test:443/",
        f"http://[{GITHUB6}]:443/",
    ):
        assert lab.http(url)[0], f"{url} should answer"
    for url in (
        "http://blocked.fw.test/",
        f"http://{BLOCKED}/",
        f"http://[{BLOCKED6}]/",
        f"http://{GITHUB}:80/",
        f"http://{ALLOWED}:443/",
        f"http://{BLOCKED}:8080/",
    ):
        assert_refused_at_once(lab, url)
    for address in (ALLOWED, ALLOWED6, BLOCKED, GITHUB, GITHUB6):
        result = lab.tcp(address, 22)
        assert not result["open"], f"port 22 on {address} is reachable"
    assert lab.dns(RESOLVER), "the container's own resolver must answer"
    assert not lab.dns(FOREIGN), "DNS to a foreign resolver went through"
    assert not lab.dns(FOREIGN6), "DNS to a foreign IPv6 resolver went through"


def test_allows_the_allowlist_and_refuses_everything_else(lab):
    result = lab.firewall()

    assert result.returncode == 0, result.stderr
    assert "optional nothing.fw.test does not resolve" in result.stderr
    assert (lab.tmp / "status").exists()
    assert_allowlist_in_force(lab)


def test_a_second_run_gives_the_same_firewall(lab):
    first = lab.firewall()
    second = lab.firewall()

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert_allowlist_in_force(lab)
    rules = lab.run("iptables-save", "-t", "filter").stdout
    assert rules.count("--match-set fw-allow4") == 1


@pytest.mark.parametrize(
    ("meta_path", "message"),
    [
        ("/meta-500", "could not fetch GitHub's address ranges from http://meta.fw.test"),
        ("/meta-garbage", "did not return JSON"),
    ],
)
def test_a_meta_failure_leaves_everything_blocked(lab, meta_path, message):
    assert lab.firewall().returncode == 0

    result = lab.firewall(meta_path)

    assert result.returncode != 0
    assert message in result.stderr
    assert "all traffic but loopback is blocked" in result.stderr
    assert not (lab.tmp / "status").exists()
    for url in (
        f"http://{ALLOWED}/",
        f"http://[{ALLOWED6}]/",
        f"http://{GITHUB}:443/",
        f"http://{BLOCKED}/",
    ):
        assert_refused_at_once(lab, url)
    assert not lab.dns(RESOLVER)


def test_operator_extra_hosts_open_exactly_their_port(lab):
    result = lab.firewall(extra_env="FIREWALL_EXTRA_HOSTS=blocked.fw.test:8080")

    assert result.returncode == 0, result.stderr
    assert lab.http(f"http://{BLOCKED}:8080/")[0]
    assert_refused_at_once(lab, f"http://{BLOCKED}/")


def test_a_required_host_that_does_not_resolve_fails_closed(lab):
    (lab.tmp / "allowlist").write_text("missing.fw.test 443\n")

    result = lab.firewall()

    assert result.returncode != 0
    assert "missing.fw.test does not resolve; it is required" in result.stderr
    assert_refused_at_once(lab, f"http://{GITHUB}:443/")
