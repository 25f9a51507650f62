pub mod fastapi;
pub mod fakellm;
