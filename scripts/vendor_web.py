#!/usr/bin/env python3
"""Vendors the web consoles' JavaScript and CSS from the npm registry.

Reads web/vendor/manifest.json: for each package its pinned version, the integrity of its
tarball as the registry publishes it (sha512), and the files to keep with their SHA-256.
Downloads each tarball from registry.npmjs.org, refuses it unless its sha512 matches the
manifest, takes the files out, refuses any whose SHA-256 differs from the manifest, and
writes them to web/vendor/. Nothing else is fetched; Node is never run.

  scripts/vendor_web.py           fetch, check, write
  scripts/vendor_web.py --check   check the files in web/vendor/ against the manifest (no
                                  network); exit 1 naming each one that differs
  scripts/vendor_web.py --pin     fetch and check the tarballs, then write the files' SHA-256
                                  into the manifest (after a deliberate version change)
"""

import base64
import hashlib
import io
import json
import pathlib
import sys
import tarfile
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENDOR = ROOT / "web" / "vendor"
MANIFEST = VENDOR / "manifest.json"
REGISTRY = "https://registry.npmjs.org"


def tarball(pkg):
    """The package's tarball, checked against its pinned integrity."""
    base = pkg["name"].split("/")[-1]
    url = f"{REGISTRY}/{pkg['name']}/-/{base}-{pkg['version']}.tgz"
    with urllib.request.urlopen(url, timeout=60) as r:
        data = r.read()
    algo, _, want = pkg["integrity"].partition("-")
    if algo != "sha512":
        sys.exit(f"{pkg['name']}: integrity must be sha512, not {algo}")
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != want:
        sys.exit(f"{pkg['name']} {pkg['version']}: tarball integrity sha512-{got} is not the pinned one")
    return data


def members(pkg, data):
    """(source path, target name, bytes) of the files the manifest keeps."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for path, spec in pkg["files"].items():
            f = tar.extractfile(path)
            if f is None:
                sys.exit(f"{pkg['name']}: no {path} in the tarball")
            yield path, spec, f.read()


def main(args):
    manifest = json.loads(MANIFEST.read_text())
    if args == ["--check"]:
        bad = []
        for pkg in manifest["packages"]:
            for spec in pkg["files"].values():
                path = VENDOR / spec["to"]
                got = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
                if got != spec["sha256"]:
                    bad.append(f"{spec['to']}: {got}, the manifest says {spec['sha256'] or 'nothing'}")
        for b in bad:
            print(b, file=sys.stderr)
        return 1 if bad else 0
    pin = args == ["--pin"]
    if args and not pin:
        sys.exit(__doc__)
    for pkg in manifest["packages"]:
        data = tarball(pkg)
        for path, spec, body in members(pkg, data):
            digest = hashlib.sha256(body).hexdigest()
            if pin:
                spec["sha256"] = digest
            elif digest != spec["sha256"]:
                sys.exit(f"{pkg['name']}: {path} has SHA-256 {digest}, the manifest says {spec['sha256']}")
            (VENDOR / spec["to"]).write_bytes(body)
            print(f"{spec['to']}: {pkg['name']} {pkg['version']}, {len(body)} bytes")
    if pin:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
