//! The archiver (filled in by the archiver issue).
