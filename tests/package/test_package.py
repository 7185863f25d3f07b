"""The Debian package as contrib/build-deb.sh builds it (ctest package/build,
dpkg-buildpackage on a clean copy of the tree): what lintian says about it,
what the .deb and its -dbgsym hold, and what its maintainer scripts do.
Installing, upgrading and purging it under a real systemd is
tests/system/test_service.py."""

import glob
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("AGV_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
DEB_DIR = os.environ.get("AGV_DEB_DIR") or os.path.join(SOURCE_DIR, "build", "deb")
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                      check=True).stdout.strip()
# the ASan build packages a sanitized agent (build profile pkg.agv-agent.sanitize):
# no _FORTIFY_SOURCE there, and the sanitizer runtimes are linked in
SANITIZED = os.environ.get("AGV_SANITIZE", "").upper() in ("1", "ON", "TRUE", "YES")
MULTIARCH = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True, text=True,
                           check=True).stdout.strip()


def one(pattern):
    found = glob.glob(os.path.join(DEB_DIR, pattern))
    assert len(found) == 1, "expected one %s in %s (ctest package/build makes it): %s" % (pattern, DEB_DIR, found)
    return found[0]


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True, **kw).stdout


@pytest.fixture(scope="module")
def deb():
    return one("agv-agent_*_%s.deb" % ARCH)


@pytest.fixture(scope="module")
def dbgsym():
    return one("agv-agent-dbgsym_*_%s.deb" % ARCH)


@pytest.fixture(scope="module")
def tree(deb, tmp_path_factory):
    d = tmp_path_factory.mktemp("tree")
    run("dpkg-deb", "-R", deb, str(d))
    return d


def lintian(*paths):
    r = subprocess.run(["lintian", "--fail-on", "none", "--tag-display-limit", "0", *paths],
                       capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)], r.stdout + r.stderr


def project_version():
    text = open(os.path.join(SOURCE_DIR, "CMakeLists.txt")).read()
    return re.search(r"project\(agv-agent VERSION ([0-9.]+)", text).group(1)


# ---- lintian ------------------------------------------------------------

def test_lintian_no_errors_no_warnings():
    bad, out = lintian(one("agv-agent_*_%s.changes" % ARCH))
    assert not bad, out


def test_lintian_overrides_have_a_reason():
    """An override only with a one-line reason right above it."""
    for path in glob.glob(os.path.join(SOURCE_DIR, "debian", "*lintian-overrides")):
        lines = open(path).read().splitlines()
        for i, l in enumerate(lines):
            if l.strip() and not l.startswith("#"):
                assert i > 0 and re.match(r"#\s*\S.{10,}", lines[i - 1]), "%s:%d: no reason above the override" % (path, i + 1)


def test_lintian_gate_catches_what_the_cpack_deb_had(deb, tmp_path):
    """The lintian check is real: the package with the CPack .deb's faults
    (Maintainer root@localhost, an uncompressed man page, no copyright)
    gets errors."""
    d = tmp_path / "x"
    run("dpkg-deb", "-R", deb, str(d))
    ctl = (d / "DEBIAN/control").read_text()
    (d / "DEBIAN/control").write_text(re.sub(r"^Maintainer: .*$", "Maintainer: root <root@localhost>", ctl,
                                             flags=re.M))
    run("gunzip", str(d / "usr/share/man/man8/agv-agent.8.gz"))
    os.unlink(d / "usr/share/doc/agv-agent/copyright")
    md5 = (d / "DEBIAN/md5sums").read_text().splitlines()
    (d / "DEBIAN/md5sums").write_text("\n".join(l for l in md5 if not l.endswith(("copyright", ".8.gz"))) + "\n")
    broken = tmp_path / "broken.deb"
    run("dpkg-deb", "--root-owner-group", "-b", str(d), str(broken))
    bad, out = lintian(str(broken))
    tags = " ".join(bad)
    for tag in ("no-copyright-file", "uncompressed-manual-page", "root-in-contact"):
        assert tag in tags, out


# ---- control data ---------------------------------------------------------

def test_control_fields(deb):
    f = lambda name: run("dpkg-deb", "-f", deb, name).strip()
    assert f("Package") == "agv-agent"
    assert f("Architecture") == ARCH
    maint = f("Maintainer")
    assert "root" not in maint and "localhost" not in maint, maint
    assert maint == re.search(r"^Maintainer: (.*)$", open(os.path.join(SOURCE_DIR, "debian", "control")).read(),
                              re.M).group(1)
    depends = [d.strip() for d in f("Depends").split(",")]
    names = {d.split()[0] for d in depends}
    # libcurl4 is dlopen()ed, so shlibdeps cannot see it; the rest is shlibs.
    assert any(re.fullmatch(r"libcurl4 \(>= [0-9.]+\)", d) for d in depends), depends
    for lib in ("libc6", "libssl3", "libsystemd0", "libjson-c5", "libinih1", "libinotifytools0"):
        assert lib in names, (lib, depends)
    assert "systemd" in names  # sysusers, tmpfiles, the units
    assert f("Version") == project_version()
    assert f("Section") == "admin" and f("Priority") == "optional"


