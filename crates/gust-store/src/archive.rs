//! The directory [`ArchiveStore`](crate::ArchiveStore), with safe zip extraction.
