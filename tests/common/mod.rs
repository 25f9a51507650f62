pub mod fastapi;