def test_changelog_version_is_the_projects():
    v = run("dpkg-parsechangelog", "-l", os.path.join(SOURCE_DIR, "debian", "changelog"), "-S", "Version").strip()
    assert v.split("-")[0].split("+")[0] == project_version(), (v, project_version())


def test_conffiles(tree):
    assert (tree / "DEBIAN/conffiles").read_text().split() == ["/etc/agv-agent/agent.conf"]


def test_files(deb):
    listing = run("dpkg-deb", "-c", deb).splitlines()
    files = {}
    for l in listing:
        parts = l.split()
        files[parts[5].lstrip(".")] = (parts[0], parts[1])
    assert all(owner == "root/root" for _, owner in files.values())
    for path in ("/usr/bin/agv-agent", "/lib/systemd/system/agv-agent.service",
                 "/lib/systemd/system/agv-agent.socket", "/usr/lib/sysusers.d/agv-agent.conf",
                 "/usr/lib/tmpfiles.d/agv-agent.conf", "/usr/lib/systemd/catalog/agv-agent.catalog",
                 "/usr/share/bash-completion/completions/agv-agent", "/etc/agv-agent/agent.conf",
                 "/etc/agv-agent/agent.conf.d/", "/usr/share/doc/agv-agent/copyright",
                 "/usr/share/doc/agv-agent/changelog.gz"):
        assert path in files, (path, sorted(files))
    assert files["/usr/bin/agv-agent"][0] == "-rwxr-xr-x"
    # the full implementation, a private module beside no public library
    module = "/usr/lib/%s/agv-agent/agv-agent-core.so" % MULTIARCH
    assert module in files and files[module][0] == "-rw-r--r--", sorted(files)
    assert not [p for p in files if p.startswith("/usr/lib/%s/lib" % MULTIARCH)]
    # Every man page of docs/man, compressed, none left plain.
    pages = [os.path.basename(p)[:-4] for p in glob.glob(os.path.join(SOURCE_DIR, "docs", "man", "*.scd"))]
    assert pages
    for page in pages:
        assert "/usr/share/man/man%s/%s.gz" % (page.rsplit(".", 1)[1], page) in files, page
    assert not [p for p in files if p.startswith("/usr/share/man/") and p.endswith(tuple("012345678"))]


def test_copyright_shipped_and_covers_the_licences(tree):
    shipped = (tree / "usr/share/doc/agv-agent/copyright").read_text()
    assert shipped == open(os.path.join(SOURCE_DIR, "debian", "copyright")).read()
    assert shipped.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    assert re.search(r"^Files: \*\nCopyright: .+\nLicense: Expat$", shipped, re.M)
    assert "libinotifytools" in shipped and "GPL-2" in shipped
    # Every source file that names its licence names the one debian/copyright
    # gives it (a new file under another licence needs its own stanza).
    files = subprocess.run(["git", "-C", SOURCE_DIR, "ls-files", "-co", "--exclude-standard"],
                           capture_output=True, text=True).stdout.split()
    if not files:  # not a git checkout
        files = [os.path.relpath(p, SOURCE_DIR) for p in glob.glob(os.path.join(SOURCE_DIR, "**", "*"),
                                                                    recursive=True)
                 if "node_modules" not in p and "/build" not in p]
    other = []
    for rel in files:
        p = os.path.join(SOURCE_DIR, rel)
        if not os.path.isfile(p):
            continue
        with open(p, "rb") as fh:
            m = re.search(rb"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+)", fh.read(4096))
        if m and m.group(1) != b"MIT":
            other.append((rel, m.group(1).decode()))
    assert not other, other


