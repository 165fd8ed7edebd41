"""Packaging: `make install DESTDIR=...` lays out the binary, the manual page,
bash completion, ragd.conf.example and the docs (and `make uninstall` removes
them); `make deb` builds the Debian package from the release build, `dpkg -i`
installs it on this machine (purged afterwards), and the installed binary runs
as the `ragd` user with the installed config and answers /health. Both are
marked `packaging` (`-m "not packaging"` leaves them out of a quick run); about
1-2 minutes together, most of it dpkg-buildpackage."""
import grp
import os
import pwd
import shutil
import subprocess

import pytest

from ragdtest import RAGD_BIN, ROOT, Ragd

pytestmark = pytest.mark.packaging
BUILD = os.path.dirname(os.path.abspath(RAGD_BIN))


def release_build():
    cache = os.path.join(BUILD, "CMakeCache.txt")
    if not os.path.exists(cache) or "CMAKE_BUILD_TYPE:STRING=Release" not in open(cache).read():
        pytest.skip(f"make install/deb package a release build; RAGD_BIN is in {BUILD}")


def make(*args):
    r = subprocess.run(["make", *args, f"BUILD={BUILD}", "JOBS=2"], cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def run(*cmd, env=None, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120, env=env)
    assert not check or r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r


def test_make_install_lays_out_the_files_and_uninstall_removes_them(tmp_path):
    release_build()
    dest = tmp_path / "root"
    make("install", f"DESTDIR={dest}", "PREFIX=/opt/ragd")
    p = dest / "opt" / "ragd"
    files = {
        "bin/ragd", "share/man/man1/ragd.1", "share/bash-completion/completions/ragd",
        "etc/ragd/ragd.conf.example", "share/ragd/ragd-fetch-model",
        "share/doc/ragd/LICENSE", "share/doc/ragd/README.md",
    }
    found = {str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()}
    assert found == files
    assert run(str(p / "bin/ragd"), "--version").stdout.startswith("ragd ")
    # the manual: generated from the help texts, every setting, no builder's home
    man = (p / "share/man/man1/ragd.1").read_text()
    assert man.startswith(".TH RAGD 1") and ".SS \"ragd ingest\"" in man
    for var in ("RAGD_LISTEN", "CACHE_DEFAULT_TTL", "RAGD_CONFIG", "REDIS_URL"):
        assert var in man
    assert os.path.expanduser("~") not in man and "~/.local/share/ragd" in man
    if shutil.which("man"):
        assert "RAGD_LISTEN" in run("man", "-l", str(p / "share/man/man1/ragd.1")).stdout
    comp = p / "share/bash-completion/completions/ragd"
    run("bash", "-n", str(comp))
    assert "complete -F _ragd ragd" in comp.read_text()
    # the example is the binary's own, loads as is, and names every setting
    example = (p / "etc/ragd/ragd.conf.example").read_text()
    assert example == run(RAGD_BIN, "config", "--example", env={}).stdout
    r = run(RAGD_BIN, "config", "--config", str(p / "etc/ragd/ragd.conf.example"))
    keys = [l.split("=")[0].strip() for l in r.stdout.splitlines()]
    assert keys and all(f'// "{k}": ' in example for k in keys)
    make("uninstall")
    assert not [f for f in p.rglob("*") if f.is_file()]
    assert not [d for d in p.rglob("ragd") if d.is_dir()]


@pytest.fixture
def installed_deb(tmp_path):
    """The package built by `make deb`, installed with dpkg -i, purged after."""
    release_build()
    if os.geteuid() != 0 or not shutil.which("dpkg-buildpackage"):
        pytest.skip("needs root and dpkg-buildpackage (debhelper)")
    if run("dpkg-query", "-W", "ragd", check=False).returncode == 0 \
            or os.path.exists("/var/lib/ragd"):
        pytest.skip("a ragd package or /var/lib/ragd is already on this machine")
    out = tmp_path / "deb"
    make("deb", f"DEB_OUT={out}")
    debs = sorted(out.glob("ragd_*.deb"))
    assert len(debs) == 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run("dpkg", "-i", str(debs[0]), env=env)
        yield debs[0]
    finally:
        run("dpkg", "--purge", "ragd", env=env, check=False)


def test_deb_installs_a_service_that_serves(installed_deb, tmp_path):
    info = run("dpkg-deb", "-f", str(installed_deb), "Depends").stdout
    assert "liblmdb" in info and "adduser" in info and "libmicrohttpd" not in info
    user = pwd.getpwnam("ragd")
    st = os.stat("/var/lib/ragd")
    assert st.st_uid == user.pw_uid and grp.getgrgid(st.st_gid).gr_name == "ragd"
    for f in ("/usr/bin/ragd", "/etc/ragd/ragd.conf", "/etc/default/ragd",
              "/lib/systemd/system/ragd.service", "/usr/share/man/man1/ragd.1.gz",
              "/usr/share/bash-completion/completions/ragd",
              "/usr/share/doc/ragd/examples/ragd.conf.example", "/usr/share/doc/ragd/copyright"):
        assert os.path.exists(f), f
    assert oct(os.stat("/etc/default/ragd").st_mode & 0o777) == "0o600"
    if shutil.which("systemd-analyze"):
        r = run("systemd-analyze", "verify", "/lib/systemd/system/ragd.service", check=False)
        assert r.returncode == 0, r.stderr
    # the installed config sets the service's paths
    env = dict(os.environ, RAGD_CONFIG="/etc/ragd/ragd.conf")
    cfg = run("/usr/bin/ragd", "config", env=env).stdout
    assert "/var/lib/ragd " in cfg and "(file)" in cfg
    # the installed binary as the ragd user, as the unit runs it, on a loopback port
    wrapper = tmp_path / "as-ragd"
    wrapper.write_text("#!/bin/sh\nexec setpriv --reuid=ragd --regid=ragd --init-groups "
                       "/usr/bin/ragd \"$@\"\n")
    wrapper.chmod(0o755)
    s = Ragd(env={"RAGD_CONFIG": "/etc/ragd/ragd.conf"}, data_dir="/var/lib/ragd",
             bin=str(wrapper)).start()
    try:
        r = s.get("/health")
        assert r.status_code == 200, r.text
        assert r.json()["status"] in ("ok", "healthy", "degraded"), r.text
        assert s.put("/api/v1/cache/pkg/k", data=b"v").status_code in (200, 201)
        assert s.get("/api/v1/cache/pkg/k").content == b"v"
    finally:
        s.cleanup()
    owners = {os.stat(os.path.join(d, f)).st_uid
              for d, _, fs in os.walk("/var/lib/ragd") for f in fs}
    assert owners == {user.pw_uid}
