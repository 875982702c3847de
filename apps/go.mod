module bootc-testboot/apps

go 1.24

// One compiler everywhere: binaries, and so image layers, are byte-identical only with the same Go.
toolchain go1.26.8
