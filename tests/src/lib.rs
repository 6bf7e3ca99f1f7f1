//! The end-to-end tests live in `tests/` beside this file; the library itself is empty.
