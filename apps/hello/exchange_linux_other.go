//go:build linux && !amd64 && !arm64

package main

// Elsewhere every flush renames a fresh temp file (see Counter.store).
const sysRenameat2 = -1
