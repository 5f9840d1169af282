//! The Jolt engine (filled in by the Jolt issue).
