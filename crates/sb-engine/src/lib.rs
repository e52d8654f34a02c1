//! The engine: the B2BUA that ties calls, the IVR, the ACD and media together. This first
//! part loads and checks what the IVR runs on: the dialplans and the prompts.

pub mod assets;

pub use assets::{load_assets, AssetSource, Assets};
