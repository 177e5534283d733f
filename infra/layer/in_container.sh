#!/usr/bin/env bash
# Runs inside the Lambda python3.12 image (see build.sh); writes the layer's tree to /out.
set -euo pipefail

# (bash globbing only: the minimal image has no find before the install)
libs_now() { for f in /usr/lib64/*.so* /lib64/*.so*; do if [ -e "$f" ]; then echo "${f##*/}"; fi; done | sort -u; }

# What the runtime already provides must not be shadowed by copies in /opt/lib.
libs_now > /tmp/runtime-libs.txt

pm="$(command -v dnf || command -v microdnf)"
rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' | sort > /tmp/rpms-before.txt
# Pinned: /layer/packages.lock (a MANIFEST.txt of an earlier build: "name-version-release.arch
# sha256-of-the-rpm-header" per line) installs exactly those builds and refuses any other.
# Without it the newest builds are taken and MANIFEST.txt says which, to be pinned next time.
if [ -s /layer/packages.lock ]; then
  "$pm" install -y --setopt=install_weak_deps=0 $(cut -d' ' -f1 /layer/packages.lock) >/dev/null
else
  "$pm" install -y --setopt=install_weak_deps=0 \
    pango harfbuzz fontconfig freetype glib2 fribidi dejavu-sans-fonts dejavu-serif-fonts dejavu-sans-mono-fonts \
    findutils >/dev/null
fi
rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' | sort > /tmp/rpms-after.txt
comm -13 /tmp/rpms-before.txt /tmp/rpms-after.txt | while read -r nevra; do
  echo "$nevra $(rpm -q --qf '%{SHA256HEADER}' "$nevra")"
done > /tmp/MANIFEST.txt
if [ -s /layer/packages.lock ]; then
  # Every pinned build must be the one installed, header checksum included (an already
  # present package is not listed by the install, so only the added ones are compared).
  if ! diff <(sort /layer/packages.lock | grep -F -f <(cut -d' ' -f1 /tmp/MANIFEST.txt)) /tmp/MANIFEST.txt; then
    echo "installed packages differ from infra/layer/packages.lock" >&2; exit 1
  fi
fi

libs_now > /tmp/all-libs.txt
mkdir -p /out/lib /out/fonts
# Every library the install added (the packages above and their dependencies), links resolved.
comm -13 /tmp/runtime-libs.txt /tmp/all-libs.txt | while read -r name; do
  for dir in /usr/lib64 /lib64; do
    if [ -e "$dir/$name" ]; then cp -L "$dir/$name" "/out/lib/$name"; break; fi
  done
done
for required in libgobject-2.0.so.0 libpango-1.0.so.0 libpangoft2-1.0.so.0 libharfbuzz.so.0 libfontconfig.so.1; do
  if [ ! -e "/out/lib/$required" ] && ! grep -qx "$required" /tmp/runtime-libs.txt; then
    echo "missing $required" >&2; exit 1
  fi
done
[ -e /out/lib/libharfbuzz-subset.so.0 ] || echo "warning: no libharfbuzz-subset.so.0 (PDFs about 6x slower)" >&2

find /usr/share/fonts -name 'DejaVu*.ttf' -exec cp {} /out/fonts/ \;
cp /layer/fonts.conf /out/fonts/fonts.conf
cp /tmp/MANIFEST.txt /out/MANIFEST.txt
echo "libraries: $(ls /out/lib | wc -l), font files: $(ls /out/fonts | wc -l)"
