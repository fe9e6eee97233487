//! One line of `lab doctor`'s report, as plain data.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not checked because what it needs (the Docker engine) is not there.
    Skip,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
}

impl Item {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Item {
        Item::new(name, Status::Ok, detail, None::<String>)
    }
    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Item {
        Item::new(name, Status::Warn, detail, Some(hint))
    }
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Item {
        Item::new(name, Status::Fail, detail, Some(hint))
    }
    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Item {
        Item::new(name, Status::Skip, detail, None::<String>)
    }
    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        hint: Option<impl Into<String>>,
    ) -> Item {
        Item {
            name: name.into(),
            status,
            detail: detail.into(),
            hint: hint.map(Into::into),
        }
    }
}
