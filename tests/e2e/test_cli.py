"""The command line: --version, --help, config printing and validation."""
import os
import subprocess

from ragdtest import RAGD_BIN


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([RAGD_BIN, *args], capture_output=True, text=True, env=e, timeout=30)


def test_version_and_help():
    assert run("--version").stdout.startswith("ragd ")
    h = run("--help")
    assert h.returncode == 0 and "ragd serve" in h.stdout and "REDIS_URL" in h.stdout


def test_config_precedence_and_redaction(tmp_path):
    cfg = tmp_path / "ragd.json"
    cfg.write_text('{"cache_default_ttl": 100, "listen": "127.0.0.1:9000", "key_prefix": "fromfile"}')
    r = run("config", "--config", str(cfg), "--listen", "127.0.0.1:9100",
            env={"CACHE_DEFAULT_TTL": "200", "REDIS_URL": "redis://app:s3cret@127.0.0.1:6379/2"})
    assert r.returncode == 0, r.stderr
    lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines()}
    assert "127.0.0.1:9100" in lines["listen"] and "(flag)" in lines["listen"]
    assert "200" in lines["cache_default_ttl"] and "(env)" in lines["cache_default_ttl"]
    assert "fromfile" in lines["key_prefix"] and "(file)" in lines["key_prefix"]
    assert "s3cret" not in r.stdout and "redis://app:***@127.0.0.1:6379/2" in lines["redis_url"]


def test_bad_values_are_refused_by_name(tmp_path):
    r = run("config", env={"CACHE_DEFAULT_TTL": "abc"})
    assert r.returncode == 2 and "CACHE_DEFAULT_TTL" in r.stderr
    r = run("config", env={"RAGD_KEY_PREFIX": "has space"})
    assert r.returncode == 2 and "RAGD_KEY_PREFIX" in r.stderr
    r = run("serve", "--listen", "nonsense", "--data-dir", str(tmp_path))
    assert r.returncode != 0 and "listen" in r.stderr
    r = run("config", "--no-such-flag", "1")
    assert r.returncode == 2 and "--no-such-flag" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"cache_default_ttl": 1,,}')
    r = run("config", "--config", str(bad))
    assert r.returncode == 2 and "bad.json" in r.stderr


def test_decimal_settings_are_checked_at_start(tmp_path):
    # a bad float is refused by name before anything serves (it used to be a
    # 500 at request time)
    r = run("config", env={"RAGD_ROUTE_THRESHOLD": "1.5"})
    assert r.returncode == 2 and "RAGD_ROUTE_THRESHOLD" in r.stderr and "[-1, 1]" in r.stderr
    r = run("config", env={"RAGD_SEMANTIC_THRESHOLD": "high"})
    assert r.returncode == 2 and "RAGD_SEMANTIC_THRESHOLD" in r.stderr
    # a decimal from the config file keeps its fraction
    cfg = tmp_path / "ragd.json"
    cfg.write_text('{"route_threshold": 0.55, "semantic_max_temperature": 1.5}')
    r = run("config", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines()}
    assert "0.55" in lines["route_threshold"] and "(file)" in lines["route_threshold"]
    assert "1.5" in lines["semantic_max_temperature"]
