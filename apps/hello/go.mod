module bootc-testboot/apps/hello

go 1.24

// One compiler everywhere: binaries, and so image layers, are byte-identical only with the same Go.
toolchain go1.26.8

require bootc-testboot/apps/internal v0.0.0

replace bootc-testboot/apps/internal => ../internal
