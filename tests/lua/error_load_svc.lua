-- error_load_svc: raises while its chunk is being loaded (before skynet.start).
error("error_load_svc: failing on purpose while loading")
