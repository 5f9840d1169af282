//! The event store and the archiver (filled in by their issues).
