pub mod anchore;
