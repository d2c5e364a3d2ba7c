"""The demo: synthetic departmental databases and the whole path running on them."""
