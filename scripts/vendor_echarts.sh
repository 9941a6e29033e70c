#!/usr/bin/env bash
# Vendor ECharts from the npm registry into static/ (the portal runs on an intranet: no CDN).
set -euo pipefail
VERSION=${1:-6.1.0}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
(cd "$tmp" && npm pack "echarts@$VERSION" >/dev/null && tar xzf "echarts-$VERSION.tgz")
mkdir -p static/vendor/echarts
cp "$tmp/package/dist/echarts.min.js" "$tmp/package/LICENSE" static/vendor/echarts/
echo "echarts $VERSION (npm registry, dist/echarts.min.js) — matches pyecharts 2.x (ECharts v6). Refresh: bash scripts/vendor_echarts.sh" > static/vendor/echarts/VERSION
rm -rf "$tmp"
