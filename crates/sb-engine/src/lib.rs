//! The engine: the B2BUA that ties calls, the IVR, the ACD and media together. So far it
//! answers calls to the hospital's numbers, runs the IVR on them and carries their media;
//! it also loads and checks what the IVR runs on: the dialplans and the prompts.

pub mod assets;
pub mod call;
pub mod engine;

pub use assets::{acd_config, acd_from_model, load_assets, AssetSource, Assets};
pub use call::CallId;
pub use engine::{
    AgentCommand, CallAction, Control, ControlError, Engine, EngineConfig, EngineEvent,
    FeatureCodes, LegId, LiveCall, MediaRequest, RtpOut, RtpQueue, Side,
};
