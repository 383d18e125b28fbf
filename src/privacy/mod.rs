//! Data rights: everything Herald holds about one contact, gathered into one document a
//! person can be given (GDPR access and portability). Erasure lives with the contact
//! (`contacts::store::erase`), since deleting the contact row takes everything else with it.

pub mod api;
pub mod export;