def test_binary_stripped_with_dbgsym(tree, dbgsym, tmp_path):
    binary = str(tree / "usr/bin/agv-agent")
    module = str(tree / ("usr/lib/%s/agv-agent/agv-agent-core.so" % MULTIARCH))
    dbg = run("dpkg-deb", "-c", dbgsym)
    for elf in (binary, module):
        sections = run("readelf", "-SW", elf)
        assert ".debug_info" not in sections and ".symtab" not in sections, ("not stripped", elf)
        build_id = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", elf)).group(1)
        want = "/usr/lib/debug/.build-id/%s/%s.debug" % (build_id[:2], build_id[2:])
        assert want in dbg, (want, dbg)
        # The hardening CMakeLists.txt asks for survived the packaging:
        # full RELRO, no executable stack, stack protector, fortify.
        dyn = run("readelf", "-dW", elf)
        assert "BIND_NOW" in dyn and "GNU_RELRO" in run("readelf", "-lW", elf), elf
        assert re.search(r"GNU_STACK\s.*\sRW\s", run("readelf", "-lW", elf)), elf
        syms = run("readelf", "--dyn-syms", "-W", elf)
        assert "__stack_chk_fail" in syms, elf
        if not SANITIZED:
            assert re.search(r"__\w+_chk@", syms), ("no fortified calls", elf)
    assert run("dpkg-deb", "-f", dbgsym, "Depends").strip().startswith("agv-agent (= ")
    assert "Type:                              DYN" in run("readelf", "-hW", binary)  # PIE
    assert "PIE" in run("readelf", "-dW", binary)
    # The executable maps neither OpenSSL nor libsystemd (credential-process
    # served from the cache), and finds its module in its private directory.
    dyn = run("readelf", "-dW", binary)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", dyn)
    runtimes = {"libasan.so.8", "libubsan.so.1"} if SANITIZED else set()
    assert sorted(set(needed) - runtimes) == ["libc.so.6", "libinih.so.1", "libjson-c.so.5"], needed
    runpath = re.search(r"\(RUNPATH\)\s+Library runpath: \[(\S+)\]", dyn).group(1)
    assert runpath == "$ORIGIN/../lib/%s/agv-agent" % MULTIARCH, runpath
    assert "(RPATH)" not in dyn
    exported = [l.split()[-1] for l in run("nm", "-D", "--defined-only", module).splitlines()]
    assert exported == ["agv_core_main"], exported


# ---- maintainer scripts -------------------------------------------------

def code(tree, script):
    return "\n".join(l.split("#")[0] for l in (tree / "DEBIAN" / script).read_text().splitlines())


def test_scripts_never_enable_or_start(tree):
    for script in ("preinst", "postinst", "prerm", "postrm"):
        if not (tree / "DEBIAN" / script).exists():
            continue
        c = code(tree, script)
        assert not re.search(r"systemctl\s+(--\S+\s+)*(enable|start|restart|reload|try-restart)\b", c), script
        assert not re.search(r"deb-systemd-invoke\s+(start|restart|reload)\b", c), script
        # The only `enable` re-creates an administrator's earlier enablement.
        for m in re.finditer(r"deb-systemd-helper\s+enable", c):
            assert "was-enabled" in c[max(0, m.start() - 200):m.start()], script
    # No stop before an upgrade: the running agent is restarted after it.
    pre = code(tree, "preinst") if (tree / "DEBIAN/preinst").exists() else ""
    assert "stop" not in pre


def test_postinst_users_then_directories_then_reload(tree):
    c = code(tree, "postinst")
    sysusers = c.index("systemd-sysusers")
    tmpfiles = c.index("systemd-tmpfiles")
    assert "agv-agent.conf" in c[sysusers:sysusers + 80] and "--create agv-agent.conf" in c[tmpfiles:tmpfiles + 120]
    # tmpfiles.d chowns to agentic-vault, which sysusers creates.
    assert sysusers < tmpfiles
    assert "daemon-reload" in c
    # Upgrade: only a running unit is restarted onto the new binary.
    assert re.search(r"deb-systemd-invoke try-restart 'agv-agent.service'", c)


def test_prerm_stops_on_remove_postrm_purges(tree):
    prerm = code(tree, "prerm")
    assert re.search(r'"\$1" = remove', prerm) and "deb-systemd-invoke stop agv-agent.socket agv-agent.service" in prerm
    postrm = code(tree, "postrm")
    assert re.search(r'"\$1" = purge.*\n\s*rm -rf /etc/agv-agent /var/lib/agv-agent /run/agv-agent', postrm)
    assert "deb-systemd-helper purge 'agv-agent.service' 'agv-agent.socket'" in postrm
    assert "/etc/pki" not in postrm  # the operator's certificate and key are not ours


def test_scripts_are_valid_sh(tree):
    for script in ("preinst", "postinst", "prerm", "postrm"):
        p = tree / "DEBIAN" / script
        if p.exists():
            subprocess.run(["sh", "-n", str(p)], check=True)
            if shutil.which("checkbashisms"):
                subprocess.run(["checkbashisms", str(p)], check=True)
