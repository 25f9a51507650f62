pub mod fakellm;
pub mod fastapi;
