//! `lab key`: each trainee's signing key, derived from the course key, for the
//! instructor to hand out instead of the course key itself.

use crate::cli::KeyArgs;
use crate::error::{exit, Error, Result};
use crate::grade::bundle::Key;
use crate::report::Ui;

pub fn run(args: &KeyArgs, ui: &Ui) -> Result<i32> {
    let course = Key::load(
        args.key_file.as_deref(),
        std::env::var("LAB_COURSE_KEY").ok(),
    )
    .map_err(Error::Usage)?;
    std::fs::create_dir_all(&args.output_dir).map_err(crate::error::write_err(&args.output_dir))?;
    for name in &args.trainees {
        let name = name.trim();
        let key = course.for_trainee(name).ok_or_else(|| {
            Error::Usage("this is a trainee's key: `lab key` needs the course key".into())
        })?;
        let file = args
            .output_dir
            .join(format!("{}.key", super::submit::file_safe(name)));
        let text = key.trainee_file().expect("a derived key is a trainee's");
        crate::files::write_atomic(&file, text.as_bytes())
            .map_err(crate::error::write_err(&file))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(crate::error::write_err(&file))?;
        }
        ui.status(
            "Wrote",
            &format!(
                "{}'s key to {} (hand it to them only)",
                name,
                file.display()
            ),
        );
    }
    Ok(exit::OK)
}
