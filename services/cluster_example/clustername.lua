-- The nodes of the example cluster (the `cluster` config key names this file).
db = "127.0.0.1:2528"
game = "127.0.0.1:2529"
