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

# Tools the setup installs outside the clone (the Temporal Web UI server) are linked here.
CAIRN_CACHE_BIN="${CAIRN_CACHE_DIR:-${HOME:-/nonexistent}/.cache/cairn}/bin"
case ":$PATH:" in
    *":$CAIRN_CACHE_BIN:"*) ;;
    *) PATH="$CAIRN_CACHE_BIN:$PATH" ;;
esac
export PATH
