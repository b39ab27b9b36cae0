//! A render's result: the files to write, as data. Nothing here touches the disk.

use std::path::PathBuf;

/// One file to create, relative to the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where it goes, relative and without `..`.
    pub path: PathBuf,
    /// Its exact bytes.
    pub contents: Vec<u8>,
}

/// Every file of a project, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The files.
    pub files: Vec<PlannedFile>,
}

impl Plan {
    /// The file at `path`, if planned.
    pub fn get(&self, path: &str) -> Option<&PlannedFile> {
        self.files
            .iter()
            .find(|f| f.path == std::path::Path::new(path))
    }
}
