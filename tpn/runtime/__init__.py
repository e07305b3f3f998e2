"""How tpn runs, apart from what it computes: a second worker when the caller asks for one,
the garbage collector paused over bulk work, progress drawn on a terminal."""
