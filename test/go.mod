module bootc-testboot/test

go 1.24

// One compiler everywhere: binaries, and so image layers, are byte-identical only with the same Go.
toolchain go1.26.8

require gopkg.in/yaml.v3 v3.0.1

require github.com/BurntSushi/toml v1.6.0
