#!/usr/bin/env bash
# Installs the system packages the test suite needs, where they are missing:
# PostgreSQL server binaries (the suite runs on SQLite and on a throwaway PostgreSQL),
# Chromium (the browser tests drive the system's Chromium through Playwright: no browser
# is downloaded) and CJK fonts (Chinese pages and PDF documents render with real glyphs).
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }
have_chromium() { [ -x "${COUNTERFOIL_CHROMIUM:-/usr/bin/chromium}" ] || command -v chromium >/dev/null; }
have_cjk_font() {
  dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed" ||
    { command -v fc-list >/dev/null && fc-list ':lang=zh-cn' family 2>/dev/null | grep -q .; }
}

missing=()
if [ "${1:-}" != "--runtime" ]; then  # --runtime: only what the server itself needs
  have_postgres || missing+=(postgresql)
  command -v runuser >/dev/null || missing+=(util-linux)
  have_chromium || missing+=(chromium)
  have_cjk_font || missing+=(fonts-noto-cjk)
fi
# PDFs embed WenQuanYi Micro Hei: TrueType outlines, which ReportLab can subset (Noto's
# CFF outlines it cannot).
have_wqy() {
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] ||
    { command -v fc-list >/dev/null && fc-list ':family=WenQuanYi Micro Hei' 2>/dev/null | grep -q .; }
}
have_wqy || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "need root to install ${missing[*]} (or install them yourself)" >&2; exit 1
  fi
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster on install; the tests start their own throwaway servers instead.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r version name _; do
    $SUDO pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
  done
fi
