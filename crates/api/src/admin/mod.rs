//! The operator API under `/v1/admin/`, one module per area as the routes are
//! grouped. Every route needs a bearer token with the scope `admin::ROUTES`
//! names for it in the service.

pub mod audit;
pub mod campaigns;
pub mod devices;
pub mod fleet;
pub mod four_eyes;
pub mod freezes;
pub mod operators;
pub mod preview;
pub mod releases;
