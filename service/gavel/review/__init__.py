"""The review console: a queue of posts for moderators, their decisions, appeals and audit log."""
