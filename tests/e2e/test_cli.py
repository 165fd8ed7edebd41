"""The command line: --version, --help, config printing and validation."""
import os
import re
import shutil
import subprocess

import pytest

from ragdtest import RAGD_BIN, ROOT


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([RAGD_BIN, *args], capture_output=True, text=True, env=e, timeout=30)


def test_version_and_help():
    assert run("--version").stdout.startswith("ragd ")
    h = run("--help")
    assert h.returncode == 0 and "ragd serve" in h.stdout and "REDIS_URL" in h.stdout


def git(*args, cwd=ROOT):
    return subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, timeout=30)


def test_version_names_the_commit():
    """--version (and ragd_build_info, test_metrics.py) carry the git commit the
    binary was built from, taken at build time."""
    out = run("--version").stdout
    m = re.fullmatch(r"ragd \S+ \(revision (\S+)\)\n", out)
    assert m, out
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("source tree is not a git checkout")
    commit = m.group(1).removesuffix("-dirty").split("-g")[-1]
    assert git("cat-file", "-e", commit + "^{commit}").returncode == 0, out


def revision_header(tmp_path, src, fallback=None):
    out = tmp_path / "ragd_revision.h"
    cmd = ["cmake", f"-DSRC={src}", f"-DOUT={out}"]
    if fallback:
        cmd.append(f"-DFALLBACK={fallback}")
    subprocess.run(cmd + ["-P", os.path.join(ROOT, "cmake", "revision.cmake")], check=True,
                   timeout=60)
    return out


def test_revision_script_falls_back_and_keeps_the_header(tmp_path):
    """cmake/revision.cmake: the checkout's commit; outside git (a copy of the
    sources) the -DRAGD_REVISION value or "unknown"; an unchanged value leaves
    the header untouched so that builds stay incremental."""
    copy = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "cmake"), copy / "cmake")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert '"unknown"' in revision_header(tmp_path / "a", copy).read_text()
    assert '"1.2-deb"' in revision_header(tmp_path / "b", copy, "1.2-deb").read_text()
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("source tree is not a git checkout")
    h = revision_header(tmp_path, ROOT)
    want = git("describe", "--always", "--dirty", "--abbrev=12").stdout.strip()
    assert f'#define RAGD_REVISION "{want}"' in h.read_text()
    os.utime(h, (1, 1))
    revision_header(tmp_path, ROOT)
    assert h.stat().st_mtime == 1


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


def test_every_command_has_help():
    for cmd in ("serve", "config"):
        r = run(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.startswith(f"Usage: ragd {cmd}") and "RAGD_LISTEN" in r.stdout
    r = run("completion", "--help")
    assert r.returncode == 2 and "ragd completion bash" in r.stderr


def test_help_lists_every_variable_with_a_resolved_default(tmp_path):
    h = run("--help", env={"HOME": str(tmp_path)}).stdout
    assert "RAGD_CONFIG" in h and "see text" not in h
    assert f"[default: {tmp_path}/.local/share/ragd]" in h
    assert f"[default: {tmp_path}/.cache/ragd/models/all-MiniLM-L6-v2]" in h
    rows = [l for l in h.splitlines() if l.startswith("  --listen") or l.startswith("  --data-dir")
            or l.lstrip().startswith("CACHE_DEFAULT_TTL")]
    assert len(rows) == 3
    cols = {r.index("[default:") - len(r.split("  ")[-1].split(" [default:")[0]) for r in rows}
    assert len(cols) == 1, rows  # the help text starts in the same column on every row
    envcol = {r.index(w) for r, w in zip(rows, ("RAGD_LISTEN", "RAGD_DATA_DIR", "CACHE_DEFAULT_TTL"))}
    assert len(envcol) == 1, rows


def test_config_prints_resolved_paths(tmp_path):
    r = run("config", env={"HOME": str(tmp_path), "XDG_DATA_HOME": ""})
    lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines()}
    assert f"= {tmp_path}/.local/share/ragd " in lines["data_dir"]
    assert f"{tmp_path}/.cache/ragd/models/all-MiniLM-L6-v2" in lines["model_dir"]
    assert len({l.index(" = ") for l in r.stdout.splitlines()}) == 1  # aligned


def test_bad_listen_or_admin_key_refused_before_anything_is_created(tmp_path):
    data = tmp_path / "data"
    r = run("serve", "--listen", "nonsense", "--data-dir", str(data))
    assert r.returncode == 1 and "listen" in r.stderr and not data.exists()
    r = run("serve", "--data-dir", str(data), env={"RAGD_ADMIN_KEY": "short"})
    assert r.returncode == 1 and "admin_key" in r.stderr and not data.exists()
    # no model is loaded before an open listen address without auth is refused
    r = run("serve", "--listen", "0.0.0.0:0", "--data-dir", str(data), "--log-level", "info")
    assert r.returncode == 1 and "without authentication" in r.stderr
    assert "embedding model" not in r.stderr


def test_bash_completion():
    r = run("completion", "bash")
    assert r.returncode == 0 and "complete -F _ragd ragd" in r.stdout
    assert "--listen" in r.stdout and "--data-dir" in r.stdout
    subprocess.run(["bash", "-n"], input=r.stdout, text=True, check=True)
    out = subprocess.run(["bash", "-c", r.stdout + "\nCOMP_WORDS=(ragd se); COMP_CWORD=1; _ragd; "
                          "echo ${COMPREPLY[@]}"], capture_output=True, text=True).stdout
    assert out.split() == ["serve"]


def test_config_file_with_comments_and_the_example(tmp_path):
    # JSONC: // comments and trailing commas; a // inside a string stays
    cfg = tmp_path / "ragd.conf"
    cfg.write_text('// mine\n{\n  "key_prefix": "jc", // why\n'
                   '  "upstream_url": "http://127.0.0.1:9/v1",\n}\n')
    r = run("config", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines()}
    assert "jc" in lines["key_prefix"] and "http://127.0.0.1:9/v1" in lines["upstream_url"]
    cfg.write_text('{\n  # not a comment\n  "key_prefix": "x"\n}\n')
    r = run("config", "--config", str(cfg))
    assert r.returncode == 2 and "line 2" in r.stderr
    # the example: commented out, it changes nothing; flags given appear set
    ex = run("config", "--example", "--listen", "127.0.0.1:9999", env={"CACHE_DEFAULT_TTL": "7"})
    assert ex.returncode == 0 and '\n    "listen": "127.0.0.1:9999",\n' in ex.stdout
    assert '\n    // "cache_default_ttl": 3600,\n' in ex.stdout
    cfg.write_text(ex.stdout)
    r = run("config", "--config", str(cfg))
    lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines()}
    assert "(file)" in lines["listen"] and "(default)" in lines["cache_default_ttl"]
    assert all(f'"{k}": ' in ex.stdout for k in lines)  # every setting is in it
