//! braid-sim: a deterministic network simulator for braid.
//!
//! Not built yet: the simulator issue adds a discrete-event engine on a virtual
//! clock, links with rate, delay, loss and queues, middleboxes, and scenario files.
//! The crate exists now so that the workspace layout is the one the rest builds on.
