# Shared build locations, sourced by the other scripts (bash). Not meant to be run.
#
# CARGO_TARGET_DIR lives outside the clone so that a fresh clone (CI, a new worktree) reuses
# earlier builds. CAIRN_PROFILE=release points CAIRN_BIN at the release build instead of debug.

if [[ -z "${CARGO_TARGET_DIR:-}" ]]; then
    if [[ -n "${HOME:-}" ]]; then
        CARGO_TARGET_DIR="$HOME/.cache/cairn/target"
    else
        CARGO_TARGET_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target"
    fi
fi
CAIRN_PROFILE="${CAIRN_PROFILE:-debug}"
CAIRN_BIN="$CARGO_TARGET_DIR/$CAIRN_PROFILE/cairn"
export CARGO_TARGET_DIR CAIRN_BIN
