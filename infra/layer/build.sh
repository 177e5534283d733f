#!/usr/bin/env bash
# Builds the Lambda layer with WeasyPrint's native libraries (Pango, HarfBuzz, fontconfig,
# FreeType, GLib and what they need) and the DejaVu fonts, for the python3.12 runtime
# (Amazon Linux 2023), then checks it in a fresh copy of that runtime.
#
#   infra/layer/build.sh            # → infra/layer/build/weasyprint-layer-x86_64.zip
#   ARCH=arm64 infra/layer/build.sh # only with lambda_architecture "arm64" in .chalice/config.json
#
# Needs Docker (and, for arm64 on an x86 machine, QEMU binfmt). The check step downloads
# WeasyPrint from PyPI inside the container. Publishing is a separate step (infra/README.md).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
arch="${ARCH:-x86_64}"
case "$arch" in
  x86_64) platform=linux/amd64 ;;
  arm64) platform=linux/arm64 ;;
  *) echo "ARCH must be x86_64 or arm64" >&2; exit 2 ;;
esac
# The image *is* the Lambda runtime: libraries it already has are left out of the layer.
image="${IMAGE:-public.ecr.aws/lambda/python:3.12}"
out="$here/build"
zip_name="weasyprint-layer-$arch.zip"
weasyprint="$(grep -i '^weasyprint==' "$root/requirements.txt")"

rm -rf "$out/opt" "$out/$zip_name"
mkdir -p "$out/opt"

echo "== building the layer ($arch) in $image"
docker run --rm --platform "$platform" --entrypoint /bin/bash \
  -v "$here:/layer:ro" -v "$out/opt:/out" "$image" /layer/in_container.sh

(cd "$out/opt" && zip -qr9y "../$zip_name" .)
echo "== $out/$zip_name: $(du -h "$out/$zip_name" | cut -f1) zipped, $(du -sh "$out/opt" | cut -f1) unzipped"
echo "== its contents (infra/layer/contents.py)"
(cd "$root" && python3 -m infra.layer.contents "$out/$zip_name" "$arch")

echo "== checking it in a fresh runtime, with only the layer in /opt ($weasyprint)"
docker run --rm --platform "$platform" --entrypoint /bin/bash \
  -v "$out/opt:/opt:ro" -v "$here:/layer:ro" \
  -e FONTCONFIG_PATH=/opt/fonts -e WEASYPRINT_REQUIREMENT="$weasyprint" \
  "$image" -c 'set -euo pipefail
    pip install --quiet --target /tmp/python "$WEASYPRINT_REQUIREMENT"
    PYTHONPATH=/tmp/python python /layer/check.py'
echo "== done: publish $out/$zip_name (infra/README.md, « WeasyPrint layer »)"
