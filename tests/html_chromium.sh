#!/usr/bin/env bash
# Renders a report folder's report.html in headless Chromium: takes a
# screenshot and checks, from the rendered DOM, that the page has at least
# MIN_CHARTS <svg> charts (the browser parsed the page and nothing broke it).
#
# usage: tests/html_chromium.sh REPORT_DIR [SCREENSHOT.png]
#
# Without Chromium it skips (exit 0) with a message, unless CI=true: then it
# installs Debian's chromium with apt-get, or fails.
# Exit: 0 ok or skipped; 1 check failed; 2 usage or setup error.
set -euo pipefail

MIN_CHARTS=${MIN_CHARTS:-4}
dir=${1:-}
if [[ -z "$dir" || ! -d "$dir" ]]; then
    echo "usage: $0 REPORT_DIR [SCREENSHOT.png]" >&2
    exit 2
fi
page=$(cd "$dir" && pwd)/report.html
if [[ ! -f "$page" ]]; then
    echo "html_chromium: no report.html in $dir" >&2
    exit 1
fi

find_chromium() {
    local c
    for c in chromium chromium-browser google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if ! browser=$(find_chromium); then
    if [[ "${CI:-}" != "true" ]]; then
        echo "html_chromium: SKIPPED (chromium not installed; apt-get install -y chromium, or run with CI=true)"
        exit 0
    fi
    echo "html_chromium: installing chromium (CI=true)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        echo "html_chromium: could not install chromium" >&2
        exit 2
    fi
    if ! browser=$(find_chromium); then
        echo "html_chromium: chromium still not found after install" >&2
        exit 2
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shot=${2:-$work/report.png}
# No network, no profile, no first-run UI: the page must stand on its own.
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run
    --user-data-dir="$work/profile")

if ! timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" --window-size=1280,3000 \
    "file://$page" >"$work/shot.log" 2>&1 || [[ ! -s "$shot" ]]; then
    echo "html_chromium: screenshot failed:" >&2
    tail -n 20 "$work/shot.log" >&2
    exit 1
fi

if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" >"$work/dom.html" 2>"$work/dom.log"; then
    echo "html_chromium: --dump-dom failed:" >&2
    tail -n 20 "$work/dom.log" >&2
    exit 1
fi
charts=$({ grep -o '<svg' "$work/dom.html" || true; } | wc -l)
if ((charts < MIN_CHARTS)); then
    echo "html_chromium: FAILED: $charts <svg> charts in the rendered page, want >= $MIN_CHARTS" >&2
    exit 1
fi
if [[ -n "${2:-}" ]]; then
    echo "html_chromium: ok: $charts charts; screenshot $shot"
else
    echo "html_chromium: ok: $charts charts (pass a second argument to keep the screenshot)"
fi
